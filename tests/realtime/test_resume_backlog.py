"""Resuming after a long absence: a backlog many times the socket's queue is
replayed from the log, a page at a time as the reader drains, every missed event
once and in order, then live events — in the hub on both backends, and through
a real ``klatch serve`` with a small ``KLATCH_WS_QUEUE_SIZE``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from klatch.config import Settings
from klatch.domain.models import Actor, ActorType, Role
from klatch.realtime.hub import Connection
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from support import POSTGRES_URL, KlatchProcess, fresh_postgres_database, need_service, prepare

QUEUE = 10
BACKLOG = 6 * QUEUE
SERVED_BACKLOG = 15 * QUEUE


def agent(setup: Setup) -> Actor:
    return Actor(ActorType.API_KEY, setup.admin_key.key.id, setup.org.id, role=Role.ADMIN)


async def next_frame(conn: Connection) -> dict[str, Any]:
    return await asyncio.wait_for(conn.queue.get(), 5)


async def test_a_backlog_larger_than_the_queue_is_replayed_in_pages_then_live(
    settings: Settings, services: Services, setup: Setup
) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    customer = await services.customers.check_create(agent(setup), {"name": "Ada"})
    conv, _ = await services.conversations.check_create(
        agent(setup), customer_id=customer.id, brand_id=setup.brand.id
    )
    async with running(settings.model_copy(update={"ws_queue_size": QUEUE})) as small:
        first, since = await small.hub.connect(setup.org.id, None, None)
        small.hub.disconnect(first)
        for n in range(BACKLOG):  # while "offline"
            await small.conversations.check_describe(
                agent(setup), conv.id, {"orderNumberStr": f"missed{n}"}
            )
        mine, _ = await small.hub.connect(setup.org.id, customer.id, since)
        resumed, newest = await small.hub.connect(setup.org.id, None, since)
        assert newest == since + BACKLOG
        # connect returned with the queue full; the rest waits for the reader.
        assert resumed.queue.qsize() == QUEUE

        frames = [await next_frame(resumed) for _ in range(QUEUE)]
        for n in range(3):  # live events while the replay is still going on
            await small.conversations.check_describe(
                agent(setup), conv.id, {"orderNumberStr": f"live{n}"}
            )
        while len(frames) < BACKLOG + 3:
            assert resumed.queue.qsize() <= QUEUE
            frames.append(await next_frame(resumed))
        assert [f["op"] for f in frames] == ["event"] * (BACKLOG + 3)
        assert [f["id"] for f in frames] == list(range(since + 1, newest + 4))
        values = [f["data"]["custom"]["orderNumberStr"] for f in frames]
        assert values == [f"missed{n}" for n in range(BACKLOG)] + ["live0", "live1", "live2"]
        assert resumed.ending is None and resumed.queue.empty()

        # A chat session's socket, resumed just as far back, gets its customer's share.
        mine_frames: list[dict[str, Any]] = []
        while len(mine_frames) < BACKLOG + 3:
            mine_frames.append(await next_frame(mine))
        assert [f["id"] for f in mine_frames] == [f["id"] for f in frames]

        await small.conversations.check_describe(agent(setup), conv.id, {"orderNumberStr": "x"})
        later = await next_frame(resumed)
        assert later["id"] == newest + 4


def test_a_served_socket_resumes_after_a_backlog_fifteen_times_its_queue(
    tmp_path: Path, database: str
) -> None:
    settings = {"KLATCH_WS_QUEUE_SIZE": str(QUEUE), "KLATCH_REALTIME_POLL_SECONDS": "0.5"}
    if database == "postgres":
        url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
        with fresh_postgres_database(url, "backlog") as database_url:
            _serve_and_resume(tmp_path, {**settings, "KLATCH_DATABASE_URL": database_url})
    else:
        _serve_and_resume(tmp_path, settings)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _serve_and_resume(tmp_path: Path, settings: dict[str, str]) -> None:
    env, keys = prepare(tmp_path, **settings)
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        asyncio.run(_resume(server, keys))
        assert "Traceback" not in server.output


async def _resume(server: KlatchProcess, keys: dict[str, str]) -> None:
    admin = {"Authorization": f"Bearer {keys['adminKey']}"}
    tracking = {"Authorization": f"Bearer {keys['trackingKey']}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        token = (await http.post("/c/v1/sessions", headers=tracking)).json()["sessionToken"]
        session = {**tracking, "X-Klatch-Session": token}
        conv = await http.post("/c/v1/conversations", json={"message": "hi"}, headers=session)
        conversation_id = conv.json()["conversationId"]

        async def describe(value: str) -> None:
            response = await http.patch(
                f"/c/v1/conversations/{conversation_id}",
                json={"custom": {"orderNumberStr": value}},
                headers=session,
            )
            assert response.status_code == 200, response.text

        url = f"{server.ws_url}/v1/realtime"
        async with websockets.connect(url, additional_headers=admin) as ws:
            since = json.loads(await ws.recv())["lastEventId"]
        for n in range(SERVED_BACKLOG):
            await describe(f"missed{n}")

        started = time.monotonic()
        async with websockets.connect(f"{url}?after={since}", additional_headers=admin) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert hello["op"] == "hello" and hello["lastEventId"] == since + SERVED_BACKLOG
            frames: list[dict[str, Any]] = []
            while len(frames) < SERVED_BACKLOG + 2:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
                if len(frames) < 3 * QUEUE:
                    await asyncio.sleep(0.01)  # a slow reader: the replay must wait
                if len(frames) == 2 * QUEUE:
                    await describe("live0")
                    await describe("live1")
            replayed_in = time.monotonic() - started
    assert [f["op"] for f in frames] == ["event"] * (SERVED_BACKLOG + 2), frames[0]
    assert [f["id"] for f in frames] == list(range(since + 1, since + SERVED_BACKLOG + 3))
    values = [f["data"]["custom"]["orderNumberStr"] for f in frames]
    assert values == [f"missed{n}" for n in range(SERVED_BACKLOG)] + ["live0", "live1"]
    print(
        f"replayed {SERVED_BACKLOG} missed events through a {QUEUE}-frame queue "
        f"in {replayed_in:.2f} s"
    )
