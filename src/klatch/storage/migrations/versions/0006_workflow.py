"""Agents' workflow: teams, membership, availability, assignment, routing rules."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from klatch.storage.migrations._ddl import ID, JSON, fk, org_fk, stamps

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    # Nullable columns without a default: ALTER TABLE ADD COLUMN, no table rewrite.
    op.add_column("conversation", sa.Column("assigned_users", JSON, nullable=True))
    op.add_column("conversation", sa.Column("assigned_teams", JSON, nullable=True))
    op.create_table(
        "team",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        *stamps(),
        org_fk("team"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
    )
    op.create_index(op.f("ix_team_org_id_name_key"), "team", ["org_id", "name_key"], unique=True)
    op.create_table(
        "team_member",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("last_assigned_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        org_fk("team_member"),
        fk("team_member", "team_id", "team"),
        fk("team_member", "user_id", "user_account"),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_member")),
    )
    op.create_index(op.f("ix_team_member_org_id_user_id"), "team_member", ["org_id", "user_id"])
    op.create_table(
        "agent_status",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("availability", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        fk("agent_status", "user_id", "user_account"),
        org_fk("agent_status"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_status")),
    )
    _assignments_and_rules()


def _assignments_and_rules() -> None:
    op.create_table(
        "conversation_assignment",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("assignee_id", ID, nullable=False),
        org_fk("conversation_assignment"),
        fk("conversation_assignment", "conversation_id", "conversation"),
        sa.PrimaryKeyConstraint(
            "conversation_id", "kind", "assignee_id", name=op.f("pk_conversation_assignment")
        ),
    )
    op.create_index(
        op.f("ix_conversation_assignment_org_id_kind_assignee_id_conversation_id"),
        "conversation_assignment",
        ["org_id", "kind", "assignee_id", "conversation_id"],
    )
    op.create_table(
        "routing_rule",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("triggers", JSON, nullable=False),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("actions", JSON, nullable=False),
        *stamps(),
        org_fk("routing_rule"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule")),
    )
    op.create_index(op.f("ix_routing_rule_org_id_position"), "routing_rule", ["org_id", "position"])


def downgrade() -> None:
    op.drop_table("routing_rule")
    op.drop_table("conversation_assignment")
    op.drop_table("agent_status")
    op.drop_table("team_member")
    op.drop_table("team")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("assigned_teams")
        batch.drop_column("assigned_users")
