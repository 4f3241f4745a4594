"""What several migrations spell alike: column types, foreign keys, the timestamp
pair, and the indexes that follow the klass definitions.

Migrations are history: a migration that uses a helper here must go on sending
exactly the DDL it sent when it was written, so a helper is never changed, only
added to. (The attribute indexes are the exception on purpose: they are built as
``klatch.storage.search`` builds them, whatever the migration that asks.)
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.String(length=24)


def org_fk(table: str) -> sa.ForeignKeyConstraint:
    """``table.org_id`` references its org; the row goes with it."""
    return fk(table, "org_id", "org")


def fk(table: str, column: str, target: str, key: str = "id") -> sa.ForeignKeyConstraint:
    """``table.column`` references ``target.key``; the row goes with that one."""
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.{key}"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def partial(condition: str) -> dict[str, Any]:
    """A partial index's condition, said once for both backends."""
    where = sa.text(condition)
    return {"sqlite_where": where, "postgresql_where": where}


def stamps() -> list[sa.Column[int]]:
    """``created_at`` and ``updated_at`` (epoch ms), in that order."""
    return [
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    ]


def drop_attribute_indexes() -> None:
    """Drop every index made for an attribute definition (named ``ixs_…``)."""
    bind = op.get_bind()
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ixs\\_%' ESCAPE '\\'"
        if bind.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ixs\\_%'"
    )
    for (name,) in list(bind.execute(sa.text(sql))):
        op.execute(f"DROP INDEX IF EXISTS {name}")


def create_attribute_indexes() -> None:
    """Build the index of every attribute defined in any org, as ``klatch.storage.search``
    makes them today, without CONCURRENTLY (a migration runs in a transaction)."""
    from klatch.domain.attributes import AttributeDef, AttrType
    from klatch.storage.search import create_index_sql

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT DISTINCT klass, name, type FROM klass_attribute"))
    for klass, name, type_ in list(rows):
        definition = AttributeDef(klass, name, AttrType(type_), name)
        sql = create_index_sql(bind.dialect.name, definition, concurrently=False)
        if sql is not None:
            op.execute(sql)
