"""Event-log retention (``KLATCH_EVENT_RETENTION_DAYS``): a task that prunes every
org's log of the events older than that, summarising their attribute history
(``domain/retention.py`` says what is kept and what is dropped).

Each pass takes an org's oldest events a page at a time, one transaction per
page; it stops at the first event that is young enough, so what remains of the
log is one unbroken run of ids. Several replicas may run it at once: each page
locks the org row first (PostgreSQL), so their passes queue up and the second
finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from klatch.domain import retention as rules
from klatch.domain.models import Event
from klatch.ids import now_ms
from klatch.services.context import Context
from klatch.services.orgs import system_actor
from klatch.services.unit import Unit
from klatch.storage import orgs as org_store
from klatch.storage import retention as store
from klatch.tasks import stop_task

log = logging.getLogger("klatch.retention")
PAGE = 500


@dataclass(frozen=True, slots=True)
class Pruned:
    events: int
    summaries: int
    done: bool  # nothing older than the cutoff is left


class Retention:
    """Prunes the event log of the events older than ``days``."""

    def __init__(self, ctx: Context, days: float, *, every_seconds: float = 3600.0) -> None:
        self.ctx = ctx
        self.days = days
        self.every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def prune(self, *, now: int | None = None) -> dict[str, int]:
        """One pass over every org; the events pruned per org id."""
        cutoff = rules.cutoff(now if now is not None else now_ms(), self.days)
        pruned: dict[str, int] = {}
        for org in await self.ctx.db.read(org_store.list_orgs):
            pruned[org.id] = await self.prune_org(org.id, cutoff)
        return pruned

    async def prune_org(self, org_id: str, cutoff: int) -> int:
        """Prune the org's events created before ``cutoff``; how many went."""
        total = 0
        while True:
            page = await self.ctx.uow.write(
                system_actor(org_id), lambda unit: _prune_page(unit, org_id, cutoff)
            )
            total += page.events
            if page.done:
                return total

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="klatch-retention")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                pruned = await self.prune()
                if any(pruned.values()):
                    log.info("event retention: pruned %d events", sum(pruned.values()))
            except Exception:  # the next pass tries again; serving goes on
                log.exception("event retention: pruning failed")
            await asyncio.sleep(self.every_seconds)


async def _prune_page(unit: Unit, org_id: str, cutoff: int) -> Pruned:
    tx = unit.tx
    if not await store.lock_org(tx, org_id):
        return Pruned(0, 0, True)
    page = await store.oldest_events(tx, org_id, PAGE)
    old = _prefix_before(page, cutoff)
    if not old:
        return Pruned(0, 0, True)
    history: dict[str, list[Event]] = {}
    for e in old:
        if e.type in rules.HISTORY and e.conversation_id is not None:
            history.setdefault(e.conversation_id, []).append(e)
    for conversation_id, events in history.items():
        await _summarise(unit, org_id, conversation_id, events)
    deleted = await store.delete_through(tx, org_id, old[-1].id)
    return Pruned(deleted, len(history), len(old) < len(page) or len(page) < PAGE)


def _prefix_before(page: Sequence[Event], cutoff: int) -> list[Event]:
    """The events before the first one created at or after ``cutoff``."""
    for n, e in enumerate(page):
        if e.created_at >= cutoff:
            return list(page[:n])
    return list(page)


async def _summarise(unit: Unit, org_id: str, conversation_id: str, events: list[Event]) -> None:
    previous = await store.summary_of(unit.tx, org_id, conversation_id)
    payload = dict(previous.payload) if previous is not None else None
    for e in events:
        payload = rules.summarise(payload, e)
    last = events[-1]
    summary = Event(
        org_id=org_id,
        id=-last.id,
        type=rules.HISTORY_SUMMARY,
        payload={},
        created_at=last.created_at,
        conversation_id=conversation_id,
        customer_id=last.customer_id,
    )
    assert payload is not None
    await store.replace_summary(unit.tx, previous, summary, payload)
