"""Search: indexes on the standard dates, and the indexes that follow the klass
definitions for the attributes already defined.

The per-attribute indexes (``ixs_…``, see ``klatch.storage.search``) are not in
``tables.py``: they exist for what orgs define, and are made and dropped at run
time as definitions come and go. Here they are built for the definitions that
exist, without CONCURRENTLY (a migration runs in a transaction, before serving).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_STANDARD = (
    ("ix_customer_org_id_created_at", "customer", ["org_id", "created_at"]),
    ("ix_conversation_org_id_created_at", "conversation", ["org_id", "created_at"]),
    ("ix_conversation_org_id_last_message_at", "conversation", ["org_id", "last_message_at"]),
    ("ix_message_org_id_created_at", "message", ["org_id", "created_at"]),
)


def upgrade() -> None:
    for name, table, columns in _STANDARD:
        op.create_index(name, table, columns)
    op.create_index(
        "ix_conversation_org_ended_at",
        "conversation",
        ["org_id", "ended_at"],
        sqlite_where=sa.text("ended_at IS NOT NULL"),
        postgresql_where=sa.text("ended_at IS NOT NULL"),
    )
    _attribute_indexes()


def _attribute_indexes() -> None:
    from klatch.domain.attributes import AttributeDef, AttrType
    from klatch.storage.search import create_index_sql

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT DISTINCT klass, name, type FROM klass_attribute"))
    for klass, name, type_ in list(rows):
        definition = AttributeDef(klass, name, AttrType(type_), name)
        sql = create_index_sql(bind.dialect.name, definition, concurrently=False)
        if sql is not None:
            op.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    for (name,) in list(
        bind.execute(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND name LIKE 'ixs\\_%' ESCAPE '\\'"
                if bind.dialect.name == "sqlite"
                else "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ixs\\_%'"
            )
        )
    ):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_conversation_org_ended_at", table_name="conversation")
    for name, table, _ in reversed(_STANDARD):
        op.drop_index(name, table_name=table)
