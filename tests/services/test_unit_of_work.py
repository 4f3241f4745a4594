"""The unit of work publishes only what committed.

A commit is made to fail for real: a deferred constraint that the database
checks only at COMMIT (a deferred foreign key on SQLite, a deferred constraint
trigger on PostgreSQL) fires for an event whose payload carries a marker.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from klatch.domain import events as ev
from klatch.domain.models import Actor, ActorType, Event
from klatch.errors import Conflict, KlatchError
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage.db import asyncpg_dsn

MARKER = "FAILS-AT-COMMIT"

_SQLITE_ON = f"""
CREATE TABLE IF NOT EXISTS test_parent (id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS test_child (
    parent INTEGER REFERENCES test_parent(id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TRIGGER test_fail_commit AFTER INSERT ON event
WHEN NEW.payload LIKE '%{MARKER}%'
BEGIN INSERT INTO test_child VALUES (42); END;
"""
_SQLITE_OFF = "DROP TRIGGER test_fail_commit"

_PG_ON = f"""
CREATE OR REPLACE FUNCTION test_fail_commit() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'refused at commit by the test'; END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER test_fail_commit AFTER INSERT ON event
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
WHEN (NEW.payload::text LIKE '%{MARKER}%') EXECUTE FUNCTION test_fail_commit();
"""
_PG_OFF = "DROP TRIGGER test_fail_commit ON event"


async def _raw_sql(services: Services, script: str) -> None:
    settings = services.settings
    if settings.database_url:
        conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        try:
            await conn.execute(script)
        finally:
            await conn.close()
    else:
        with sqlite3.connect(settings.sqlite_path) as conn:
            conn.executescript(script)


@pytest.fixture
async def failing_commits(services: Services) -> AsyncIterator[None]:
    """Commits of an event with MARKER in its payload fail; others are untouched."""
    postgres = bool(services.settings.database_url)
    await _raw_sql(services, _PG_ON if postgres else _SQLITE_ON)
    try:
        yield
    finally:
        await _raw_sql(services, _PG_OFF if postgres else _SQLITE_OFF)


async def test_a_write_whose_commit_fails_publishes_nothing_and_stores_nothing(
    services: Services, setup: Setup, failing_commits: None
) -> None:
    org = setup.org.id
    agent = Actor(ActorType.API_KEY, setup.admin_key.key.id, org, name="Admin")
    await services.attributes.define(org, "conversation", "orderNumberStr")
    customer = await services.customers.check_create(agent, {"name": "Ada"})
    conv = await services.conversations.check_create_for_customer(
        agent, customer.id, brand_id=None, custom={"orderNumberStr": "A1"}
    )
    published: list[Event] = []
    services.bus.subscribe(published.extend)

    with pytest.raises((KlatchError, asyncpg.PostgresError)):
        await services.conversations.check_describe(agent, conv.id, {"orderNumberStr": MARKER})

    assert [e for e in published if e.org_id == org] == []
    assert (await services.conversations.get(agent, conv.id)).custom == {"orderNumberStr": "A1"}
    history = await services.conversations.history(agent, conv.id)
    assert [e.type for e in history] == ["conversation.created"]

    # The same write without the marker commits, and is published once it has.
    await services.conversations.check_describe(agent, conv.id, {"orderNumberStr": "A2"})
    mine = [e for e in published if e.org_id == org]
    assert [(e.type, e.payload["custom"]) for e in mine] == [
        ("conversation.updated", {"orderNumberStr": "A2"})
    ]


async def test_a_unit_that_raises_after_emitting_publishes_and_stores_nothing(
    services: Services, setup: Setup
) -> None:
    org = setup.org.id
    agent = Actor(ActorType.API_KEY, setup.admin_key.key.id, org, name="Admin")
    customer = await services.customers.check_create(agent, {"name": "Ada"})
    conv = await services.conversations.check_create_for_customer(agent, customer.id, brand_id=None)
    published: list[Event] = []
    services.bus.subscribe(published.extend)

    async def work(unit: Unit) -> None:
        ended = replace(conv, status="done", ended_at=unit.now, ended_by_type="api_key")
        await conversation_store.set_fields(unit.tx, ended, unit.now)
        unit.emit(ev.conversation_ended(ended))
        raise Conflict("changed my mind", code="test_refusal")

    with pytest.raises(Conflict):
        await services.ctx.uow.write(agent, work)

    assert [e for e in published if e.org_id == org] == []
    assert (await services.conversations.get(agent, conv.id)).status == "open"
