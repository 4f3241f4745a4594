"""The connection hub: committed events to the sockets that may see them.

One hub per process. It listens to the bus, keeps per org the newest event id it
has delivered (its *cursor*), and hands each event to every connection of that
org whose recipient rule admits it, through the connection's bounded queue.

The durable log is the source of truth. A published batch that skips ids (a bus
message lost while Redis was away) makes the hub read the gap from the log; a
periodic poll does the same for orgs with open sockets, so a replica catches up
even when nothing new is published. A connection that resumes from an id is
replayed from the log first, with live events held back until the replay is
done, so it sees every event once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from klatch.domain.models import Event
from klatch.realtime.bus import Bus
from klatch.storage import events as event_store
from klatch.storage.db import Database

log = logging.getLogger("klatch.realtime")

REPLAY_PAGE = 500
RESYNC_TOO_FAR_BEHIND = "too_far_behind"
RESYNC_UNKNOWN_ID = "unknown_event_id"
RESYNC_SLOW_CONSUMER = "queue_overflow"


class Resync(Exception):
    """The connection cannot be brought up to date by replay."""

    def __init__(self, reason: str, last_event_id: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.last_event_id = last_event_id


def event_frame(event: Event) -> dict[str, Any]:
    return {
        "op": "event",
        "id": event.id or None,  # 0: an ephemeral event (typing), never stored
        "type": event.type,
        "data": event.payload,
    }


@dataclass(eq=False)
class Connection:
    """One socket's view: which org, which customer (None for agents), and a
    bounded queue of frames the socket's writer drains."""

    org_id: str
    customer_id: str | None
    queue_size: int = 1000
    queue: asyncio.Queue[dict[str, Any]] = field(init=False)
    overflowed: bool = False
    last_id: int = 0
    _held: list[Event] | None = None  # live events that arrive during a replay

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def admits(self, event: Event) -> bool:
        """Recipient rule: agents see their org's events; a chat session only
        its own customer's."""
        return self.customer_id is None or event.customer_id == self.customer_id

    def offer(self, event: Event) -> None:
        if self.overflowed or not self.admits(event):
            return
        if self._held is not None:
            self._held.append(event)
            return
        if event.id and event.id <= self.last_id:
            return  # already delivered (replay and live overlap)
        try:
            self.queue.put_nowait(event_frame(event))
        except asyncio.QueueFull:
            # A slow reader must not grow memory: drop what it has not read and
            # tell it to resync (the socket is then closed with 4409).
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(
                {"op": "resync", "reason": RESYNC_SLOW_CONSUMER, "lastEventId": self.last_id}
            )
            return
        if event.id:
            self.last_id = event.id


@dataclass
class _OrgState:
    cursor: int
    connections: set[Connection] = field(default_factory=set)
    catching_up: asyncio.Task[None] | None = None


