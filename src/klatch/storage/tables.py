"""The schema, as SQLAlchemy Core tables: the single source for queries and migrations.

Conventions: every row carries ``org_id`` and every index used for lookups
starts with it; ids are 24-hex object ids (as Kustomer's); times are UTC epoch
milliseconds (``BIGINT``), which sort and compare the same on SQLite and
PostgreSQL; JSON columns are JSONB on PostgreSQL and JSON text on SQLite.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.String(24)
Millis = sa.BigInteger


def _id() -> sa.Column[str]:
    """The primary key: a 24-hex object id."""
    return sa.Column("id", Id, primary_key=True)


def _ref(name: str, table: str) -> sa.Column[str]:
    """A required id of a ``table`` row; the row goes when that one is deleted."""
    return sa.Column(name, Id, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False)


def _org_fk() -> sa.Column[str]:
    return _ref("org_id", "org")


def _partial(condition: str) -> dict[str, Any]:
    """A partial index's condition, said once for both backends."""
    where = sa.text(condition)
    return {"sqlite_where": where, "postgresql_where": where}


def _timestamps() -> tuple[sa.Column[int], sa.Column[int]]:
    """``created_at`` and ``updated_at``, in that order."""
    return (
        sa.Column("created_at", Millis, nullable=False),
        sa.Column("updated_at", Millis, nullable=False),
    )


org = sa.Table(
    "org",
    metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("jwt_secret", sa.String(128), nullable=False),
    # Per-org event sequence: taken last in every write transaction, so event ids
    # commit in increasing order per org (resume depends on that).
    sa.Column("event_seq", sa.BigInteger, nullable=False, server_default="0"),
    # Bumped whenever a klass attribute definition changes; writers compare it
    # with the definitions they validated against.
    sa.Column("schema_version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", Millis, nullable=False),
)

