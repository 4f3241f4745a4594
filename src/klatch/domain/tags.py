"""Tags: the org's labels for conversations (Kustomer's ``/v1/tags``). A tag has a
name unique in the org (case-insensitively) and an optional colour; a
conversation carries at most MAX_TAGS of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from klatch.domain.text import invalid_text, text_problem
from klatch.errors import InvalidArguments

MAX_TAG_NAME = 255
MAX_TAGS = 50  # per conversation
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class Tag:
    id: str
    org_id: str
    name: str
    color: str | None
    created_at: int
    updated_at: int


def check_tag_name(value: Any, pointer: str = "/name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArguments("A tag needs a name", code="invalid_tag", pointer=pointer)
    name = " ".join(value.split())
    if len(name) > MAX_TAG_NAME:
        raise InvalidArguments(
            f"A tag's name has at most {MAX_TAG_NAME} characters",
            code="value_too_long",
            pointer=pointer,
        )
    problem = text_problem(name)
    if problem:
        raise invalid_text("The tag's name", problem, pointer)
    return name


def check_color(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _COLOR_RE.match(value):
        raise InvalidArguments(
            "A tag's color is #rrggbb (e.g. #1f6feb)", code="invalid_color", pointer="/color"
        )
    return value.lower()


def check_tag_list(value: Any, pointer: str = "/tags") -> list[str]:
    """A conversation's tags as sent: a list of tag ids or names, no more than MAX_TAGS."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArguments(
            "tags is a list of tag ids (or names)", code="invalid_tags", pointer=pointer
        )
    if len(value) > MAX_TAGS:
        raise InvalidArguments(
            f"A conversation carries at most {MAX_TAGS} tags", code="too_many_tags", pointer=pointer
        )
    return list(dict.fromkeys(value))


def merged(
    current: Sequence[str], add: Sequence[str] = (), remove: Sequence[str] = ()
) -> tuple[str, ...]:
    """``current`` with ``add`` appended (in order, once) and ``remove`` taken out."""
    out = [t for t in current if t not in remove]
    out.extend(t for t in add if t not in out and t not in remove)
    return tuple(out)
