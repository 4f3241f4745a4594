"""Klass attribute definitions and the rules their values must follow.

Pure functions, no I/O. As in Kustomer, an attribute's name carries its type in
a suffix (``orderNumberStr`` is a string, ``priorityNum`` a number). A name
without a known suffix (``some_custom_attribute``) must be given a type
explicitly when it is defined. Every type takes ``null``, which clears the value.

What each type means is one row of ``TYPES`` (the model: Zulip's
``FIELD_TYPE_DATA``): its suffix, its names in the metadata API, how a value is
checked and a list filter parsed, and which input the console renders for it.
Every other table of types is derived from it, so a new type is one new row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit

from klatch.domain.text import MAX_EXACT_INTEGER, json_kind, pointer_token, text_problem, visible
from klatch.errors import AttributeErrors, ErrorDetail, InvalidArguments

KLASSES = ("conversation", "customer", "message")
MAX_KEYS_PER_WRITE = 100
STR_MAX_CHARS = 1024
TXT_MAX_BYTES = 64 * 1024
URL_MAX_CHARS = 2048
ID_MAX_CHARS = 128
NAME_MAX_CHARS = 128
DISPLAY_NAME_MAX_CHARS = 255
MAX_ALLOWED_VALUES = 1000

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TREE_SEGMENT_RE = re.compile(r"^[^.\s][^.]*$")
# A list filter on a Num attribute: a decimal number, as JSON writes one (a sign
# and a point without digits after it allowed).
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")


class AttrType(StrEnum):
    STR = "str"
    TXT = "txt"
    NUM = "num"
    BOOL = "bool"
    AT = "at"
    URL = "url"
    TREE = "tree"
    ID = "id"


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One custom attribute as defined on a klass of an organization."""

    klass: str
    name: str
    type: AttrType
    display_name: str
    sdk_writable: bool = True
    enumeration: tuple[str, ...] | None = None
    tree: tuple[str, ...] | None = None  # every node path, e.g. "shipping", "shipping.delayed"
    created_at: int = 0
    # Tree metadata besides the paths: each node's display name (in the order of
    # ``tree``) and whether a value must be a leaf, as Kustomer's metadata says.
    tree_labels: tuple[str, ...] | None = None
    last_node_required: bool = False
    updated_at: int = 0
    allowed: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        values = (self.enumeration or ()) + (self.tree or ())
        object.__setattr__(self, "allowed", frozenset(values))


# ---------------------------------------------------------------- value checks


class _ValueProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _mismatch(definition: AttributeDef, value: Any, expected: str) -> _ValueProblem:
    return _ValueProblem(
        "type_mismatch",
        f"'{definition.name}' is {expected} ({definition.type.value}), got {json_kind(value)}",
    )


def _sized_text(definition: AttributeDef, value: Any, expected: str) -> str:
    """``value`` if it is text (``klatch.domain.text``) of a size the type takes."""
    if not isinstance(value, str):
        raise _mismatch(definition, value, expected)
    problem = text_problem(value)
    if problem is not None:
        raise _ValueProblem("invalid_text", f"The value of '{definition.name}' {problem}")
    if definition.type is AttrType.TXT:
        size = len(value.encode("utf-8"))
        if size > TXT_MAX_BYTES:
            raise _ValueProblem(
                "value_too_long",
                f"'{definition.name}' takes at most {TXT_MAX_BYTES} bytes of text, got {size}",
            )
        return value
    limit = URL_MAX_CHARS if definition.type is AttrType.URL else STR_MAX_CHARS
    if len(value) > limit:
        raise _ValueProblem(
            "value_too_long",
            f"'{definition.name}' takes at most {limit} characters, got {len(value)}",
        )
    return value


def _check_str(definition: AttributeDef, value: Any) -> str:
    text = _sized_text(definition, value, "a string")
    if definition.tree is not None and text in definition.allowed:
        _check_leaf(definition, text)
    if definition.allowed and text not in definition.allowed:
        sample = ", ".join(sorted(definition.allowed)[:10])
        more = ", ..." if len(definition.allowed) > 10 else ""
        raise _ValueProblem(
            "value_not_allowed",
            f"'{text}' is not an allowed value of '{definition.name}' (allowed: {sample}{more})",
        )
    return text


