"""Conversations and their messages."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from klatch.domain.attributes import AttributeDef, merged_custom
from klatch.domain.events import changes_between
from klatch.domain.models import Conversation, Message
from klatch.storage import search
from klatch.storage.codec import dumps, loads, record
from klatch.storage.db import Query, Row, Tx, bound
from klatch.storage.tables import chat_session, conversation, message

b = sa.bindparam
c = conversation.c
_BY_ID = (c.org_id == b("org_id"), c.id == b("conversation_id"))

_INSERT = Query(sa.insert(conversation))
_GET = Query(sa.select(conversation).where(*_BY_ID))
# Row lock on PostgreSQL so concurrent read-merge-writes of one conversation queue
# up instead of losing keys; SQLite's single writer already serialises them.
_GET_FOR_UPDATE = Query(sa.select(conversation).where(*_BY_ID).with_for_update())
_CUSTOM_FOR_UPDATE = Query(
    sa.select(c.customer_id, c.custom, c.version).where(*_BY_ID).with_for_update()
)
# The chat hot path checks the session inside the write: one statement instead
# of a separate read transaction for authentication.
_s = chat_session.c
_CUSTOM_FOR_SESSION = Query(
    sa.select(_s.id, _s.customer_id, c.custom, c.version)
    .join_from(
        chat_session, conversation, sa.and_(c.org_id == _s.org_id, c.id == b("conversation_id"))
    )
    .where(
        _s.token_hash == b("token_hash"), _s.org_id == b("org_id"), c.customer_id == _s.customer_id
    )
    .with_for_update(of=conversation)
)
# PostgreSQL: the chat hot path in one statement and one round trip: check the
# session, lock the conversation, merge the values (a JSON null removes its key)
# and write them only when one really changes (compared as jsonb's text, so ``1``,
# ``1.0`` and ``true`` differ as they do for the caller; a key not stored counts as
# null); it answers what the row held before and the version written, if any.
_MERGE_FOR_SESSION_PG = Query(
    sa.text(
        """
WITH s AS (
    SELECT id, customer_id FROM chat_session
    WHERE token_hash = :token_hash AND org_id = :org_id
), old AS (
    SELECT s.id AS session_id, s.customer_id, c.custom, c.version
    FROM s JOIN conversation AS c
        ON c.org_id = :org_id AND c.id = :conversation_id AND c.customer_id = s.customer_id
    FOR UPDATE OF c
), patch AS (
    SELECT CAST(:values AS jsonb) AS v
), written AS (
    UPDATE conversation AS c
    SET custom = (old.custom || patch.v)
            - ARRAY(SELECT key FROM jsonb_each(patch.v) WHERE jsonb_typeof(value) = 'null'),
        version = old.version + 1,
        updated_at = :now
    FROM old, patch
    WHERE c.org_id = :org_id AND c.id = :conversation_id AND EXISTS (
        SELECT 1 FROM jsonb_each(patch.v) AS p
        WHERE COALESCE((old.custom -> p.key)::text, 'null') <> p.value::text
    )
    RETURNING c.version
)
SELECT old.session_id, old.customer_id, old.custom, old.version,
    (SELECT version FROM written) AS written
