"""The event catalogue: every event type Klatch appends, and its payload.

Types are ``noun.verb``. Payloads are JSON objects built only here, so the
catalogue in ``docs/events.md`` and the code cannot drift apart silently.
Times in payloads are ISO 8601 UTC strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import (
    Any,
    Literal,
    NotRequired,  # pydantic needs these on 3.11
)

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from klatch.domain.models import Actor, Conversation, Customer, Message

CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
CONVERSATION_ENDED = "conversation.ended"
MESSAGE_CREATED = "message.created"
CUSTOMER_UPDATED = "customer.updated"
CUSTOMER_CREATED = "customer.created"
TYPING_STARTED = "typing.started"  # ephemeral: published, never stored
TYPING_STOPPED = "typing.stopped"

CATALOGUE = (
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    CONVERSATION_ENDED,
    MESSAGE_CREATED,
    CUSTOMER_CREATED,
    CUSTOMER_UPDATED,
    TYPING_STARTED,
    TYPING_STOPPED,
)
EPHEMERAL = (TYPING_STARTED, TYPING_STOPPED)


# ---------------------------------------------------------------- payload schemas
# One TypedDict per event type; docs/events.md describes the same, and the test
# suite validates every event it sees against these (extra keys refused).
_STRICT = ConfigDict(extra="forbid", strict=True)


@with_config(_STRICT)
class Change(TypedDict):
    before: Any
    after: Any


@with_config(_STRICT)
class SentBy(TypedDict):
    type: str  # customer | user | api_key | system
    id: str | None
    displayName: str | None


@with_config(_STRICT)
class ConversationData(TypedDict):
    id: str
    customerId: str
    brandId: str
    status: Literal["open", "done"]
    title: str | None
    custom: dict[str, Any]
    preview: str | None
    messageCount: int
    ended: bool
    endedAt: str | None
    endedByType: str | None
    lastMessageAt: str | None
    createdAt: str
    updatedAt: str
    version: int


@with_config(_STRICT)
class MessageData(TypedDict):
    id: str
    conversationId: str
    customerId: str
    direction: Literal["in", "out"]
    body: str
    payload: str | None
    sentBy: SentBy
    createdAt: str


@with_config(_STRICT)
class CustomerData(TypedDict):
    id: str
    name: str | None
    externalId: str | None
    email: str | None
    verified: bool
    emails: list[str]
    phones: list[str]
    socials: list[dict[str, str]]
    custom: dict[str, Any]
    createdAt: str
    updatedAt: str
    version: int


@with_config(_STRICT)
class ConversationChanges(TypedDict, total=False):
    custom: dict[str, Change]
    status: Change
    title: Change


@with_config(_STRICT)
class ConversationCreatedPayload(TypedDict):
    conversation: ConversationData


@with_config(_STRICT)
class ConversationUpdatedPayload(TypedDict):
    conversationId: str
    customerId: str
    version: int
    changes: ConversationChanges
    custom: dict[str, Any]  # all custom attributes after the change


@with_config(_STRICT)
class ConversationEndedPayload(TypedDict):
    conversationId: str
    customerId: str
    endedAt: str
    endedByType: str
    createdAt: str


@with_config(_STRICT)
class MessageCreatedPayload(TypedDict):
    message: MessageData


@with_config(_STRICT)
class CustomerCreatedPayload(TypedDict):
    customer: CustomerData


@with_config(_STRICT)
class CustomerUpdatedPayload(TypedDict):
    customerId: str
    changes: dict[str, Any]  # field or "custom" -> {before, after} (custom: per key)
    customer: CustomerData
    mergedFrom: NotRequired[str]  # login: the anonymous customer merged into this one
    conversationIds: NotRequired[list[str]]  # login: the conversations that moved


@with_config(_STRICT)
class TypingPayload(TypedDict):
    conversationId: str
    customerId: str
    typing: bool
    sentBy: SentBy
    createdAt: str


PAYLOADS: dict[str, type] = {
    CONVERSATION_CREATED: ConversationCreatedPayload,
    CONVERSATION_UPDATED: ConversationUpdatedPayload,
    CONVERSATION_ENDED: ConversationEndedPayload,
    MESSAGE_CREATED: MessageCreatedPayload,
    CUSTOMER_CREATED: CustomerCreatedPayload,
    CUSTOMER_UPDATED: CustomerUpdatedPayload,
    TYPING_STARTED: TypingPayload,
    TYPING_STOPPED: TypingPayload,
}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def conversation_data(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "customerId": conv.customer_id,
        "brandId": conv.brand_id,
        "status": conv.status,
        "title": conv.title,
        "custom": conv.custom,
        "preview": conv.preview,
        "messageCount": conv.message_count,
        "ended": conv.ended,
        "endedAt": iso(conv.ended_at),
        "endedByType": conv.ended_by_type,
        "lastMessageAt": iso(conv.last_message_at),
        "createdAt": iso(conv.created_at),
        "updatedAt": iso(conv.updated_at),
        "version": conv.version,
    }


def message_data(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "conversationId": m.conversation_id,
        "customerId": m.customer_id,
        "direction": m.direction,
        "body": m.body,
        "payload": m.payload,
        "sentBy": {"type": m.sent_by_type, "id": m.sent_by_id, "displayName": m.sent_by_name},
        "createdAt": iso(m.created_at),
    }


def customer_data(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "externalId": c.external_id,
        "email": c.email,
        "verified": c.verified,
        "emails": c.emails,
        "phones": c.phones,
        "socials": c.socials,
        "custom": c.custom,
        "createdAt": iso(c.created_at),
        "updatedAt": iso(c.updated_at),
        "version": c.version,
    }


def typing_data(conv: Conversation, actor: Actor, typing: bool, at: int) -> dict[str, Any]:
    return {
        "conversationId": conv.id,
        "customerId": conv.customer_id,
        "typing": typing,
        "sentBy": {"type": actor.type.value, "id": actor.id, "displayName": actor.name},
        "createdAt": iso(at),
    }


def changes_between(before: dict[str, Any], after_values: dict[str, Any]) -> dict[str, Any]:
    """``{key: {"before", "after"}}`` for each key whose value really changes
    (``1`` and ``True`` differ; ``None`` means cleared)."""
    out: dict[str, Any] = {}
    for key, new in after_values.items():
        old = before.get(key)
        if old != new or type(old) is not type(new):
            out[key] = {"before": old, "after": new}
    return out
