"""JSON columns travel as text on both drivers (the two directions), and rows become
domain records field by field (and records rows)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

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


_COLUMNS: dict[tuple[sa.Table, type], tuple[str, ...]] = {}


def row_of(table: sa.Table, item: Any, **encoded: Any) -> dict[str, Any]:
    """The row of the record ``item`` in ``table``, the other way from :func:`record`:
    each column the record has a field of, under its name; ``encoded`` gives the
    columns whose value needs encoding (JSON, enums) or that the record does not hold.
    A column neither gives is left out (its server default applies)."""
    key = (table, type(item))
    names = _COLUMNS.get(key)
    if names is None:
        held = set(_field_names(type(item)))
        names = _COLUMNS[key] = tuple(c.name for c in table.columns if c.name in held)
    row = {n: getattr(item, n) for n in names}
    row.update(encoded)
    return row
