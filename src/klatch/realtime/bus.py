"""The event bus: after a commit, tell every interested process that events exist.

The durable event log stays the source of truth; the bus only carries committed
events to whoever is listening (sockets, webhooks), and a listener that missed
something catches up from the log. Backends sit behind this small interface and
are chosen by configuration: in-process memory (one process) or Redis pub/sub.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from klatch.domain.models import Event

log = logging.getLogger("klatch.bus")

Listener = Callable[[Sequence[Event]], None]


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, events: Sequence[Event]) -> None:
        """Hand committed events to listeners; never blocks, never raises."""

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every published batch; returns an unsubscribe function."""


class MemoryBus:
    """Delivers in-process, synchronously, to every subscriber."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._listeners.clear()

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        for listener in tuple(self._listeners):
            try:
                listener(events)
            except Exception:  # a broken listener must not fail the write that succeeded
                log.exception("bus listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe


def create_bus(url: str | None) -> Bus:
    if url is None:
        return MemoryBus()
    raise NotImplementedError("the Redis bus arrives with the realtime work")