FROM old
"""
    )
)
# No RETURNING: on SQLite 3.40 it costs ~14 µs a statement; the caller holds the
# row (SQLite's single writer, or FOR UPDATE on PostgreSQL) and knows the version.
_SET_CUSTOM = Query(
    sa.update(conversation)
    .where(*_BY_ID)
    .values(custom=b("custom"), version=b("version"), updated_at=b("now"))
)
_SET_FIELDS = Query(
    sa.update(conversation)
    .where(*_BY_ID)
    .values(
        **bound("status", "title", "external_id", "ended_at", "ended_by_type"),
        version=c.version + 1,
        updated_at=b("now"),
    )
    .returning(c.version)
)
_AFTER_MESSAGE = Query(
    sa.update(conversation)
    .where(*_BY_ID)
    .values(
        preview=b("preview"),
        message_count=c.message_count + 1,
        last_message_at=b("now"),
        updated_at=b("now"),
        version=c.version + 1,
    )
    .returning(c.version)
)
_MARK_READ = Query(sa.update(conversation).where(*_BY_ID).values(customer_read_at=b("read_at")))
_MOVE_CONVERSATIONS = Query(
    sa.update(conversation)
    .where(c.org_id == b("org_id"), c.customer_id == b("from_customer"))
    .values(customer_id=b("to_customer"))
    .returning(c.id)
)
_MOVE_MESSAGES = Query(
    sa.update(message)
    .where(message.c.org_id == b("org_id"), message.c.customer_id == b("from_customer"))
    .values(customer_id=b("to_customer"))
)
_BY_EXTERNAL_ID = Query(
    sa.select(conversation).where(c.org_id == b("org_id"), c.external_id == b("external_id"))
)
_DELETE = Query(sa.delete(conversation).where(*_BY_ID))
_DELETE_MESSAGES = Query(
    sa.delete(message).where(
        message.c.org_id == b("org_id"), message.c.conversation_id == b("conversation_id")
    )
)
_INSERT_MESSAGE = Query(sa.insert(message))
_m = message.c
_MESSAGE_BY_ID = (_m.org_id == b("org_id"), _m.id == b("message_id"))
_GET_MESSAGE = Query(sa.select(message).where(*_MESSAGE_BY_ID))
# Row lock on PostgreSQL, as for a conversation's custom: concurrent PATCHes of one
# message queue up instead of losing each other's keys.
_GET_MESSAGE_FOR_UPDATE = Query(sa.select(message).where(*_MESSAGE_BY_ID).with_for_update())
_SET_MESSAGE_CUSTOM = Query(
    sa.update(message).where(*_MESSAGE_BY_ID).values(custom=b("custom"), updated_at=b("now"))
)
_MESSAGES = Query(
    sa.select(message)
    .where(message.c.org_id == b("org_id"), message.c.conversation_id == b("conversation_id"))
    .order_by(message.c.created_at, message.c.id)
    .limit(b("limit"))
    .offset(b("offset"))
)
# From the customer's conversations (their index) to each one's messages (theirs),
# not from the org's messages: a message's customer has no index of its own.
_UNREAD = Query(
    sa.select(message.c.conversation_id, sa.func.count())
    .select_from(
        conversation.join(
            message, sa.and_(message.c.org_id == c.org_id, message.c.conversation_id == c.id)
        )
    )
    .where(
        c.org_id == b("org_id"),
        c.customer_id == b("customer_id"),
        message.c.direction == "out",
        sa.or_(c.customer_read_at.is_(None), message.c.created_at > c.customer_read_at),
    )
    .group_by(message.c.conversation_id)
)


def conversation_from_row(row: Row) -> Conversation:
    return record(
        Conversation,
        row,
        custom=loads(row["custom"]),
        assigned_users=tuple(loads(row["assigned_users"]) or ()),
        assigned_teams=tuple(loads(row["assigned_teams"]) or ()),
        tags=tuple(loads(row["tags"]) or ()),  # AGENT TOOLS
    )


def message_from_row(row: Row) -> Message:
    """A message row as the record: ``custom`` decoded (NULL: none)."""
    return record(Message, row, custom=loads(row["custom"]) or {})


async def insert_conversation(tx: Tx, conv: Conversation) -> None:
    await tx.execute(
        _INSERT,
        {
            "id": conv.id,
            "org_id": conv.org_id,
            "brand_id": conv.brand_id,
            "customer_id": conv.customer_id,
            "status": conv.status,
            "title": conv.title,
            "custom": dumps(conv.custom),
            "external_id": conv.external_id,
            "ended_at": conv.ended_at,
            "ended_by_type": conv.ended_by_type,
            "created_at": conv.created_at,
            "updated_at": conv.updated_at,
        },
    )


async def get_conversation(
    tx: Tx, org_id: str, conversation_id: str, *, for_update: bool = False
) -> Conversation | None:
    q = _GET_FOR_UPDATE if for_update else _GET
    row = await tx.one(q, {"org_id": org_id, "conversation_id": conversation_id})
    return conversation_from_row(row) if row else None


async def custom_for_update(
    tx: Tx, org_id: str, conversation_id: str
) -> tuple[str, dict[str, Any], int] | None:
    """(customer id, custom attributes, version) of a conversation, locked until commit."""
    row = await tx.one(_CUSTOM_FOR_UPDATE, {"org_id": org_id, "conversation_id": conversation_id})
    return (row[0], loads(row[1]), row[2]) if row else None


async def custom_for_session_update(
    tx: Tx, org_id: str, token_hash: str, conversation_id: str
) -> tuple[str, str, dict[str, Any], int] | None:
    """(session id, customer id, custom attributes, version) of a conversation that
    belongs to the customer of the session with ``token_hash``, locked until commit;
    None when the session is unknown or the conversation is not its customer's."""
    row = await tx.one(
        _CUSTOM_FOR_SESSION,
        {"org_id": org_id, "token_hash": token_hash, "conversation_id": conversation_id},
    )
    return (row[0], row[1], loads(row[2]), row[3]) if row else None


