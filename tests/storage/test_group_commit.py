"""Group commit on both backends: concurrent writes share transactions, and
sharing one changes nothing a writer can see — no lost update on a conversation
many write at once, event ids in commit order without gaps, and a unit that
fails leaves its batch-mates stored and itself not at all."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from klatch import metrics
from klatch.domain.events import EventDraft
from klatch.domain.models import Actor, ActorType
from klatch.errors import Conflict, Unavailable
from klatch.ids import new_id
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage import events as event_store
from klatch.storage import orgs as org_store
from klatch.storage import tables
from klatch.storage.db import Tx, Work

WRITERS = 64


async def _insert_tag(tx: Tx, org: str, name: str, at: int) -> None:
    """A write any unit can make: a tag row of ``org``."""
    await tx.execute(
        sa.insert(tables.tag).values(
            id=new_id(),
            org_id=org,
            name=name,
            name_key=name,
            color=None,
            created_at=at,
            updated_at=at,
        )
    )


def _batched_units(backend: str) -> tuple[float, float]:
    """(units committed, commits) so far on ``backend``, from /metrics' histogram."""
    units = commits = 0.0
    for family in metrics.REGISTRY.collect():
        if family.name != "klatch_db_commit_batch_units":
            continue
        for sample in family.samples:
            if sample.labels.get("backend") != backend:
                continue
            if sample.name.endswith("_sum"):
                units = sample.value
            elif sample.name.endswith("_count"):
                commits = sample.value
    return units, commits


async def test_concurrent_describes_of_one_conversation_lose_nothing(
    services: Services, setup: Setup
) -> None:
    org = setup.org.id
    agent = Actor(ActorType.API_KEY, setup.admin_key.key.id, org, name="Admin")
    for i in range(WRITERS):
        await services.attributes.define(org, "conversation", f"key{i}Str")
    customer = await services.customers.check_create(agent, {"name": "Ada"})
    conv = await services.conversations.check_create_for_customer(agent, customer.id, brand_id=None)
    backend = "postgresql" if services.settings.database_url else "sqlite"
    units_before, commits_before = _batched_units(backend)

    await asyncio.gather(
        *(
            services.conversations.check_describe(agent, conv.id, {f"key{i}Str": str(i)})
            for i in range(WRITERS)
        )
    )

    stored = (await services.conversations.get(agent, conv.id)).custom
    assert stored == {f"key{i}Str": str(i) for i in range(WRITERS)}
    events = await services.db.read(lambda tx: event_store.events_after(tx, org, 0))
    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "event ids have gaps or repeats"
    versions = [e.payload["version"] for e in events if e.type == "conversation.updated"]
    assert versions == sorted(versions) and len(versions) == WRITERS
    units_after, commits_after = _batched_units(backend)
    units, commits = units_after - units_before, commits_after - commits_before
    assert units >= WRITERS
    assert commits < units, f"{units:.0f} writes took {commits:.0f} commits: none were grouped"


async def test_describes_of_one_conversation_from_two_processes_lose_nothing(
    services: Services, setup: Setup
) -> None:
    """Two servers on one database (two committers, two transactions at a time on
    PostgreSQL, taking turns on SQLite's file lock) describing one conversation
    through chat sessions: every key is stored, each write based on the one before."""
    org = setup.org.id
    agent = Actor(ActorType.API_KEY, setup.admin_key.key.id, org, name="Admin")
    for i in range(WRITERS):
        await services.attributes.define(org, "conversation", f"key{i}Str")
    started = await services.chat.start(setup.tracking_key.key)
    conv = await services.conversations.check_create_for_customer(
        agent, started.session.customer_id, brand_id=None
    )
    async with running(services.settings) as other:
        writers = [services, other]
        await asyncio.gather(
            *(
                writers[i % 2].conversations.describe_for_session(
                    setup.tracking_key.key, started.token, conv.id, {f"key{i}Str": str(i)}
                )
                for i in range(WRITERS)
            )
        )
    stored = (await services.conversations.get(agent, conv.id)).custom
    assert stored == {f"key{i}Str": str(i) for i in range(WRITERS)}
    events = await services.db.read(lambda tx: event_store.events_after(tx, org, 0))
    versions = [e.payload["version"] for e in events if e.type == "conversation.updated"]
    assert sorted(versions) == list(range(versions[0], versions[0] + WRITERS))
    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "event ids have gaps or repeats"


@pytest.mark.parametrize("failing", [0, 7, WRITERS - 1])
async def test_a_failing_unit_leaves_its_batch_mates_stored(
    services: Services, setup: Setup, failing: int
) -> None:
    """Units queued together, the ``failing`` one refusing after it wrote: it alone
    is refused and its write undone; each other one's write is stored."""
    org = setup.org.id

    def unit(i: int) -> Work[int]:
        async def work(tx: Tx) -> int:
            await _insert_tag(tx, org, f"tag {i}", i)
            if i == failing:
                raise Conflict("refused after writing", code="test_refusal")
            return i

        return work

    results = await asyncio.gather(
        *(services.db.write(unit(i)) for i in range(WRITERS)), return_exceptions=True
    )
    assert isinstance(results[failing], Conflict)
    assert [r for r in results if not isinstance(r, Conflict)] == [
        i for i in range(WRITERS) if i != failing
    ]
    names = await services.db.read(
        lambda tx: tx.all(sa.select(tables.tag.c.name).where(tables.tag.c.org_id == org))
    )
    assert sorted(r[0] for r in names) == sorted(f"tag {i}" for i in range(WRITERS) if i != failing)