def _check_txt(definition: AttributeDef, value: Any) -> str:
    return _sized_text(definition, value, "a text")


def _check_num(definition: AttributeDef, value: Any) -> int | float:
    """A finite number; an integer within ±2^53, which a browser holds exactly
    (beyond it, it is refused rather than stored rounded)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(definition, value, "a number")
    if isinstance(value, int) and abs(value) > MAX_EXACT_INTEGER:
        raise _ValueProblem(
            "type_mismatch",
            f"'{definition.name}' takes whole numbers from -2^53 to 2^53 "
            f"({MAX_EXACT_INTEGER}), which a browser holds exactly",
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _ValueProblem("type_mismatch", f"'{definition.name}' must be a finite number")
    number: int | float = value
    return number


def _check_bool(definition: AttributeDef, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _mismatch(definition, value, "a boolean")
    return value


def _check_at(definition: AttributeDef, value: Any) -> str:
    if not isinstance(value, str):
        raise _mismatch(definition, value, "an ISO 8601 date-time string")
    try:
        moment = parse_datetime(value)
    except ValueError:
        raise _ValueProblem(
            "type_mismatch",
            f"'{definition.name}' must be an ISO 8601 date-time with a timezone, "
            f"such as 2026-11-25T14:30:00Z; got '{value[:64]}'",
        ) from None
    return format_datetime(moment)


def _check_url(definition: AttributeDef, value: Any) -> str:
    url = _sized_text(definition, value, "an absolute http(s) URL")
    if not is_http_url(url):
        raise _ValueProblem(
            "type_mismatch",
            f"'{definition.name}' must be an absolute http or https URL; got '{url[:64]}'",
        )
    return url


def _check_tree_value(definition: AttributeDef, value: Any) -> str:
    """A path of the attribute's tree (``shipping.delayed``); a leaf when the tree
    says ``lastNodeRequired``."""
    path = _sized_text(definition, value, "a tree path")
    if definition.allowed and path not in definition.allowed:
        raise _ValueProblem(
            "value_not_allowed",
            f"'{path[:64]}' is not a node of the tree of '{definition.name}'",
        )
    _check_leaf(definition, path)
    return path


def _check_leaf(definition: AttributeDef, path: str) -> None:
    """A tree with ``lastNodeRequired`` takes only its leaves."""
    if definition.last_node_required and any(
        other.startswith(path + ".") for other in definition.tree or ()
    ):
        raise _ValueProblem(
            "value_not_allowed",
            f"'{definition.name}' takes a last node of its tree; '{path[:64]}' has children",
        )


def _check_id(definition: AttributeDef, value: Any) -> str:
    """Another object's id: 1 to 128 characters without whitespace."""
    ident = _sized_text(definition, value, "an id string")
    if not ident or len(ident) > ID_MAX_CHARS or any(c.isspace() for c in ident):
        raise _ValueProblem(
            "type_mismatch",
            f"'{definition.name}' takes an id: 1 to {ID_MAX_CHARS} characters without "
            f"whitespace; got '{ident[:64]}'",
        )
    return ident


def _filter_tree(definition: AttributeDef, raw: str) -> str:
    return _check_tree_value(replace(definition, last_node_required=False), raw)


def _filter_id(definition: AttributeDef, raw: str) -> str:
    return _check_id(definition, raw)


def is_http_url(value: str) -> bool:
    if any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 date-time that carries a timezone; naive times are refused."""
    text = value.strip()
    if "T" not in text and " " not in text:
        raise ValueError("a date-time needs a time")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a date-time needs a timezone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
        raise ValueError("the date-time is out of range in UTC") from None


def format_datetime(moment: datetime) -> str:
    """UTC, millisecond precision, 'Z': sortable as text, what JavaScript's Date prints."""
    utc = moment.astimezone(UTC)
    # Not strftime: its %Y drops the zero padding of years before 1000 on glibc.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


# ---------------------------------------------------------------- list filters


# Each takes a query-string value (text: ``filter_value`` checked it) and returns
# what a stored value of the type would be, or raises _ValueProblem: a filter on a
# value the attribute cannot hold is refused, not answered with an empty list.


