"""Outbound webhooks: subscriptions, the outbox of deliveries, and their attempts.

The outbox is claimed by delivery workers: a claim marks due deliveries as this
worker's until a lease runs out (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
replicas claim different rows; SQLite has one writer), so a worker that dies
leaves its claims to another once the lease is over. A delivery is due only when
no earlier delivery of the same subscription and ordering key is pending, which
keeps one object's deliveries in commit order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from klatch.domain.models import Message
from klatch.domain.webhooks import Attempt, Delivery, OutboundWebhook
from klatch.storage.codec import dumps, loads, record, row_of
from klatch.storage.db import Query, Row, Tx, bound
from klatch.storage.tables import message, org, outbound_webhook, webhook_attempt, webhook_delivery

b = sa.bindparam
w = outbound_webhook.c
d = webhook_delivery.c
a = webhook_attempt.c
_BY_ID = (w.org_id == b("org_id"), w.id == b("webhook_id"))

_INSERT = Query(sa.insert(outbound_webhook))
_GET = Query(sa.select(outbound_webhook).where(*_BY_ID))
_LIST = Query(
    sa.select(outbound_webhook)
    .where(w.org_id == b("org_id"))
    .order_by(w.created_at, w.id)
    .limit(b("limit"))
    .offset(b("offset"))
)
_COUNT = Query(
    sa.select(sa.func.count()).select_from(outbound_webhook).where(w.org_id == b("org_id"))
)
_UPDATE = Query(
    sa.update(outbound_webhook)
    .where(*_BY_ID)
    .values(
        **bound("name", "url", "events", "headers", "enabled", "disabled_reason", "disabled_at"),
        updated_at=b("now"),
    )
)
_DELETE = Query(sa.delete(outbound_webhook).where(*_BY_ID))
_DELETE_DELIVERIES = Query(
    sa.delete(webhook_delivery).where(d.org_id == b("org_id"), d.webhook_id == b("webhook_id"))
)
_ENABLED = Query(
    sa.select(outbound_webhook).where(w.org_id == b("org_id"), w.enabled.is_(True)).order_by(w.id)
)
_ORG_NAME = Query(sa.select(org.c.name).where(org.c.id == b("org_id")))
_DISABLE = Query(
    sa.update(outbound_webhook)
    .where(*_BY_ID, w.enabled.is_(True))
    .values(enabled=False, disabled_reason=b("reason"), disabled_at=b("now"), updated_at=b("now"))
)
# Re-enabled: what waited while it was disabled goes out again, on a fresh schedule.
_RESUME = Query(
    sa.update(webhook_delivery)
    .where(d.org_id == b("org_id"), d.webhook_id == b("webhook_id"), d.state == "pending")
    .values(tries=0, due_at=b("now"))
)

_INSERT_DELIVERY = Query(sa.insert(webhook_delivery))
_earlier = webhook_delivery.alias("earlier")
_e = _earlier.c
# Due, not claimed by a live worker, its subscription enabled, and nothing earlier
# of the same subscription and ordering key still pending.
_CANDIDATES = Query(
    sa.select(
        d.seq,
        d.org_id,
        d.webhook_id,
        d.envelope_id,
        d.name,
        d.body,
        d.tries,
        w.url,
        w.headers,
        w.token,
        w.events,
        w.name.label("webhook_name"),
    )
    .join_from(webhook_delivery, outbound_webhook, w.id == d.webhook_id)
    .where(
        d.state == "pending",
        d.due_at <= b("now"),
        sa.or_(d.claimed_until.is_(None), d.claimed_until < b("now")),
        w.org_id == d.org_id,
        w.enabled.is_(True),
        ~sa.exists().where(
            _e.webhook_id == d.webhook_id,
            _e.ordering_key == d.ordering_key,
            _e.state == "pending",
            _e.seq < d.seq,
        ),
    )
    .order_by(d.seq)
    .limit(b("limit"))
    .with_for_update(of=webhook_delivery, skip_locked=True)
)
# A claimed delivery is due again only when its lease ends (until then its worker
# has it), so a worker waiting on another's slow endpoint does not spin.
_NEXT_DUE = Query(
    sa.select(
        sa.func.min(sa.case((d.claimed_until > d.due_at, d.claimed_until), else_=d.due_at))
    ).where(d.state == "pending")
)
_PENDING = Query(
    sa.select(sa.func.count()).select_from(webhook_delivery).where(d.state == "pending")
)
_DONE = Query(
    sa.update(webhook_delivery)
    .where(d.seq == b("seq"), d.claimed_by == b("worker"))
    .values(
        state=b("state"),
        tries=b("tries"),
        attempts=d.attempts + 1,
        due_at=b("due_at"),
        claimed_by=None,
        claimed_until=None,
        last_status=b("status"),
        last_error=b("error"),
        delivered_at=b("delivered_at"),
    )
)
_INSERT_ATTEMPT = Query(sa.insert(webhook_attempt))
_DELIVERIES = Query(
    sa.select(webhook_delivery)
    .where(d.org_id == b("org_id"), d.webhook_id == b("webhook_id"))
    .order_by(d.seq.desc())
    .limit(b("limit"))
    .offset(b("offset"))
)
_COUNT_DELIVERIES = Query(
    sa.select(sa.func.count())
    .select_from(webhook_delivery)
    .where(d.org_id == b("org_id"), d.webhook_id == b("webhook_id"))
)
_COUNT_PENDING = Query(
    sa.select(sa.func.count())
    .select_from(webhook_delivery)
    .where(d.org_id == b("org_id"), d.webhook_id == b("webhook_id"), d.state == "pending")
)
_DELIVERY = Query(
    sa.select(webhook_delivery).where(
        d.org_id == b("org_id"), d.webhook_id == b("webhook_id"), d.seq == b("seq")
    )
)
_REDELIVER = Query(
    sa.update(webhook_delivery)
    .where(d.org_id == b("org_id"), d.webhook_id == b("webhook_id"), d.seq == b("seq"))
    .values(state="pending", tries=0, due_at=b("now"), delivered_at=None)
)
_MESSAGE = Query(
    sa.select(message).where(message.c.org_id == b("org_id"), message.c.id == b("message_id"))
)


def _webhook(row: Row) -> OutboundWebhook:
    return record(
        OutboundWebhook,
        row,
        events=loads(row["events"]),
        headers=loads(row["headers"]),
        enabled=bool(row["enabled"]),
    )


def _delivery(row: Row) -> Delivery:
    return record(Delivery, row, log=[])


# ---------------------------------------------------------------- subscriptions


async def insert_webhook(tx: Tx, hook: OutboundWebhook) -> None:
    row = row_of(outbound_webhook, hook, events=dumps(hook.events), headers=dumps(hook.headers))
    await tx.execute(_INSERT, row)


async def get_webhook(tx: Tx, org_id: str, webhook_id: str) -> OutboundWebhook | None:
    row = await tx.one(_GET, {"org_id": org_id, "webhook_id": webhook_id})
    return _webhook(row) if row else None


async def list_webhooks(tx: Tx, org_id: str, *, limit: int, offset: int) -> list[OutboundWebhook]:
    rows = await tx.all(_LIST, {"org_id": org_id, "limit": limit, "offset": offset})
    return [_webhook(r) for r in rows]


async def count_webhooks(tx: Tx, org_id: str) -> int:
    row = await tx.one(_COUNT, {"org_id": org_id})
    return int(row[0]) if row else 0


async def update_webhook(tx: Tx, hook: OutboundWebhook, now: int) -> None:
    await tx.execute(
        _UPDATE,
        {
            "org_id": hook.org_id,
            "webhook_id": hook.id,
            "name": hook.name,
            "url": hook.url,
            "events": dumps(hook.events),
            "headers": dumps(hook.headers),
            "enabled": hook.enabled,
            "disabled_reason": hook.disabled_reason,
            "disabled_at": hook.disabled_at,
            "now": now,
        },
    )


async def delete_webhook(tx: Tx, org_id: str, webhook_id: str) -> bool:
    """The subscription, its deliveries and their attempts."""
    params = {"org_id": org_id, "webhook_id": webhook_id}
    if not await tx.execute(_DELETE, params):
        return False
    await tx.execute(_DELETE_DELIVERIES, params)
    return True


@dataclass(frozen=True, slots=True)
class OrgHooks:
    """What the outbox needs of an org: its name and its enabled subscriptions."""

    org_name: str
    hooks: list[OutboundWebhook]


async def enabled_webhooks(tx: Tx, org_id: str) -> OrgHooks:
    rows = await tx.all(_ENABLED, {"org_id": org_id})
    name = await tx.one(_ORG_NAME, {"org_id": org_id})
    return OrgHooks(str(name[0]) if name else "", [_webhook(r) for r in rows])


async def disable_webhook(tx: Tx, org_id: str, webhook_id: str, reason: str, now: int) -> bool:
    params = {"org_id": org_id, "webhook_id": webhook_id, "reason": reason, "now": now}
    return await tx.execute(_DISABLE, params) > 0


async def resume_deliveries(tx: Tx, org_id: str, webhook_id: str, now: int) -> None:
    await tx.execute(_RESUME, {"org_id": org_id, "webhook_id": webhook_id, "now": now})


# ---------------------------------------------------------------- the outbox


async def insert_deliveries(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows of ``webhook_delivery`` (without ``seq``, which the database gives)."""
    if len(rows) == 1:
        await tx.execute(_INSERT_DELIVERY, rows[0])
    elif rows:
        await tx.execute_many(_INSERT_DELIVERY, rows)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds until its lease ends, with its subscription."""

    seq: int
    org_id: str
    webhook_id: str
    webhook_name: str
    envelope_id: str
    name: str
    body: str
    tries: int
    url: str
    headers: list[dict[str, str]]
    token: str
    events: list[str]


async def claim(tx: Tx, *, worker: str, now: int, until: int, limit: int) -> list[Claimed]:
    rows = await tx.all(_CANDIDATES, {"now": now, "limit": limit})
    if not rows:
        return []
    seqs = [int(r["seq"]) for r in rows]
    await tx.execute(
        sa.update(webhook_delivery)
        .where(d.seq.in_(seqs))
        .values(claimed_by=worker, claimed_until=until)
    )
    return [
        record(Claimed, r, headers=loads(r["headers"]), events=loads(r["events"])) for r in rows
    ]


async def next_due(tx: Tx) -> int | None:
    """When the earliest pending delivery is due (epoch ms), if any is pending: its
    ``due_at``, or when its claim's lease ends if that is later."""
    row = await tx.one(_NEXT_DUE)
    return int(row[0]) if row and row[0] is not None else None


