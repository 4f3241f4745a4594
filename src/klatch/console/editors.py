"""How the console shows and reads an attribute's value. The input for each type is
the ``editor`` of its row in the domain's type table; here each kind of input says
how its text is read back, so a new type with a known kind of input needs nothing
new in the console."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import JSONResponse

from klatch.domain.attributes import TYPE_SPECS, AttributeDef
from klatch.domain.models import Event
from klatch.errors import ErrorDetail, KlatchError


def editor_for(definition: AttributeDef) -> str:
    """Which input fits the attribute: a menu of its allowed values, else its type's."""
    return "select" if definition.allowed else TYPE_SPECS[definition.type].editor


def shown(value: Any) -> str:
    """A stored value as an input shows it."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(text: str, raw: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def _datetime(text: str, raw: str) -> str:
    # The console's date-time inputs are in UTC, typed "YYYY-MM-DD HH:MM" (or with a
    # T), without seconds.
    if len(text) == 16 and text[10] in " T":
        return text[:10] + "T" + text[11:] + ":00Z"
    return text


# Per kind of input: (stripped text, text as typed) -> the value to send. Other
# inputs send the stripped text.
_READERS: dict[str, Callable[[str, str], Any]] = {
    "number": _number,
    "bool": lambda text, raw: {"true": True, "false": False}.get(text, text),
    "datetime": _datetime,
    "textarea": lambda text, raw: raw,  # long text keeps its spacing
}


def value_from_form(definition: AttributeDef, raw: str) -> Any:
    """The form's text as the typed value the API expects; empty clears the value.
    What cannot be read as the type goes to the server as it is, so its validation
    explains the problem."""
    text = raw.strip()
    if text == "":
        return None
    read = _READERS.get(TYPE_SPECS[definition.type].editor)
    return read(text, raw) if read else text


def values_from_form(form: FormData, definitions: Mapping[str, AttributeDef]) -> dict[str, Any]:
    """The form's ``custom.<name>`` fields, each read as its attribute's type; one of
    no known attribute goes as it is, for the server to refuse."""
    values: dict[str, Any] = {}
    for key, raw in form.multi_items():
        if key.startswith("custom.") and isinstance(raw, str):
            name = key.removeprefix("custom.")
            definition = definitions.get(name)
            values[name] = value_from_form(definition, raw) if definition else raw
    return values


def custom_changes(event: Event, klass: str) -> dict[str, Any]:
    """An event's attribute changes, name -> {before, after}; the creation of the
    ``klass`` object (``conversation.created`` …) sets its values."""
    if event.type == f"{klass}.created":
        created = (event.payload.get(klass) or {}).get("custom", {})
        return {name: {"before": None, "after": value} for name, value in created.items()}
    changes: dict[str, Any] = (event.payload.get("changes") or {}).get("custom") or {}
    return changes


# What an agent is told when a value does not fit its type, by kind of input (the
# API's messages name the system name and the JSON type; its codes stay the same).
_EXPECTED = {
    "number": "must be a number",
    "bool": "must be yes or no",
    "datetime": "must be a date and time in UTC, as YYYY-MM-DD HH:MM",
    "url": "must be a web address starting with http:// or https://",
    "id": "must be an id without spaces",
}


def agent_message(definition: AttributeDef | None, detail: ErrorDetail) -> str:
    """A refusal of one attribute's value in the console's words: "Priority must be
    a number" rather than the API's "'priorityNum' is a number (num), got a string"."""
    if definition is None:
        if detail.code == "unknown_attribute":
            return "This attribute is no longer defined; reload the page."
        return detail.message
    expected = _EXPECTED.get(TYPE_SPECS[definition.type].editor)
    if detail.code == "type_mismatch" and expected and "2^53" not in detail.message:
        return f"{definition.display_name} {expected}"
    if detail.code == "value_not_allowed" and editor_for(definition) == "select":
        return f"Choose one of the listed values of {definition.display_name}"
    return detail.message.replace(f"'{definition.name}'", definition.display_name)


def attribute_errors(exc: KlatchError, definitions: dict[str, AttributeDef]) -> dict[str, str]:
    """A refused write's messages in the console's words, per attribute ("" for
    the whole write)."""
    errors = {
        d.attribute or "": agent_message(definitions.get(d.attribute or ""), d)
        for d in exc.details or []
    }
    return errors or {"": exc.detail}


def errors_json(errors: dict[str, str], status: int) -> JSONResponse:
    """``attribute_errors`` as the page's script shows them, each on its attribute's input."""
    listed = [{"attribute": k, "message": v} for k, v in errors.items()]
    return JSONResponse({"errors": listed}, status_code=status)
