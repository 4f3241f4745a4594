"""Internal notes: what agents write on a conversation for each other. A note is
never a message: it lives in its own table, its event is for agents only, and no
answer of the chat client API or frame of a customer's socket ever carries one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from klatch.domain.text import RequiredText

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


_BODY = RequiredText(
    limit=MAX_NOTE_CHARS,
    where="The note",
    empty="A note needs a body (text)",
    empty_code="invalid_note",
    too_long="A note holds at most {limit} characters; this one has {length}",
)


def check_note_body(value: Any) -> str:
    """A note's text: 1 to MAX_NOTE_CHARS characters, not only spaces."""
    return _BODY.check(value)
