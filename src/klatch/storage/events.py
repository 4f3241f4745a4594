"""The append-only event log: the source for realtime replay, webhooks and history."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from klatch.domain.events import EventDraft
from klatch.domain.models import Event
from klatch.storage.codec import dumps, loads, record
from klatch.storage.db import Query, Row, Tx
from klatch.storage.tables import event, org

b = sa.bindparam

# Taken as the *last* statement of a write: it locks the org row on PostgreSQL
# until commit, so an org's event ids become visible in increasing order.
_RESERVE = Query(
    sa.update(org)
    .where(org.c.id == b("org_id"))
    .values(event_seq=org.c.event_seq + b("n"))
    .returning(org.c.event_seq, org.c.schema_version)
)
_STORE_SEQ = Query(sa.update(org).where(org.c.id == b("org_id")).values(event_seq=b("seq")))
_INSERT = Query(sa.insert(event))
_AFTER = Query(
    sa.select(event)
    .where(event.c.org_id == b("org_id"), event.c.id > b("after"))
    .order_by(event.c.id)
    .limit(b("limit"))
)
_FOR_CONVERSATION = Query(
    sa.select(event)
    .where(event.c.org_id == b("org_id"), event.c.conversation_id == b("conversation_id"))
    .order_by(event.c.id)
    .limit(b("limit"))
)
_SET_PAYLOAD = Query(
    sa.update(event)
    .where(event.c.org_id == b("org_id"), event.c.id == b("event_id"))
    .values(payload=b("payload"))
)
_LAST = Query(sa.select(org.c.event_seq).where(org.c.id == b("org_id")))
# Positive ids only: retention's summaries sit under negative ids, outside the sequence.
_FIRST = Query(
    sa.select(sa.func.min(event.c.id)).where(event.c.org_id == b("org_id"), event.c.id > 0)
)


class SchemaChanged(Exception):
    """The org's attribute definitions changed after the caller validated against them."""


def _event(row: Row) -> Event:
    return record(Event, row, payload=loads(row["payload"]))


async def append(
    tx: Tx,
    org_id: str,
    drafts: Sequence[EventDraft],
    *,
    actor_type: str,
    actor_id: str | None,
    now: int,
    schema_version: int | None = None,
) -> list[Event]:
    """Append events to the org's log; must be the last statement of the transaction.

    With ``schema_version``, raise ``SchemaChanged`` (rolling back the unit of
    work) if the org's definitions moved on since the caller validated.
    """
    last, current_schema = await _reserve(tx, org_id, len(drafts))
    if schema_version is not None and current_schema != schema_version:
        raise SchemaChanged
    first = last - len(drafts) + 1
    events = [
        Event(
            org_id=org_id,
            id=first + i,
            type=d.type,
            payload=dict(d.payload),
            created_at=now,
            conversation_id=d.conversation_id,
            customer_id=d.customer_id,
            actor_type=actor_type,
            actor_id=actor_id,
        )
        for i, d in enumerate(drafts)
    ]
    rows = [
        {
            "org_id": org_id,
            "id": e.id,
            "type": e.type,
            "conversation_id": e.conversation_id,
            "customer_id": e.customer_id,
            "actor_type": actor_type,
            "actor_id": actor_id,
            "payload": dumps(e.payload),
            "created_at": now,
        }
        for e in events
    ]
    if len(rows) == 1:
        await tx.execute(_INSERT, rows[0])
    else:
        await tx.execute_many(_INSERT, rows)
    return events


@dataclass(frozen=True, slots=True)
class _Held:
    """An org row this transaction holds: the last event id handed out, the one the
    row stores, and the org's schema version."""

    last: int
    stored: int
    schema: int


async def _reserve(tx: Tx, org_id: str, n: int) -> tuple[int, int]:
    """Hand out ``n`` event ids: (the last of them, the org's schema version).

    The first write of an org in a transaction takes its row (and on PostgreSQL
    holds it until commit); the transaction's later writes of that org count on
    from what it handed out, and the row is written once more before the commit
    (``Batch.finish``). So a batch of 64 describes updates the org row twice, not
    64 times, and event ids stay increasing in commit order without gaps.
    """
    key = ("event_seq", org_id)
    held: _Held | None = tx.batch.values.get(key)
    if held is None:
        row = await tx.one(_RESERVE, {"org_id": org_id, "n": n})
        assert row is not None, "org row must exist"
        last, schema = int(row[0]), int(row[1])
        tx.batch.values[key] = _Held(last, last, schema)
        return last, schema
    tx.batch.values[key] = _Held(held.last + n, held.stored, held.schema)
    tx.batch.owed[key] = functools.partial(_store_sequence, org_id=org_id)
    return held.last + n, held.schema


async def _store_sequence(tx: Tx, *, org_id: str) -> None:
    held: _Held = tx.batch.values.pop(("event_seq", org_id))
    if held.last != held.stored:
        await tx.execute(_STORE_SEQ, {"org_id": org_id, "seq": held.last})


async def settle_sequence(tx: Tx, org_id: str) -> None:
    """Store the event ids this transaction handed out for the org and forget them,
    before a statement that changes the org row in a way ids depend on (its schema
    version): the next write of the org takes the row afresh."""
    if ("event_seq", org_id) in tx.batch.values:
        tx.batch.owed.pop(("event_seq", org_id), None)
        await _store_sequence(tx, org_id=org_id)


async def events_after(tx: Tx, org_id: str, after: int, limit: int = 1000) -> list[Event]:
    rows = await tx.all(_AFTER, {"org_id": org_id, "after": after, "limit": limit})
    return [_event(r) for r in rows]


async def conversation_events(
    tx: Tx, org_id: str, conversation_id: str, limit: int = 1000
) -> list[Event]:
    rows = await tx.all(
        _FOR_CONVERSATION, {"org_id": org_id, "conversation_id": conversation_id, "limit": limit}
    )
    return [_event(r) for r in rows]


async def last_event_id(tx: Tx, org_id: str) -> int:
    row = await tx.one(_LAST, {"org_id": org_id})
    return int(row[0]) if row else 0


async def first_event_id(tx: Tx, org_id: str) -> int | None:
    """The oldest event the log still keeps for the org (None when it is empty)."""
    row = await tx.one(_FIRST, {"org_id": org_id})
    return int(row[0]) if row and row[0] is not None else None


async def events_of_customers(tx: Tx, org_id: str, customer_ids: list[str]) -> list[Event]:
    """Every event the log keeps about these customers (their conversations' too)."""
    stmt = sa.select(event).where(event.c.org_id == org_id, event.c.customer_id.in_(customer_ids))
    return [_event(r) for r in await tx.all(stmt.order_by(event.c.id))]


async def events_of_conversation(tx: Tx, org_id: str, conversation_id: str) -> list[Event]:
    """Every event the log keeps about one conversation, oldest first."""
    stmt = sa.select(event).where(
        event.c.org_id == org_id, event.c.conversation_id == conversation_id
    )
    return [_event(r) for r in await tx.all(stmt.order_by(event.c.id))]


async def rewrite_payloads(tx: Tx, org_id: str, payloads: Sequence[tuple[int, object]]) -> None:
    """Replace the payloads of stored events (erasure keeps the event, not its data);
    ids, types, times and actors stay, so the org's sequence has no holes."""
    await tx.execute_many(
        _SET_PAYLOAD,
        [{"org_id": org_id, "event_id": i, "payload": dumps(p)} for i, p in payloads],
    )
