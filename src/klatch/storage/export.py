"""Whole tables as rows of plain JSON values, and back: what ``klatch export`` reads
and ``klatch import`` writes.

Generic over ``tables.metadata``: every table is read in its foreign-key order
(``metadata.sorted_tables``, so an org comes before what it owns), a page at a time
by primary key, scoped to the orgs asked for; a table added to ``tables.py`` is
exported without a change here. Values come out the same from both backends
(JSON columns as JSON, booleans as booleans), so a file written from SQLite is
read into PostgreSQL and the other way round.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from klatch.storage.codec import dumps, loads
from klatch.storage.db import Query, Row, Tx
from klatch.storage.tables import metadata

b = sa.bindparam

# Who is logged in right now (console sessions, login lockouts): state of the
# running installation, not data; never exported.
EPHEMERAL = frozenset({"console_session", "login_failure"})
# A column holds a credential when tables.py marks it (``info={"secret": True}``) or
# its name says so; export leaves it out unless asked for secrets.
_SECRET_WORDS = ("secret", "hash", "token", "password")
# Secrets whose name does not say so: headers sent to a webhook receiver usually
# carry its credentials (Authorization, X-Api-Key).
_SECRET_COLUMNS = frozenset({("outbound_webhook", "headers")})
PAGE = 1000

Values = dict[str, Any]
Table = sa.Table  # what the import service holds on to between rows


def exported_tables() -> list[sa.Table]:
    """The tables an export holds, parents before children."""
    return [t for t in metadata.sorted_tables if t.name not in EPHEMERAL]


def table_named(name: str) -> sa.Table | None:
    table = metadata.tables.get(name)
    return table if table is not None and name not in EPHEMERAL else None


def column_names(table: sa.Table) -> set[str]:
    return set(table.columns.keys())


def missing_secrets(table: sa.Table, row: Mapping[str, Any]) -> list[str]:
    """The secret columns a row left out that the table cannot do without."""
    return [
        name
        for name in secret_columns(table)
        if row.get(name) is None and not table.c[name].nullable
    ]


def placeholder_secret(table: sa.Table, name: str) -> Any:
    """A random value that fits the column: what nobody can know or log in with."""
    column = table.c[name]
    if isinstance(column.type, sa.JSON):
        return {}
    length = getattr(column.type, "length", None) or 64
    return secrets.token_hex(32)[: min(64, length)]


def secret_columns(table: sa.Table) -> tuple[str, ...]:
    return tuple(
        str(c.name)
        for c in table.columns
        if c.info.get("secret")
        or (table.name, c.name) in _SECRET_COLUMNS
        or any(word in c.name for word in _SECRET_WORDS)
    )


def _org_column(table: sa.Table) -> sa.ColumnElement[Any]:
    return table.c.id if table.name == "org" else table.c.org_id


def _scoped(table: sa.Table, stmt: Any, org_ids: Sequence[str] | None) -> Any:
    if org_ids is None:
        return stmt
    return stmt.where(_org_column(table).in_(list(org_ids)))


def _key(table: sa.Table) -> list[sa.Column[Any]]:
    key = list(table.primary_key.columns)
    if not key:
        raise ValueError(f"table {table.name} has no primary key; export pages by it")
    return key


def decode(table: sa.Table, row: Row) -> Values:
    """A row as plain JSON values, the same from SQLite and PostgreSQL."""
    values: Values = {}
    for column in table.columns:
        value = row[column.name]
        if value is not None and isinstance(column.type, sa.JSON):
            value = loads(value)
        elif value is not None and isinstance(column.type, sa.Boolean):
            value = bool(value)
        values[str(column.name)] = value  # a plain str: orjson refuses subclasses as keys
    return values


def encode(table: sa.Table, values: Mapping[str, Any]) -> Values:
    """Plain JSON values as the driver takes them (JSON columns travel as text)."""
    row: Values = {}
    for column in table.columns:
        value = values.get(column.name)
        if value is not None and isinstance(column.type, sa.JSON):
            value = dumps(value)
        row[column.name] = value
    return row


async def count_rows(tx: Tx, table: sa.Table, org_ids: Sequence[str] | None) -> int:
    stmt = _scoped(table, sa.select(sa.func.count()).select_from(table), org_ids)
    row = await tx.one(stmt)
    return int(row[0]) if row is not None else 0


async def table_rows(
    tx: Tx, table: sa.Table, org_ids: Sequence[str] | None, page: int = PAGE
) -> AsyncIterator[list[Values]]:
    """Every row of ``table`` of these orgs (all when None), a page at a time in
    primary-key order; all pages read on ``tx``'s one snapshot."""
    key = _key(table)
    first = _scoped(table, sa.select(table), org_ids).order_by(*key).limit(page)
    after: list[Any] | None = None
    while True:
        stmt = first
        if after is not None:
            stmt = first.where(sa.tuple_(*key) > sa.tuple_(*(sa.literal(v) for v in after)))
        rows = [decode(table, r) for r in await tx.all(stmt)]
        if not rows:
            return
        yield rows
        if len(rows) < page:
            return
        after = [rows[-1][c.name] for c in key]


_INSERTS: dict[str, Query] = {}


async def insert_rows(tx: Tx, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert decoded rows as they are (every column given)."""
    query = _INSERTS.get(table.name)
    if query is None:
        query = _INSERTS[table.name] = Query(sa.insert(table))
    await tx.execute_many(query, [encode(table, r) for r in rows])


async def continue_sequences(tx: Tx) -> None:
    """After rows were inserted with their own ids: PostgreSQL's sequences of
    autoincrementing keys (the webhook outbox) go on after the highest one, as
    SQLite's rowids do by themselves."""
    if tx.dialect != "postgresql":
        return
    for table in metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        await tx.one(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"COALESCE(MAX({column.name}), 0) + 1, false) FROM {table.name}"
            )
        )


async def first_nonempty_table(tx: Tx) -> str | None:
    """The name of a table that holds a row (the database is not empty), or None."""
    for table in metadata.sorted_tables:
        if await tx.one(sa.select(sa.literal(1)).select_from(table).limit(1)) is not None:
            return table.name
    return None


async def schema_revision(tx: Tx) -> str | None:
    """The Alembic revision the database is at."""
    row = await tx.one(sa.text("SELECT version_num FROM alembic_version"))
    return str(row[0]) if row is not None else None


async def org_ids_named(tx: Tx, name_or_id: str) -> list[str]:
    org = metadata.tables["org"]
    rows = await tx.all(
        sa.select(org.c.id).where(sa.or_(org.c.id == name_or_id, org.c.name == name_or_id))
    )
    return [str(r[0]) for r in rows]
