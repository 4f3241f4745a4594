"""Outbound webhooks: subscriptions, the transactional outbox, delivery attempts."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from klatch.storage.migrations._ddl import JSON, fk, org_fk, partial, stamps

revision = "0005"
down_revision = "0004"

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PENDING = partial("state = 'pending'")


def upgrade() -> None:
    _subscriptions()
    _deliveries()


def _subscriptions() -> None:
    op.create_table(
        "outbound_webhook",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=1024), nullable=True),
        sa.Column("disabled_at", sa.BigInteger(), nullable=True),
        *stamps(),
        org_fk("outbound_webhook"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_webhook")),
    )
    op.create_index(
        op.f("ix_outbound_webhook_org_id_created_at"),
        "outbound_webhook",
        ["org_id", "created_at"],
    )


def _deliveries() -> None:
    op.create_table(
        "webhook_delivery",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=24), nullable=False),
        sa.Column("webhook_id", sa.String(length=24), nullable=False),
        sa.Column("envelope_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("data_id", sa.String(length=24), nullable=True),
        sa.Column("ordering_key", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        org_fk("webhook_delivery"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_webhook_delivery")),
    )
    op.create_index(
        op.f("ix_webhook_delivery_org_id_webhook_id_seq"),
        "webhook_delivery",
        ["org_id", "webhook_id", "seq"],
    )
    op.create_index(
        op.f("ix_webhook_delivery_org_id_ordering_key"),
        "webhook_delivery",
        ["org_id", "ordering_key"],
    )
    op.create_index(
        "ix_webhook_delivery_pending",
        "webhook_delivery",
        ["due_at"],
        **_PENDING,
    )
    op.create_index(
        "ix_webhook_delivery_pending_order",
        "webhook_delivery",
        ["webhook_id", "ordering_key", "seq"],
        **_PENDING,
    )
    op.create_index(op.f("ix_webhook_delivery_delivered_at"), "webhook_delivery", ["delivered_at"])
    op.create_table(
        "webhook_attempt",
        sa.Column("id", _SEQ, autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=24), nullable=False),
        sa.Column("delivery_seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1024), nullable=True),
        sa.Column("response", sa.String(length=1024), nullable=True),
        org_fk("webhook_attempt"),
        fk("webhook_attempt", "delivery_seq", "webhook_delivery", "seq"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempt")),
    )
    op.create_index(op.f("ix_webhook_attempt_delivery_seq"), "webhook_attempt", ["delivery_seq"])


def downgrade() -> None:
    op.drop_table("webhook_attempt")
    op.drop_table("webhook_delivery")
    op.drop_table("outbound_webhook")
