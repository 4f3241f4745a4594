"""Alembic migrations bring an empty database to exactly the schema of ``tables.py``.

Run against an empty SQLite file and an empty PostgreSQL database created here
(on the server of ``KLATCH_TEST_POSTGRES_URL``), because an operator's first
``klatch migrate`` (or first start) meets exactly that.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from klatch.storage.migrate import MIGRATIONS, alembic_url, include_for_dialect, upgrade
from klatch.storage.tables import metadata

T = TypeVar("T")


async def _admin_sql(url: str, sql: str) -> None:
    import asyncpg

    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    try:
        conn = await asyncpg.connect(server)
    except Exception:  # no "postgres" database on this server: use the configured one
        conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def empty_database(database_url: str | None, tmp_path: Path) -> Iterator[str]:
    """The Alembic URL of a brand-new, empty database on the backend under test."""
    if database_url is None:
        path = tmp_path / "empty" / "klatch.db"
        path.parent.mkdir()
        yield alembic_url(None, path)
        return
    base = urlsplit(database_url).path.lstrip("/") or "klatch"
    name = f"{base}_migrations_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin_sql(database_url, f'CREATE DATABASE "{name}"'))
    try:
        url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
        yield alembic_url(url, tmp_path / "unused.db")
    finally:
        asyncio.run(_admin_sql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def inspect_with(url: str, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` on a connection to ``url`` (sync SQLite, or asyncpg via run_sync)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                return fn(connection)
        finally:
            engine.dispose()

    async def run() -> T:
        async_engine = create_async_engine(url)
        try:
            async with async_engine.connect() as connection:
                return await connection.run_sync(fn)
        finally:
            await async_engine.dispose()

    return asyncio.run(run())


def schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": include_for_dialect(connection.dialect.name),
        },
    )
    return list(compare_metadata(context, metadata))


def snapshot(connection: Connection) -> dict[str, Any]:
    """Tables with their columns, indexes and constraints, and the Alembic revision."""
    inspector = sa.inspect(connection)
    tables: dict[str, Any] = {}
    for table in inspector.get_table_names():
        tables[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    revision = MigrationContext.configure(connection).get_current_revision()
    return {"tables": tables, "revision": revision}


def head() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    revision = script.get_current_head()
    assert revision is not None
    return revision


def test_upgrade_of_an_empty_database_matches_the_table_metadata(empty_database: str) -> None:
    assert inspect_with(empty_database, snapshot) == {"tables": {}, "revision": None}
    upgrade(empty_database)

    state = inspect_with(empty_database, snapshot)
    assert state["revision"] == head()
    assert set(state["tables"]) == set(metadata.tables) | {"alembic_version"}
    for name, table in metadata.tables.items():
        columns = [c[0] for c in state["tables"][name]["columns"]]
        assert sorted(columns) == sorted(c.name for c in table.columns), name

    assert inspect_with(empty_database, schema_differences) == []
    if empty_database.startswith("postgresql"):
        # Filtering conversations by a custom attribute relies on it.
        indexes = {i[0] for i in state["tables"]["conversation"]["indexes"]}
        assert "ix_conversation_custom_gin" in indexes


def test_upgrade_twice_is_a_no_op(empty_database: str) -> None:
    upgrade(empty_database)
    before = inspect_with(empty_database, snapshot)

    def add_org(connection: Connection) -> None:
        connection.execute(
            sa.text(
                "INSERT INTO org (id, name, jwt_secret, created_at) "
                "VALUES ('0123456789abcdef01234567', 'kept', 'secret', 1)"
            )
        )
        connection.commit()

    inspect_with(empty_database, add_org)
    upgrade(empty_database)

    assert inspect_with(empty_database, snapshot) == before

    def orgs(connection: Connection) -> list[tuple[Any, ...]]:
        rows = connection.execute(sa.text("SELECT name, event_seq, schema_version FROM org"))
        return [tuple(r) for r in rows]

    assert inspect_with(empty_database, orgs) == [("kept", 0, 0)], "data survives; defaults apply"