async def test_units_refused_before_writing_are_left_out_and_nothing_runs_twice(
    services: Services, setup: Setup
) -> None:
    """The answers a describe gives most (unknown session, bad values, no such
    conversation) come before any change: such a unit is left out of its batch and
    the others are stored, each unit run once (on PostgreSQL without savepoints, so
    without running the batch again); one whose SELECT fails in the database (which
    refuses the rest of a PostgreSQL transaction) is refused alone too."""
    org = setup.org.id
    calls = [0] * WRITERS
    locked = {i for i in range(WRITERS) if i % 8 == 1}  # lock a row, then refuse
    refused = {i for i in range(WRITERS) if i % 8 == 2}  # refuse before any statement

    def unit(i: int) -> Work[int]:
        async def work(tx: Tx) -> int:
            calls[i] += 1
            if i in refused:
                raise Conflict("refused at once", code="test_refusal")
            if i in locked:
                await tx.one(
                    sa.select(tables.org.c.id).where(tables.org.c.id == org).with_for_update()
                )
                raise Conflict("refused after a locking read", code="test_refusal")
            await _insert_tag(tx, org, f"kept {i}", i)
            return i

        return work

    results = await asyncio.gather(
        *(services.db.write(unit(i)) for i in range(WRITERS)), return_exceptions=True
    )
    kept = [i for i in range(WRITERS) if i not in locked | refused]
    assert [r for r in results if not isinstance(r, Conflict)] == kept
    assert all(isinstance(results[i], Conflict) for i in locked | refused)
    assert calls == [1] * WRITERS, "a batch ran again though no unit had changed anything"
    names = await services.db.read(
        lambda tx: tx.all(sa.select(tables.tag.c.name).where(tables.tag.c.org_id == org))
    )
    assert sorted(r[0] for r in names) == sorted(f"kept {i}" for i in kept)

    # A unit whose read fails in the database: refused alone, the rest stored.
    def broken(i: int) -> Work[int]:
        async def work(tx: Tx) -> int:
            if i == 5:
                await tx.one(sa.select(sa.func.klatch_no_such_function()))
            await _insert_tag(tx, org, f"after {i}", i)
            return i

        return work

    results = await asyncio.gather(
        *(services.db.write(broken(i)) for i in range(16)), return_exceptions=True
    )
    assert isinstance(results[5], Exception) and not isinstance(results[5], Unavailable)
    assert [r for i, r in enumerate(results) if i != 5] == [i for i in range(16) if i != 5]
    names = await services.db.read(
        lambda tx: tx.all(
            sa.select(tables.tag.c.name).where(
                tables.tag.c.org_id == org, tables.tag.c.name.like("after %")
            )
        )
    )
    assert sorted(r[0] for r in names) == sorted(f"after {i}" for i in range(16) if i != 5)


async def test_a_caller_that_goes_away_leaves_its_write_and_batch_mates_stored(
    services: Services, setup: Setup
) -> None:
    """A client that disconnects while its write is queued (its task cancelled)
    does not take the write back, and the others queued with it are answered."""
    org = setup.org.id

    def unit(i: int) -> Work[int]:
        async def work(tx: Tx) -> int:
            await _insert_tag(tx, org, f"gone {i}", i)
            return i

        return work

    tasks = [asyncio.create_task(services.db.write(unit(i))) for i in range(8)]
    await asyncio.sleep(0)  # every write is queued
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7]
    names = await services.db.read(
        lambda tx: tx.all(sa.select(tables.tag.c.name).where(tables.tag.c.org_id == org))
    )
    assert sorted(r[0] for r in names) == sorted(f"gone {i}" for i in range(8))


async def test_event_ids_of_a_batch_stay_gapless_through_refusals_and_schema_changes(
    services: Services, setup: Setup
) -> None:
    """The units of one batch share the org's event sequence (its row is written once
    more before the commit, not once per unit): units refused after appending leave
    no gap, a definition change in the middle of the batch is seen by the units after
    it, and the sequence the org row stores is the last id handed out."""
    org = setup.org.id
    version = await services.db.read(lambda tx: org_store.schema_version(tx, org))
    refused = {3, 11, 12, WRITERS - 1}
    bump_at = 20

    def unit(i: int) -> Work[int]:
        async def work(tx: Tx) -> int:
            if i == bump_at:
                await org_store.bump_schema_version(tx, org)
            draft = EventDraft("test.appended", {"i": i})
            # Units after the bump validated against the old version: refused.
            stale = version if i > bump_at and i % 2 else None
            [event] = await event_store.append(
                tx,
                org,
                [draft],
                actor_type="system",
                actor_id=None,
                now=i,
                schema_version=stale,
            )
            if i in refused:
                raise Conflict("refused after appending", code="test_refusal")
            return event.id

        return work

    last_before = await services.db.read(lambda tx: event_store.last_event_id(tx, org))
    results = await asyncio.gather(
        *(services.db.write(unit(i)) for i in range(WRITERS)), return_exceptions=True
    )
    stale_refused = {i for i in range(bump_at + 1, WRITERS) if i % 2}
    for i, result in enumerate(results):
        if i in stale_refused:
            assert isinstance(result, event_store.SchemaChanged), (i, result)
        elif i in refused:
            assert isinstance(result, Conflict), (i, result)
    ids = [r for r in results if isinstance(r, int)]
    assert len(ids) == WRITERS - len(refused | stale_refused)
    assert ids == list(range(last_before + 1, last_before + 1 + len(ids)))
    stored = await services.db.read(lambda tx: event_store.events_after(tx, org, last_before))
    assert [e.id for e in stored] == ids
    assert await services.db.read(lambda tx: event_store.last_event_id(tx, org)) == ids[-1]
    # The next write carries on from there.
    after = await services.db.write(unit(1000))
    assert after == ids[-1] + 1
