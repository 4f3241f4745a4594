"""Brands' chat settings: their defaults, the rules an admin's change must pass
(the same for the REST API and the console), the SDK origin rule and the
availability they imply. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from klatch.domain.attributes import is_http_url
from klatch.domain.prechat import Definitions, check_pre_chat_form
from klatch.errors import InvalidArguments

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Hex colours as CSS writes them: #rgb, #rgba, #rrggbb, #rrggbbaa.
_COLOR_RE = re.compile(r"^#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")

DEFAULT_BRAND_SETTINGS: dict[str, Any] = {
    "teamName": "Support",
    "greeting": "Hi! How can we help you today?",
    "colors": {"primary": "#1f6feb", "text": "#ffffff"},
    "allowedOrigins": [],
    "enabled": True,
    "closableChat": True,
    # Availability: "online" always, or opening hours per weekday (UTC) outside
    # which chat shows as offline (or hidden, if offHoursDisplay is "hidden").
    "availability": {"mode": "always", "hours": {}, "offHoursDisplay": "offline"},
}


def with_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """A brand's settings with the defaults filled in, down into colours and availability."""
    out = {**DEFAULT_BRAND_SETTINGS, **settings}
    for key in ("colors", "availability"):
        out[key] = {**DEFAULT_BRAND_SETTINGS[key], **(out.get(key) or {})}
    return out


def is_color(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and _COLOR_RE.match(value) is not None


def rgb_hex(color: Any) -> str | None:
    """A colour as #rrggbb (short forms spelled out, alpha dropped); None if it is none."""
    if not is_color(color):
        return None
    digits = color[1:].lower()
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits[:3])
    return "#" + digits[:6]


def is_origin(value: str) -> bool:
    """scheme://host[:port], as a browser sends it (a trailing slash is let through)."""
    if not is_http_url(value):
        return False
    parts = urlsplit(value)
    return (
        parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
    )


def availability(settings: dict[str, Any], at: datetime | None = None) -> str:
    """Kustomer's values: online | offline | hidden | disabled."""
    if not settings.get("enabled", True):
        return "disabled"
    rule = settings.get("availability") or {"mode": "always"}
    if rule.get("mode") == "offline":
        return "offline"
    if rule.get("mode") != "hours":
        return "online"
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    day = WEEKDAYS[moment.weekday()]
    span = (rule.get("hours") or {}).get(day)
    if span and span[0] <= moment.strftime("%H:%M") < span[1]:
        return "online"
    return "hidden" if rule.get("offHoursDisplay") == "hidden" else "offline"


def origin_allowed(brand_settings: dict[str, Any], origin: str | None) -> bool:
    """The SDK origin rule (CORS and WebSockets): a brand without allowed origins
    accepts any page; once some are set, only those (scheme://host[:port])."""
    allowed = brand_settings.get("allowedOrigins") or []
    if not allowed:
        return True
    return origin is not None and origin.rstrip("/").lower() in {
        a.rstrip("/").lower() for a in allowed
    }


def check_brand_settings(
    changes: dict[str, Any], definitions: Definitions | None = None
) -> dict[str, Any]:
    """Validate the chat settings an admin may change (REST and console alike); the
    pre-chat form against the org's klass ``definitions``."""
    if not isinstance(changes, dict):
        raise InvalidArguments("Brand settings must be an object")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "preChatForm":
            out[key] = check_pre_chat_form(value, definitions or {})
            continue
        check = _SETTING_CHECKS.get(key)
        if check is None:
            raise InvalidArguments(f"Unknown brand setting '{key}'", pointer=f"/{key}")
        out[key] = check(key, value)
    return out


def _check_text(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1024:
        raise InvalidArguments(f"{key} must be text of at most 1024 characters", pointer=f"/{key}")
    return value


def _check_flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArguments(f"{key} must be true or false", pointer=f"/{key}")
    return value


def _check_colors(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(is_color(v) for v in value.values()):
        raise InvalidArguments("colors must map names to #rrggbb values", pointer="/colors")
    return value


def _check_origins(key: str, value: Any) -> list[str]:
    """Origins only: a URL with a path would never match what the browser sends, and
    would shut the chat out of every page."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArguments(
            "allowedOrigins must be a list of http(s) origins", pointer="/allowedOrigins"
        )
    for origin in value:
        if not is_origin(origin):
            raise InvalidArguments(
                f"'{origin}' is not an origin: use scheme://host[:port], "
                "such as https://shop.example.com",
                pointer="/allowedOrigins",
            )
    return [v.rstrip("/") for v in value]


def _check_availability(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("mode") not in ("always", "hours", "offline"):
        raise InvalidArguments(
            "availability.mode must be always, hours or offline", pointer="/availability"
        )
    hours = value.get("hours", {})
    if not isinstance(hours, dict) or not all(
        d in WEEKDAYS
        and isinstance(span, list)
        and len(span) == 2
        and all(isinstance(t, str) and re.match(r"^\d{2}:\d{2}$", t) for t in span)
        for d, span in hours.items()
    ):
        raise InvalidArguments(
            'availability.hours maps mon..sun to ["09:00", "17:00"] (UTC)',
            pointer="/availability/hours",
        )
    display = value.get("offHoursDisplay", "offline")
    if display not in ("offline", "hidden"):
        raise InvalidArguments(
            "availability.offHoursDisplay must be offline or hidden",
            pointer="/availability/offHoursDisplay",
        )
    return {"mode": value["mode"], "hours": hours, "offHoursDisplay": display}


_SETTING_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "teamName": _check_text,
    "greeting": _check_text,
    "enabled": _check_flag,
    "closableChat": _check_flag,
    "colors": _check_colors,
    "allowedOrigins": _check_origins,
    "availability": _check_availability,
}