def _filter_text(definition: AttributeDef, raw: str) -> str:
    return _sized_text(definition, raw, "text")


def _filter_num(definition: AttributeDef, raw: str) -> int | float:
    text = raw.strip()
    if not _NUMBER_RE.fullmatch(text):
        raise _ValueProblem(
            "type_mismatch", f"Filter on '{definition.name}' needs a number, got '{raw[:64]}'"
        )
    try:
        number: int | float = int(text) if _INTEGER_RE.fullmatch(text) else float(text)
    except ValueError:  # more digits than Python reads as an int
        number = math.inf
    number = _check_num(definition, number)
    # 2.0 finds the 2 stored; a float beyond 2^53 stays one (it is stored as one).
    if isinstance(number, float) and number.is_integer() and abs(number) <= MAX_EXACT_INTEGER:
        return int(number)
    return number


def _filter_bool(definition: AttributeDef, raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise _ValueProblem(
            "type_mismatch", f"Filter on '{definition.name}' needs true or false, got '{raw[:64]}'"
        )
    return raw.lower() == "true"


def _filter_at(definition: AttributeDef, raw: str) -> str:
    try:
        return format_datetime(parse_datetime(raw))
    except ValueError:
        raise _ValueProblem(
            "type_mismatch",
            f"Filter on '{definition.name}' needs an ISO 8601 date-time with timezone",
        ) from None


# ---------------------------------------------------------------- the type table

# The inputs the console has for a value; it shows a menu instead for an attribute
# with allowed values.
Editor = Literal["text", "textarea", "number", "bool", "datetime", "url", "tree", "id"]


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """Everything one attribute type means: one row of ``TYPES``."""

    type: AttrType
    suffix: str  # a name ending in it has this type, as in Kustomer
    label: str  # what the console's type menu says after the suffix
    metadata_name: str  # the word of Kustomer's metadata API (JSON-schema-ish)
    aliases: tuple[str, ...]  # further words accepted for the type
    check: Callable[[AttributeDef, Any], Any]  # a value -> its stored form
    parse_filter: Callable[[AttributeDef, str], Any]  # a query-string value -> stored form
    editor: Editor  # the input the console renders
    takes_allowed_values: bool = False  # enumeration and tree


TYPES: tuple[TypeSpec, ...] = (
    TypeSpec(
        AttrType.STR, "Str", "short text", "string", (),
        _check_str, _filter_text, "text", takes_allowed_values=True,
    ),
    TypeSpec(AttrType.TXT, "Txt", "long text", "text", (), _check_txt, _filter_text, "textarea"),
    TypeSpec(
        AttrType.NUM, "Num", "number", "number", ("integer",), _check_num, _filter_num, "number"
    ),
    TypeSpec(AttrType.BOOL, "Bool", "yes or no", "boolean", (), _check_bool, _filter_bool, "bool"),
    TypeSpec(
        AttrType.AT, "At", "date and time", "date-time", ("datetime", "date"),
        _check_at, _filter_at, "datetime",
    ),
    TypeSpec(AttrType.URL, "Url", "web address", "url", ("uri",), _check_url, _filter_text, "url"),
    TypeSpec(
        AttrType.TREE, "Tree", "choice in a tree", "tree", (),
        _check_tree_value, _filter_tree, "tree", takes_allowed_values=True,
    ),
    TypeSpec(AttrType.ID, "Id", "reference id", "id", ("objectid",), _check_id, _filter_id, "id"),
)  # fmt: skip
TYPE_SPECS: dict[AttrType, TypeSpec] = {spec.type: spec for spec in TYPES}

# Longest suffix first, so a name is matched by the whole of its suffix.
SUFFIXES: dict[str, AttrType] = {
    spec.suffix: spec.type for spec in sorted(TYPES, key=lambda s: -len(s.suffix))
}
METADATA_TYPE_NAMES: dict[AttrType, str] = {spec.type: spec.metadata_name for spec in TYPES}
_TYPE_ALIASES: dict[str, AttrType] = {
    word: spec.type
    for spec in TYPES
    for word in (spec.type.value, spec.metadata_name, *spec.aliases)
}


def suffix_list() -> str:
    return ", ".join(SUFFIXES)


def type_from_suffix(name: str) -> AttrType | None:
    """The type a name's suffix declares, or None when it has no known suffix."""
    for suffix, attr_type in SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return attr_type
    return None


def parse_type(value: str) -> AttrType:
    try:
        return _TYPE_ALIASES[value.strip().lower()]
    except KeyError:
        raise InvalidArguments(
            f"Unknown attribute type '{value}'; use one of: "
            + ", ".join(spec.type.value for spec in TYPES),
            code="invalid_type",
            pointer="/type",
        ) from None


def display_name_for(name: str) -> str:
    """Title-case a camelCase system name without its suffix: totalOrdersNum -> Total Orders."""
    suffix_type = type_from_suffix(name)
    base = name[: -len(TYPE_SPECS[suffix_type].suffix)] if suffix_type else name
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base.replace("_", " ")).split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or name


