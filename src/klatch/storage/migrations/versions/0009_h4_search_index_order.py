"""Search: every attribute index also holds its klass's order column.

An attribute's index was ``(org_id, <value>, id)``; it is now ``(org_id, <value>,
<order column>, id)`` (``updated_at``; a message's ``created_at``): an equality is
read from the index already in the default order, and the matches of a range are
sorted from the index alone, without reading a record that is not shown (see
``klatch.storage.search``). The indexes of the old shape are dropped and those of
the new one built for the definitions that exist, without CONCURRENTLY (a
migration runs in a transaction, before serving).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 14:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _search_indexes() -> list[str]:
    bind = op.get_bind()
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ixs\\_%' ESCAPE '\\'"
        if bind.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ixs\\_%'"
    )
    return [name for (name,) in bind.execute(sa.text(sql))]


def upgrade() -> None:
    from klatch.domain.attributes import AttributeDef, AttrType
    from klatch.storage.search import create_index_sql

    for name in _search_indexes():
        op.execute(f"DROP INDEX IF EXISTS {name}")
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT DISTINCT klass, name, type FROM klass_attribute"))
    for klass, name, type_ in list(rows):
        definition = AttributeDef(klass, name, AttrType(type_), name)
        sql = create_index_sql(bind.dialect.name, definition, concurrently=False)
        if sql is not None:
            op.execute(sql)


def downgrade() -> None:
    # The new indexes serve the old code too; they are left as they are.
    pass
