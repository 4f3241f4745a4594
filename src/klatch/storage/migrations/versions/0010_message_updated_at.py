"""Messages change: their custom attributes are written by ``PATCH /v1/messages/{id}``.

A message gets ``updated_at`` (epoch ms), set to its ``created_at`` for the messages
that exist, and an index ``(org_id, updated_at)``: ``message_updated_at`` in search
compares the same value the resource shows as ``updatedAt``, so a sync tool that
re-queries from the last record's ``updatedAt`` misses nothing. The column is added
nullable (no table rewrite on SQLite), then filled in one statement.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("message", sa.Column("updated_at", sa.BigInteger(), nullable=True))
    op.execute("UPDATE message SET updated_at = created_at WHERE updated_at IS NULL")
    op.create_index("ix_message_org_id_updated_at", "message", ["org_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_message_org_id_updated_at", table_name="message")
    op.drop_column("message", "updated_at")