async def merge_custom_for_session(
    tx: Tx,
    org_id: str,
    token_hash: str,
    conversation_id: str,
    values: dict[str, Any],
    now: int,
) -> tuple[str, str, dict[str, Any], int, bool] | None:
    """``describeConversation``'s write: merge ``values`` (checked; ``None`` removes
    a key) into a conversation of the session's customer, storing it as the next
    version only when a value really changes. (session id, customer id, the custom
    attributes before, the version before, whether it was written); None when the
    session is unknown or the conversation is not its customer's.

    One statement on PostgreSQL; on SQLite, whose single writer already holds every
    row, the locking read and the update are two cheap local calls."""
    if tx.dialect == "postgresql":
        row = await tx.one(
            _MERGE_FOR_SESSION_PG,
            {
                "org_id": org_id,
                "token_hash": token_hash,
                "conversation_id": conversation_id,
                "values": dumps(values),
                "now": now,
            },
        )
        if row is None:
            return None
        return row[0], row[1], loads(row[2]), row[3], row[4] is not None
    found = await custom_for_session_update(tx, org_id, token_hash, conversation_id)
    if found is None:
        return None
    session_id, customer_id, before, version = found
    changed = bool(changes_between(before, values))
    if changed:
        merged = merged_custom(before, values)
        await set_custom(tx, org_id, conversation_id, merged, version + 1, now)
    return session_id, customer_id, before, version, changed


async def set_custom(
    tx: Tx, org_id: str, conversation_id: str, custom: dict[str, Any], version: int, now: int
) -> None:
    """Store a locked conversation's custom attributes as its ``version``."""
    await tx.execute(
        _SET_CUSTOM,
        {
            "org_id": org_id,
            "conversation_id": conversation_id,
            "custom": dumps(custom),
            "version": version,
            "now": now,
        },
    )


async def set_fields(tx: Tx, conv: Conversation, now: int) -> int:
    row = await tx.one(
        _SET_FIELDS,
        {
            "org_id": conv.org_id,
            "conversation_id": conv.id,
            "status": conv.status,
            "title": conv.title,
            "external_id": conv.external_id,
            "ended_at": conv.ended_at,
            "ended_by_type": conv.ended_by_type,
            "now": now,
        },
    )
    assert row is not None
    return int(row[0])


async def conversation_by_external_id(tx: Tx, org_id: str, external_id: str) -> Conversation | None:
    row = await tx.one(_BY_EXTERNAL_ID, {"org_id": org_id, "external_id": external_id})
    return conversation_from_row(row) if row else None


async def delete_conversation(tx: Tx, org_id: str, conversation_id: str) -> bool:
    """Delete a conversation and its messages; False when there was none."""
    params = {"org_id": org_id, "conversation_id": conversation_id}
    await tx.execute(_DELETE_MESSAGES, params)
    return await tx.execute(_DELETE, params) == 1


async def conversation_ids_of(tx: Tx, org_id: str, customer_ids: list[str]) -> list[str]:
    """The ids of the conversations of these customers."""
    stmt = sa.select(c.id).where(c.org_id == org_id, c.customer_id.in_(customer_ids))
    return [r[0] for r in await tx.all(stmt.order_by(c.id))]


async def delete_for_customers(tx: Tx, org_id: str, customer_ids: list[str]) -> None:
    """Delete the conversations of these customers and their messages."""
    theirs = sa.select(c.id).where(c.org_id == org_id, c.customer_id.in_(customer_ids))
    await tx.execute(
        sa.delete(message).where(
            message.c.org_id == org_id, message.c.conversation_id.in_(theirs.scalar_subquery())
        )
    )
    await tx.execute(
        sa.delete(conversation).where(c.org_id == org_id, c.customer_id.in_(customer_ids))
    )


async def mark_read(tx: Tx, org_id: str, conversation_id: str, read_at: int) -> None:
    await tx.execute(
        _MARK_READ, {"org_id": org_id, "conversation_id": conversation_id, "read_at": read_at}
    )


async def move_to_customer(tx: Tx, org_id: str, from_customer: str, to_customer: str) -> list[str]:
    params = {"org_id": org_id, "from_customer": from_customer, "to_customer": to_customer}
    moved = [r[0] for r in await tx.all(_MOVE_CONVERSATIONS, params)]
    await tx.execute(_MOVE_MESSAGES, params)
    return moved