async def pending_count(tx: Tx) -> int:
    """Deliveries not yet delivered, of every org (the queue depth metric)."""
    row = await tx.one(_PENDING)
    return int(row[0]) if row else 0


async def release(tx: Tx, worker: str, seqs: Sequence[int]) -> None:
    """Give claims back (a worker that stops before it tried them)."""
    if seqs:
        await tx.execute(
            sa.update(webhook_delivery)
            .where(d.seq.in_(list(seqs)), d.claimed_by == worker)
            .values(claimed_by=None, claimed_until=None)
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a try of a claimed delivery came to, and what becomes of it."""

    attempt: Attempt
    delivered: bool
    tries: int
    due_at: int


async def record_try(tx: Tx, worker: str, c: Claimed, outcome: Outcome) -> bool:
    """Log the attempt and move the delivery on; False when the claim was lost
    (its lease ran out and another worker holds it now)."""
    t = outcome.attempt
    await tx.execute(
        _INSERT_ATTEMPT,
        {
            "org_id": c.org_id,
            "delivery_seq": c.seq,
            "at": t.at,
            "status_code": t.status_code,
            "duration_ms": t.duration_ms,
            "error": t.error,
            "response": t.response,
        },
    )
    changed = await tx.execute(
        _DONE,
        {
            "seq": c.seq,
            "worker": worker,
            "state": "delivered" if outcome.delivered else "pending",
            "tries": outcome.tries,
            "due_at": outcome.due_at,
            "status": t.status_code,
            "error": t.error,
            "delivered_at": t.at if outcome.delivered else None,
        },
    )
    return changed > 0


# ---------------------------------------------------------------- the log


async def list_deliveries(
    tx: Tx, org_id: str, webhook_id: str, *, limit: int, offset: int
) -> list[Delivery]:
    """A page of a subscription's deliveries, newest first, each with its attempts."""
    rows = await tx.all(
        _DELIVERIES, {"org_id": org_id, "webhook_id": webhook_id, "limit": limit, "offset": offset}
    )
    deliveries = [_delivery(r) for r in rows]
    if not deliveries:
        return deliveries
    attempts = await tx.all(
        sa.select(webhook_attempt)
        .where(a.org_id == org_id, a.delivery_seq.in_([x.seq for x in deliveries]))
        .order_by(a.id)
    )
    by_seq: dict[int, list[Attempt]] = {x.seq: x.log for x in deliveries}
    for row in attempts:
        by_seq[int(row["delivery_seq"])].append(record(Attempt, row))
    return deliveries


async def count_deliveries(tx: Tx, org_id: str, webhook_id: str) -> tuple[int, int]:
    """How many deliveries the subscription has, and how many of them are pending."""
    params = {"org_id": org_id, "webhook_id": webhook_id}
    total = await tx.one(_COUNT_DELIVERIES, params)
    pending = await tx.one(_COUNT_PENDING, params)
    return (int(total[0]) if total else 0), (int(pending[0]) if pending else 0)


async def get_delivery(tx: Tx, org_id: str, webhook_id: str, seq: int) -> Delivery | None:
    row = await tx.one(_DELIVERY, {"org_id": org_id, "webhook_id": webhook_id, "seq": seq})
    if row is None:
        return None
    found = _delivery(row)
    rows = await tx.all(
        sa.select(webhook_attempt).where(a.org_id == org_id, a.delivery_seq == seq).order_by(a.id)
    )
    found.log.extend(record(Attempt, r) for r in rows)
    return found


async def redeliver(tx: Tx, org_id: str, webhook_id: str, seq: int, now: int) -> bool:
    params = {"org_id": org_id, "webhook_id": webhook_id, "seq": seq, "now": now}
    return await tx.execute(_REDELIVER, params) > 0


async def erase_objects(tx: Tx, org_id: str, keys: Sequence[str]) -> None:
    """Deliveries about erased objects (a customer, a conversation and its
    messages) hold their personal data: they go, with their attempts."""
    if keys:
        await tx.execute(
            sa.delete(webhook_delivery).where(d.org_id == org_id, d.ordering_key.in_(list(keys)))
        )


async def prune(tx: Tx, delivered_before: int, limit: int = 5000) -> int:
    """Forget up to ``limit`` deliveries delivered before the time given."""
    oldest = (
        sa.select(d.seq)
        .where(d.delivered_at < delivered_before)
        .order_by(d.delivered_at)
        .limit(limit)
        .scalar_subquery()
    )
    return await tx.execute(sa.delete(webhook_delivery).where(d.seq.in_(oldest)))


async def message_by_id(tx: Tx, org_id: str, message_id: str) -> Message | None:
    row = await tx.one(_MESSAGE, {"org_id": org_id, "message_id": message_id})
    return record(Message, row, custom=loads(row["custom"]) or {}) if row else None
