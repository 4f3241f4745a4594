"""The inbox's search: a criteria builder over every conversation field (any custom
attribute with the operators its type takes, status, assignee, team, tag, dates),
kept in the address so a search can be shared as a URL::

    /console/inbox?f=conversation_custom_priorityNum&o=gte&v=3&f=conversation_status&o=equals&v=open

Each ``f``/``o``/``v`` triple is one criterion, all of them must hold. They are
turned into the search API's criteria language (``domain/search.py``) and run by
the search service, so the console finds what ``POST /v1/customers/search``
finds. A value that does not fit its field is a 400 that says which row and why,
in an agent's words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request

from klatch.console.session import Agent
from klatch.console.web import services_of
from klatch.domain.models import Conversation
from klatch.domain.search import OPERATORS, STATUSES, Field, Kind, fields_of
from klatch.errors import InvalidArguments

MAX_ROWS = 10
# The conversation's own fields the builder offers, with what agents call them.
STANDARD = {
    "conversation_status": "Status",
    "conversation_assigned_users": "Assignee",
    "conversation_assigned_teams": "Team",
    "conversation_tags": "Tag",
    "conversation_created_at": "Created",
    "conversation_updated_at": "Updated",
    "conversation_last_message_at": "Last message",
    "conversation_ended_at": "Ended",
    "conversation_message_count": "Number of messages",
    "conversation_name": "Title",
}
_DATE_OPS = {
    "equals": "on",
    "gt": "after",
    "gte": "on or after",
    "lt": "before",
    "lte": "on or before",
}
_OPS = {
    "equals": "is",
    "contains": "contains the words",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "exists": "is set",
    "missing": "is not set",
}
_MINUTE = re.compile(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d)$")


@dataclass(frozen=True, slots=True)
class Choice:
    """A field as the builder offers it: its label, operators and, for a field with
    a fixed set of values, those values as (value, label)."""

    name: str
    label: str
    kind: Kind
    ops: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...] = ()

    @property
    def hint(self) -> str:
        if self.kind is Kind.DATETIME:
            return "YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC)"
        return "a number" if self.kind is Kind.NUMBER else ""


@dataclass(frozen=True, slots=True)
class Row:
    """One criterion as the agent set it (shown again as typed)."""

    field: str
    op: str
    value: str
    error: str = ""


def _ops(kind: Kind) -> tuple[tuple[str, str], ...]:
    names = _DATE_OPS if kind is Kind.DATETIME else _OPS
    ops = [(op, names.get(op, _OPS[op])) for op in OPERATORS[kind] if op != "exists"]
    return (*ops, ("exists", _OPS["exists"]), ("missing", _OPS["missing"]))


async def choices(request: Request, agent: Agent) -> dict[str, Choice]:
    """Every field the builder offers, by search field name, in menu order."""
    services = services_of(request)
    org_id = agent.user.org_id
    definitions = await services.attributes.list(org_id, "conversation")
    fields = fields_of("conversation", {d.name: d for d in definitions})
    known: dict[str, tuple[tuple[str, str], ...]] = {
        "conversation_status": tuple((s, s.capitalize()) for s in STATUSES),
        "conversation_tags": tuple((t.id, t.name) for t in await services.tags.all(org_id)),
        "conversation_assigned_users": tuple(
            (u.id, u.display_name) for u in await services.orgs.list_users(org_id)
        ),
        "conversation_assigned_teams": tuple(
            (t.id, t.display_name) for t in await services.teams.list(agent.actor)
        ),
    }
    out: dict[str, Choice] = {}
    for name, label in STANDARD.items():
        if name in fields:
            kind = fields[name].kind
            out[name] = Choice(name, label, kind, _ops(kind), known.get(name, ()))
    for d in definitions:
        field = fields[f"conversation_custom_{d.name}"]
        out[field.name] = Choice(
            field.name, d.display_name, field.kind, _ops(field.kind), _values(field)
        )
    return out


def _values(field: Field) -> tuple[tuple[str, str], ...]:
    d = field.attribute
    if field.kind is Kind.BOOLEAN:
        return (("true", "Yes"), ("false", "No"))
    if d is not None and d.allowed:
        return tuple((v, v) for v in sorted(d.allowed))
    return ()


def rows_of(q: QueryParams) -> list[Row]:
    """The criteria in the address, as typed (rows without a field are dropped)."""
    fields, ops, values = q.getlist("f"), q.getlist("o"), q.getlist("v")
    rows = [
        Row(f, ops[i] if i < len(ops) else "", values[i] if i < len(values) else "")
        for i, f in enumerate(fields)
        if f
    ]
    if len(rows) > MAX_ROWS:
        raise InvalidArguments(f"A search has at most {MAX_ROWS} criteria")
    return rows


class RowError(Exception):
    def __init__(self, index: int, message: str) -> None:
        self.index = index
        self.message = message


def criterion(row: Row, index: int, offered: dict[str, Choice]) -> dict[str, Any]:
    """One row as the search API's criterion; RowError when it cannot be one."""
    choice = offered.get(row.field)
    if choice is None:
        raise RowError(index, f"'{row.field[:64]}' is not a field you can search by")
    if row.op not in dict(choice.ops):
        named = ", ".join(label for _, label in choice.ops)
        raise RowError(index, f"{choice.label} can be: {named}")
    if row.op in ("exists", "missing"):
        return {row.field: {"exists": row.op == "exists"}}
    text = row.value.strip()
    if not text:
        raise RowError(index, f"Give a value for {choice.label}")
    return {row.field: {row.op: _typed(choice, text, index)}}


