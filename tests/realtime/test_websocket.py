"""The WebSocket protocol against a real ``klatch serve``: hello, events, resume,
refusals with stable codes, ping, shutdown, and two replicas sharing PostgreSQL
and Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from support import (
    POSTGRES_URL,
    REDIS_URL,
    KlatchProcess,
    RedisServer,
    fresh_postgres_database,
    need_service,
    prepare,
)


@dataclass
class Site:
    """A served Klatch with its keys, as ``klatch init --json`` printed them."""

    server: KlatchProcess
    keys: dict[str, str]

    @property
    def tracking(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys['trackingKey']}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys['adminKey']}"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    env, keys = prepare(tmp_path, KLATCH_REALTIME_POLL_SECONDS="0.5")
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        yield Site(server, keys)


async def start_session(http: httpx.AsyncClient, site: Site) -> tuple[str, str]:
    """A chat session with one conversation: (session token, conversation id)."""
    token = (await http.post(site.server.url + "/c/v1/sessions", headers=site.tracking)).json()[
        "sessionToken"
    ]
    conv = await http.post(
        site.server.url + "/c/v1/conversations",
        json={"message": "hi"},
        headers={**site.tracking, "X-Klatch-Session": token},
    )
    return token, conv.json()["conversationId"]


@asynccontextmanager
async def chat_socket(
    server: KlatchProcess,
    key: str,
    token: str,
    *,
    after: int | None = None,
    origin: str | None = None,
) -> AsyncIterator[ClientConnection]:
    url = f"{server.ws_url}/c/v1/realtime?key={key}&session={token}"
    if after is not None:
        url += f"&after={after}"
    async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
        yield ws


@asynccontextmanager
async def agent_socket(
    server: KlatchProcess, key: str, *, after: int | None = None
) -> AsyncIterator[ClientConnection]:
    url = f"{server.ws_url}/v1/realtime" + (f"?after={after}" if after is not None else "")
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        yield ws


async def frame(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout)))


async def event_of(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next event of ``kind`` (earlier events of other kinds are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            got = await frame(ws, timeout)
            if got["op"] == "event" and got["type"] == kind:
                return got


async def closed_with(ws: ClientConnection) -> int:
    with pytest.raises(websockets.ConnectionClosed) as caught:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert caught.value.rcvd is not None
    return caught.value.rcvd.code


async def test_a_session_hears_the_agent_and_the_agent_hears_the_describe(site: Site) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        token, conversation_id = await start_session(http, site)
        session = {**site.tracking, "X-Klatch-Session": token}
        async with (
            chat_socket(site.server, site.keys["trackingKey"], token) as chat,
            agent_socket(site.server, site.keys["adminKey"]) as agent,
        ):
            hello = await frame(chat)
            assert hello["op"] == "hello" and hello["resumed"] is False
            assert (await frame(agent))["op"] == "hello"

            await http.patch(
                f"{site.server.url}/c/v1/conversations/{conversation_id}",
                json={"custom": {"orderNumberStr": "A1"}},
                headers=session,
            )
            updated = await event_of(agent, "conversation.updated")
            assert updated["data"]["changes"]["custom"]["orderNumberStr"] == {
                "before": None,
                "after": "A1",
            }

            await http.post(
                f"{site.server.url}/v1/conversations/{conversation_id}/typing",
                json={"typing": True},
                headers=site.admin,
            )
            typing = await event_of(chat, "typing.started")
            assert typing["id"] is None and typing["data"]["sentBy"]["type"] == "api_key"

            await http.post(
                f"{site.server.url}/v1/conversations/{conversation_id}/messages",
                json={"body": "It ships today"},
                headers=site.admin,
            )
            reply = await event_of(chat, "message.created")
            assert reply["data"]["message"]["body"] == "It ships today"
            assert reply["data"]["message"]["direction"] == "out"

            await http.post(
                f"{site.server.url}/v1/conversations/{conversation_id}/end", headers=site.admin
            )
            ended = await event_of(chat, "conversation.ended")
            assert ended["data"]["conversationId"] == conversation_id

            await chat.send(json.dumps({"op": "ping"}))
            assert (await frame(chat))["op"] == "pong"


async def test_a_session_never_hears_another_customer(site: Site) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        token_a, _ = await start_session(http, site)
        token_b, conversation_b = await start_session(http, site)
        async with chat_socket(site.server, site.keys["trackingKey"], token_a) as chat_a:
            await frame(chat_a)
            await http.post(
                f"{site.server.url}/v1/conversations/{conversation_b}/messages",
                json={"body": "for B only"},
                headers=site.admin,
            )
            await http.patch(
                f"{site.server.url}/c/v1/conversations/{conversation_b}",
                json={"custom": {"orderNumberStr": "B"}},
                headers={**site.tracking, "X-Klatch-Session": token_b},
            )
            await chat_a.send(json.dumps({"op": "ping"}))
            # Everything before the pong was delivered; nothing of B's is among it.
            assert (await frame(chat_a))["op"] == "pong"


async def test_refusals_have_stable_close_codes(site: Site) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        token, _ = await start_session(http, site)
        async with chat_socket(site.server, site.keys["trackingKey"], "ks_wrong") as ws:
            assert (await frame(ws))["code"] == "invalid_session"
            assert await closed_with(ws) == 4401
        async with agent_socket(site.server, site.keys["trackingKey"]) as ws:
            assert (await frame(ws))["code"] == "invalid_api_key"
            assert await closed_with(ws) == 4401
        async with chat_socket(site.server, site.keys["trackingKey"], token, after=99_999) as ws:
            resync = await frame(ws)
            assert resync["op"] == "resync" and resync["reason"] == "unknown_event_id"
            assert await closed_with(ws) == 4409

        # Origins: any until the brand lists some, then only those.
        async with chat_socket(
            site.server, site.keys["trackingKey"], token, origin="https://evil.example"
        ) as ws:
            assert (await frame(ws))["op"] == "hello"
        await http.patch(
            f"{site.server.url}/v1/brands/{site.keys['brandId']}",
            json={"allowedOrigins": ["https://shop.example"]},
            headers=site.admin,
        )
        async with chat_socket(
            site.server, site.keys["trackingKey"], token, origin="https://evil.example"
        ) as ws:
            assert (await frame(ws))["code"] == "origin_not_allowed"
            assert await closed_with(ws) == 4403
        async with chat_socket(
            site.server, site.keys["trackingKey"], token, origin="https://shop.example"
        ) as ws:
            assert (await frame(ws))["op"] == "hello"
    # Keys and tokens ride in the socket URL; the server log must not keep them.
    log = site.server.output
    assert "WebSocket /c/v1/realtime" in log
    assert token not in log and site.keys["trackingKey"] not in log


async def test_resume_after_a_server_restart_loses_nothing(site: Site) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        token, conversation_id = await start_session(http, site)
        async with agent_socket(site.server, site.keys["adminKey"]) as agent:
            last_seen = (await frame(agent))["lastEventId"]
            site.server.stop()
            assert await closed_with(agent) in (1001, 1012)
        site.server.start()
        session = {**site.tracking, "X-Klatch-Session": token}
        for n in range(3):  # while no socket is connected
            await http.patch(
                f"{site.server.url}/c/v1/conversations/{conversation_id}",
                json={"custom": {"orderNumberStr": f"A{n}"}},
                headers=session,
            )
        async with agent_socket(site.server, site.keys["adminKey"], after=last_seen) as agent:
            hello = await frame(agent)
            assert hello["resumed"] is True and hello["lastEventId"] == last_seen + 3
            replayed = [await frame(agent) for _ in range(3)]
            assert [f["id"] for f in replayed] == [last_seen + 1, last_seen + 2, last_seen + 3]
            assert [f["data"]["custom"]["orderNumberStr"] for f in replayed] == ["A0", "A1", "A2"]


def test_two_replicas_share_events_through_redis_and_survive_its_outage(
    tmp_path: Path,
) -> None:
    postgres = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    redis = RedisServer(tmp_path)  # our own, so the test can stop and restart it
    redis.start()
    try:
        with fresh_postgres_database(postgres, "replicas") as database_url:
            env, keys = prepare(
                tmp_path,
                KLATCH_DATABASE_URL=database_url,
                KLATCH_BUS_URL=redis.url,
                KLATCH_REALTIME_POLL_SECONDS="1",
            )
            with (
                KlatchProcess(env, tmp_path, tmp_path / "a.log") as a,
                KlatchProcess(env, tmp_path, tmp_path / "b.log") as b,
            ):
                asyncio.run(_replicas(Site(a, keys), Site(b, keys), redis))
    finally:
        redis.stop()


async def _replicas(a: Site, b: Site, redis: RedisServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        token, conversation_id = await start_session(http, a)
        session = {**a.tracking, "X-Klatch-Session": token}
        async with (
            chat_socket(a.server, a.keys["trackingKey"], token) as chat,
            agent_socket(b.server, b.keys["adminKey"]) as agent,
        ):
            await frame(chat)
            await frame(agent)
            # A describe served by A reaches the agent on B.
            loop = asyncio.get_running_loop()
            sent_at = loop.time()
            await http.patch(
                f"{a.server.url}/c/v1/conversations/{conversation_id}",
                json={"custom": {"orderNumberStr": "A1"}},
                headers=session,
            )
            updated = await event_of(agent, "conversation.updated", timeout=0.9)
            assert updated["data"]["custom"] == {"orderNumberStr": "A1"}
            assert loop.time() - sent_at < 0.9  # through Redis, not the 1 s log poll
            # An agent reply served by B reaches the customer on A.
            await http.post(
                f"{b.server.url}/v1/conversations/{conversation_id}/messages",
                json={"body": "Hello from B"},
                headers=b.admin,
            )
            reply = await event_of(chat, "message.created")
            assert reply["data"]["message"]["body"] == "Hello from B"

            # Redis goes away: writes still succeed, and sockets catch up from the log.
            redis.stop()
            for n in range(3):
                response = await http.patch(
                    f"{a.server.url}/c/v1/conversations/{conversation_id}",
                    json={"custom": {"orderNumberStr": f"down{n}"}},
                    headers=session,
                )
                assert response.status_code == 200, response.text
            missed = [await event_of(agent, "conversation.updated", timeout=10) for _ in range(3)]
            assert [m["data"]["custom"]["orderNumberStr"] for m in missed] == [
                "down0",
                "down1",
                "down2",
            ]

            # Redis is back: events flow through it again.
            redis.start()
            await asyncio.sleep(1.5)  # the buses reconnect with backoff
            await http.post(
                f"{b.server.url}/v1/conversations/{conversation_id}/messages",
                json={"body": "back"},
                headers=b.admin,
            )
            back = await event_of(chat, "message.created", timeout=10)
            assert back["data"]["message"]["body"] == "back"
    assert "Traceback" not in a.server.output + b.server.output


def test_a_silent_peer_is_pinged_and_then_closed(tmp_path: Path) -> None:
    """Heartbeats: the server pings every KLATCH_WS_HEARTBEAT_SECONDS and drops a
    peer that never answers (a vanished browser), freeing its connection."""
    import base64
    import os
    import socket
    import time

    env, keys = prepare(tmp_path, KLATCH_WS_HEARTBEAT_SECONDS="1")
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        token = httpx.post(
            f"{server.url}/c/v1/sessions",
            headers={"Authorization": f"Bearer {keys['trackingKey']}"},
        ).json()["sessionToken"]
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            nonce = base64.b64encode(os.urandom(16)).decode()
            raw.sendall(
                (
                    f"GET /c/v1/realtime?key={keys['trackingKey']}&session={token} HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            received = b""
            started = time.monotonic()
            while chunk := raw.recv(4096):  # never answer: no pongs
                received += chunk
            lasted = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 101")
    frames = received.split(b"\r\n\r\n", 1)[1]
    assert b"\x89" in frames  # a ping frame (FIN + opcode 9) came before the close
    assert lasted < 8, f"the silent peer was kept {lasted:.1f} s"