# ---------------------------------------------------------------- definitions


def check_klass(klass: str) -> str:
    if klass not in KLASSES:
        raise NotFoundKlass(klass)
    return klass


class NotFoundKlass(InvalidArguments):
    def __init__(self, klass: str) -> None:
        super().__init__(
            f"Unknown klass '{klass}'; custom attributes exist on: {', '.join(KLASSES)}",
            code="unknown_klass",
            pointer="/klass",
        )


class DefinitionOptions(TypedDict, total=False):
    """What a definition may say besides its klass and name: ``check_definition``'s
    keyword arguments, for the use cases that pass them on."""

    type_: str | AttrType | None
    display_name: str | None
    sdk_writable: bool
    enumeration: Iterable[str] | None
    tree: Iterable[str] | None
    tree_labels: Mapping[str, str] | None
    last_node_required: bool


def check_definition(
    klass: str,
    name: str,
    *,
    type_: str | AttrType | None = None,
    display_name: str | None = None,
    sdk_writable: bool = True,
    enumeration: Iterable[str] | None = None,
    tree: Iterable[str] | None = None,
    tree_labels: Mapping[str, str] | None = None,
    last_node_required: bool = False,
) -> AttributeDef:
    """Validate a new or changed definition and return it, normalised. ``tree_labels``
    are display names of tree nodes by path (a node without one is shown as its
    last segment)."""
    check_klass(klass)
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > NAME_MAX_CHARS:
        raise InvalidArguments(
            f"Attribute name '{name}' is not valid: use letters, digits and '_', starting "
            f"with a letter, at most {NAME_MAX_CHARS} characters (e.g. orderNumberStr)",
            code="invalid_name",
            pointer="/name",
        )
    attr_type = _resolve_type(name, type_)
    if display_name is not None and (
        not isinstance(display_name, str)
        or not display_name.strip()
        or len(display_name) > DISPLAY_NAME_MAX_CHARS
    ):
        raise InvalidArguments(
            f"displayName of '{name}' must be 1 to {DISPLAY_NAME_MAX_CHARS} characters",
            code="invalid_display_name",
            pointer="/displayName",
        )
    paths = _check_tree(name, attr_type, tree)
    if last_node_required not in (True, False) or (last_node_required and paths is None):
        raise InvalidArguments(
            f"Attribute '{name}': lastNodeRequired is true or false, and true needs a tree",
            code="invalid_metadata",
            pointer="/lastNodeRequired",
        )
    return AttributeDef(
        klass=klass,
        name=name,
        type=attr_type,
        display_name=(display_name or display_name_for(name)).strip(),
        sdk_writable=bool(sdk_writable),
        enumeration=_check_allowed_values(name, attr_type, enumeration, "enumeration"),
        tree=paths,
        tree_labels=_check_labels(name, paths, tree_labels),
        last_node_required=bool(last_node_required) and paths is not None,
    )


def _check_labels(
    name: str, paths: tuple[str, ...] | None, labels: Mapping[str, str] | None
) -> tuple[str, ...] | None:
    """Each node's display name, in the order of ``paths``."""
    if paths is None:
        return None
    labels = labels or {}
    for path, label in labels.items():
        if not isinstance(label, str) or not label.strip() or len(label) > DISPLAY_NAME_MAX_CHARS:
            raise InvalidArguments(
                f"Attribute '{name}': the displayName of tree node '{path[:64]}' must be "
                f"1 to {DISPLAY_NAME_MAX_CHARS} characters",
                code="invalid_metadata",
                pointer="/tree",
            )
    return tuple(labels.get(p, p.rsplit(".", 1)[-1]).strip() for p in paths)