def _typed(choice: Choice, text: str, index: int) -> Any:
    if choice.values and text not in dict(choice.values):
        raise RowError(index, f"Choose one of the listed values of {choice.label}")
    if choice.kind is Kind.NUMBER:
        try:
            number = float(text)
        except ValueError:
            message = f"{choice.label} takes a number; '{text[:64]}' is not one"
            raise RowError(index, message) from None
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if choice.kind is Kind.BOOLEAN:
        return text == "true"
    if choice.kind is Kind.DATETIME:
        minute = _MINUTE.match(text)
        return f"{minute.group(1)}T{minute.group(2)}:00Z" if minute else text
    return text


async def builder(request: Request, agent: Agent, rows: list[Row]) -> dict[str, Any]:
    """What the builder's block of the inbox needs: the fields, and the rows to show
    (those of the address, then an empty one to add a criterion)."""
    offered = await choices(request, agent)
    return {
        "search_fields": list(offered.values()),
        "search_rows": [*rows, Row("", "", "")] if len(rows) < MAX_ROWS else rows,
        "search_choices": offered,
    }


def page_url(q: QueryParams, page_number: int) -> str:
    """This search's address at another page."""
    params = [(k, v) for k, v in q.multi_items() if k not in ("page", "partial", "cursor")]
    return "?" + urlencode([*params, ("page", str(page_number))])


@dataclass(frozen=True, slots=True)
class Found:
    conversations: list[Conversation]
    has_next: bool
    rows: list[Row]
    error: str | None


async def search(
    request: Request,
    agent: Agent,
    rows: list[Row],
    page: int,
    page_size: int,
    extra: list[dict[str, Any]] | None = None,
) -> Found:
    """The page of conversations matching every row (and the ``extra`` criteria, an
    inbox view's), newest activity first; a row that does not fit its field comes
    back with its error and nothing is searched."""
    offered = await choices(request, agent)
    try:
        criteria = [criterion(row, i, offered) for i, row in enumerate(rows)]
    except RowError as exc:
        return _refused(rows, exc.index, exc.message, offered)
    try:
        found = await services_of(request).search.search(
            agent.actor,
            {"queryContext": "conversation", "and": [*criteria, *(extra or [])]},
            page=page,
            page_size=page_size,
        )
    except InvalidArguments as exc:
        index = _row_of(exc.pointer, len(rows))
        return _refused(rows, index, _in_words(exc.detail, offered), offered)
    conversations = [c for c in found.items if isinstance(c, Conversation)]
    return Found(conversations, found.next_cursor is not None, rows, None)


def _refused(rows: list[Row], index: int | None, message: str, offered: dict[str, Choice]) -> Found:
    marked = [
        Row(r.field, r.op, r.value, message if i == index else "") for i, r in enumerate(rows)
    ]
    where = f"Criterion {index + 1}: " if index is not None else ""
    return Found([], False, marked, where + message)


def _row_of(pointer: str | None, rows: int) -> int | None:
    """The row a search error points at (``/and/<row>/...``)."""
    found = re.match(r"^/and/(\d+)", pointer or "")
    return int(found.group(1)) if found and int(found.group(1)) < rows else None


def _in_words(message: str, offered: dict[str, Choice]) -> str:
    """The search API's message with field names as the builder labels them."""
    for name, choice in offered.items():
        message = message.replace(f"'{name}'", choice.label)
    return message
