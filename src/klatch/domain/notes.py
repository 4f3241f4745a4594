"""Internal notes: what agents write on a conversation for each other. A note is
never a message: it lives in its own table, its event is for agents only, and no
answer of the chat client API or frame of a customer's socket ever carries one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from klatch.domain.text import invalid_text, text_problem
from klatch.errors import InvalidArguments

MAX_NOTE_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    org_id: str
    conversation_id: str
    body: str
    author_type: str  # user | api_key | system
    author_id: str | None
    author_name: str | None
    created_at: int
    updated_at: int

    is_note = True  # the console's thread mixes notes with messages


def check_note_body(value: Any) -> str:
    """A note's text: 1 to MAX_NOTE_CHARS characters, not only spaces."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArguments("A note needs a body (text)", code="invalid_note", pointer="/body")
    if len(value) > MAX_NOTE_CHARS:
        raise InvalidArguments(
            f"A note holds at most {MAX_NOTE_CHARS} characters; this one has {len(value)}",
            code="value_too_long",
            pointer="/body",
        )
    problem = text_problem(value)
    if problem:
        raise invalid_text("The note", problem, "/body")
    return value
