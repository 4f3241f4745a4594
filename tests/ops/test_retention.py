"""Event-log retention: events older than ``KLATCH_EVENT_RETENTION_DAYS`` leave the
log, a conversation's attribute history is kept as one summary (before the first
pruned change, after the last), the log goes on from where it was, and a socket
resuming from a pruned id is told to resync -- in the services on both backends,
and by the pruning task of a real ``klatch serve``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from klatch.domain.retention import DAY_MS, cutoff
from klatch.ids import now_ms
from klatch.realtime.hub import CLOSE_RESYNC, Resync
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.services.retention import Retention
from klatch.storage import events as event_store
from support import Chat, KlatchProcess, Rest, eventually, prepare, start_chat

LATER = 2 * DAY_MS  # "now" for a pass that finds every event older than a day


async def prune(retention: Retention, setup: Setup, *, later: bool = True) -> int:
    """One pass over the test's own org (PostgreSQL tests share a database)."""
    now = now_ms() + (LATER if later else 0)
    return await retention.prune_org(setup.org.id, cutoff(now, retention.days))


async def history(admin: Rest, conversation_id: str) -> list[dict[str, Any]]:
    response = await admin.get(f"/v1/conversations/{conversation_id}/events")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def newest(services: Services, setup: Setup) -> int:
    return await services.db.read(lambda tx: event_store.last_event_id(tx, setup.org.id))


async def talk(services: Services, setup: Setup, chat: Chat, admin: Rest) -> str:
    """A conversation with attribute history, messages both ways and an end."""
    for name in ("orderNumberStr", "priorityNum"):
        await services.attributes.define(setup.org.id, "conversation", name)
    conv = (await chat.create_conversation(message="Where is my order?"))["conversationId"]
    for order in ("A-1", "A-2"):
        assert (await chat.describe(conv, {"orderNumberStr": order})).status_code == 200
    patched = await admin.patch(f"/v1/conversations/{conv}", json={"custom": {"priorityNum": 1}})
    assert patched.status_code == 200, patched.text
    sent = await admin.post(f"/v1/conversations/{conv}/messages", json={"body": "On its way"})
    assert sent.status_code == 201, sent.text
    return str(conv)


async def test_pruned_history_is_one_summary_and_a_resume_from_before_it_must_resync(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    conv = await talk(services, setup, chat, admin)
    messages = (await admin.get(f"/v1/conversations/{conv}/messages")).json()["data"]
    steps = await history(admin, conv)
    assert [e["attributes"]["name"] for e in steps] == ["conversation.created"] + [
        "conversation.updated"
    ] * 3
    last = await newest(services, setup)

    retention = Retention(services.ctx, days=1)
    assert await prune(retention, setup, later=False) == 0  # all younger than a day
    assert await prune(retention, setup) == last

    (summary,) = await history(admin, conv)
    attributes = summary["attributes"]
    assert attributes["name"] == "conversation.history_summary"
    assert int(summary["id"]) < 0
    assert attributes["actor"] == {"type": "system", "id": None}
    payload = attributes["payload"]
    assert payload["changes"] == {
        "custom": {
            "orderNumberStr": {"before": None, "after": "A-2"},
            "priorityNum": {"before": None, "after": 1},
        }
    }
    assert payload["custom"] == {"orderNumberStr": "A-2", "priorityNum": 1}
    assert payload["summarised"]["events"] == len(steps)
    # The messages and the conversation itself are untouched.
    assert (await admin.get(f"/v1/conversations/{conv}/messages")).json()["data"] == messages

    # A socket that resumes from a pruned id cannot be brought up to date by replay.
    with pytest.raises(Resync) as caught:
        await services.hub.connect(setup.org.id, None, last - 1)
    assert caught.value.reason == "too_far_behind"
    current, _ = await services.hub.connect(setup.org.id, None, last)
    services.hub.disconnect(current)

    # The log goes on from where it was; a second pass folds into the same summary.
    assert (await chat.describe(conv, {"orderNumberStr": "A-3"})).status_code == 200
    assert [int(e["id"]) for e in await history(admin, conv)][1:] == [last + 1]
    await prune(retention, setup)
    (again,) = await history(admin, conv)
    folded = again["attributes"]["payload"]
    assert folded["changes"]["custom"]["orderNumberStr"] == {"before": None, "after": "A-3"}
    assert folded["summarised"]["events"] == len(steps) + 1
    assert folded["summarised"]["firstAt"] == payload["summarised"]["firstAt"]


async def test_what_changed_and_changed_back_is_not_in_the_summary(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    conv = (await chat.create_conversation(message="hi", custom={"orderNumberStr": "A"}))[
        "conversationId"
    ]
    for value in ("B", "A"):
        assert (await chat.describe(conv, {"orderNumberStr": value})).status_code == 200
    for status in ("done", "open"):
        patched = await admin.patch(f"/v1/conversations/{conv}", json={"status": status})
        assert patched.status_code == 200, patched.text
    await prune(Retention(services.ctx, days=1), setup)
    (summary,) = await history(admin, conv)
    # Set to A at creation; B and back to A, done and open again, are not told.
    assert summary["attributes"]["payload"]["changes"] == {
        "custom": {"orderNumberStr": {"before": None, "after": "A"}}
    }


async def test_two_passes_at_once_prune_once(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    conv = await talk(services, setup, chat, admin)
    last = await newest(services, setup)
    one, two = Retention(services.ctx, days=1), Retention(services.ctx, days=1)
    first, second = await asyncio.gather(prune(one, setup), prune(two, setup))
    assert first + second == last
    assert len(await history(admin, conv)) == 1


async def test_the_pruning_task_of_a_server_prunes_and_resuming_sockets_resync(
    tmp_path: Path,
) -> None:
    env, keys = prepare(
        tmp_path,
        KLATCH_EVENT_RETENTION_DAYS=str(1 / 86_400),  # one second
        KLATCH_EVENT_PRUNE_SECONDS="0.2",
    )
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            admin = Rest(http, keys["adminKey"])
            chat = await start_chat(http, keys["trackingKey"])
            conv = (await chat.create_conversation(message="hi"))["conversationId"]
            assert (await chat.describe(conv, {"orderNumberStr": "A-1"})).status_code == 200

            async def summarised() -> bool:
                names = [e["attributes"]["name"] for e in await history(admin, conv)]
                return names == ["conversation.history_summary"]

            deadline = asyncio.get_running_loop().time() + 20
            while not await summarised():
                assert asyncio.get_running_loop().time() < deadline, server.output[-3000:]
                await asyncio.sleep(0.2)

            url = f"{server.ws_url}/v1/realtime?after=1"
            headers = {"Authorization": f"Bearer {keys['adminKey']}"}
            async with websockets.connect(url, additional_headers=headers) as ws:
                resync = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert resync["op"] == "resync" and resync["reason"] == "too_far_behind"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_RESYNC
            await eventually(lambda: "event retention: pruned" in server.output, "the log line")
