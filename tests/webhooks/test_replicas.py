"""Two replicas on one PostgreSQL (and one Redis) deliver every committed change's
webhook, while one of them is killed with SIGKILL in the middle of the stream:
its claims pass to the other when their lease ends, and one conversation's
deliveries still arrive in commit order. Each delivery is made by one replica;
only those the killed one had in flight (sent, answer not yet stored) can arrive
twice, with the same envelope id for the receiver to drop."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from support import (
    POSTGRES_URL,
    REDIS_URL,
    KlatchProcess,
    Receiver,
    fresh_postgres_database,
    need_service,
    prepare,
)

CONVERSATIONS = 6
ROUNDS = 25  # describes per conversation
CONCURRENCY = 4  # deliveries in flight per replica: the most the kill can duplicate
UPDATE = "kustomer.conversation.update"


async def _conversations(url: str, tracking_key: str) -> list[tuple[str, str]]:
    out = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(CONVERSATIONS):
            auth = {"Authorization": f"Bearer {tracking_key}"}
            session = await http.post("/c/v1/sessions", headers=auth)
            token = session.json()["sessionToken"]
            created = await http.post(
                "/c/v1/conversations", headers={**auth, "X-Klatch-Session": token}, json={}
            )
            assert created.status_code == 201, created.text
            out.append((token, created.json()["conversationId"]))
    return out


async def _describe_all(
    a: KlatchProcess, b: KlatchProcess, tracking_key: str, convs: list[tuple[str, str]]
) -> None:
    """Each conversation is described ROUNDS times, alternating replicas; A is
    killed a third of the way through, after which everything goes to B."""
    killed = asyncio.Event()

    async def writer(http_a: httpx.AsyncClient, http_b: httpx.AsyncClient, i: int) -> None:
        token, conv_id = convs[i]
        headers = {"Authorization": f"Bearer {tracking_key}", "X-Klatch-Session": token}
        for n in range(ROUNDS):
            http = http_b if killed.is_set() or (n + i) % 2 else http_a
            try:
                await http.patch(
                    f"/c/v1/conversations/{conv_id}",
                    headers=headers,
                    json={"custom": {"orderNumberStr": f"c{i}-{n:02d}"}},
                )
            except httpx.TransportError:
                pass  # A died with it: stored or not, the event log says
            await asyncio.sleep(0.005)

    async def kill() -> None:
        await asyncio.sleep(0.6)
        assert a.process is not None
        a.process.send_signal(signal.SIGKILL)
        killed.set()

    async with (
        httpx.AsyncClient(base_url=a.url, timeout=5) as http_a,
        httpx.AsyncClient(base_url=b.url, timeout=5) as http_b,
    ):
        await asyncio.gather(kill(), *(writer(http_a, http_b, i) for i in range(len(convs))))


def _committed(b: KlatchProcess, admin_key: str, conv_id: str) -> list[str]:
    with httpx.Client(base_url=b.url, timeout=10) as http:
        response = http.get(
            f"/v1/conversations/{conv_id}/events",
            headers={"Authorization": f"Bearer {admin_key}"},
        )
    assert response.status_code == 200, response.text
    return [
        e["attributes"]["payload"]["custom"]["orderNumberStr"]
        for e in response.json()["data"]
        if e["attributes"]["name"] == "conversation.updated"
    ]


def test_two_replicas_deliver_every_event_while_one_is_killed(tmp_path: Path) -> None:
    url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    bus = need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    receiver = Receiver()
    receiver.delay = 0.02  # deliveries are in flight when the kill comes
    with fresh_postgres_database(url, "webhooks") as database:
        env, keys = prepare(
            tmp_path,
            KLATCH_DATABASE_URL=database,
            KLATCH_BUS_URL=bus,
            KLATCH_WEBHOOK_ALLOW_PRIVATE="1",
            KLATCH_WEBHOOK_ALLOW_HTTP="1",
            KLATCH_WEBHOOK_RETRY_SCHEDULE="0.2,0.2,0.5,1,1,1,1",
            KLATCH_WEBHOOK_TIMEOUT_SECONDS="1",
            KLATCH_WEBHOOK_LEASE_SECONDS="2",
            KLATCH_WEBHOOK_POLL_SECONDS="0.2",
            KLATCH_WEBHOOK_CONCURRENCY=str(CONCURRENCY),
        )
        a = KlatchProcess(env, tmp_path, tmp_path / "a.log")
        b = KlatchProcess(env, tmp_path, tmp_path / "b.log")
        try:
            a.start()
            b.start()
            with httpx.Client(base_url=a.url, timeout=10) as http:
                created = http.post(
                    "/v1/outbound-webhooks",
                    headers={"Authorization": f"Bearer {keys['adminKey']}"},
                    json={"name": "sink", "url": receiver.url, "events": [UPDATE]},
                )
            assert created.status_code == 201, created.text
            convs = asyncio.run(_conversations(b.url, keys["trackingKey"]))
            asyncio.run(_describe_all(a, b, keys["trackingKey"], convs))
            committed = {c: _committed(b, keys["adminKey"], c) for _, c in convs}
            total = sum(len(v) for v in committed.values())
            deadline = time.monotonic() + 30
            while len({e["id"] for e in receiver.envelopes(UPDATE)}) < total:
                assert time.monotonic() < deadline, (
                    f"{len({e['id'] for e in receiver.envelopes(UPDATE)})} of {total} arrived"
                )
                time.sleep(0.1)
            time.sleep(1)  # anything more that would come (a duplicate) has come
        finally:
            a.stop()
            b.stop()
            receiver.stop()
    _check(receiver, committed, total)


def _check(receiver: Receiver, committed: dict[str, list[str]], total: int) -> None:
    envelopes = receiver.envelopes(UPDATE)
    ids = [e["id"] for e in envelopes]
    duplicates = len(ids) - len(set(ids))
    print(f"\n{total} committed changes, {len(ids)} deliveries, {duplicates} duplicates")
    assert len(set(ids)) == total  # every committed change, no more
    assert duplicates <= CONCURRENCY  # only what the killed replica had in flight
    for conv_id, values in committed.items():
        seen: list[Any] = [
            e["changes"]["attributes"]["custom.orderNumberStr"]["after"]
            for e in envelopes
            if e["dataId"] == conv_id
        ]
        once = [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v]
        assert once == values, f"{conv_id}: received {seen}, committed {values}"
