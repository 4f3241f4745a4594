"""Brands' chat settings: their defaults, the rules an admin's change must pass,
the SDK origin rule and the availability they imply. Pure: no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from klatch.domain.attributes import is_http_url
from klatch.errors import InvalidArguments

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
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[moment.weekday()]
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


def check_brand_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate the chat settings an admin may change."""
    if not isinstance(changes, dict):
        raise InvalidArguments("Brand settings must be an object")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ("teamName", "greeting"):
            if not isinstance(value, str) or len(value) > 1024:
                raise InvalidArguments(
                    f"{key} must be text of at most 1024 characters", pointer=f"/{key}"
                )
        elif key in ("enabled", "closableChat"):
            if not isinstance(value, bool):
                raise InvalidArguments(f"{key} must be true or false", pointer=f"/{key}")
        elif key == "colors":
            if not isinstance(value, dict) or not all(
                isinstance(v, str) and re.match(r"^#[0-9a-fA-F]{3,8}$", v) for v in value.values()
            ):
                raise InvalidArguments("colors must map names to #rrggbb values", pointer="/colors")
        elif key == "allowedOrigins":
            if not isinstance(value, list) or not all(
                isinstance(v, str) and is_http_url(v) for v in value
            ):
                raise InvalidArguments(
                    "allowedOrigins must be a list of http(s) origins", pointer="/allowedOrigins"
                )
            value = [v.rstrip("/") for v in value]
        elif key == "availability":
            value = _check_availability(value)
        else:
            raise InvalidArguments(f"Unknown brand setting '{key}'", pointer=f"/{key}")
        out[key] = value
    return out


def _check_availability(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("mode") not in ("always", "hours", "offline"):
        raise InvalidArguments(
            "availability.mode must be always, hours or offline", pointer="/availability"
        )
    hours = value.get("hours", {})
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if not isinstance(hours, dict) or not all(
        d in days
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
