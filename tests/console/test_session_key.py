"""KLATCH_SECRET_KEY signs console session cookies: two servers on one database
with the same key both accept a session either one started (replicas); a server
with another key refuses it (so changing the key ends every console session),
and a cookie whose token or signature was altered is refused. Both backends."""

from __future__ import annotations

import uuid

import httpx

from klatch.app import create_app
from klatch.config import Settings
from klatch.domain.models import UserRole
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup


async def _inbox(settings: Settings, cookie: str) -> httpx.Response:
    async with running(settings) as other:
        transport = httpx.ASGITransport(app=create_app(other.settings, other))
        async with httpx.AsyncClient(transport=transport, base_url="http://klatch.test") as http:
            http.cookies.set("klatch_console", cookie)
            return await http.get("/console/inbox")


async def test_a_session_holds_on_a_replica_with_the_same_key_only(
    services: Services, setup: Setup, settings: Settings
) -> None:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    await services.orgs.create_user(
        setup.org.id, email, "secret-pass-1", role=UserRole.AGENT, display_name="Ann Keyed"
    )
    login = await services.console.login(email, "secret-pass-1")
    token, _, mac = login.token.rpartition(".")
    assert token and len(mac) == 64  # <token>.<HMAC-SHA256 by the key>

    assert (await services.console.session(login.token)) is not None
    same = await _inbox(settings, login.token)
    assert same.status_code == 200 and "Ann Keyed" in same.text
    rotated = settings.model_copy(update={"secret_key": "another-key-" + "k" * 30})
    refused = await _inbox(rotated, login.token)
    assert refused.status_code == 303 and "/console/login" in refused.headers["location"]
    assert await services.console.session(token) is None  # the bare token
    assert await services.console.session(f"{token}.{'0' * 64}") is None
    assert await services.console.session(f"{token}x.{mac}") is None
    # Refused cookies end nothing: the session still holds with the right key.
    assert (await services.console.session(login.token)) is not None
