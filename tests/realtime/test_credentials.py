"""Open sockets end with their credentials: revoking a key, logging a chat session
or a console session out, disabling a user closes the sockets they opened —
with 4401 ``credentials_ended``, within a second, on every replica — and no
other socket; the ``credential.revoked`` events that carry this are delivered to
no socket. In-process servers on both backends (real sockets through uvicorn),
and two ``klatch serve`` replicas sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from klatch.app import create_app
from klatch.chat import AsyncChatClient, SessionError
from klatch.config import Settings
from klatch.domain.models import Role, UserRole
from klatch.errors import NotFound, Unauthorized
from klatch.ids import now_ms
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage.db import Query
from klatch.storage.tables import console_session
from support import (
    POSTGRES_URL,
    REDIS_URL,
    KlatchProcess,
    RedisServer,
    free_port,
    fresh_postgres_database,
    need_service,
    prepare,
)

WITHIN = 1.0  # seconds from the ending write's request to the socket's close
POLL = 0.2  # the in-process server's log poll
PASSWORD = "correct horse battery"
KEY_REVOKED = "The API key was revoked"
CHAT_ENDED = "The chat session ended"


@dataclass
class Served:
    """The app on a real port, in this process, on its own running services."""

    url: str
    services: Services

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[Served]:
    fast_poll = settings.model_copy(update={"realtime_poll_seconds": POLL})
    async with running(fast_poll) as services:
        port = free_port()
        app = create_app(fast_poll, services)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.02)
        try:
            yield Served(f"http://127.0.0.1:{port}", services)
        finally:
            server.should_exit = True
            await task


# ---------------------------------------------------------------- socket helpers


async def opened(
    stack: contextlib.AsyncExitStack, url: str, headers: dict[str, str] | None = None
) -> ClientConnection:
    ws = await stack.enter_async_context(websockets.connect(url, additional_headers=headers))
    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["op"] == "hello", hello
    return ws


def agent_url(base: str, secret: str) -> str:
    return f"{base}/v1/realtime?key={secret}"


def chat_url(base: str, tracking_key: str, token: str) -> str:
    return f"{base}/c/v1/realtime?key={tracking_key}&session={token}"


async def ended(ws: ClientConnection, since: float, message: str) -> float:
    """Wait for the socket's end: its last frame says why, its close code is 4401.
    Returns the seconds since ``since``."""
    last: dict[str, Any] | None = None
    with pytest.raises(websockets.ConnectionClosed) as caught:
        async with asyncio.timeout(6):
            while True:
                last = json.loads(await ws.recv())
    took = time.monotonic() - since
    assert last == {"op": "error", "code": "credentials_ended", "message": message}
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4401
    assert caught.value.rcvd.reason == "credentials_ended"
    return took


async def still_open(ws: ClientConnection) -> None:
    """The socket is open, and nothing but events was sent to it: no credential
    error (another user's ``user.updated`` is an event agents see)."""
    await ws.send(json.dumps({"op": "ping"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame.get("op") != "event":
            break
    assert frame == {"op": "pong"}


async def session_token(http: httpx.AsyncClient, tracking_key: str) -> str:
    response = await http.post(
        "/c/v1/sessions", headers={"Authorization": f"Bearer {tracking_key}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sessionToken"])


async def sockets_registered(services: Services, count: int) -> None:
    async with asyncio.timeout(5):
        while services.hub.connection_count < count:
            await asyncio.sleep(0.02)


# ---------------------------------------------------------------- one server, both backends


async def test_revoking_a_key_closes_the_sockets_opened_with_it_and_no_other(
    served: Served, setup: Setup
) -> None:
    orgs = served.services.orgs
    integration = await orgs.create_key(setup.org.id, role=Role.USER, name="integration")
    site2 = await orgs.create_key(setup.org.id, role=Role.TRACKING, name="site 2")
    admin = {"Authorization": f"Bearer {setup.admin_key.secret}"}
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=10) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        token2 = await session_token(http, site2.secret)
        token1 = await session_token(http, setup.tracking_key.secret)
        bearer = {"Authorization": f"Bearer {integration.secret}"}
        by_header = await opened(stack, f"{served.ws_url}/v1/realtime", bearer)
        by_query = await opened(stack, agent_url(served.ws_url, integration.secret))
        other_agent = await opened(stack, f"{served.ws_url}/v1/realtime", admin)
        chat2 = await opened(stack, chat_url(served.ws_url, site2.secret, token2))
        chat1 = await opened(stack, chat_url(served.ws_url, setup.tracking_key.secret, token1))

        since = time.monotonic()
        response = await http.delete(f"/v1/keys/{integration.key.id}", headers=admin)
        assert response.status_code == 204, response.text
        took = max([await ended(ws, since, KEY_REVOKED) for ws in (by_header, by_query)])
        assert took < WITHIN, f"closed {took:.3f} s after the revoke"

        # A tracking key ends the chat sockets opened with it.
        since = time.monotonic()
        response = await http.delete(f"/v1/keys/{site2.key.id}", headers=admin)
        assert response.status_code == 204, response.text
        assert await ended(chat2, since, KEY_REVOKED) < WITHIN

        await still_open(other_agent)
        await still_open(chat1)
        # The revoked key opens no new socket.
        async with websockets.connect(agent_url(served.ws_url, integration.secret)) as ws:
            assert json.loads(await ws.recv())["code"] == "invalid_api_key"
    print(f"agent socket closed {took * 1000:.0f} ms after DELETE /v1/keys")


async def test_logging_out_closes_the_chat_sessions_sockets(served: Served, setup: Setup) -> None:
    tracking = setup.tracking_key.secret
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=10) as http,
        contextlib.AsyncExitStack() as stack,
        AsyncChatClient(base_url=served.url, tracking_key=tracking) as client,
    ):
        token = await session_token(http, tracking)
        other = await session_token(http, tracking)
        first = await opened(stack, chat_url(served.ws_url, tracking, token))
        second = await opened(stack, chat_url(served.ws_url, tracking, token))
        bystander = await opened(stack, chat_url(served.ws_url, tracking, other))
        agent = await opened(stack, agent_url(served.ws_url, setup.admin_key.secret))
        # klatch.chat's event stream on the same session.
        client.session_token = token
        stream = asyncio.create_task(_drain(client))
        await sockets_registered(served.services, 5)

        since = time.monotonic()
        response = await http.post(
            "/c/v1/logout",
            headers={"Authorization": f"Bearer {tracking}", "X-Klatch-Session": token},
        )
        assert response.status_code == 200, response.text
        took = max([await ended(ws, since, CHAT_ENDED) for ws in (first, second)])
        assert took < WITHIN
        with pytest.raises(SessionError) as caught:
            await asyncio.wait_for(stream, WITHIN)
        assert caught.value.code == "credentials_ended"

        await still_open(bystander)
        await still_open(agent)
    print(f"chat sockets closed {took * 1000:.0f} ms after POST /c/v1/logout")


async def _drain(client: AsyncChatClient) -> None:
    async for _ in client.events():
        pass


async def test_console_logout_and_disabling_a_user_close_console_sockets(
    served: Served, setup: Setup
) -> None:
    services = served.services
    email = f"agent-{setup.org.id}@example.com"
    user = await services.orgs.create_user(setup.org.id, email, PASSWORD, role=UserRole.AGENT)
    colleague_email = f"colleague-{setup.org.id}@example.com"
    await services.orgs.create_user(setup.org.id, colleague_email, PASSWORD, role=UserRole.AGENT)
    one = await services.console.login(email, PASSWORD)  # as the login form does
    two = await services.console.login(email, PASSWORD)
    colleague = await services.console.login(colleague_email, PASSWORD)

    def console(token: str) -> dict[str, str]:
        return {"Cookie": f"klatch_console={token}", "Origin": served.url}

    url = f"{served.ws_url}/v1/realtime"
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=10) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        first = await opened(stack, url, console(one.token))
        second = await opened(stack, url, console(two.token))
        bystander = await opened(stack, url, console(colleague.token))

        since = time.monotonic()
        response = await http.post(
            "/console/logout",
            data={"csrf": one.session.csrf_token},
            headers={"Cookie": f"klatch_console={one.token}"},
        )
        assert response.status_code == 303, response.text
        logout_took = await ended(first, since, "The console session ended")
        assert logout_took < WITHIN
        await still_open(second)

        since = time.monotonic()
        disabled = await services.orgs.disable_user(setup.org.id, user.id)
        assert disabled.disabled_at is not None
        disable_took = await ended(second, since, "The user was disabled")
        assert disable_took < WITHIN
        await still_open(bystander)

    assert await services.console.session(two.token) is None
    with pytest.raises(Unauthorized):
        await services.console.login(email, PASSWORD)
    again = await services.orgs.disable_user(setup.org.id, user.id)
    assert again.disabled_at == disabled.disabled_at
    with pytest.raises(NotFound):
        await services.orgs.disable_user(setup.org.id, "f" * 24)
    print(
        f"console sockets closed {logout_took * 1000:.0f} ms after logout, "
        f"{disable_took * 1000:.0f} ms after disable_user"
    )


