"""One contract for every bus backend: in-process memory and Redis pub/sub (real)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from klatch.domain.models import Event
from klatch.realtime.bus import Bus, MemoryBus, RedisBus, create_bus
from support import REDIS_URL, RedisServer, need_service


def make_events(n: int, start: int = 1, org: str = "o" * 24) -> list[Event]:
    return [
        Event(
            org,
            start + i,
            "conversation.updated",
            {"n": start + i, "text": "é ✓"},
            1000 + i,
            "c" * 24,
            "u" * 24,
            "customer",
            "s" * 24,
        )
        for i in range(n)
    ]


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.arrived = asyncio.Event()

    def __call__(self, events: Sequence[Event]) -> None:
        self.events.extend(events)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Event]:
        async def enough() -> None:
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.events


@pytest.fixture(params=["memory", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    """Two ends of one bus: the same object in memory, two processes' worth for Redis."""
    if request.param == "memory":
        bus = MemoryBus()
        await bus.start()
        yield bus, bus
        await bus.stop()
        return
    url = need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    channel = f"klatch-test:{uuid.uuid4().hex}"
    a, b = RedisBus(url, channel=channel), RedisBus(url, channel=channel)
    await a.start()
    await b.start()
    await asyncio.wait_for(asyncio.gather(a.connected.wait(), b.connected.wait()), 5)
    yield a, b
    await a.stop()
    await b.stop()


async def test_published_events_reach_subscribers_in_order(buses: tuple[Bus, Bus]) -> None:
    publisher, other = buses
    remote, local = Recorder(), Recorder()
    other.subscribe(remote)
    if other is not publisher:
        publisher.subscribe(local)
    sent = make_events(3) + make_events(2, start=4)
    publisher.publish(sent[:3])
    publisher.publish(sent[3:])
    assert await remote.wait_for(5) == sent
    if other is not publisher:
        # The publishing process gets its own events once, directly, not via Redis.
        assert await local.wait_for(5) == sent
        await asyncio.sleep(0.2)
        assert len(local.events) == 5


async def test_unsubscribed_listeners_hear_nothing(buses: tuple[Bus, Bus]) -> None:
    publisher, other = buses
    kept, dropped = Recorder(), Recorder()
    other.subscribe(kept)
    unsubscribe = other.subscribe(dropped)
    unsubscribe()
    publisher.publish(make_events(1))
    await kept.wait_for(1)
    await asyncio.sleep(0.1)
    assert dropped.events == []


async def test_a_failing_listener_does_not_stop_the_others(buses: tuple[Bus, Bus]) -> None:
    publisher, other = buses

    def broken(events: Sequence[Event]) -> None:
        raise RuntimeError("listener bug")

    other.subscribe(broken)
    survivor = Recorder()
    other.subscribe(survivor)
    publisher.publish(make_events(2))  # must not raise
    assert len(await survivor.wait_for(2)) == 2


def test_the_bus_is_chosen_by_url() -> None:
    assert isinstance(create_bus(None), MemoryBus)
    assert isinstance(create_bus("redis://127.0.0.1:6379/0"), RedisBus)
    with pytest.raises(ValueError, match="unknown bus URL"):
        create_bus("kafka://nowhere")


async def test_redis_outage_loses_messages_but_not_the_bus(tmp_path: Path) -> None:
    """While Redis is down publishing neither raises nor blocks; when it is back the
    bus says so (so sockets catch up from the log) and messages flow again."""
    need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")  # same binary, own port
    server = RedisServer(tmp_path)
    server.start()
    a, b = RedisBus(server.url, channel="outage"), RedisBus(server.url, channel="outage")
    reconnected = asyncio.Event()
    b.on_reconnect(reconnected.set)
    received = Recorder()
    b.subscribe(received)
    await a.start()
    await b.start()
    try:
        await asyncio.wait_for(asyncio.gather(a.connected.wait(), b.connected.wait()), 5)
        a.publish(make_events(1, start=1))
        await received.wait_for(1)

        server.stop()
        await asyncio.sleep(0.3)
        a.publish(make_events(1, start=2))  # lost, harmlessly
        await asyncio.sleep(0.3)
        server.start()
        await asyncio.wait_for(reconnected.wait(), 10)
        await asyncio.wait_for(a.connected.wait(), 10)
        for _ in range(50):  # the publisher's connection may need a moment too
            a.publish(make_events(1, start=3))
            try:
                await received.wait_for(2, timeout=0.2)
                break
            except TimeoutError:
                continue
        assert received.events[0].id == 1
        assert received.events[-1].id == 3
    finally:
        await a.stop()
        await b.stop()
        server.stop()
