"""The connection hub: committed events to the sockets that may see them.

One hub per process. It listens to the bus, keeps per org the newest event id it
has delivered (its *cursor*), and hands each event to every connection of that
org whose recipient rule admits it, through the connection's bounded queue.

The durable log is the source of truth. A published batch that skips ids (a bus
message lost while Redis was away) makes the hub read the gap from the log; a
periodic poll does the same for orgs with open sockets, so a replica catches up
even when nothing new is published. A connection that resumes from an id is
replayed from the log first, a page at a time and never more than its queue
holds (the replay waits for the socket to drain), while live events are left to
the log until the replay has caught up; so it sees every event once and in
order, however long it was away.

Every connection names the credentials it was opened with. A stored
``credential.revoked`` event (a key revoked, a session ended, a user disabled)
reaches every replica like any other event, and ends the matching connections
there; it is never delivered to a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from klatch.domain.events import AGENTS_ONLY, CREDENTIAL_REVOKED, INTERNAL
from klatch.domain.models import Event
from klatch.realtime.bus import Bus
from klatch.storage import events as event_store
from klatch.storage.db import Database
from klatch.tasks import stop_task

log = logging.getLogger("klatch.realtime")

REPLAY_PAGE = 500
RESYNC_TOO_FAR_BEHIND = "too_far_behind"
RESYNC_UNKNOWN_ID = "unknown_event_id"
RESYNC_SLOW_CONSUMER = "queue_overflow"

# Close codes (docs/realtime.md).
CLOSE_INTERNAL = 1011
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401  # refused, or the credentials ended: do not retry as is
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_RESYNC = 4409

CREDENTIALS_ENDED = "credentials_ended"
# (kind, id) as in ``credential.revoked``: api_key, chat_session, console_session, user.
Credential = tuple[str, str]
ENDED_MESSAGES = {
    "api_key": "The API key was revoked",
    "chat_session": "The chat session ended",
    "console_session": "The console session ended",
    "user": "The user was disabled",
}


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


def ended_frame(message: str) -> dict[str, Any]:
    """The last frame of a socket whose credentials ended (then closed with 4401)."""
    return {"op": "error", "code": CREDENTIALS_ENDED, "message": message}


@dataclass(frozen=True, slots=True)
class Ending:
    """Why a connection ends: its last frame, then the close code and reason."""

    frame: dict[str, Any]
    code: int
    reason: str


@dataclass(eq=False)
class Connection:
    """One socket's view: which org, which customer (None for agents), the
    credentials it was opened with, and a bounded queue of frames the socket's
    writer drains. Once ``ending`` is set, its frame is the last in the queue."""

    org_id: str
    customer_id: str | None
    queue_size: int = 1000
    credentials: frozenset[Credential] = frozenset()
    queue: asyncio.Queue[dict[str, Any]] = field(init=False)
    ending: Ending | None = None
    last_id: int = 0
    _replaying: bool = False
    _held: list[Event] = field(default_factory=list)  # typing during a replay
    _stalled: asyncio.Event = field(default_factory=asyncio.Event)  # replay waits for room
    _replay: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def admits(self, event: Event) -> bool:
        """Recipient rule: agents see their org's events; a chat session only
        its own customer's; nobody the internal ones; no chat session an agents-only
        one (an internal note), whatever customer it names."""
        if event.type in INTERNAL:
            return False
        if self.customer_id is not None and event.type in AGENTS_ONLY:
            return False
        return self.customer_id is None or event.customer_id == self.customer_id

    def offer(self, event: Event) -> None:
        """A live event: queued at once, or (too slow a reader) the end of the socket."""
        if self.ending is not None or not self.admits(event):
            return
        if self._replaying:
            # Stored events are in the log, where the replay will find them.
            if not event.id and len(self._held) < self.queue_size:
                self._held.append(event)
            return
        if event.id and event.id <= self.last_id:
            return  # already delivered (replay and live overlap)
        try:
            self.queue.put_nowait(event_frame(event))
        except asyncio.QueueFull:
            # A slow reader must not grow memory: drop what it has not read and
            # tell it to resync (the socket is then closed with 4409).
            resync = {"op": "resync", "reason": RESYNC_SLOW_CONSUMER, "lastEventId": self.last_id}
            self.end(Ending(resync, CLOSE_RESYNC, RESYNC_SLOW_CONSUMER))
            return
        if event.id:
            self.last_id = event.id

    def reply(self, frame: dict[str, Any]) -> None:
        """An answer to the client (pong); dropped when the queue is full or closing."""
        if self.ending is None:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(frame)

    def credentials_ended(self, message: str) -> None:
        self.end(Ending(ended_frame(message), CLOSE_UNAUTHORIZED, CREDENTIALS_ENDED))

    def end(self, ending: Ending) -> None:
        """Drop what is queued; ``ending.frame`` is the last frame the socket sends."""
        if self.ending is not None:
            return
        if self._replay is not None and self._replay is not asyncio.current_task():
            self._replay.cancel()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(ending.frame)
        self.ending = ending

    async def _replayed(self, event: Event) -> None:
        """An event read from the log: queued, waiting for room if need be."""
        if not self.admits(event) or event.id <= self.last_id:
            return
        frame = event_frame(event)
        if self.queue.full():
            self._stalled.set()
        await self.queue.put(frame)
        self.last_id = event.id

    def _go_live(self, cursor: int) -> None:
        self.last_id = max(self.last_id, cursor)
        self._replaying = False
        held, self._held = self._held, []
        for event in held:
            self.offer(event)


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
            await stop_task(task)
        self._orgs.clear()

    # -- connections

    async def connect(
        self,
        org_id: str,
        customer_id: str | None,
        after: int | None,
        *,
        credentials: frozenset[Credential] = frozenset(),
    ) -> tuple[Connection, int]:
        """Register a connection; replay the log after ``after`` into its queue.

        Returns the connection and the org's newest event id at connect time, once
        the replay is done or has filled the queue (it then goes on as the socket
        drains). Raises ``Resync`` when ``after`` cannot be served from the log.
        """
        conn = Connection(org_id, customer_id, self._queue_size, credentials)
        state = await self._org(org_id)
        newest = state.cursor
        if after is None or after == newest:
            conn.last_id = newest
            state.connections.add(conn)
            return conn, newest
        if after > newest:
            raise Resync(RESYNC_UNKNOWN_ID, newest)
        conn.last_id = after
        conn._replaying = True
        state.connections.add(conn)  # before any wait: live events must find it
        try:
            oldest = await self._db.read(lambda tx: event_store.first_event_id(tx, org_id))
            # Pruned by retention (docs/operations.md): the log no longer holds
            # every event after ``after`` (or, pruned to the end, none at all).
            if oldest is None or after < oldest - 1:
                raise Resync(RESYNC_TOO_FAR_BEHIND, newest)
            conn._replay = self._spawn(self._replay(conn, state), f"klatch-replay-{org_id}")
            stalled = asyncio.ensure_future(conn._stalled.wait())
            try:
                await asyncio.wait({conn._replay, stalled}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stalled.cancel()
        except BaseException:
            self.disconnect(conn)
            raise
        return conn, newest

    def disconnect(self, conn: Connection) -> None:
        if conn._replay is not None:
            conn._replay.cancel()
        state = self._orgs.get(conn.org_id)
        if state is not None:
            state.connections.discard(conn)
            if not state.connections:
                del self._orgs[conn.org_id]

    async def _replay(self, conn: Connection, state: _OrgState) -> None:
        """Page through the log after the connection's id until it has caught up
        with the org's cursor; then it takes live events."""
        page_size = min(REPLAY_PAGE, conn.queue_size)
        cursor = conn.last_id
        try:
            while cursor < state.cursor:
                page = await self._db.read(
                    lambda tx, after=cursor: event_store.events_after(  # type: ignore[misc]
                        tx, conn.org_id, after, page_size
                    )
                )
                if not page:
                    break
                for event in page:
                    await conn._replayed(event)
                cursor = page[-1].id
        except Exception:
            log.exception("replaying the event log of org %s failed", conn.org_id)
            failed = {"op": "error", "code": "replay_failed", "message": "Reconnect with after"}
            conn.end(Ending(failed, CLOSE_INTERNAL, "replay_failed"))
            return
        # No wait since the last check of the cursor: every later event comes live.
        conn._go_live(cursor)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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
        if event.type == CREDENTIAL_REVOKED:
            self._end_credential(state, event)
            return
        for conn in tuple(state.connections):
            conn.offer(event)

    @staticmethod
    def _end_credential(state: _OrgState, event: Event) -> None:
        kind, credential_id = event.payload.get("kind"), event.payload.get("id")
        message = ENDED_MESSAGES.get(str(kind), "The credentials ended")
        ended = [c for c in state.connections if (kind, credential_id) in c.credentials]
        for conn in ended:
            conn.credentials_ended(message)
        if ended:
            log.info("closing %d socket(s): %s %s ended", len(ended), kind, credential_id)

    def _schedule_catch_up(self, org_id: str) -> None:
        state = self._orgs.get(org_id)
        if state is None or (state.catching_up and not state.catching_up.done()):
            return
        state.catching_up = self._spawn(self._catch_up(org_id), f"klatch-catch-up-{org_id}")

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
