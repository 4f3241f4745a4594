"""Customers and chat sessions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from klatch.domain.models import ChatSession, Customer
from klatch.storage.codec import dumps, loads, record, row_of
from klatch.storage.db import Query, Row, Tx, bound
from klatch.storage.tables import chat_session, customer

b = sa.bindparam

_INSERT = Query(sa.insert(customer))
_BY_ID = sa.select(customer).where(
    customer.c.org_id == b("org_id"), customer.c.id == b("customer_id")
)
_GET = Query(_BY_ID)
# Row lock on PostgreSQL so concurrent read-merge-writes of one customer queue up
# instead of losing keys; SQLite's single writer already serialises them.
_GET_FOR_UPDATE = Query(_BY_ID.with_for_update())
_BY_EXTERNAL_ID = Query(
    sa.select(customer).where(
        customer.c.org_id == b("org_id"), customer.c.external_id == b("external_id")
    )
)
_BY_EMAIL = Query(
    sa.select(customer).where(customer.c.org_id == b("org_id"), customer.c.email == b("email"))
)
_LIST = Query(
    sa.select(customer)
    .where(customer.c.org_id == b("org_id"), customer.c.merged_into.is_(None))
    .order_by(customer.c.updated_at.desc(), customer.c.id.desc())
    .limit(b("limit"))
    .offset(b("offset"))
)
_COUNT = Query(
    sa.select(sa.func.count()).select_from(
        sa.select(sa.literal(1))
        .select_from(customer)
        .where(customer.c.org_id == b("org_id"), customer.c.merged_into.is_(None))
        .limit(b("limit"))
        .subquery()
    )
)
_UPDATE = Query(
    sa.update(customer)
    .where(customer.c.org_id == b("org_id"), customer.c.id == b("customer_id"))
    .values(
        **bound(
            "name",
            "external_id",
            "email",
            "verified",
            "emails",
            "phones",
            "socials",
            "custom",
            "updated_at",
        ),
        version=customer.c.version + 1,
    )
)
_MERGED = Query(
    sa.update(customer)
    .where(customer.c.org_id == b("org_id"), customer.c.id == b("customer_id"))
    .values(merged_into=b("merged_into"), updated_at=b("updated_at"))
)

_INSERT_SESSION = Query(sa.insert(chat_session))
_SESSION_BY_HASH = Query(
    sa.select(chat_session).where(chat_session.c.token_hash == b("token_hash"))
)
_DELETE_SESSION = Query(
    sa.delete(chat_session).where(
        chat_session.c.org_id == b("org_id"), chat_session.c.id == b("session_id")
    )
)
_MOVE_SESSION = Query(
    sa.update(chat_session)
    .where(chat_session.c.org_id == b("org_id"), chat_session.c.id == b("session_id"))
    .values(customer_id=b("customer_id"))
)


def customer_from_row(row: Row) -> Customer:
    """A customer row as the record: its JSON columns decoded."""
    return record(
        Customer,
        row,
        verified=bool(row["verified"]),
        emails=loads(row["emails"]),
        phones=loads(row["phones"]),
        socials=loads(row["socials"]),
        custom=loads(row["custom"]),
    )


def _row(c: Customer) -> dict[str, Any]:
    """The customer's row; its update reads only the parameters it names."""
    return row_of(
        customer,
        c,
        emails=dumps(c.emails),
        phones=dumps(c.phones),
        socials=dumps(c.socials),
        custom=dumps(c.custom),
    )


async def insert_customer(tx: Tx, c: Customer) -> None:
    await tx.execute(_INSERT, _row(c))


async def update_customer(tx: Tx, c: Customer) -> None:
    await tx.execute(_UPDATE, {**_row(c), "customer_id": c.id})


async def get_customer(
    tx: Tx, org_id: str, customer_id: str, *, for_update: bool = False
) -> Customer | None:
    query = _GET_FOR_UPDATE if for_update else _GET
    row = await tx.one(query, {"org_id": org_id, "customer_id": customer_id})
    return customer_from_row(row) if row else None


