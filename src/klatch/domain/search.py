"""The criteria language of Kustomer's search: what a query may say, checked.

A search body names a ``queryContext`` (what is found: customers, conversations,
messages, notes), criteria (``and`` / ``or`` / ``not``, each an object or an array of at
most 20 criteria, nestable; a criterion is ``{"<field>": {"<operator>": value}}``),
a ``sort`` and a ``timeZone`` for local dates. ``parse_query`` turns it into a
``Query``: every field resolved against the catalogue of standard fields and the
org's attribute definitions, every value typed, every date an interval of epoch
milliseconds. Anything it cannot use is a 400 that names the field (or key) and
says what is allowed. Pure: no I/O; the storage compiles a ``Query`` to SQL, and
routing rules and the console's criteria builder can reuse it.

Operators by kind of field::

    string  equals, contains, exists     text     contains, exists
    list    equals, exists               id/tree  equals, exists
    number  equals, gt, gte, lt, lte, exists
    date    equals, gt, gte, lt, lte, exists
    boolean equals, exists

``equals`` takes a value or a list ("is one of"); ``contains`` matches whole
words, case-insensitive (every word given); ``exists`` takes true (set) or false
(not set). A date is a UTC ISO-8601 time (``2024-01-01T00:01:00.000000Z``,
``…+00:00``) or a local day ``YYYY-MM-DD`` in ``timeZone`` (IANA, default UTC),
which stands for the whole day: ``gte`` its start, ``gt`` after its end,
``lte`` up to its end, ``equals`` within it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from klatch.domain.attributes import AttributeDef, AttrType
from klatch.domain.text import MAX_EXACT_INTEGER, json_kind, pointer_token, text_problem
from klatch.errors import InvalidArguments

MAX_CRITERIA = 20  # per and/or/not array, as Kustomer's
MAX_DEPTH = 6  # nesting of and/or/not
MAX_SORT = 5
MAX_FIELDS = 20
MAX_ONE_OF = 100  # values of one equals-list
MAX_VALUE_CHARS = 1024
MAX_WORDS = 10

CONTEXTS = ("customer", "conversation", "message", "note")
# Contexts Kustomer has and Klatch holds nothing of: a valid, empty page.
EMPTY_CONTEXTS = ("company", "kobject", "conversation_time", "work_session", "work_item")
_EMPTY_CONTEXT_RE = re.compile(r"^kobject_[0-9A-Za-z_-]+$")
BODY_KEYS = (
    "queryContext", "and", "or", "not", "sort", "fields", "aggs", "timeZone",
    "includeDeleted", "searchHash",
)  # fmt: skip
_WORD_RE = re.compile(r"\w+")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FRACTION_RE = re.compile(r"(\.\d{1,6})\d*")


class Kind(StrEnum):
    """A field's operator class (the catalogue's names, ``id`` for string_notanalyzed)."""

    STRING = "string"
    TEXT = "text"
    LIST = "list"
    ID = "id"
    TREE = "tree"
    NUMBER = "number"
    DATETIME = "datetime"
    BOOLEAN = "boolean"


OPERATORS: dict[Kind, tuple[str, ...]] = {
    Kind.STRING: ("equals", "contains", "exists"),
    Kind.TEXT: ("contains", "exists"),
    Kind.LIST: ("equals", "exists"),
    Kind.ID: ("equals", "exists"),
    Kind.TREE: ("equals", "exists"),
    Kind.NUMBER: ("equals", "gt", "gte", "lt", "lte", "exists"),
    Kind.DATETIME: ("equals", "gt", "gte", "lt", "lte", "exists"),
    Kind.BOOLEAN: ("equals", "exists"),
}
SORTABLE = frozenset({Kind.STRING, Kind.LIST, Kind.ID, Kind.TREE, Kind.NUMBER, Kind.DATETIME})

# The kind of field each attribute type is searched as.
ATTRIBUTE_KINDS: dict[AttrType, Kind] = {
    AttrType.STR: Kind.STRING,
    AttrType.TXT: Kind.TEXT,
    AttrType.NUM: Kind.NUMBER,
    AttrType.BOOL: Kind.BOOLEAN,
    AttrType.AT: Kind.DATETIME,
    AttrType.URL: Kind.STRING,
    AttrType.TREE: Kind.TREE,
    AttrType.ID: Kind.ID,
}


@dataclass(frozen=True, slots=True)
class Field:
    """A searchable field: its name in criteria, its kind, and what it reads.

    ``column`` names what the storage reads for it (a column of the context's
    table, or a derived value such as ``ended``); a custom attribute has
    ``attribute`` instead. ``values`` are the catalogue's allowed values of a list.
    """

    name: str
    kind: Kind
    column: str | None = None
    attribute: AttributeDef | None = None
    values: tuple[str, ...] | None = None


def _f(name: str, kind: Kind, column: str, values: tuple[str, ...] | None = None) -> Field:
    return Field(name, kind, column=column, values=values)


STATUSES = ("open", "done", "snoozed")
DIRECTIONS = ("in", "out")
CHANNELS = (
    "sms", "chat", "email", "facebook", "voice", "twitter-dm", "twitter-tweet",
    "instagram", "whatsapp",
)  # fmt: skip

# The catalogue's standard fields that Klatch has data for, per context. Names
# the catalogue spells two ways (``customer_externalId``) are accepted both ways.
STANDARD_FIELDS: dict[str, tuple[Field, ...]] = {
    "customer": (
        _f("customer_name", Kind.STRING, "name"),
        _f("customer_email", Kind.STRING, "email"),
        _f("customer_phone", Kind.ID, "phones"),
        _f("customer_external_id", Kind.ID, "external_id"),
        _f("customer_externalId", Kind.ID, "external_id"),
        _f("customer_verified", Kind.BOOLEAN, "verified"),
        _f("customer_created_at", Kind.DATETIME, "created_at"),
        _f("customer_updated_at", Kind.DATETIME, "updated_at"),
        _f("customer_modified_at", Kind.DATETIME, "updated_at"),
    ),
    "conversation": (
        _f("conversation_status", Kind.LIST, "status", STATUSES),
        _f("conversation_name", Kind.STRING, "title"),
        _f("conversation_customer_id", Kind.ID, "customer_id"),
        _f("conversation_external_id", Kind.ID, "external_id"),
        _f("conversation_externalId", Kind.ID, "external_id"),
        _f("conversation_brand_id", Kind.ID, "brand_id"),
        _f("conversation_created_at", Kind.DATETIME, "created_at"),
        _f("conversation_updated_at", Kind.DATETIME, "updated_at"),
        _f("conversation_modified_at", Kind.DATETIME, "updated_at"),
        _f("conversation_last_message_at", Kind.DATETIME, "last_message_at"),
        _f("conversation_ended_at", Kind.DATETIME, "ended_at"),
        _f("conversation_ended", Kind.BOOLEAN, "ended"),
        _f("conversation_message_count", Kind.NUMBER, "message_count"),
        # Every Klatch conversation is a chat its customer started.
        _f("conversation_direction", Kind.LIST, "direction", DIRECTIONS),
        _f("conversation_channels", Kind.LIST, "channel", CHANNELS),
        # WORKFLOW: who it is assigned to (rows of conversation_assignment, compiled
        # by storage/teams.py); equals one id or a list of ids, exists.
        _f("conversation_assigned_users", Kind.ID, "assigned_users"),
        _f("conversation_assigned_teams", Kind.ID, "assigned_teams"),
        # AGENT TOOLS: the tags it carries (rows of conversation_tag, compiled by
        # storage/tags.py); equals one tag id or a list of ids, exists.
        _f("conversation_tags", Kind.ID, "tags"),
    ),
    "message": (
        _f("message_body", Kind.TEXT, "body"),
        _f("message_direction", Kind.LIST, "direction", DIRECTIONS),
        _f("message_channel", Kind.LIST, "channel", CHANNELS),
        _f("message_conversation_id", Kind.ID, "conversation_id"),
        _f("message_customer_id", Kind.ID, "customer_id"),
        _f("message_created_at", Kind.DATETIME, "created_at"),
        # When its custom attributes last changed; its creation until then.
        _f("message_updated_at", Kind.DATETIME, "updated_at"),
        _f("message_sent_at", Kind.DATETIME, "created_at"),
    ),
    # Internal notes (agents and API keys only, as all of search).
    "note": (
        _f("note_body", Kind.TEXT, "body"),
        _f("note_conversation_id", Kind.ID, "conversation_id"),
        # The customer of the note's conversation.
        _f("note_customer_id", Kind.ID, "conversation_customer"),
        # Who wrote it: a user's or an API key's id (none for the system).
        _f("note_created_by", Kind.ID, "author_id"),
        _f("note_created_at", Kind.DATETIME, "created_at"),
        _f("note_updated_at", Kind.DATETIME, "updated_at"),
        _f("note_modified_at", Kind.DATETIME, "updated_at"),
    ),
}
# The klass whose attribute definitions type ``<context>_custom_<name>`` (notes have
# no custom attributes).
CUSTOM_KLASSES = {"customer": "customer", "conversation": "conversation", "message": "message"}


def add_standard_field(context: str, field: Field) -> None:
    """Make a standard field searchable once its column exists (e.g. a
    conversation's ``externalId``): one entry of the catalogue, nothing else."""
    fields = STANDARD_FIELDS[context]
    if all(f.name != field.name for f in fields):
        STANDARD_FIELDS[context] = (*fields, field)


# ---------------------------------------------------------------- the parsed query


@dataclass(frozen=True, slots=True)
class Condition:
    """One test of one field. ``op`` is canonical: ``eq`` (value), ``in`` (values),
    ``gt``/``gte``/``lt``/``lte`` (value), ``exists``/``missing``, ``words`` (all
    these words), ``between`` (lo <= x < hi, a date's interval)."""

    field: Field
    op: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """True where ``item`` is not true (also where its field is not set)."""

    item: Node


Node = Condition | All | AnyOf | Not


@dataclass(frozen=True, slots=True)
class SortKey:
    field: Field
    descending: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A checked search: what to find (``context``), where (``where``), in which order
    (``sort``, ties broken by id in the direction of the last key)."""

    context: str
    where: Node | None
    sort: tuple[SortKey, ...]
    empty: bool = False  # a context Klatch holds nothing of


class _Bad(Exception):
    def __init__(self, message: str, pointer: str, code: str = "invalid_search") -> None:
        self.message = message
        self.pointer = pointer
        self.code = code


def _refuse(exc: _Bad) -> InvalidArguments:
    return InvalidArguments(exc.message, code=exc.code, pointer=exc.pointer)


# ---------------------------------------------------------------- fields


def fields_of(context: str, definitions: Mapping[str, AttributeDef]) -> dict[str, Field]:
    """Every field a search of ``context`` may name: the standard ones and the
    custom attributes defined on its klass (``<context>_custom_<name>``)."""
    out = {f.name: f for f in STANDARD_FIELDS.get(context, ())}
    for name, d in definitions.items():
        custom = f"{context}_custom_{name}"
        out[custom] = Field(custom, ATTRIBUTE_KINDS[d.type], attribute=d)
    return out


def _field(name: str, fields: Mapping[str, Field], context: str, pointer: str) -> Field:
    found = fields.get(name)
    if found is not None:
        return found
    if name.startswith(f"{context}_custom_"):
        attr = name.removeprefix(f"{context}_custom_")
        raise _Bad(
            f"Unknown field '{name}': '{attr}' is not defined on the {context} klass; "
            f"the {context} fields are: {_names(fields)}",
            pointer,
            "unknown_field",
        )
    other = name.split("_", 1)[0]
    hint = (
        f" ('{name}' is a {other} field; this search's queryContext is '{context}')"
        if other in CONTEXTS and other != context
        else ""
    )
    raise _Bad(
        f"Unknown field '{name}'{hint}; the {context} fields are: {_names(fields)}",
        pointer,
        "unknown_field",
    )


def _names(fields: Mapping[str, Field]) -> str:
    return ", ".join(sorted(fields))


# ---------------------------------------------------------------- values


def _text(value: Any, field: Field, pointer: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"'{field.name}' takes a string here, got {json_kind(value)}", pointer)
    problem = text_problem(value)
    if problem is not None:
        raise _Bad(f"The value for '{field.name}' {problem}", pointer, "invalid_text")
    if len(value) > MAX_VALUE_CHARS:
        raise _Bad(f"A value for '{field.name}' is at most {MAX_VALUE_CHARS} characters", pointer)
    if field.values is not None and value not in field.values:
        raise _Bad(
            f"'{value[:64]}' is not a value of '{field.name}'; it takes: "
            + ", ".join(field.values),
            pointer,
        )
    return value


def _number(value: Any, field: Field, pointer: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"'{field.name}' takes a number here, got {json_kind(value)}", pointer)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad(f"'{field.name}' takes a finite number", pointer)
    if isinstance(value, int) and abs(value) > MAX_EXACT_INTEGER:
        raise _Bad(f"'{field.name}' takes whole numbers within ±2^53", pointer)
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_EXACT_INTEGER:
        return int(value)
    number: int | float = value
    return number


def _boolean(value: Any, field: Field, pointer: str) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"'{field.name}' takes true or false here, got {json_kind(value)}", pointer)
    return value


def parse_time_zone(value: Any) -> ZoneInfo:
    """The body's ``timeZone``: an IANA name (``Europe/Paris``); UTC when absent."""
    if value is None:
        return ZoneInfo("UTC")
    if not isinstance(value, str) or not value or len(value) > 64 or ".." in value:
        raise _refuse(
            _Bad("timeZone is an IANA time zone name such as 'Europe/Paris'", "/timeZone")
        )
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _refuse(
            _Bad(
                f"Unknown timeZone '{value}'; use an IANA name such as 'Europe/Paris'", "/timeZone"
            )
        ) from None


def _moment(value: Any, field: Field, zone: ZoneInfo, pointer: str) -> tuple[int, int]:
    """A date as the interval [lo, hi) of epoch milliseconds it covers: a local day
    its whole day in ``zone``; a time the millisecond it falls in (empty when it
    falls between two, so that gt/lte and gte/lt still split the line there)."""
    if not isinstance(value, str):
        raise _Bad(f"'{field.name}' takes a date as a string, got {json_kind(value)}", pointer)
    if _DAY_RE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise _Bad(f"'{value}' is not a date (YYYY-MM-DD)", pointer) from None
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), start.timetz()) if day < date.max else None
        lo = _ms(start)
        return lo, _ms(end) if end is not None else lo + 86_400_000
    try:
        moment = datetime.fromisoformat(_FRACTION_RE.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _Bad(
            f"'{value[:64]}' is not a date for '{field.name}': use a UTC time "
            "(2024-01-01T00:00:00Z, with or without fractional seconds) or a local day "
            "(2024-01-01, in the body's timeZone)",
            pointer,
        )
    micros = _micros(moment)
    floor, rest = divmod(micros, 1000)
    return (floor, floor + 1) if rest == 0 else (floor + 1, floor + 1)


def _ms(moment: datetime) -> int:
    return _micros(moment) // 1000


def _micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# ---------------------------------------------------------------- criteria


@dataclass(frozen=True, slots=True)
class _Scope:
    context: str
    fields: Mapping[str, Field]
    zone: ZoneInfo


def _group(value: Any, scope: _Scope, pointer: str, depth: int) -> tuple[Node, ...]:
    """The criteria of an and/or/not: one object or an array of at most 20."""
    if depth > MAX_DEPTH:
        raise _Bad(f"Criteria nest at most {MAX_DEPTH} levels deep", pointer)
    if isinstance(value, dict):
        return (_criterion(value, scope, pointer, depth),)
    if not isinstance(value, list):
        raise _Bad("Criteria are an object or an array of objects", pointer)
    if len(value) > MAX_CRITERIA:
        raise _Bad(f"At most {MAX_CRITERIA} criteria in one array, got {len(value)}", pointer)
    return tuple(_criterion(v, scope, f"{pointer}/{i}", depth) for i, v in enumerate(value))


def _criterion(value: Any, scope: _Scope, pointer: str, depth: int) -> Node:
    """``{"<field>": {"<operator>": value}}`` (several fields: all of them), or a
    nested ``{"and"|"or"|"not": …}``."""
    if not isinstance(value, dict) or not value:
        raise _Bad(
            'A criterion is an object such as {"conversation_status": {"equals": "open"}}', pointer
        )
    parts: list[Node] = []
    for key, test in value.items():
        here = f"{pointer}/{pointer_token(key)}"
        if key in ("and", "or", "not"):
            parts.append(_combine(key, _group(test, scope, here, depth + 1)))
        else:
            parts.append(_tests(_field(key, scope.fields, scope.context, here), test, scope, here))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _combine(key: str, items: tuple[Node, ...]) -> Node:
    if key == "and":
        return All(items)
    if key == "or":
        return AnyOf(items)
    return All(tuple(Not(item) for item in items))  # none of them


def _tests(field: Field, test: Any, scope: _Scope, pointer: str) -> Node:
    allowed = OPERATORS[field.kind]
    if not isinstance(test, dict) or not test:
        raise _Bad(
            f"'{field.name}' needs an object of operator to value, e.g. "
            f'{{"{allowed[0]}": …}}; its operators are: {", ".join(allowed)}',
            pointer,
        )
    conditions: list[Node] = []
    for op, value in test.items():
        if op not in allowed:
            raise _Bad(
                f"'{field.name}' ({field.kind.value}) does not take '{op}'; its operators "
                f"are: {', '.join(allowed)}",
                f"{pointer}/{pointer_token(op)}",
                "invalid_operator",
            )
        conditions.append(_condition(field, op, value, scope, f"{pointer}/{op}"))
    return conditions[0] if len(conditions) == 1 else All(tuple(conditions))


def _condition(field: Field, op: str, value: Any, scope: _Scope, pointer: str) -> Node:
    if op == "exists":
        if not isinstance(value, bool):
            got = json_kind(value)
            raise _Bad(f"exists takes true (set) or false (not set), got {got}", pointer)
        return Condition(field, "exists" if value else "missing")
    if op == "contains":
        words = _WORD_RE.findall(_text(value, _without_values(field), pointer).lower())
        if not words or len(words) > MAX_WORDS:
            raise _Bad(f"contains takes 1 to {MAX_WORDS} words", pointer)
        return Condition(field, "words", tuple(dict.fromkeys(words)))
    if op == "equals" and isinstance(value, list):
        if not 1 <= len(value) <= MAX_ONE_OF:
            raise _Bad(f"equals takes a value or a list of 1 to {MAX_ONE_OF} values", pointer)
        items = [_condition(field, op, v, scope, f"{pointer}/{i}") for i, v in enumerate(value)]
        return _one_of(field, items)
    if field.kind is Kind.DATETIME:
        lo, hi = _moment(value, field, scope.zone, pointer)
        return _date_condition(field, op, lo, hi)
    typed = _typed(field, value, pointer)
    return Condition(field, "eq" if op == "equals" else op, typed)


def _without_values(field: Field) -> Field:
    """The field without allowed values: ``contains`` takes any words."""
    return Field(field.name, field.kind, field.column, field.attribute)


def _one_of(field: Field, items: list[Node]) -> Node:
    if all(isinstance(i, Condition) and i.op == "eq" for i in items):
        values = tuple(dict.fromkeys(i.value for i in items if isinstance(i, Condition)))
        return Condition(field, "in", values)
    return AnyOf(tuple(items))


def _date_condition(field: Field, op: str, lo: int, hi: int) -> Condition:
    if op == "equals":
        return Condition(field, "between", (lo, hi))
    if op == "gte":
        return Condition(field, "gte", lo)
    if op == "gt":
        return Condition(field, "gte", hi)
    if op == "lt":
        return Condition(field, "lt", lo)
    return Condition(field, "lt", hi)  # lte: up to the end of what was named


def _typed(field: Field, value: Any, pointer: str) -> Any:
    if field.kind is Kind.NUMBER:
        return _number(value, field, pointer)
    if field.kind is Kind.BOOLEAN:
        return _boolean(value, field, pointer)
    return _text(value, field, pointer)


# ---------------------------------------------------------------- sort


def _sort(value: Any, scope: _Scope) -> tuple[SortKey, ...]:
    default = scope.fields.get(f"{scope.context}_updated_at")
    if value is None or value == [] or value == {}:
        return (SortKey(default, True),) if default is not None else ()
    entries = value if isinstance(value, list) else [value]
    keys: list[SortKey] = []
    for i, entry in enumerate(entries):
        pointer = f"/sort/{i}" if isinstance(value, list) else "/sort"
        if not isinstance(entry, dict) or not entry:
            raise _Bad('sort is {"<field>": "asc"|"desc"} or an array of them', pointer)
        for name, direction in entry.items():
            keys.append(_sort_key(name, direction, scope, f"{pointer}/{pointer_token(name)}"))
    if len(keys) > MAX_SORT:
        raise _Bad(f"sort takes at most {MAX_SORT} fields, got {len(keys)}", "/sort")
    return tuple(keys)


def _sort_key(name: str, direction: Any, scope: _Scope, pointer: str) -> SortKey:
    field = _field(name, scope.fields, scope.context, pointer)
    if field.kind not in SORTABLE:
        raise _Bad(
            f"'{name}' ({field.kind.value}) cannot be sorted; sort by a date, number or "
            "string field",
            pointer,
        )
    if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
        raise _Bad(f'The direction of \'{name}\' is "asc" or "desc"', pointer)
    return SortKey(field, direction.lower() == "desc")


# ---------------------------------------------------------------- the body


def check_context(value: Any) -> str:
    """The body's ``queryContext`` (``customer`` when absent, as Kustomer's)."""
    if value is None:
        return "customer"
    if isinstance(value, str) and (
        value in CONTEXTS or value in EMPTY_CONTEXTS or _EMPTY_CONTEXT_RE.match(value)
    ):
        return value
    raise _refuse(
        _Bad(
            "queryContext is one of: " + ", ".join((*CONTEXTS, *EMPTY_CONTEXTS, "kobject_<klass>")),
            "/queryContext",
        )
    )


def parse_query(body: Any, definitions: Mapping[str, Mapping[str, AttributeDef]]) -> Query:
    """Check a search body against the catalogue and the org's definitions
    (klass -> name -> definition); a 400 naming the offending key otherwise."""
    if not isinstance(body, dict):
        raise InvalidArguments("The search body must be a JSON object")
    unknown = [k for k in body if k not in BODY_KEYS]
    if unknown:
        raise InvalidArguments(
            f"Unknown search key '{unknown[0]}'; the body takes: {', '.join(BODY_KEYS)}",
            code="invalid_search",
            pointer=f"/{pointer_token(unknown[0])}",
        )
    context = check_context(body.get("queryContext"))
    zone = parse_time_zone(body.get("timeZone"))
    _check_extras(body)
    if context not in CONTEXTS:
        return Query(context, None, (), empty=True)
    klass = CUSTOM_KLASSES.get(context)
    custom = definitions.get(klass, {}) if klass is not None else {}
    scope = _Scope(context, fields_of(context, custom), zone)
    try:
        where = _where(body, scope, "")
        sort = _sort(body.get("sort"), scope)
    except _Bad as exc:
        raise _refuse(exc) from None
    return Query(context, where, sort)


def parse_criteria(
    body: Mapping[str, Any], fields: Mapping[str, Field], context: str, pointer: str = ""
) -> Node | None:
    """WORKFLOW (routing rules): the ``and`` / ``or`` / ``not`` of ``body`` checked
    against ``fields`` (which may mix contexts, e.g. conversation and customer
    fields), as ``parse_query`` checks a search's; None when there are none."""
    try:
        return _where(body, _Scope(context, fields, ZoneInfo("UTC")), pointer)
    except _Bad as exc:
        raise _refuse(exc) from None


def _where(body: Mapping[str, Any], scope: _Scope, pointer: str) -> Node | None:
    """The ``and`` / ``or`` / ``not`` of ``body`` (``pointer`` is where it is) as one
    node, all of them together; None when there are none."""
    parts = [
        _combine(key, _group(body[key], scope, f"{pointer}/{key}", 1))
        for key in ("and", "or", "not")
        if body.get(key) not in (None, [], {})
    ]
    return None if not parts else parts[0] if len(parts) == 1 else All(tuple(parts))


def _check_extras(body: Mapping[str, Any]) -> None:
    """Keys Klatch accepts and does not act on (``fields``, ``aggs``, ``searchHash``,
    ``includeDeleted``): they must still be what Kustomer takes."""
    fields = body.get("fields")
    if fields is not None and (
        not isinstance(fields, list)
        or len(fields) > MAX_FIELDS
        or not all(isinstance(f, str) for f in fields)
    ):
        raise InvalidArguments(
            f"fields is an array of at most {MAX_FIELDS} field names", pointer="/fields"
        )
    if body.get("includeDeleted") not in (None, True, False):
        raise InvalidArguments("includeDeleted is true or false", pointer="/includeDeleted")
    if body.get("aggs") is not None and not isinstance(body["aggs"], dict):
        raise InvalidArguments("aggs is an object", pointer="/aggs")
    if body.get("searchHash") is not None and not isinstance(body["searchHash"], str):
        raise InvalidArguments("searchHash is a string", pointer="/searchHash")
