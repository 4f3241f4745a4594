"""Search: indexes on the standard dates, and the indexes that follow the klass
definitions for the attributes already defined.

The per-attribute indexes (``ixs_…``, see ``klatch.storage.search``) are not in
``tables.py``: they exist for what orgs define, and are made and dropped at run
time as definitions come and go. Here they are built for the definitions that
exist, without CONCURRENTLY (a migration runs in a transaction, before serving).
"""

from __future__ import annotations

from alembic import op

from klatch.storage.migrations._ddl import create_attribute_indexes, drop_attribute_indexes, partial

revision = "0004"
down_revision = "0003"

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
        **partial("ended_at IS NOT NULL"),
    )
    create_attribute_indexes()


def downgrade() -> None:
    drop_attribute_indexes()
    op.drop_index("ix_conversation_org_ended_at", table_name="conversation")
    for name, table, _ in reversed(_STANDARD):
        op.drop_index(name, table_name=table)