async def customer_by_external_id(tx: Tx, org_id: str, external_id: str) -> Customer | None:
    row = await tx.one(_BY_EXTERNAL_ID, {"org_id": org_id, "external_id": external_id})
    return customer_from_row(row) if row else None


async def customer_by_email(tx: Tx, org_id: str, email: str) -> Customer | None:
    row = await tx.one(_BY_EMAIL, {"org_id": org_id, "email": email})
    return customer_from_row(row) if row else None


async def customers_by_ids(tx: Tx, org_id: str, customer_ids: list[str]) -> dict[str, Customer]:
    """The customers of these ids that exist, by id: one query for a page of them."""
    if not customer_ids:
        return {}
    stmt = sa.select(customer).where(
        customer.c.org_id == org_id, customer.c.id.in_(sorted(set(customer_ids)))
    )
    return {c.id: c for c in (customer_from_row(r) for r in await tx.all(stmt))}


async def list_customers(tx: Tx, org_id: str, *, limit: int, offset: int) -> list[Customer]:
    rows = await tx.all(_LIST, {"org_id": org_id, "limit": limit, "offset": offset})
    return [customer_from_row(r) for r in rows]


async def count_customers(tx: Tx, org_id: str, *, cap: int) -> int:
    """How many customers the org has (merged ones aside), up to ``cap + 1``."""
    row = await tx.one(_COUNT, {"org_id": org_id, "limit": cap + 1})
    return int(row[0]) if row else 0


async def mark_merged(tx: Tx, org_id: str, customer_id: str, into: str, now: int) -> None:
    await tx.execute(
        _MERGED,
        {"org_id": org_id, "customer_id": customer_id, "merged_into": into, "updated_at": now},
    )


async def merged_into(tx: Tx, org_id: str, customer_id: str) -> list[str]:
    """The ids of the customers merged into this one (anonymous ones, at login)."""
    stmt = sa.select(customer.c.id).where(
        customer.c.org_id == org_id, customer.c.merged_into == customer_id
    )
    return [r[0] for r in await tx.all(stmt.order_by(customer.c.id))]


async def delete_customers(tx: Tx, org_id: str, customer_ids: list[str]) -> int:
    """Delete these customers and their chat sessions; how many customers went."""
    await tx.execute(
        sa.delete(chat_session).where(
            chat_session.c.org_id == org_id, chat_session.c.customer_id.in_(customer_ids)
        )
    )
    return await tx.execute(
        sa.delete(customer).where(customer.c.org_id == org_id, customer.c.id.in_(customer_ids))
    )


async def session_ids_of(tx: Tx, org_id: str, customer_ids: list[str]) -> list[str]:
    """The ids of the chat sessions of these customers."""
    stmt = sa.select(chat_session.c.id).where(
        chat_session.c.org_id == org_id, chat_session.c.customer_id.in_(customer_ids)
    )
    return [r[0] for r in await tx.all(stmt.order_by(chat_session.c.id))]


def _session(row: Row) -> ChatSession:
    return record(ChatSession, row)


async def insert_session(tx: Tx, s: ChatSession, token_hash: str) -> None:
    await tx.execute(_INSERT_SESSION, row_of(chat_session, s, token_hash=token_hash))


async def session_by_token_hash(tx: Tx, token_hash: str) -> ChatSession | None:
    row = await tx.one(_SESSION_BY_HASH, {"token_hash": token_hash})
    return _session(row) if row else None


async def delete_session(tx: Tx, org_id: str, session_id: str) -> None:
    await tx.execute(_DELETE_SESSION, {"org_id": org_id, "session_id": session_id})


async def move_session(tx: Tx, org_id: str, session_id: str, customer_id: str) -> None:
    await tx.execute(
        _MOVE_SESSION, {"org_id": org_id, "session_id": session_id, "customer_id": customer_id}
    )
