"""JSON columns travel as text on both drivers; these are the two directions."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: str | bytes | None) -> Any:
    if value is None:
        return None
    return orjson.loads(value)
