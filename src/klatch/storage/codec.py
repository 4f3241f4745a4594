"""JSON columns travel as text on both drivers (the two directions), and rows become
domain records field by field."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

import orjson

R = TypeVar("R")


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: str | bytes | None) -> Any:
    if value is None:
        return None
    return orjson.loads(value)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


def record(cls: type[R], row: Any, **decoded: Any) -> R:
    """The domain record ``cls`` from a row whose columns are named as its fields;
    ``decoded`` gives the fields whose column needs decoding (JSON, enums, booleans)."""
    return cls(**{n: decoded[n] if n in decoded else row[n] for n in _field_names(cls)})