async def list_conversations(
    tx: Tx,
    org_id: str,
    *,
    limit: int,
    offset: int = 0,
    after: tuple[int, str] | None = None,
    customer_id: str | None = None,
    status: str | None = None,
    custom_equals: list[tuple[AttributeDef, Any]] | None = None,
    filter_first: bool = False,
) -> list[Conversation]:
    """A page of conversations, most recently updated first (then by id): ``offset``
    rows in, or the rows after ``after`` (the (updated_at, id) of the last row of the
    page before: keyset, as fast however deep). ``filter_first`` when the filters
    match few (``search.FEW_ROWS``): read by their index, then sorted. One customer's
    conversations are always read that way: a customer has few, and SQLite would
    otherwise walk the org's updated_at index looking for them."""
    few = filter_first or customer_id is not None
    updated = search.unordered(tx.dialect, c.updated_at) if few else c.updated_at
    conditions = _filters(tx, org_id, customer_id, status, custom_equals)
    if after is not None:
        at, last_id = after
        conditions += [updated <= at, sa.or_(updated < at, c.id < last_id)]
        offset = 0
    stmt = (
        sa.select(conversation)
        .where(*conditions)
        .order_by(updated.desc(), c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [conversation_from_row(r) for r in await tx.all(stmt)]


async def count_conversations(
    tx: Tx,
    org_id: str,
    *,
    customer_id: str | None = None,
    status: str | None = None,
    custom_equals: list[tuple[AttributeDef, Any]] | None = None,
    cap: int | None = None,
) -> int:
    """How many conversations the same filters as :func:`list_conversations` match;
    with a ``cap``, counted up to ``cap + 1`` at most."""
    matches = sa.select(sa.literal(1)).select_from(conversation)
    matches = matches.where(*_filters(tx, org_id, customer_id, status, custom_equals))
    if cap is not None:
        matches = matches.limit(cap + 1)
    row = await tx.one(sa.select(sa.func.count()).select_from(matches.subquery()))
    return int(row[0]) if row else 0


def _filters(
    tx: Tx,
    org_id: str,
    customer_id: str | None,
    status: str | None,
    custom_equals: list[tuple[AttributeDef, Any]] | None,
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [c.org_id == org_id]
    if customer_id is not None:
        conditions.append(c.customer_id == customer_id)
    if status is not None:
        conditions.append(c.status == status)
    for definition, value in custom_equals or ():
        conditions.append(_custom_equals(tx.dialect, definition, value))
    return conditions


def _custom_equals(dialect: str, d: AttributeDef, value: Any) -> sa.ColumnElement[bool]:
    # Search's expression for the attribute, which its index holds (storage/search.py).
    return search.where(dialect, conversation, search.equals_condition(d, value))


async def insert_message(tx: Tx, m: Message) -> None:
    await tx.execute(
        _INSERT_MESSAGE,
        {
            "id": m.id,
            "org_id": m.org_id,
            "conversation_id": m.conversation_id,
            "customer_id": m.customer_id,
            "direction": m.direction,
            "body": m.body,
            "payload": m.payload,
            "sent_by_type": m.sent_by_type,
            "sent_by_id": m.sent_by_id,
            "sent_by_name": m.sent_by_name,
            "created_at": m.created_at,
            "updated_at": m.updated_at or m.created_at,
            "custom": dumps(m.custom) if m.custom else None,
        },
    )


async def after_message(tx: Tx, org_id: str, conversation_id: str, preview: str, now: int) -> int:
    row = await tx.one(
        _AFTER_MESSAGE,
        {"org_id": org_id, "conversation_id": conversation_id, "preview": preview, "now": now},
    )
    assert row is not None
    return int(row[0])


async def list_messages(
    tx: Tx, org_id: str, conversation_id: str, *, limit: int, offset: int
) -> list[Message]:
    rows = await tx.all(
        _MESSAGES,
        {"org_id": org_id, "conversation_id": conversation_id, "limit": limit, "offset": offset},
    )
    return [message_from_row(r) for r in rows]


async def unread_counts(tx: Tx, org_id: str, customer_id: str) -> dict[str, int]:
    rows = await tx.all(_UNREAD, {"org_id": org_id, "customer_id": customer_id})
    return {r[0]: int(r[1]) for r in rows}


async def get_message(
    tx: Tx, org_id: str, message_id: str, *, for_update: bool = False
) -> Message | None:
    """One message of the org; ``for_update`` locks its row until commit."""
    q = _GET_MESSAGE_FOR_UPDATE if for_update else _GET_MESSAGE
    row = await tx.one(q, {"org_id": org_id, "message_id": message_id})
    return message_from_row(row) if row else None


async def set_message_custom(
    tx: Tx, org_id: str, message_id: str, custom: dict[str, Any], now: int
) -> None:
    """Store a locked message's custom attributes (none stored as NULL), changed ``now``."""
    await tx.execute(
        _SET_MESSAGE_CUSTOM,
        {
            "org_id": org_id,
            "message_id": message_id,
            "custom": dumps(custom) if custom else None,
            "now": now,
        },
    )