def _resolve_type(name: str, type_: str | AttrType | None) -> AttrType:
    from_suffix = type_from_suffix(name)
    explicit = parse_type(type_) if isinstance(type_, str) else type_
    if from_suffix is None and explicit is None:
        raise InvalidArguments(
            f"Attribute name '{name}' has no type suffix ({suffix_list()}); "
            "give its type explicitly (e.g. --type str)",
            code="type_required",
            pointer="/type",
        )
    if from_suffix is not None and explicit is not None and explicit is not from_suffix:
        raise InvalidArguments(
            f"Attribute '{name}' ends in a suffix that means type '{from_suffix.value}', "
            f"but type '{explicit.value}' was given",
            code="type_conflict",
            pointer="/type",
        )
    result = from_suffix or explicit
    assert result is not None
    return result


def _check_allowed_values(
    name: str, attr_type: AttrType, values: Iterable[str] | None, what: str
) -> tuple[str, ...] | None:
    if values is None:
        return None

    def refuse(message: str) -> InvalidArguments:
        return InvalidArguments(
            f"Attribute '{name}': {what} {message}", code="invalid_metadata", pointer=f"/{what}"
        )

    if not TYPE_SPECS[attr_type].takes_allowed_values:
        raise refuse("is only allowed on Str attributes")
    if isinstance(values, str | bytes) or not all(isinstance(v, str) for v in values):
        raise refuse("must be a list of strings")
    out = tuple(dict.fromkeys(v for v in values))
    if (
        not out
        or len(out) > MAX_ALLOWED_VALUES
        or any(not v or len(v) > STR_MAX_CHARS for v in out)
    ):
        raise refuse(
            f"needs 1 to {MAX_ALLOWED_VALUES} non-empty values "
            f"of at most {STR_MAX_CHARS} characters"
        )
    return out


def _check_tree(
    name: str, attr_type: AttrType, tree: Iterable[str] | None
) -> tuple[str, ...] | None:
    paths = _check_allowed_values(name, attr_type, tree, "tree")
    if paths is None:
        return None
    nodes: dict[str, None] = {}
    for path in paths:
        segments = path.split(".")
        if not all(_TREE_SEGMENT_RE.match(s) for s in segments):
            raise InvalidArguments(
                f"Attribute '{name}': tree path '{path}' has an empty segment",
                code="invalid_metadata",
                pointer="/tree",
            )
        for i in range(1, len(segments) + 1):  # every ancestor is a node too
            nodes[".".join(segments[:i])] = None
    return tuple(nodes)


MAX_TREE_DEPTH = 10


def tree_from_nested(value: Any) -> tuple[list[str], dict[str, str]]:
    """Kustomer's tree metadata, ``{"children": [{"id", "displayName", "children"?}]}``
    (a node's ``value`` or ``name`` is read as its id too), or a list of paths
    (``shipping.delayed``): its node paths and their display names."""
    paths: list[str] = []
    labels: dict[str, str] = {}

    def walk(node: Any, prefix: str, depth: int) -> None:
        if depth > MAX_TREE_DEPTH:
            raise _bad_tree(f"nests at most {MAX_TREE_DEPTH} levels deep")
        if isinstance(node, list):
            for item in node:
                walk(item, prefix, depth)
            return
        if isinstance(node, str):
            paths.append(prefix + node)
            return
        if not isinstance(node, Mapping):
            raise _bad_tree('nodes are {"id", "displayName", "children"}')
        children = node.get("children") or []
        own = node.get("id") or node.get("value") or node.get("name")
        if own is None:  # the root: {"children": [...]}
            walk(children, prefix, depth + 1)
            return
        if not isinstance(own, str) or "." in own:
            raise _bad_tree("a node's id is a string without '.'")
        here = prefix + own
        paths.append(here)
        label = node.get("displayName")
        if label is not None:
            labels[here] = label
        walk(children, here + ".", depth + 1)

    walk(value, "", 0)
    return paths, labels


