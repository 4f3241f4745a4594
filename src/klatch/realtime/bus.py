"""The event bus: after a commit, carry events to every process that holds sockets.

The durable event log stays the source of truth; the bus only carries committed
events to whoever is listening, and a listener that missed something catches up
from the log (see ``realtime.hub``). Backends sit behind one small interface and
are chosen by configuration (``KLATCH_BUS_URL``): in-process memory for one
process, Redis pub/sub for several. Redis is imported only when configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from klatch import metrics
from klatch.domain.models import Event
from klatch.tasks import stop_task

log = logging.getLogger("klatch.bus")

Listener = Callable[[Sequence[Event]], None]
ReconnectListener = Callable[[], None]


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, events: Sequence[Event]) -> None:
        """Hand committed events to listeners here and elsewhere; never blocks or raises."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every published batch; returns an unsubscribe function."""

    def on_reconnect(self, listener: ReconnectListener) -> None:
        """Call ``listener`` when the bus is back after an outage (messages may be lost)."""


class _Listeners:
    def __init__(self) -> None:
        self.listeners: list[Listener] = []
        self.reconnect: list[ReconnectListener] = []

    def deliver(self, events: Sequence[Event]) -> None:
        for listener in tuple(self.listeners):
            try:
                listener(events)
            except Exception:  # a broken listener must not fail the write that succeeded
                log.exception("bus listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return unsubscribe

    def reconnected(self) -> None:
        for listener in tuple(self.reconnect):
            try:
                listener()
            except Exception:
                log.exception("bus reconnect listener failed")


class MemoryBus:
    """Delivers in-process, synchronously, to every subscriber."""

    def __init__(self) -> None:
        self._listeners = _Listeners()

    async def start(self) -> None:
        metrics.BUS_CONNECTED.set(1)

    async def stop(self) -> None:
        self._listeners = _Listeners()

    def publish(self, events: Sequence[Event]) -> None:
        if events:
            self._listeners.deliver(events)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    def on_reconnect(self, listener: ReconnectListener) -> None:
        self._listeners.reconnect.append(listener)


def encode_events(origin: str, events: Sequence[Event]) -> bytes:
    return orjson.dumps(
        {
            "origin": origin,
            "sentAt": time.time(),  # the receivers' lag (klatch_bus_lag_seconds)
            "events": [
                [
                    e.org_id,
                    e.id,
                    e.type,
                    e.payload,
                    e.created_at,
                    e.conversation_id,
                    e.customer_id,
                    e.actor_type,
                    e.actor_id,
                ]
                for e in events
            ],
        }
    )


def decode_events(raw: bytes | str) -> tuple[str, list[Event]]:
    return _decode(orjson.loads(raw))


def _decode(message: dict[str, Any]) -> tuple[str, list[Event]]:
    return message["origin"], [Event(*fields) for fields in message["events"]]


class RedisBus:
    """Redis pub/sub on one channel. Local listeners get events at once; other
    processes get them through Redis. While Redis is away, publishing drops
    messages (the writes themselves already succeeded) and the subscriber retries
    with backoff; once back, reconnect listeners run so sockets catch up from the
    log."""

    def __init__(self, url: str, *, channel: str = "klatch:events", outbox_size: int = 10_000):
        self.url = url
        self.channel = channel
        self._origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._listeners = _Listeners()
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(outbox_size)
        self._redis: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()

    async def start(self) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, socket_keepalive=True, health_check_interval=10
        )
        self._tasks = [
            asyncio.create_task(self._subscribe_loop(), name="klatch-bus-subscribe"),
            asyncio.create_task(self._publish_loop(), name="klatch-bus-publish"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            # redis-py's pubsub can swallow a cancellation that lands while it
            # (re)connects (a CLI command hung at exit): stop_task cancels until
            # it is done.
            await stop_task(task, poll=0.5)
        self._tasks = []
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self._listeners.deliver(events)
        try:
            self._outbox.put_nowait(encode_events(self._origin, events))
        except asyncio.QueueFull:
            metrics.BUS_DROPPED.labels("outbox_full").inc()
            log.warning("bus outbox full; dropping a message (sockets catch up from the log)")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    def on_reconnect(self, listener: ReconnectListener) -> None:
        self._listeners.reconnect.append(listener)

    async def _publish_loop(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self._redis.publish(self.channel, message)
            except Exception as exc:  # Redis away: the log keeps the events
                metrics.BUS_DROPPED.labels("publish_failed").inc()
                log.warning("bus publish failed (%s); dropped one message", exc)

    async def _subscribe_loop(self) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected.set()
                metrics.BUS_CONNECTED.set(1)
                backoff = 0.1
                if not first:
                    log.info("bus reconnected to Redis")
                    metrics.BUS_RECONNECTS.inc()
                    self._listeners.reconnected()
                first = False
                async for message in pubsub.listen():
                    self._receive(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected.is_set():
                    log.warning("bus lost Redis (%s); retrying", exc)
                self.connected.clear()
                metrics.BUS_CONNECTED.set(0)
                first = False
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _receive(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            decoded = orjson.loads(message["data"])
            origin, events = _decode(decoded)
        except Exception:
            log.warning("bus: ignoring a malformed message")
            return
        if origin != self._origin and events:
            sent_at = decoded.get("sentAt")
            if isinstance(sent_at, float):
                metrics.BUS_LAG_SECONDS.observe(max(0.0, time.time() - sent_at))
            self._listeners.deliver(events)


def create_bus(url: str | None) -> Bus:
    """The bus named by ``url``: None for in-process, ``redis://…`` for Redis."""
    if url is None:
        return MemoryBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url)
    raise ValueError(f"unknown bus URL {url!r}")
