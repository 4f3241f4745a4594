"""Kustomer's tree metadata and message custom attributes.

A tree attribute's definition keeps each node's display name (``tree_labels``, in
the order of ``tree``) and whether a value must be a leaf (``last_node_required``),
as Kustomer's metadata says them; messages get a ``custom`` object, typed by the
message klass's definitions (``message_custom_<name>`` in search). Both columns
are added without rewriting the tables (nullable, or a constant default).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from klatch.storage.migrations._ddl import JSON

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("klass_attribute") as batch:
        batch.add_column(sa.Column("tree_labels", JSON, nullable=True))
        batch.add_column(
            sa.Column("last_node_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.add_column("message", sa.Column("custom", JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("message", "custom")
    with op.batch_alter_table("klass_attribute") as batch:
        batch.drop_column("last_node_required")
        batch.drop_column("tree_labels")