def tree_to_nested(d: AttributeDef) -> dict[str, Any]:
    """A definition's tree in Kustomer's shape: ``{"children": [{"id", "displayName",
    "children"}]}`` (a leaf has no ``children``)."""
    root: dict[str, Any] = {"children": []}
    nodes: dict[str, dict[str, Any]] = {"": root}
    labels = d.tree_labels or ()
    for i, path in enumerate(d.tree or ()):
        parent, _, own = path.rpartition(".")
        node = {"id": own, "displayName": labels[i] if i < len(labels) else own}
        nodes[parent].setdefault("children", []).append(node)
        nodes[path] = node
    return root


def _bad_tree(message: str) -> InvalidArguments:
    return InvalidArguments(f"tree {message}", code="invalid_metadata", pointer="/tree")


def updated(definition: AttributeDef, **changes: Any) -> AttributeDef:
    return replace(definition, **changes)


# ---------------------------------------------------------------- values


def check_values(
    klass: str,
    definitions: Mapping[str, AttributeDef],
    values: Any,
    *,
    from_sdk: bool,
    pointer: str = "/custom",
) -> dict[str, Any]:
    """Validate a whole custom-attribute write; return the normalised values.

    All attributes are checked before anything is reported, so the error names
    every offending attribute at once. ``from_sdk`` enforces ``sdkWritable``.
    """
    if not isinstance(values, dict):
        raise InvalidArguments(
            "customAttributes must be an object of attribute name to value",
            pointer=pointer,
        )
    if len(values) > MAX_KEYS_PER_WRITE:
        message = (
            f"At most {MAX_KEYS_PER_WRITE} custom attributes may be written at once; "
            f"{len(values)} were given"
        )
        raise AttributeErrors(klass, [ErrorDetail("too_many_attributes", message, pointer=pointer)])
    normalised: dict[str, Any] = {}
    problems: list[ErrorDetail] = []
    for name, value in values.items():
        try:
            normalised[name] = _checked(klass, definitions.get(name), name, value, from_sdk)
        except _ValueProblem as exc:
            shown = visible(name)
            problems.append(
                ErrorDetail(
                    exc.code,
                    exc.message,
                    attribute=shown,
                    pointer=f"{pointer}/{pointer_token(shown)}",
                )
            )
    if problems:
        raise AttributeErrors(klass, problems)
    return normalised


def _checked(
    klass: str, definition: AttributeDef | None, name: str, value: Any, from_sdk: bool
) -> Any:
    problem = text_problem(name)
    if problem is not None:
        raise _ValueProblem("invalid_text", f"An attribute name {problem}")
    if definition is None:
        raise _ValueProblem("unknown_attribute", f"'{name}' is not defined on the {klass} klass")
    if from_sdk and not definition.sdk_writable:
        raise _ValueProblem(
            "attribute_read_only",
            f"'{name}' on the {klass} klass can only be set by agents and API keys",
        )
    return normalise_value(definition, value)


def normalise_value(definition: AttributeDef, value: Any) -> Any:
    """Check one value against its definition and return its stored form."""
    if value is None:
        return None
    return TYPE_SPECS[definition.type].check(definition, value)


def filter_value(definition: AttributeDef, raw: str) -> Any:
    """Turn a query-string value into the typed value stored for that attribute; a
    value the attribute cannot hold is a 400 naming it (``/query/custom.<name>``)."""
    try:
        problem = text_problem(raw)
        if problem is not None:
            raise _ValueProblem("invalid_text", f"Filter on '{definition.name}' {problem}")
        return TYPE_SPECS[definition.type].parse_filter(definition, raw)
    except _ValueProblem as exc:
        pointer = f"/query/custom.{pointer_token(definition.name)}"
        detail = ErrorDetail(exc.code, exc.message, attribute=definition.name, pointer=pointer)
        raise InvalidArguments(
            exc.message, code=exc.code, pointer=pointer, details=[detail]
        ) from None


def merged_custom(before: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``before`` with ``values`` applied: ``None`` removes a key."""
    merged = dict(before)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