async def test_a_console_socket_closes_when_its_session_expires(
    served: Served, setup: Setup
) -> None:
    services = served.services
    email = f"short-{setup.org.id}@example.com"
    user = await services.orgs.create_user(setup.org.id, email, PASSWORD, role=UserRole.AGENT)
    login = await services.console.login(email, PASSWORD)
    # The session has 12 hours to run; this one is made to end in a moment.
    expires_at = now_ms() + 700
    shorten = Query(
        sa.update(console_session)
        .where(console_session.c.user_id == sa.bindparam("user_id"))
        .values(expires_at=sa.bindparam("expires_at"))
    )
    await services.db.write(
        lambda tx: tx.execute(shorten, {"user_id": user.id, "expires_at": expires_at})
    )
    headers = {"Cookie": f"klatch_console={login.token}", "Origin": served.url}
    async with contextlib.AsyncExitStack() as stack:
        ws = await opened(stack, f"{served.ws_url}/v1/realtime", headers)
        since = time.monotonic()
        took = await ended(ws, since, "The session expired")
    late = now_ms() - expires_at
    assert 0 <= late < WITHIN * 1000, f"closed {late} ms after the session expired"
    assert took < 2


async def test_credentials_ended_elsewhere_without_a_bus_reach_sockets_through_the_log(
    served: Served, settings: Settings, setup: Setup
) -> None:
    """Another process on the same database, with no bus in common (a replica while
    Redis is away): its revoke and logout close this server's sockets through the
    log poll, and a key this server still has cached opens no new socket."""
    key = await served.services.orgs.create_key(setup.org.id, role=Role.USER, name="zap")
    bearer = {"Authorization": f"Bearer {key.secret}"}
    tracking = setup.tracking_key.secret
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=10) as http,
        contextlib.AsyncExitStack() as stack,
        running(settings) as elsewhere,
    ):
        token = await session_token(http, tracking)
        by_key = await opened(stack, agent_url(served.ws_url, key.secret))
        chat = await opened(stack, chat_url(served.ws_url, tracking, token))
        assert (await http.get("/v1/conversations", headers=bearer)).status_code == 200

        since = time.monotonic()
        await elsewhere.orgs.revoke_key(setup.org.id, key.key.id)
        assert await ended(by_key, since, KEY_REVOKED) < POLL + WITHIN

        # This server's key cache still trusts the key for a few seconds; the socket
        # is checked again, uncached, once it is registered.
        async with websockets.connect(agent_url(served.ws_url, key.secret)) as ws:
            refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert refused["op"] == "error" and refused["code"] == "credentials_ended"
            with pytest.raises(websockets.ConnectionClosed) as caught:
                await asyncio.wait_for(ws.recv(), 5)
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 4401

        since = time.monotonic()
        actor = await elsewhere.chat.authenticate(tracking, token)
        await elsewhere.chat.logout(actor)
        assert await ended(chat, since, CHAT_ENDED) < POLL + WITHIN


