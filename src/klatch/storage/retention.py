"""Pruning the event log: the oldest events of an org a page at a time, the
attribute-history summaries kept under negative ids (``domain/retention.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from klatch.domain.models import Event
from klatch.storage.codec import dumps, loads, record
from klatch.storage.db import Query, Tx
from klatch.storage.tables import event, org

b = sa.bindparam

# Taken first: prunings of one org by several replicas queue up on it (PostgreSQL;
# SQLite's single writer serialises them anyway).
_LOCK_ORG = Query(sa.select(org.c.id).where(org.c.id == b("org_id")).with_for_update())
_OLDEST = Query(
    sa.select(event)
    .where(event.c.org_id == b("org_id"), event.c.id > 0)
    .order_by(event.c.id)
    .limit(b("limit"))
)
_SUMMARY = Query(
    sa.select(event).where(
        event.c.org_id == b("org_id"),
        event.c.conversation_id == b("conversation_id"),
        event.c.id < 0,
    )
)
_DELETE_THROUGH = Query(
    sa.delete(event).where(event.c.org_id == b("org_id"), event.c.id > 0, event.c.id <= b("last"))
)
_DELETE_ONE = Query(sa.delete(event).where(event.c.org_id == b("org_id"), event.c.id == b("id")))
_INSERT = Query(sa.insert(event))


def _event(row: Any) -> Event:
    return record(Event, row, payload=loads(row["payload"]))


async def lock_org(tx: Tx, org_id: str) -> bool:
    return await tx.one(_LOCK_ORG, {"org_id": org_id}) is not None


async def oldest_events(tx: Tx, org_id: str, limit: int) -> list[Event]:
    """The org's oldest events still in the sequence (positive ids), oldest first."""
    return [_event(r) for r in await tx.all(_OLDEST, {"org_id": org_id, "limit": limit})]


async def summary_of(tx: Tx, org_id: str, conversation_id: str) -> Event | None:
    row = await tx.one(_SUMMARY, {"org_id": org_id, "conversation_id": conversation_id})
    return _event(row) if row is not None else None


async def replace_summary(
    tx: Tx, previous: Event | None, summary: Event, payload: Mapping[str, Any]
) -> None:
    """Store ``summary`` (its id negative) in place of the ``previous`` one."""
    if previous is not None:
        await tx.execute(_DELETE_ONE, {"org_id": previous.org_id, "id": previous.id})
    await tx.execute(
        _INSERT,
        {
            "org_id": summary.org_id,
            "id": summary.id,
            "type": summary.type,
            "conversation_id": summary.conversation_id,
            "customer_id": summary.customer_id,
            "actor_type": summary.actor_type,
            "actor_id": summary.actor_id,
            "payload": dumps(payload),
            "created_at": summary.created_at,
        },
    )


async def delete_through(tx: Tx, org_id: str, last_id: int) -> int:
    """Delete the org's events with ids up to ``last_id`` (summaries excepted)."""
    return await tx.execute(_DELETE_THROUGH, {"org_id": org_id, "last": last_id})
