"""What text and numbers from outside must be, the same on SQLite and PostgreSQL.

Text is a string of Unicode scalar values without U+0000: no NUL (PostgreSQL
cannot store it in text or jsonb; SQLite would) and no lone surrogate
(``"\\ud800"`` is valid JSON but not text: no UTF-8 encodes it). The rule holds
for every string a request carries — each value and each key of a JSON body,
path and query parameters, login token claims — and ``check_text`` applies it
to a whole JSON value in one walk, naming the first offender by its JSON Pointer.

Integers are exact up to ``MAX_EXACT_INTEGER`` (2^53): beyond it a browser's
Number, an IEEE double, no longer holds every integer, so a value there would
come back other than it was sent. A page number is bounded so that the offset of
its first row fits the databases' 64-bit integers. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from klatch.errors import InvalidArguments

MAX_EXACT_INTEGER = 2**53
# The offset, (page - 1) * pageSize, must fit the databases' 64-bit integers.
MAX_PAGE = 1_000_000

_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` is not text, or None when it is."""
    found = _NOT_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "holds U+0000 (NUL)"
    return f"holds a lone surrogate (U+{ord(found.group()):04X})"


def name_key(name: str) -> str:
    """The form in which two names are "the same" (a tag's, a team's): compatibility
    normalised and case folded, so "Åsa", "åsa" and "A\u030asa" collide on every
    backend (SQLite's ``lower`` folds ASCII only, so the key is stored, not computed
    in SQL)."""
    return unicodedata.normalize("NFKC", name).casefold()


def invalid_text(where: str, problem: str, pointer: str) -> InvalidArguments:
    """The 400 ``invalid_text`` for ``where`` (e.g. "The value at /name")."""
    return InvalidArguments(
        f"{where} {problem}; Klatch takes text without NUL characters or lone surrogates",
        code="invalid_text",
        pointer=pointer,
    )


@dataclass(frozen=True, slots=True)
class RequiredText:
    """A required text of at most ``limit`` characters at ``pointer`` (a body: a
    message's, a note's, a shortcut's), and what each refusal says: a missing or
    blank value is ``empty`` (code ``empty_code``); a longer one ``too_long``, with
    ``{limit}`` and ``{length}`` filled in (``value_too_long``); one that is not
    text is ``invalid_text`` for ``where``."""

    limit: int
    where: str
    empty: str
    too_long: str
    empty_code: str = "invalid_arguments"
    pointer: str = "/body"

    def check(self, value: Any) -> str:
        """``value`` if it is such a text; else the 400 that says why not."""
        if not isinstance(value, str) or not value.strip():
            raise InvalidArguments(self.empty, code=self.empty_code, pointer=self.pointer)
        if len(value) > self.limit:
            raise InvalidArguments(
                self.too_long.format(limit=self.limit, length=len(value)),
                code="value_too_long",
                pointer=self.pointer,
            )
        problem = text_problem(value)
        if problem:
            raise invalid_text(self.where, problem, self.pointer)
        return value


def check_text(value: Any, pointer: str = "") -> None:
    """Refuse a JSON value any string or key of which is not text (400
    ``invalid_text``, pointing at the first one). Walks without recursion, so any
    depth a JSON reader returns is fine."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _NOT_TEXT.search(item):
                raise _first_offender(value, pointer)
        elif isinstance(item, dict):
            if any(_NOT_TEXT.search(key) for key in item):
                raise _first_offender(value, pointer)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _first_offender(value: Any, pointer: str) -> InvalidArguments:
    """The ``invalid_text`` error for the first string or key of ``value``, in
    document order, that is not text (walked again, with pointers, only once there
    is one)."""
    stack: list[tuple[str, Any]] = [(pointer, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str) and (problem := text_problem(item)) is not None:
            return invalid_text(f"The text at {where or 'the top'}", problem, where)
        if isinstance(item, dict):
            for key in item:
                if (problem := text_problem(key)) is not None:
                    return invalid_text(
                        f"A key of the object at {where or 'the top'}", problem, where
                    )
            members = [(f"{where}/{pointer_token(k)}", v) for k, v in item.items()]
        elif isinstance(item, list):
            members = [(f"{where}/{i}", member) for i, member in enumerate(item)]
        else:
            continue
        stack.extend(reversed(members))
    raise AssertionError("no string of the value breaks the text rule")


def check_parameters(items: Any, pointer: str) -> None:
    """Refuse (name, value) pairs, such as a query string's, with a name or a value
    that is not text; ``pointer`` is where they are (``/query``, ``/path``)."""
    for name, value in items:
        problem = text_problem(name)
        if problem is not None:
            raise invalid_text(f"A parameter name in {pointer}", problem, pointer)
        problem = text_problem(value)
        if problem is not None:
            raise invalid_text(f"The parameter {name}", problem, f"{pointer}/{pointer_token(name)}")


def pointer_token(name: str) -> str:
    """One JSON Pointer reference token (RFC 6901): '~' and '/' are escaped."""
    return name.replace("~", "~0").replace("/", "~1")


def visible(value: str) -> str:
    """``value`` with what is not text spelled ``\\uXXXX``, for an error message,
    which must itself be text."""
    return _NOT_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def json_kind(value: Any) -> str:
    """What a JSON value is, as an error message names it: "a string", "null" …"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
