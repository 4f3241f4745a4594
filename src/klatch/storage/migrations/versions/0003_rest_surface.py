"""REST surface: conversations' external id (unique per org when set)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from klatch.storage.migrations._ddl import partial

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # A nullable column without a default: ALTER TABLE ADD COLUMN, no table rewrite
    # on either backend (a batch copy of a million-row table would be).
    op.add_column("conversation", sa.Column("external_id", sa.String(length=256), nullable=True))
    op.create_index(
        "ix_conversation_org_external_id",
        "conversation",
        ["org_id", "external_id"],
        unique=True,
        **partial("external_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_org_external_id", table_name="conversation")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("external_id")
