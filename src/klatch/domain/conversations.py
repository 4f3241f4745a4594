"""Conversation and message rules: statuses, titles, bodies. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from klatch.domain.text import RequiredText, check_text
from klatch.errors import InvalidArguments

TITLE_MAX = 256
BODY_MAX = 10_240  # Kustomer's message preview limit
PAYLOAD_MAX = 1024
STATUSES = ("open", "done")
# The HTTP edge checks the text too; the console posts forms.
_BODY = RequiredText(
    limit=BODY_MAX,
    where="The text at /body",
    empty="A message needs a non-empty body",
    too_long="A message body takes at most {limit} characters",
)


def check_body(body: Any, *, required: bool = True) -> str | None:
    if body is None and not required:
        return None
    return _BODY.check(body)


def check_title(title: Any) -> str | None:
    if title is None:
        return None
    if not isinstance(title, str) or len(title) > TITLE_MAX:
        raise InvalidArguments(
            f"title must be text of at most {TITLE_MAX} characters", pointer="/title"
        )
    check_text(title, "/title")
    return title.strip() or None
