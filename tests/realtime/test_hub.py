"""The connection hub against real storage: who receives what, resume, slow
readers, and catching up with writes made by another process."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from klatch.config import Settings
from klatch.realtime.hub import Connection, Resync
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Chat, Rest, start_chat


def drain(conn: Connection) -> list[dict[str, Any]]:
    frames = []
    while not conn.queue.empty():
        frames.append(conn.queue.get_nowait())
    return frames


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] if f["op"] == "event" else f["op"] for f in frames]


@pytest.fixture
async def defined(services: Services, setup: Setup) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")


async def test_agents_see_the_org_and_sessions_only_their_customer(
    services: Services, setup: Setup, chat: Chat, admin: Rest, defined: None
) -> None:
    other_chat = await start_chat(chat.http, setup.tracking_key.secret)
    agent, _ = await services.hub.connect(setup.org.id, None, None)
    mine, _ = await services.hub.connect(setup.org.id, chat.data["customerId"], None)
    theirs, _ = await services.hub.connect(setup.org.id, other_chat.data["customerId"], None)
    stranger_org = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:8]}")
    stranger, _ = await services.hub.connect(stranger_org.org.id, None, None)

    conv = await chat.create_conversation(message="hi")
    await chat.describe(conv["conversationId"], {"orderNumberStr": "A1"})
    await admin.post(f"/v1/conversations/{conv['conversationId']}/messages", json={"body": "yo"})
    await other_chat.create_conversation(message="me too")

    expected_mine = [
        "conversation.created",
        "message.created",
        "conversation.updated",
        "message.created",
    ]
    assert kinds(drain(mine)) == expected_mine
    assert kinds(drain(theirs)) == ["conversation.created", "message.created"]
    agent_frames = drain(agent)
    assert kinds(agent_frames) == [*expected_mine, "conversation.created", "message.created"]
    ids = [f["id"] for f in agent_frames]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert drain(stranger) == []


async def test_resume_replays_missed_events_once_and_in_order(
    services: Services, setup: Setup, chat: Chat, defined: None
) -> None:
    conv = await chat.create_conversation(message="hi")
    first, newest = await services.hub.connect(setup.org.id, None, None)
    services.hub.disconnect(first)
    for n in range(5):  # while "offline"
        await chat.describe(conv["conversationId"], {"orderNumberStr": f"A{n}"})

    resumed, newest_now = await services.hub.connect(setup.org.id, None, newest)
    assert newest_now == newest + 5
    await chat.describe(conv["conversationId"], {"orderNumberStr": "live"})
    frames = drain(resumed)
    assert [f["id"] for f in frames] == list(range(newest + 1, newest + 7))
    assert frames[-1]["data"]["custom"] == {"orderNumberStr": "live"}


async def test_resume_from_an_unknown_id_asks_for_a_resync(
    services: Services, setup: Setup
) -> None:
    with pytest.raises(Resync) as caught:
        await services.hub.connect(setup.org.id, None, 10_000)
    assert caught.value.reason == "unknown_event_id"


async def test_a_slow_reader_is_told_to_resync_and_memory_stays_bounded(
    settings: Settings, setup: Setup, defined: None, http: Any
) -> None:
    async with running(settings.model_copy(update={"ws_queue_size": 10})) as small:
        conn, _ = await small.hub.connect(setup.org.id, None, None)
        chat = await start_chat(http, setup.tracking_key.secret)
        conv = await chat.create_conversation()
        for n in range(30):
            await small.conversations.check_describe(
                _agent(setup), conv["conversationId"], {"orderNumberStr": str(n)}
            )
        frames = drain(conn)
        assert len(frames) <= 10
        assert frames[-1]["op"] == "resync"
        assert frames[-1]["reason"] == "queue_overflow"


async def test_writes_from_another_process_reach_sockets_without_a_bus(
    settings: Settings, services: Services, setup: Setup, defined: None
) -> None:
    """Two Services on one database and no shared bus, like two replicas while Redis
    is down: the hub's poll of the event log still delivers, in order."""
    fast_poll = settings.model_copy(update={"realtime_poll_seconds": 0.1})
    async with running(fast_poll) as here, running(settings) as elsewhere:
        conn, _ = await here.hub.connect(setup.org.id, None, None)
        customer = await elsewhere.customers.check_create(_agent(setup), {"name": "Ada"})
        await elsewhere.conversations.check_create(
            _agent(setup),
            customer_id=customer.id,
            brand_id=setup.brand.id,
            custom={"orderNumberStr": "X"},
        )
        for _ in range(50):
            if conn.queue.qsize() >= 2:
                break
            await asyncio.sleep(0.05)
        assert kinds(drain(conn)) == ["customer.created", "conversation.created"]


def _agent(setup: Setup) -> Any:
    from klatch.domain.models import Actor, ActorType, Role

    return Actor(ActorType.API_KEY, setup.admin_key.key.id, setup.org.id, role=Role.ADMIN)