class Hub:
    def __init__(
        self, db: Database, bus: Bus, *, queue_size: int = 1000, poll_seconds: float = 2.0
    ) -> None:
        self._db = db
        self._bus = bus
        self._queue_size = queue_size
        self._poll_seconds = poll_seconds
        self._orgs: dict[str, _OrgState] = {}
        self._unsubscribe: Any = None
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connection_count(self) -> int:
        return sum(len(s.connections) for s in self._orgs.values())

    async def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(self._on_events)
        self._bus.on_reconnect(self._catch_up_all)
        self._poller = asyncio.create_task(self._poll(), name="klatch-hub-poll")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in (self._poller, *self._tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._orgs.clear()

    # -- connections

    async def connect(
        self, org_id: str, customer_id: str | None, after: int | None
    ) -> tuple[Connection, int]:
        """Register a connection; replay the log after ``after`` into its queue.

        Returns the connection and the org's newest event id at connect time.
        Raises ``Resync`` when ``after`` cannot be served from the log.
        """
        conn = Connection(org_id, customer_id, self._queue_size)
        state = await self._org(org_id)
        newest = state.cursor
        if after is None or after == newest:
            conn.last_id = newest
            state.connections.add(conn)
            return conn, newest
        if after > newest:
            raise Resync(RESYNC_UNKNOWN_ID, newest)
        conn._held = []
        conn.last_id = after
        state.connections.add(conn)
        try:
            await self._replay(conn, after, newest)
        except BaseException:
            state.connections.discard(conn)
            raise
        held, conn._held = conn._held, None
        for event in held:
            conn.offer(event)
        return conn, newest

    def disconnect(self, conn: Connection) -> None:
        state = self._orgs.get(conn.org_id)
        if state is not None:
            state.connections.discard(conn)
            if not state.connections:
                del self._orgs[conn.org_id]

    async def _replay(self, conn: Connection, after: int, upto: int) -> None:
        oldest = await self._db.read(lambda tx: event_store.first_event_id(tx, conn.org_id))
        if oldest is not None and after < oldest - 1:
            raise Resync(RESYNC_TOO_FAR_BEHIND, upto)
        cursor = after
        while cursor < upto:
            page = await self._db.read(
                lambda tx, cursor=cursor: event_store.events_after(  # type: ignore[misc]
                    tx, conn.org_id, cursor, REPLAY_PAGE
                )
            )
            if not page:
                break
            held, conn._held = conn._held, None  # deliver the replay itself
            for event in page:
                if event.id <= upto:
                    conn.offer(event)
            conn._held = held
            if conn.overflowed:
                raise Resync(RESYNC_SLOW_CONSUMER, upto)
            cursor = page[-1].id
        conn.last_id = max(conn.last_id, upto)

    async def _org(self, org_id: str) -> _OrgState:
        state = self._orgs.get(org_id)
        if state is None:
            newest = await self._db.read(lambda tx: event_store.last_event_id(tx, org_id))
            state = self._orgs.get(org_id)  # another connection may have raced us
            if state is None:
                state = self._orgs[org_id] = _OrgState(newest)
        return state

    # -- delivery

    def _on_events(self, events: Sequence[Event]) -> None:
        for event in events:
            state = self._orgs.get(event.org_id)
            if state is None:
                continue
            if not event.id:
                self._fan_out(state, event)
            elif event.id == state.cursor + 1:
                state.cursor = event.id
                self._fan_out(state, event)
            elif event.id > state.cursor + 1:
                self._schedule_catch_up(event.org_id)

    def _fan_out(self, state: _OrgState, event: Event) -> None:
        for conn in tuple(state.connections):
            conn.offer(event)

    def _schedule_catch_up(self, org_id: str) -> None:
        state = self._orgs.get(org_id)
        if state is None or (state.catching_up and not state.catching_up.done()):
            return
        task = asyncio.create_task(self._catch_up(org_id), name=f"klatch-catch-up-{org_id}")
        state.catching_up = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _catch_up(self, org_id: str) -> None:
        """Deliver, in order, what the log holds beyond the org's cursor."""
        while (state := self._orgs.get(org_id)) is not None:
            after = state.cursor
            try:
                page = await self._db.read(
                    lambda tx, after=after: event_store.events_after(  # type: ignore[misc]
                        tx, org_id, after, REPLAY_PAGE
                    )
                )
            except Exception:
                log.exception("catching up org %s from the event log failed", org_id)
                return
            state = self._orgs.get(org_id)
            if state is None:
                return
            for event in page:
                if event.id == state.cursor + 1:
                    state.cursor = event.id
                    self._fan_out(state, event)
            if len(page) < REPLAY_PAGE:
                return

    def _catch_up_all(self) -> None:
        for org_id in tuple(self._orgs):
            self._schedule_catch_up(org_id)

    async def _poll(self) -> None:
        """A safety net for lost bus messages: look at the log of every org with
        open sockets every few seconds."""
        while True:
            await asyncio.sleep(self._poll_seconds)
            for org_id in tuple(self._orgs):
                try:
                    newest = await self._db.read(
                        lambda tx, org_id=org_id: event_store.last_event_id(  # type: ignore[misc]
                            tx, org_id
                        )
                    )
                except Exception:
                    log.warning("event log poll failed for org %s", org_id, exc_info=True)
                    continue
                state = self._orgs.get(org_id)
                if state is not None and newest > state.cursor:
                    self._schedule_catch_up(org_id)
