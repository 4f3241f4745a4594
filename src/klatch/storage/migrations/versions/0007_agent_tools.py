"""Agents' tools: notes, tags, shortcuts, user lifecycle."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from klatch.storage.migrations._ddl import ID, JSON, fk, org_fk, stamps

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    # A nullable column without a default: ALTER TABLE ADD COLUMN, no table rewrite.
    op.add_column("conversation", sa.Column("tags", JSON, nullable=True))
    op.create_table(
        "note",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_type", sa.String(length=16), nullable=False),
        sa.Column("author_id", ID, nullable=True),
        sa.Column("author_name", sa.String(length=255), nullable=True),
        *stamps(),
        org_fk("note"),
        fk("note", "conversation_id", "conversation"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note")),
    )
    op.create_index(
        op.f("ix_note_org_id_conversation_id_created_at"),
        "note",
        ["org_id", "conversation_id", "created_at"],
    )
    op.create_index(op.f("ix_note_org_id_created_at"), "note", ["org_id", "created_at"])
    op.create_table(
        "tag",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("color", sa.String(length=16), nullable=True),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        *stamps(),
        org_fk("tag"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag")),
    )
    op.create_index(op.f("ix_tag_org_id_name_key"), "tag", ["org_id", "name_key"], unique=True)
    op.create_table(
        "conversation_tag",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        org_fk("conversation_tag"),
        fk("conversation_tag", "conversation_id", "conversation"),
        fk("conversation_tag", "tag_id", "tag"),
        sa.PrimaryKeyConstraint("conversation_id", "tag_id", name=op.f("pk_conversation_tag")),
    )
    op.create_index(
        op.f("ix_conversation_tag_org_id_tag_id_conversation_id"),
        "conversation_tag",
        ["org_id", "tag_id", "conversation_id"],
    )
    op.create_table(
        "shortcut",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *stamps(),
        org_fk("shortcut"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shortcut")),
    )
    op.create_index(op.f("ix_shortcut_org_id_name"), "shortcut", ["org_id", "name"], unique=True)


def downgrade() -> None:
    op.drop_table("shortcut")
    op.drop_table("conversation_tag")
    op.drop_table("tag")
    op.drop_table("note")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("tags")