# ---------------------------------------------------------------- two replicas


def test_revoking_on_one_replica_closes_the_socket_on_another(tmp_path: Path) -> None:
    postgres = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    redis = RedisServer(tmp_path)  # our own, so the test can stop it
    redis.start()
    try:
        with fresh_postgres_database(postgres, "credentials") as database_url:
            env, keys = prepare(
                tmp_path,
                KLATCH_DATABASE_URL=database_url,
                KLATCH_BUS_URL=redis.url,
                KLATCH_REALTIME_POLL_SECONDS="3",  # longer than WITHIN: the bus must do it
            )
            with (
                KlatchProcess(env, tmp_path, tmp_path / "a.log") as a,
                KlatchProcess(env, tmp_path, tmp_path / "b.log") as b,
            ):
                asyncio.run(_across_replicas(a, b, keys, redis))
                assert "Traceback" not in a.output + b.output
    finally:
        redis.stop()


async def _across_replicas(
    a: KlatchProcess, b: KlatchProcess, keys: dict[str, str], redis: RedisServer
) -> None:
    admin = {"Authorization": f"Bearer {keys['adminKey']}"}
    tracking = keys["trackingKey"]
    async with httpx.AsyncClient(timeout=10) as http, contextlib.AsyncExitStack() as stack:
        created = await http.post(
            f"{a.url}/v1/keys", json={"name": "zap", "roles": ["org.user"]}, headers=admin
        )
        assert created.status_code == 201, created.text
        key_id, secret = created.json()["data"]["id"], created.json()["data"]["attributes"]["token"]
        response = await http.post(
            f"{a.url}/c/v1/sessions", headers={"Authorization": f"Bearer {tracking}"}
        )
        token = response.json()["sessionToken"]
        by_key = await opened(stack, agent_url(a.ws_url, secret))
        chat = await opened(stack, chat_url(a.ws_url, tracking, token))
        agent = await opened(stack, agent_url(a.ws_url, keys["adminKey"]))

        since = time.monotonic()
        revoked = await http.delete(f"{b.url}/v1/keys/{key_id}", headers=admin)
        assert revoked.status_code == 204, revoked.text
        bus_took = await ended(by_key, since, KEY_REVOKED)
        assert bus_took < WITHIN, f"closed {bus_took:.3f} s after the revoke on the other replica"

        # Redis away: the bus message is lost, the log poll (3 s) closes the socket.
        redis.stop()
        since = time.monotonic()
        logout = await http.post(
            f"{b.url}/c/v1/logout",
            headers={"Authorization": f"Bearer {tracking}", "X-Klatch-Session": token},
        )
        assert logout.status_code == 200, logout.text
        log_took = await ended(chat, since, CHAT_ENDED)
        assert log_took < 3 + WITHIN
        await still_open(agent)
    print(
        f"across replicas: closed {bus_took * 1000:.0f} ms after the revoke (bus), "
        f"{log_took * 1000:.0f} ms after the logout with Redis down (log poll)"
    )
