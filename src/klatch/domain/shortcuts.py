"""Shortcuts (Kustomer's canned answers): a name an agent types as ``/name`` and a
body with variables, filled from the live values of the conversation, its
customer and the agent::

    Hi {{customer.name}}, your order {{conversation.custom.orderNumberStr}} ships
    today. -- {{agent.name}}

Variables: ``customer.name|email|externalId|phone``, ``customer.custom.<attr>``,
``conversation.name|id``, ``conversation.custom.<attr>``, ``agent.name|email``.
A value is shown as the console's editors show it (yes/no, ``2026-11-25 09:30
UTC``); a variable without a value stays in the text as it was written
(``{{customer.name}}``), visibly, for the agent to fill. The result is text: the
console puts it into the reply box as text and never as markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from klatch.domain.attributes import AttributeDef, AttrType
from klatch.domain.text import RequiredText
from klatch.errors import InvalidArguments

MAX_NAME = 64
MAX_BODY = 5_000
VARIABLE_RE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
STANDARD_VARIABLES = (
    "customer.name",
    "customer.email",
    "customer.externalId",
    "customer.phone",
    "conversation.name",
    "conversation.id",
    "agent.name",
    "agent.email",
)
_CUSTOM_PREFIXES = {"customer.custom.": "customer", "conversation.custom.": "conversation"}
_BODY = RequiredText(
    limit=MAX_BODY,
    where="The shortcut's body",
    empty="A shortcut needs a body",
    empty_code="invalid_shortcut",
    too_long="A shortcut's body has at most {limit} characters",
)


@dataclass(frozen=True, slots=True)
class Shortcut:
    id: str
    org_id: str
    name: str
    body: str
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Filled:
    text: str
    missing: tuple[str, ...]  # variables left as written, in order of appearance


def check_name(value: Any) -> str:
    """A shortcut's name, typed after ``/``: lowercase letters, digits, ``-``, ``_``."""
    name = value.strip().lower() if isinstance(value, str) else ""
    if not _NAME_RE.match(name) or len(name) > MAX_NAME:
        raise InvalidArguments(
            f"A shortcut's name is 1 to {MAX_NAME} lowercase letters, digits, '-' or '_' "
            "(agents type it as /name)",
            code="invalid_shortcut_name",
            pointer="/name",
        )
    return name


def check_body(value: Any, definitions: Mapping[str, Mapping[str, AttributeDef]]) -> str:
    """A shortcut's body: text whose every variable is one Klatch can fill;
    ``definitions`` by klass (a custom variable names a defined attribute)."""
    body = _BODY.check(value)
    for variable in VARIABLE_RE.findall(body):
        problem = _unknown(variable, definitions)
        if problem:
            raise InvalidArguments(problem, code="unknown_variable", pointer="/body")
    return body


def _unknown(variable: str, definitions: Mapping[str, Mapping[str, AttributeDef]]) -> str | None:
    if variable in STANDARD_VARIABLES:
        return None
    for prefix, klass in _CUSTOM_PREFIXES.items():
        if variable.startswith(prefix):
            name = variable.removeprefix(prefix)
            if name in definitions.get(klass, {}):
                return None
            return f"{{{{{variable}}}}}: '{name}' is not an attribute of the {klass} klass"
    known = ", ".join([*STANDARD_VARIABLES, "customer.custom.<attr>", "conversation.custom.<attr>"])
    return f"{{{{{variable}}}}} is not a variable; the variables are: {known}"


def _datetime(value: Any) -> str:
    text = str(value)
    return text[:16].replace("T", " ") + " UTC" if len(text) >= 16 else text


_SHOWN: dict[AttrType, Callable[[Any], str]] = {
    AttrType.BOOL: lambda v: "yes" if v is True else "no" if v is False else str(v),
    AttrType.AT: _datetime,
}


def shown(value: Any, kind: AttrType | None = None) -> str:
    """A value as the console shows it to people (``yes``/``no``, dates in UTC);
    ``""`` for none."""
    if value is None or value == "":
        return ""
    if kind in _SHOWN:
        return _SHOWN[kind](value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def fill(body: str, values: Mapping[str, str]) -> Filled:
    """``body`` with each variable replaced by its value in ``values``; one without
    a value (absent or ``""``) stays as written."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        if value == "":
            missing.append(match.group(1))
            return match.group(0)
        return value

    text = VARIABLE_RE.sub(one, body)
    return Filled(text, tuple(dict.fromkeys(missing)))