brand = sa.Table(
    "brand",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("settings", Json, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Index(None, "org_id", "name", unique=True),
)

api_key = sa.Table(
    "api_key",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("brand_id", Id, nullable=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("revoked_at", Millis, nullable=True),
    sa.Index(None, "org_id", "created_at"),
)

user = sa.Table(
    "user_account",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("disabled_at", Millis, nullable=True),
    sa.Index(None, "org_id", "created_at"),
)

attribute = sa.Table(
    "klass_attribute",
    metadata,
    _org_fk(),
    sa.Column("klass", sa.String(32), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("sdk_writable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("enumeration", Json, nullable=True),
    sa.Column("tree", Json, nullable=True),
    *_timestamps(),
    # Migration 0008: Kustomer's tree metadata (each node's displayName, in the order
    # of ``tree``; whether a value must be a leaf).
    sa.Column("tree_labels", Json, nullable=True),
    sa.Column("last_node_required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint("org_id", "klass", "name"),
)

customer = sa.Table(
    "customer",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("external_id", sa.String(256), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("emails", Json, nullable=False),
    sa.Column("phones", Json, nullable=False),
    sa.Column("socials", Json, nullable=False),
    sa.Column("custom", Json, nullable=False),
    sa.Column("merged_into", Id, nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    *_timestamps(),
    sa.Index(None, "org_id", "updated_at"),
    sa.Index(None, "org_id", "created_at"),  # search by customer_created_at
    sa.Index(
        "ix_customer_org_external_id",
        "org_id",
        "external_id",
        unique=True,
        **_partial("external_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_customer_org_email",
        "org_id",
        "email",
        unique=True,
        **_partial("email IS NOT NULL"),
    ),
)

chat_session = sa.Table(
    "chat_session",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("brand_id", Id, nullable=False),
    sa.Column("customer_id", Id, nullable=False),
    sa.Column("api_key_id", Id, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Index(None, "org_id", "customer_id"),
)

conversation = sa.Table(
    "conversation",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("brand_id", Id, nullable=False),
    sa.Column("customer_id", Id, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("title", sa.String(256), nullable=True),
    sa.Column("custom", Json, nullable=False),
    sa.Column("preview", sa.String(256), nullable=True),
    sa.Column("message_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ended_at", Millis, nullable=True),
    sa.Column("ended_by_type", sa.String(16), nullable=True),
    sa.Column("customer_read_at", Millis, nullable=True),
    sa.Column("last_message_at", Millis, nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
    *_timestamps(),
    # An integration's own id for the conversation: unique per org when set, as
    # Kustomer's (GET /v1/conversations/externalId={id} answers one conversation).
    sa.Column("external_id", sa.String(256), nullable=True),
    # Who owns it (Kustomer's assignedUsers / assignedTeams): JSON arrays of ids, NULL
    # for none; conversation_assignment holds the same as rows, for the inbox views.
    sa.Column("assigned_users", Json, nullable=True),
    sa.Column("assigned_teams", Json, nullable=True),
    # Tag ids (Kustomer's tags), NULL for none; conversation_tag holds the same as rows.
    sa.Column("tags", Json, nullable=True),
    sa.Index(
        "ix_conversation_org_external_id",
        "org_id",
        "external_id",
        unique=True,
        **_partial("external_id IS NOT NULL"),
    ),
    # Few indexes on purpose: every describe rewrites updated_at, and each index
    # holding it costs the chat hot path (measured: +5 µs per index on SQLite).
    sa.Index(None, "org_id", "updated_at"),
    sa.Index(None, "org_id", "customer_id"),
    # Search by the standard dates (a describe changes none of them). Custom attributes
    # have indexes that follow their definitions, made at run time (storage/search.py).
    sa.Index(None, "org_id", "created_at"),
    sa.Index(None, "org_id", "last_message_at"),
    sa.Index(
        "ix_conversation_org_ended_at",
        "org_id",
        "ended_at",
        **_partial("ended_at IS NOT NULL"),
    ),
    # PostgreSQL only: filtering by any custom attribute (custom @> '{"k": v}') uses it.
    sa.Index(
        "ix_conversation_custom_gin",
        "custom",
        postgresql_using="gin",
        postgresql_ops={"custom": "jsonb_path_ops"},
    ).ddl_if(dialect="postgresql"),
)

message = sa.Table(
    "message",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("conversation_id", Id, nullable=False),
    sa.Column("customer_id", Id, nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("payload", sa.String(1024), nullable=True),
    sa.Column("sent_by_type", sa.String(16), nullable=False),
    sa.Column("sent_by_id", Id, nullable=True),
    sa.Column("sent_by_name", sa.String(255), nullable=True),
    sa.Column("created_at", Millis, nullable=False),
    # Migration 0008: the message klass's custom attributes (NULL: none).
    sa.Column("custom", Json, nullable=True),
    # Migration 0010: when the message last changed (its custom attributes); its
    # creation until then. Nullable only so adding it left the table as it was.
    sa.Column("updated_at", Millis, nullable=True),
    sa.Index(None, "org_id", "conversation_id", "created_at"),
    sa.Index(None, "org_id", "created_at"),  # search by message_created_at
    sa.Index(None, "org_id", "updated_at"),  # message_updated_at: sync tools page by it
)

event = sa.Table(
    "event",
    metadata,
    _org_fk(),
    sa.Column("id", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("conversation_id", Id, nullable=True),
    sa.Column("customer_id", Id, nullable=True),
    sa.Column("actor_type", sa.String(16), nullable=False),
    sa.Column("actor_id", Id, nullable=True),
    sa.Column("payload", Json, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.PrimaryKeyConstraint("org_id", "id"),
    sa.Index(None, "org_id", "conversation_id", "id"),
    sa.Index(None, "org_id", "customer_id", "id"),
)

# The agent console: a session per browser login (only the token's hash is
# stored), and failed-login counts per email for the lockout.
console_session = sa.Table(
    "console_session",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    _org_fk(),
    _ref("user_id", "user_account"),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Index(None, "user_id"),
)

login_failure = sa.Table(
    "login_failure",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", Millis, nullable=False),
    sa.Column("locked_until", Millis, nullable=True),
)

# Outbound webhooks (Kustomer's): a subscription per receiver; the transactional
# outbox of deliveries, written in the transaction of the change they announce;
# and the log of each delivery's attempts.
SeqId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid

outbound_webhook = sa.Table(
    "outbound_webhook",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", Json, nullable=False),
    sa.Column("headers", Json, nullable=False),
    sa.Column("token", sa.String(128), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    # Why it was disabled by Klatch (its receiver failed through the retry schedule).
    sa.Column("disabled_reason", sa.String(1024), nullable=True),
    sa.Column("disabled_at", Millis, nullable=True),
    *_timestamps(),
    sa.Index(None, "org_id", "created_at"),
)

# A delivery is pending until its receiver answered 2xx. ``seq`` is taken after
# the org's event sequence (the unit of work's last lock), so it follows commit
# order; a delivery waits while an earlier one of the same subscription and
# ordering key (the conversation, the customer) is pending.
webhook_delivery = sa.Table(
    "webhook_delivery",
    metadata,
    sa.Column("seq", SeqId, primary_key=True, autoincrement=True),
    _org_fk(),
    # No foreign key: a replica whose cache has not yet heard of a deletion may still
    # enqueue for it, and that must not fail the change; such rows are never claimed.
    sa.Column("webhook_id", Id, nullable=False),
    sa.Column("envelope_id", Id, nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("data_id", Id, nullable=True),
    sa.Column("ordering_key", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | delivered
    sa.Column("tries", sa.Integer, nullable=False, server_default="0"),  # in this schedule
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # ever
    sa.Column("due_at", Millis, nullable=False),
    sa.Column("claimed_by", sa.String(32), nullable=True),
    sa.Column("claimed_until", Millis, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(1024), nullable=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("delivered_at", Millis, nullable=True),
    sa.Index(None, "org_id", "webhook_id", "seq"),
    sa.Index(None, "org_id", "ordering_key"),  # erasure finds an object's deliveries
    sa.Index(
        "ix_webhook_delivery_pending",
        "due_at",
        **_partial("state = 'pending'"),
    ),
    sa.Index(
        "ix_webhook_delivery_pending_order",
        "webhook_id",
        "ordering_key",
        "seq",
        **_partial("state = 'pending'"),
    ),
    sa.Index(None, "delivered_at"),
)

webhook_attempt = sa.Table(
    "webhook_attempt",
    metadata,
    sa.Column("id", SeqId, primary_key=True, autoincrement=True),
    _org_fk(),
    sa.Column(
        "delivery_seq",
        sa.BigInteger,
        sa.ForeignKey("webhook_delivery.seq", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", Millis, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.String(1024), nullable=True),
    sa.Column("response", sa.String(1024), nullable=True),
    sa.Index(None, "delivery_seq"),
)

# Agents' workflow (migration 0006): teams and their members, each agent's
# availability, who a conversation is assigned to (rows for the inbox views and
# search; the conversation row holds the same lists for reading), routing rules.
team = sa.Table(
    "team",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("name_key", sa.String(255), nullable=False),
    *_timestamps(),
    sa.Index(None, "org_id", "name_key", unique=True),
)

team_member = sa.Table(
    "team_member",
    metadata,
    _org_fk(),
    _ref("team_id", "team"),
    _ref("user_id", "user_account"),
    # Round-robin: the member assigned longest ago (or never) is next.
    sa.Column("last_assigned_at", Millis, nullable=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.PrimaryKeyConstraint("team_id", "user_id"),
    sa.Index(None, "org_id", "user_id"),
)

agent_status = sa.Table(
    "agent_status",
    metadata,
    sa.Column(
        "user_id", Id, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    ),
    _org_fk(),
    sa.Column("availability", sa.String(16), nullable=False),  # available | away
    sa.Column("updated_at", Millis, nullable=False),
)

conversation_assignment = sa.Table(
    "conversation_assignment",
    metadata,
    _org_fk(),
    _ref("conversation_id", "conversation"),
    sa.Column("kind", sa.String(8), nullable=False),  # user | team
    sa.Column("assignee_id", Id, nullable=False),
    sa.PrimaryKeyConstraint("conversation_id", "kind", "assignee_id"),
    sa.Index(None, "org_id", "kind", "assignee_id", "conversation_id"),
)

routing_rule = sa.Table(
    "routing_rule",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("triggers", Json, nullable=False),
    sa.Column("criteria", Json, nullable=False),
    sa.Column("actions", Json, nullable=False),
    *_timestamps(),
    sa.Index(None, "org_id", "position"),
)

# Agents' tools (migration 0007): internal notes on a conversation (never sent to
# its customer), the org's tags and which conversations carry them (rows for the
# inbox filter and search; the conversation row holds the same ids for reading),
# and shortcuts (canned answers with variables).
note = sa.Table(
    "note",
    metadata,
    _id(),
    _org_fk(),
    _ref("conversation_id", "conversation"),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("author_type", sa.String(16), nullable=False),
    sa.Column("author_id", Id, nullable=True),
    sa.Column("author_name", sa.String(255), nullable=True),
    *_timestamps(),
    sa.Index(None, "org_id", "conversation_id", "created_at"),
    sa.Index(None, "org_id", "created_at"),  # search's note context
)

tag = sa.Table(
    "tag",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("color", sa.String(16), nullable=True),
    sa.Column("name_key", sa.String(255), nullable=False),
    *_timestamps(),
    sa.Index(None, "org_id", "name_key", unique=True),
)

conversation_tag = sa.Table(
    "conversation_tag",
    metadata,
    _org_fk(),
    _ref("conversation_id", "conversation"),
    _ref("tag_id", "tag"),
    sa.Column("created_at", Millis, nullable=False),
    sa.PrimaryKeyConstraint("conversation_id", "tag_id"),
    sa.Index(None, "org_id", "tag_id", "conversation_id"),
)

shortcut = sa.Table(
    "shortcut",
    metadata,
    _id(),
    _org_fk(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    *_timestamps(),
    sa.Index(None, "org_id", "name", unique=True),
)
