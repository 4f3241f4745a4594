"""The plans SQLite chooses for the hottest reads, on a database with a few thousand
conversations, so an index cannot silently stop being used.

SQLite gathers no statistics by itself; without them it picked the org's
``updated_at`` index for a visitor's own conversations (walking a million rows to
find three). Klatch ANALYZEs a database whose statistics are missing or stale when
it opens it (``storage/db.py``), and these tests read the plan of each statement
the real storage functions run, with ``EXPLAIN QUERY PLAN`` on the same connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from klatch.domain.models import Conversation, Customer, Message
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage import conversations as conversation_store
from klatch.storage import customers as customer_store
from klatch.storage.db import Row, SqliteDatabase, Statement, Tx, _prepare
from support import make_settings

CONVERSATIONS = 3000  # for 1500 customers: enough rows for the statistics to matter
NOW = 1_780_000_000_000


def _id(kind: int, i: int) -> str:
    return f"{kind:02x}{i:022x}"


def _customer(org_id: str, i: int) -> Customer:
    return Customer(
        id=_id(1, i),
        org_id=org_id,
        name=f"Customer {i}",
        external_id=f"ext-{i}",
        email=f"c{i}@example.test",
        verified=False,
        emails=[f"c{i}@example.test"],
        phones=[],
        socials=[],
        custom={},
        version=1,
        created_at=NOW + i,
        updated_at=NOW + i,
    )


def _conversation(setup: Setup, i: int) -> Conversation:
    return Conversation(
        id=_id(2, i),
        org_id=setup.org.id,
        brand_id=setup.brand.id,
        customer_id=_id(1, i // 2),
        status="done" if i % 3 == 0 else "open",
        title=None,
        custom={},
        preview=None,
        message_count=0,
        ended_at=None,
        ended_by_type=None,
        customer_read_at=None,
        last_message_at=None,
        version=1,
        created_at=NOW + i,
        updated_at=NOW + i,
        external_id=f"conv-{i}",
    )


def _message(conv: Conversation, i: int, n: int) -> Message:
    return Message(
        id=_id(3 + n, i),
        org_id=conv.org_id,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        direction="in" if n == 0 else "out",
        body="Hello",
        payload=None,
        sent_by_type="customer" if n == 0 else "user",
        sent_by_id=None,
        sent_by_name=None,
        created_at=conv.created_at + n,
    )


class Explained:
    """The real transaction of a read; before running each statement it records the
    plan SQLite chose for it, on the same connection."""

    dialect = "sqlite"

    def __init__(self, tx: Tx, path: Path) -> None:
        self._tx = tx
        self._conn = sqlite3.connect(path)
        self.plans: list[str] = []

    def _explain(self, q: Statement, params: Mapping[str, Any] | None) -> None:
        sql, args = _prepare(q, params, sqlite3_dialect())
        rows = self._conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
        self.plans.append("\n".join(r[3] for r in rows))

    async def one(self, q: Statement, params: Mapping[str, Any] | None = None) -> Row | None:
        self._explain(q, params)
        return await self._tx.one(q, params)

    async def all(self, q: Statement, params: Mapping[str, Any] | None = None) -> list[Row]:
        self._explain(q, params)
        return await self._tx.all(q, params)


def sqlite3_dialect() -> Any:
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect()


@pytest.fixture
async def loaded(tmp_path: Path) -> AsyncIterator[tuple[Services, Setup]]:
    """A SQLite database holding 3000 conversations (two messages each) of 1500
    customers, written through the storage layer, then opened afresh as a server
    opens it."""
    settings = make_settings(tmp_path, None)
    async with running(settings) as services:
        setup = await services.orgs.create_org("Plans")

        async def fill(tx: Tx) -> None:
            for i in range(CONVERSATIONS // 2):
                await customer_store.insert_customer(tx, _customer(setup.org.id, i))
            for i in range(CONVERSATIONS):
                conv = _conversation(setup, i)
                await conversation_store.insert_conversation(tx, conv)
                for n in (0, 1):
                    await conversation_store.insert_message(tx, _message(conv, i, n))

        await services.ctx.db.write(fill)
    path = tmp_path / "klatch.db"
    with sqlite3.connect(path) as conn:  # the state of a database that was never analysed
        conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
    async with running(settings) as services:
        assert isinstance(services.ctx.db, SqliteDatabase)
        yield services, setup


async def plans_of(services: Services, read: Any) -> list[str]:
    path = services.ctx.db.path  # type: ignore[attr-defined]
    explained: list[Explained] = []

    async def work(tx: Tx) -> None:
        explained.append(Explained(tx, path))
        await read(explained[0])

    await services.ctx.db.read(work)
    return explained[0].plans


async def test_opening_a_database_without_statistics_gathers_them(
    loaded: tuple[Services, Setup],
) -> None:
    services, _ = loaded
    with sqlite3.connect(services.ctx.db.path) as conn:  # type: ignore[attr-defined]
        analysed = {r[0] for r in conn.execute("SELECT idx FROM sqlite_stat1")}
    assert "ix_conversation_org_id_customer_id" in analysed
    assert "ix_conversation_org_id_updated_at" in analysed
    assert "ix_message_org_id_conversation_id_created_at" in analysed


async def test_a_visitors_own_conversations_are_read_by_their_customer(
    loaded: tuple[Services, Setup],
) -> None:
    services, setup = loaded

    async def read(tx: Tx) -> None:
        found = await conversation_store.list_conversations(
            tx, setup.org.id, limit=101, customer_id=_id(1, 7)
        )
        assert [c.id for c in found] == [_id(2, 15), _id(2, 14)]
        await conversation_store.count_conversations(tx, setup.org.id, customer_id=_id(1, 7))

    listed, counted = await plans_of(services, read)
    assert "USING INDEX ix_conversation_org_id_customer_id (org_id=? AND customer_id=?)" in listed
    assert "ix_conversation_org_id_customer_id" in counted


async def test_the_org_list_walks_updated_at_without_sorting_the_org(
    loaded: tuple[Services, Setup],
) -> None:
    services, setup = loaded
    org = setup.org.id

    async def read(tx: Tx) -> None:
        await conversation_store.list_conversations(tx, org, limit=26)
        await conversation_store.list_conversations(tx, org, limit=26, status="open")
        deep = await conversation_store.list_conversations(
            tx, org, limit=26, after=(NOW + 1000, _id(2, 1000))
        )
        assert deep[0].id == _id(2, 999)

    for plan in await plans_of(services, read):
        assert "USING INDEX ix_conversation_org_id_updated_at" in plan, plan
        assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan  # no sort of the whole org
    *_, keyset = await plans_of(services, read)
    assert "updated_at<?" in keyset, keyset  # a range of the index, not an offset


async def test_messages_and_unread_counts_start_from_the_conversation(
    loaded: tuple[Services, Setup],
) -> None:
    services, setup = loaded
    org = setup.org.id

    async def read(tx: Tx) -> None:
        messages = await conversation_store.list_messages(tx, org, _id(2, 14), limit=101, offset=0)
        assert len(messages) == 2
        unread = await conversation_store.unread_counts(tx, org, _id(1, 7))
        assert unread == {_id(2, 14): 1, _id(2, 15): 1}

    messages, unread = await plans_of(services, read)
    assert "ix_message_org_id_conversation_id_created_at (org_id=? AND conversation_id=?)" in (
        messages
    )
    first, second = unread.splitlines()[:2]
    assert "conversation USING INDEX ix_conversation_org_id_customer_id" in first, unread
    assert "message USING INDEX ix_message_org_id_conversation_id_created_at" in second, unread


async def test_lookups_use_their_unique_indexes(loaded: tuple[Services, Setup]) -> None:
    services, setup = loaded
    org = setup.org.id

    async def read(tx: Tx) -> None:
        assert await conversation_store.get_conversation(tx, org, _id(2, 5)) is not None
        assert await conversation_store.conversation_by_external_id(tx, org, "conv-5")
        assert await customer_store.get_customer(tx, org, _id(1, 5)) is not None
        assert await customer_store.customer_by_email(tx, org, "c5@example.test")
        assert await customer_store.customer_by_external_id(tx, org, "ext-5")
        page = await customer_store.customers_by_ids(tx, org, [_id(1, i) for i in range(25)])
        assert len(page) == 25

    plans = await plans_of(services, read)
    expected = [
        "conversation USING INDEX sqlite_autoindex_conversation_1 (id=?)",
        "conversation USING INDEX ix_conversation_org_external_id (org_id=? AND external_id=?)",
        "customer USING INDEX sqlite_autoindex_customer_1 (id=?)",
        "customer USING INDEX ix_customer_org_email (org_id=? AND email=?)",
        "customer USING INDEX ix_customer_org_external_id (org_id=? AND external_id=?)",
        "customer USING INDEX sqlite_autoindex_customer_1 (id=?)",
    ]
    for plan, index in zip(plans, expected, strict=True):
        assert index in plan, plan
