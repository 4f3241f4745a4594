"""Admin pages of the console (admins only): klass attributes, API keys, users,
brand chat settings."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
