"""The unit of work: the one way a service writes.

A use case hands :meth:`UnitOfWork.write` a function of one :class:`Unit` (the
transaction, the actor, the time, the klass definitions when asked for, and
``emit`` for the events the change causes). The helper runs it in one
transaction, appends the emitted drafts to the org's event log as the
transaction's last statements, runs the after-append hooks in the same
transaction (where a webhook outbox enqueues its deliveries), commits, and only
then publishes. So "events after commit" holds because the code makes it so:
a unit that raises, or a commit that fails, publishes nothing.

With ``schema=True`` the function gets the org's klass definitions, and the
event append refuses the write when another process changed them since they
were cached; the helper then reloads them and runs the function again, so no
value is ever stored on the strength of stale definitions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

from klatch import metrics
from klatch.domain.events import EventDraft
from klatch.domain.models import Actor, Event
from klatch.errors import AttributeErrors, Unavailable
from klatch.ids import now_ms
from klatch.realtime.bus import Bus
from klatch.services.caches import Definitions, SchemaCache
from klatch.storage import events as event_store
from klatch.storage.db import Database, Tx
from klatch.storage.events import SchemaChanged

T = TypeVar("T")
_NO_DEFINITIONS: Definitions = {}
_ATTEMPTS = 4


@dataclass(slots=True)
class Unit:
    """What a write's function works with. ``actor`` may be replaced by the function
    when it only learns inside the transaction who acts (a chat session's token is
    checked in the statement that locks the conversation)."""

    tx: Tx
    actor: Actor
    now: int
    defs: Definitions
    drafts: list[EventDraft] = field(default_factory=list)

    def emit(self, *drafts: EventDraft) -> None:
        """Record events of this change; they are appended when the function returns."""
        self.drafts.extend(drafts)


WriteFn = Callable[[Unit], Awaitable[T]]
# Runs inside the transaction after the events were appended (e.g. a webhook outbox).
AfterAppend = Callable[[Tx, Sequence[Event]], Awaitable[None]]
# Runs inside the transaction when the write's function has returned, before the
# events are appended; may write and emit more (routing rules).
BeforeAppend = Callable[[Unit], Awaitable[None]]


@dataclass(slots=True)
class _Outcome(Generic[T]):
    result: T
    events: list[Event]


class UnitOfWork:
    def __init__(self, db: Database, bus: Bus, schemas: SchemaCache) -> None:
        self._db = db
        self._bus = bus
        self._schemas = schemas
        self.after_append: list[AfterAppend] = []
        self.before_append: list[BeforeAppend] = []

    async def write(self, actor: Actor, work: WriteFn[T], *, schema: bool = False) -> T:
        """Run ``work`` in one transaction; publish its events once it is durable."""
        for attempt in range(_ATTEMPTS):
            version, defs = await self._schemas.get(actor.org_id) if schema else (None, None)
            try:
                outcome = await self._db.write(
                    partial(self._run, actor=actor, work=work, defs=defs, schema_version=version)
                )
            except SchemaChanged:
                self._schemas.invalidate(actor.org_id)
                continue
            except AttributeErrors:
                # Refused by cached definitions: another process (the CLI, another
                # replica) may have defined the attribute since. Only the error path
                # pays for the check.
                last = attempt == _ATTEMPTS - 1
                if (
                    version is None
                    or last
                    or not await self._schemas.is_stale(actor.org_id, version)
                ):
                    raise
                self._schemas.invalidate(actor.org_id)
                continue
            for event in outcome.events:
                metrics.events_appended(event.type).inc()
            self._bus.publish(outcome.events)
            return outcome.result
        raise Unavailable("The attribute definitions kept changing during the write; try again")

    def signal(self, event: Event) -> None:
        """Publish an ephemeral event (typing): never stored, so nothing to commit."""
        self._bus.publish([event])

    async def _run(
        self,
        tx: Tx,
        *,
        actor: Actor,
        work: WriteFn[T],
        defs: Definitions | None,
        schema_version: int | None,
    ) -> _Outcome[T]:
        unit = Unit(tx, actor, now_ms(), defs or _NO_DEFINITIONS)
        result = await work(unit)
        for before in self.before_append:
            await before(unit)
        if not unit.drafts:
            return _Outcome(result, [])
        events = await event_store.append(
            tx,
            unit.actor.org_id,
            unit.drafts,
            actor_type=unit.actor.type.value,
            actor_id=unit.actor.id,
            now=unit.now,
            schema_version=schema_version,
        )
        for hook in self.after_append:
            await hook(tx, events)
        return _Outcome(result, events)
