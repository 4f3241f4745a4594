"""Teams, agents' availability and assignment: the records and their rules (no I/O).

A team has a name (unique in its org), a display name and members (console
users). An agent is ``available`` or ``away``; round-robin assigns only
available members. A conversation is assigned to at most 10 users and 10 teams
(Kustomer's limits), each an id of the org.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from klatch.domain.text import text_problem
from klatch.errors import InvalidArguments

AVAILABLE = "available"
AWAY = "away"
AVAILABILITIES = (AVAILABLE, AWAY)
MAX_ASSIGNED = 10  # users, and teams, per conversation (Kustomer's limit)
MAX_MEMBERS = 500
MAX_NAME = 255
_NAME_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z _.\-]*$")
_ID_RE = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    org_id: str
    name: str
    display_name: str
    members: tuple[str, ...]  # user ids, in the order they joined
    created_at: int
    updated_at: int


def check_team_name(value: Any, pointer: str = "/name") -> str:
    """A team's name: 1 to 255 characters, letters, digits, space, ``_ . -``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArguments("A team needs a name", pointer=pointer)
    name: str = value.strip()
    if len(name) > MAX_NAME or not _NAME_RE.match(name):
        raise InvalidArguments(
            f"A team's name is 1 to {MAX_NAME} letters, digits, spaces, '_', '.' or '-', "
            "starting with a letter or digit",
            pointer=pointer,
        )
    return name


def check_display_name(value: Any, fallback: str, pointer: str = "/displayName") -> str:
    if value is None:
        return fallback
    problem = text_problem(value) if isinstance(value, str) else "is not text"
    if problem is not None or not str(value).strip() or len(str(value)) > MAX_NAME:
        raise InvalidArguments(
            f"displayName is text of 1 to {MAX_NAME} characters", pointer=pointer
        )
    return str(value).strip()


def check_ids(value: Any, pointer: str, *, limit: int, what: str) -> tuple[str, ...]:
    """A list of distinct object ids (24 hex), at most ``limit``."""
    if not isinstance(value, list | tuple):
        raise InvalidArguments(f"{pointer.strip('/')} is a list of {what} ids", pointer=pointer)
    if len(value) > limit:
        raise InvalidArguments(
            f"At most {limit} {what}s, got {len(value)}", code="limit_exceeded", pointer=pointer
        )
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _ID_RE.match(item):
            raise InvalidArguments(
                f"'{str(item)[:40]}' is not a {what} id (24 hex digits)", pointer=f"{pointer}/{i}"
            )
        if item not in out:
            out.append(item)
    return tuple(out)


def check_availability(value: Any, pointer: str = "/availability") -> str:
    if value not in AVAILABILITIES:
        raise InvalidArguments(
            "availability is 'available' or 'away'", code="invalid_arguments", pointer=pointer
        )
    return str(value)


def missing(ids: Sequence[str], known: set[str]) -> list[str]:
    return [i for i in ids if i not in known]
