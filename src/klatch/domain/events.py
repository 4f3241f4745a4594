"""The event catalogue: every event type Klatch appends, and its payload.

Types are ``noun.verb``. Payloads are JSON objects built only here, one typed
builder per event type (so mypy checks each against its ``TypedDict``), and the
catalogue in ``docs/events.md`` and the code cannot drift apart silently.
Services hand the drafts to their unit of work, which appends them to the log.
Times in payloads are ISO 8601 UTC strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import (
    Any,
    Literal,
    NotRequired,  # pydantic needs these on 3.11
)

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from klatch.domain.models import Actor, Conversation, Customer, Event, Message, User
from klatch.domain.tags import Tag
from klatch.domain.teams import Team

CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
CONVERSATION_ENDED = "conversation.ended"
CONVERSATION_DELETED = "conversation.deleted"
MESSAGE_CREATED = "message.created"
# A message's custom attributes changed (PATCH /v1/messages/{id}): agents only, as
# the message klass's attributes are what agents and integrations note on it.
MESSAGE_UPDATED = "message.updated"
CUSTOMER_UPDATED = "customer.updated"
CUSTOMER_CREATED = "customer.created"
CUSTOMER_DELETED = "customer.deleted"
TYPING_STARTED = "typing.started"  # ephemeral: published, never stored
TYPING_STOPPED = "typing.stopped"
# Internal: a credential ended (key revoked, session ended, user disabled). Stored,
# so every replica's hub learns it through the bus or the log, and closes the
# sockets opened with it; never delivered to any socket.
CREDENTIAL_REVOKED = "credential.revoked"
# An outbound webhook failed through its whole retry schedule and was disabled.
OUTBOUND_WEBHOOK_DISABLED = "outbound_webhook.disabled"
# Internal: an outbound webhook was created, changed or deleted (every replica
# forgets its cached subscriptions of the org).
OUTBOUND_WEBHOOK_CHANGED = "outbound_webhook.changed"
# Internal: a routing rule was created, changed or deleted (every replica forgets
# its cached rules of the org).
ROUTING_RULE_CHANGED = "routing_rule.changed"
# Not an event that happens: what event-log retention keeps of a conversation's
# pruned attribute history (domain/retention.py), stored under a negative id, never
# published or replayed; served with the conversation's history.
CONVERSATION_HISTORY_SUMMARY = "conversation.history_summary"
# An agent's internal note on a conversation: for agents only, never for its
# customer: AGENTS_ONLY keeps it from every chat session's socket (live and replay).
NOTE_CREATED = "note.created"
# The org's teams, tags and console users: for agents (and outbound webhooks), never
# for a chat session. A user's payload never holds a password, a hash or a secret.
TEAM_CREATED = "team.created"
TEAM_UPDATED = "team.updated"
TEAM_DELETED = "team.deleted"
TAG_CREATED = "tag.created"
TAG_UPDATED = "tag.updated"
TAG_DELETED = "tag.deleted"
USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_DELETED = "user.deleted"
ORG_OBJECTS = (
    TEAM_CREATED,
    TEAM_UPDATED,
    TEAM_DELETED,
    TAG_CREATED,
    TAG_UPDATED,
    TAG_DELETED,
    USER_CREATED,
    USER_UPDATED,
    USER_DELETED,
)

CATALOGUE = (
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    CONVERSATION_ENDED,
    CONVERSATION_DELETED,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    CUSTOMER_CREATED,
    CUSTOMER_UPDATED,
    CUSTOMER_DELETED,
    TYPING_STARTED,
    TYPING_STOPPED,
    CREDENTIAL_REVOKED,
    OUTBOUND_WEBHOOK_DISABLED,
    OUTBOUND_WEBHOOK_CHANGED,
    NOTE_CREATED,
    ROUTING_RULE_CHANGED,
    *ORG_OBJECTS,
)
EPHEMERAL = (TYPING_STARTED, TYPING_STOPPED)
# Stored, never sent to a socket.
INTERNAL = (CREDENTIAL_REVOKED, OUTBOUND_WEBHOOK_CHANGED, ROUTING_RULE_CHANGED)
AGENTS_ONLY = (NOTE_CREATED, MESSAGE_UPDATED, *ORG_OBJECTS)  # never sent to a customer's socket


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
    externalId: str | None
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
    assignedUsers: list[str]
    assignedTeams: list[str]
    tags: list[str]  # tag ids


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
    externalId: Change
    assignedUsers: Change
    assignedTeams: Change
    tags: Change  # tag ids


@with_config(_STRICT)
class RuleRef(TypedDict):
    """The routing rule that made a change (history and events name it)."""

    id: str
    name: str


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
    rule: NotRequired[RuleRef]  # set when a routing rule made the change


@with_config(_STRICT)
class ConversationEndedPayload(TypedDict):
    conversationId: str
    customerId: str
    endedAt: str
    endedByType: str
    createdAt: str


@with_config(_STRICT)
class ConversationDeletedPayload(TypedDict):
    conversationId: str
    customerId: str


@with_config(_STRICT)
class MessageCreatedPayload(TypedDict):
    message: MessageData


@with_config(_STRICT)
class MessageChanges(TypedDict):
    custom: dict[str, Change]


@with_config(_STRICT)
class MessageUpdatedPayload(TypedDict):
    messageId: str
    conversationId: str
    customerId: str
    changes: MessageChanges
    custom: dict[str, Any]  # all custom attributes after the change
    updatedAt: str


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
class CustomerDeletedPayload(TypedDict):
    customerId: str
    mergedIds: list[str]  # anonymous customers merged into it at login, erased with it
    conversationIds: list[str]  # its conversations, erased with it


@with_config(_STRICT)
class TypingPayload(TypedDict):
    conversationId: str
    customerId: str
    typing: bool
    sentBy: SentBy
    createdAt: str


CredentialKind = Literal["api_key", "chat_session", "console_session", "user"]


@with_config(_STRICT)
class CredentialRevokedPayload(TypedDict):
    kind: CredentialKind
    id: str  # the key's, chat session's or user's id; a console session's reference


@with_config(_STRICT)
class NoteData(TypedDict):
    id: str
    conversationId: str
    body: str
    createdBy: SentBy
    createdAt: str
    updatedAt: str


@with_config(_STRICT)
class NoteCreatedPayload(TypedDict):
    note: NoteData


@with_config(_STRICT)
class OutboundWebhookDisabledPayload(TypedDict):
    webhookId: str
    name: str
    reason: str
    disabledAt: str


@with_config(_STRICT)
class OutboundWebhookChangedPayload(TypedDict):
    webhookId: str
    change: Literal["created", "updated", "deleted"]


@with_config(_STRICT)
class RoutingRuleChangedPayload(TypedDict):
    ruleId: str
    change: Literal["created", "updated", "deleted"]


@with_config(_STRICT)
class TeamData(TypedDict):
    id: str
    name: str
    displayName: str
    members: list[str]  # user ids
    createdAt: str
    updatedAt: str


@with_config(_STRICT)
class TeamCreatedPayload(TypedDict):
    team: TeamData


@with_config(_STRICT)
class TeamUpdatedPayload(TypedDict):
    teamId: str
    changes: dict[str, Change]  # name | displayName | members
    team: TeamData


@with_config(_STRICT)
class TeamDeletedPayload(TypedDict):
    teamId: str


@with_config(_STRICT)
class TagData(TypedDict):
    id: str
    name: str
    color: str | None
    createdAt: str
    updatedAt: str


@with_config(_STRICT)
class TagCreatedPayload(TypedDict):
    tag: TagData


@with_config(_STRICT)
class TagUpdatedPayload(TypedDict):
    tagId: str
    changes: dict[str, Change]  # name | color
    tag: TagData


@with_config(_STRICT)
class TagDeletedPayload(TypedDict):
    tagId: str


@with_config(_STRICT)
class UserData(TypedDict):
    """A console user: never a password, a hash or a session."""

    id: str
    email: str
    displayName: str
    role: str  # agent | admin
    disabled: bool
    disabledAt: str | None
    createdAt: str


@with_config(_STRICT)
class UserCreatedPayload(TypedDict):
    user: UserData


@with_config(_STRICT)
class UserUpdatedPayload(TypedDict):
    userId: str
    changes: dict[str, Change]  # displayName | role | disabled
    user: UserData


@with_config(_STRICT)
class UserDeletedPayload(TypedDict):
    userId: str


PAYLOADS: dict[str, type] = {
    CONVERSATION_CREATED: ConversationCreatedPayload,
    CONVERSATION_UPDATED: ConversationUpdatedPayload,
    CONVERSATION_ENDED: ConversationEndedPayload,
    CONVERSATION_DELETED: ConversationDeletedPayload,
    MESSAGE_CREATED: MessageCreatedPayload,
    MESSAGE_UPDATED: MessageUpdatedPayload,
    CUSTOMER_CREATED: CustomerCreatedPayload,
    CUSTOMER_UPDATED: CustomerUpdatedPayload,
    CUSTOMER_DELETED: CustomerDeletedPayload,
    TYPING_STARTED: TypingPayload,
    TYPING_STOPPED: TypingPayload,
    CREDENTIAL_REVOKED: CredentialRevokedPayload,
    OUTBOUND_WEBHOOK_DISABLED: OutboundWebhookDisabledPayload,
    OUTBOUND_WEBHOOK_CHANGED: OutboundWebhookChangedPayload,
    NOTE_CREATED: NoteCreatedPayload,
    ROUTING_RULE_CHANGED: RoutingRuleChangedPayload,
    TEAM_CREATED: TeamCreatedPayload,
    TEAM_UPDATED: TeamUpdatedPayload,
    TEAM_DELETED: TeamDeletedPayload,
    TAG_CREATED: TagCreatedPayload,
    TAG_UPDATED: TagUpdatedPayload,
    TAG_DELETED: TagDeletedPayload,
    USER_CREATED: UserCreatedPayload,
    USER_UPDATED: UserUpdatedPayload,
    USER_DELETED: UserDeletedPayload,
}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event a unit of work will append: the log gives it its id and time."""

    type: str
    payload: Mapping[str, Any]
    conversation_id: str | None = None
    customer_id: str | None = None


# ---------------------------------------------------------------- resources


def conversation_data(conv: Conversation) -> ConversationData:
    return {
        "id": conv.id,
        "customerId": conv.customer_id,
        "brandId": conv.brand_id,
        "status": "done" if conv.status == "done" else "open",
        "title": conv.title,
        "externalId": conv.external_id,
        "custom": conv.custom,
        "preview": conv.preview,
        "messageCount": conv.message_count,
        "ended": conv.ended,
        "endedAt": iso(conv.ended_at),
        "endedByType": conv.ended_by_type,
        "lastMessageAt": iso(conv.last_message_at),
        "createdAt": _iso(conv.created_at),
        "updatedAt": _iso(conv.updated_at),
        "version": conv.version,
        "assignedUsers": list(conv.assigned_users),
        "assignedTeams": list(conv.assigned_teams),
        "tags": list(conv.tags),
    }


def message_data(m: Message) -> MessageData:
    return {
        "id": m.id,
        "conversationId": m.conversation_id,
        "customerId": m.customer_id,
        "direction": "in" if m.direction == "in" else "out",
        "body": m.body,
        "payload": m.payload,
        "sentBy": {"type": m.sent_by_type, "id": m.sent_by_id, "displayName": m.sent_by_name},
        "createdAt": _iso(m.created_at),
    }


def customer_data(c: Customer) -> CustomerData:
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
        "createdAt": _iso(c.created_at),
        "updatedAt": _iso(c.updated_at),
        "version": c.version,
    }


def _iso(ms: int) -> str:
    return iso(ms) or ""


# ---------------------------------------------------------------- builders


def conversation_created(conv: Conversation) -> EventDraft:
    payload: ConversationCreatedPayload = {"conversation": conversation_data(conv)}
    return EventDraft(CONVERSATION_CREATED, payload, conv.id, conv.customer_id)


def conversation_updated(
    conv: Conversation, changes: ConversationChanges, rule: RuleRef | None = None
) -> EventDraft:
    """``conv`` as it is after the change; ``changes`` says what moved; ``rule`` the
    routing rule that moved it, if one did."""
    return _conversation_updated(
        conv.id, conv.customer_id, conv.version, changes, conv.custom, rule
    )


def custom_described(
    conversation_id: str,
    customer_id: str,
    version: int,
    changes: dict[str, Change],
    custom: dict[str, Any],
) -> EventDraft:
    """``conversation.updated`` for the describe hot path, which holds no whole row."""
    return _conversation_updated(
        conversation_id, customer_id, version, {"custom": changes}, custom, None
    )


def _conversation_updated(
    conversation_id: str,
    customer_id: str,
    version: int,
    changes: ConversationChanges,
    custom: dict[str, Any],
    rule: RuleRef | None,
) -> EventDraft:
    """The one ``conversation.updated`` payload: the conversation at ``version``
    with all its ``custom`` attributes after ``changes``."""
    payload: ConversationUpdatedPayload = {
        "conversationId": conversation_id,
        "customerId": customer_id,
        "version": version,
        "changes": changes,
        "custom": custom,
    }
    if rule is not None:
        payload["rule"] = rule
    return EventDraft(CONVERSATION_UPDATED, payload, conversation_id, customer_id)


def conversation_ended(conv: Conversation) -> EventDraft:
    payload: ConversationEndedPayload = {
        "conversationId": conv.id,
        "customerId": conv.customer_id,
        "endedAt": iso(conv.ended_at) or "",
        "endedByType": conv.ended_by_type or "",
        "createdAt": _iso(conv.created_at),
    }
    return EventDraft(CONVERSATION_ENDED, payload, conv.id, conv.customer_id)


def conversation_deleted(conv: Conversation) -> EventDraft:
    """The conversation and its messages were deleted (their events keep no data)."""
    payload: ConversationDeletedPayload = {
        "conversationId": conv.id,
        "customerId": conv.customer_id,
    }
    return EventDraft(CONVERSATION_DELETED, payload, conv.id, conv.customer_id)


def message_created(m: Message) -> EventDraft:
    payload: MessageCreatedPayload = {"message": message_data(m)}
    return EventDraft(MESSAGE_CREATED, payload, m.conversation_id, m.customer_id)


def message_updated(m: Message, changes: dict[str, Change]) -> EventDraft:
    """``m`` as it is after the change; ``changes``: each custom key's before/after."""
    payload: MessageUpdatedPayload = {
        "messageId": m.id,
        "conversationId": m.conversation_id,
        "customerId": m.customer_id,
        "changes": {"custom": changes},
        "custom": m.custom,
        "updatedAt": _iso(m.updated_at or m.created_at),
    }
    return EventDraft(MESSAGE_UPDATED, payload, m.conversation_id, m.customer_id)


def customer_created(c: Customer) -> EventDraft:
    payload: CustomerCreatedPayload = {"customer": customer_data(c)}
    return EventDraft(CUSTOMER_CREATED, payload, None, c.id)


def customer_updated(c: Customer, changes: dict[str, Any]) -> EventDraft:
    """``c`` as it is after the change; ``changes``: field or "custom" -> before/after."""
    payload: CustomerUpdatedPayload = {
        "customerId": c.id,
        "changes": changes,
        "customer": customer_data(c),
    }
    return EventDraft(CUSTOMER_UPDATED, payload, None, c.id)


def customer_merged(c: Customer, merged_from: str, conversation_ids: list[str]) -> EventDraft:
    """Login moved an anonymous customer's conversations onto ``c``."""
    payload: CustomerUpdatedPayload = {
        "customerId": c.id,
        "mergedFrom": merged_from,
        "conversationIds": conversation_ids,
        "changes": {},
        "customer": customer_data(c),
    }
    return EventDraft(CUSTOMER_UPDATED, payload, None, c.id)


def customer_deleted(
    customer_id: str, merged_ids: list[str], conversation_ids: list[str]
) -> EventDraft:
    """The customer was erased, with the customers merged into it and every
    conversation of theirs; ids only, nothing personal."""
    payload: CustomerDeletedPayload = {
        "customerId": customer_id,
        "mergedIds": merged_ids,
        "conversationIds": conversation_ids,
    }
    return EventDraft(CUSTOMER_DELETED, payload, None, customer_id)


def credential_revoked(kind: CredentialKind, credential_id: str) -> EventDraft:
    """The credential ``kind``/``credential_id`` ended: sockets opened with it close."""
    payload: CredentialRevokedPayload = {"kind": kind, "id": credential_id}
    return EventDraft(CREDENTIAL_REVOKED, payload)


def note_created(note: NoteData, customer_id: str) -> EventDraft:
    """An internal note. It names the conversation's customer (so erasing them
    scrubs it), and is in AGENTS_ONLY: no chat session's socket ever admits it."""
    payload: NoteCreatedPayload = {"note": note}
    return EventDraft(NOTE_CREATED, payload, note["conversationId"], customer_id)


def outbound_webhook_disabled(webhook_id: str, name: str, reason: str, at: int) -> EventDraft:
    """The webhook's receiver failed through the retry schedule; it was disabled."""
    payload: OutboundWebhookDisabledPayload = {
        "webhookId": webhook_id,
        "name": name,
        "reason": reason,
        "disabledAt": _iso(at),
    }
    return EventDraft(OUTBOUND_WEBHOOK_DISABLED, payload)


def outbound_webhook_changed(
    webhook_id: str, change: Literal["created", "updated", "deleted"]
) -> EventDraft:
    payload: OutboundWebhookChangedPayload = {"webhookId": webhook_id, "change": change}
    return EventDraft(OUTBOUND_WEBHOOK_CHANGED, payload)


def routing_rule_changed(
    rule_id: str, change: Literal["created", "updated", "deleted"]
) -> EventDraft:
    payload: RoutingRuleChangedPayload = {"ruleId": rule_id, "change": change}
    return EventDraft(ROUTING_RULE_CHANGED, payload)


# ---------------------------------------------------------------- teams, tags, users


def _moved(
    old: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str]
) -> dict[str, Change]:
    """The before and after of each of ``fields`` that differs between two views."""
    return {f: {"before": old[f], "after": new[f]} for f in fields if old[f] != new[f]}


def team_data(t: Team) -> TeamData:
    return {
        "id": t.id,
        "name": t.name,
        "displayName": t.display_name,
        "members": list(t.members),
        "createdAt": _iso(t.created_at),
        "updatedAt": _iso(t.updated_at),
    }


def team_created(t: Team) -> EventDraft:
    payload: TeamCreatedPayload = {"team": team_data(t)}
    return EventDraft(TEAM_CREATED, payload)


def team_updated(before: Team, after: Team) -> EventDraft | None:
    """``team.updated`` with what moved (``name``, ``displayName``, ``members``);
    None when nothing did."""
    new = team_data(after)
    changes = _moved(team_data(before), new, ("name", "displayName", "members"))
    if not changes:
        return None
    payload: TeamUpdatedPayload = {"teamId": after.id, "changes": changes, "team": new}
    return EventDraft(TEAM_UPDATED, payload)


def team_deleted(team_id: str) -> EventDraft:
    payload: TeamDeletedPayload = {"teamId": team_id}
    return EventDraft(TEAM_DELETED, payload)


def tag_data(t: Tag) -> TagData:
    return {
        "id": t.id,
        "name": t.name,
        "color": t.color,
        "createdAt": _iso(t.created_at),
        "updatedAt": _iso(t.updated_at),
    }


def tag_created(t: Tag) -> EventDraft:
    payload: TagCreatedPayload = {"tag": tag_data(t)}
    return EventDraft(TAG_CREATED, payload)


def tag_updated(before: Tag, after: Tag) -> EventDraft | None:
    """``tag.updated`` with what moved (``name``, ``color``); None when nothing did."""
    new = tag_data(after)
    changes = _moved(tag_data(before), new, ("name", "color"))
    if not changes:
        return None
    payload: TagUpdatedPayload = {"tagId": after.id, "changes": changes, "tag": new}
    return EventDraft(TAG_UPDATED, payload)


def tag_deleted(tag_id: str) -> EventDraft:
    payload: TagDeletedPayload = {"tagId": tag_id}
    return EventDraft(TAG_DELETED, payload)


def user_data(u: User) -> UserData:
    """What an event says of a console user: no password, hash or session."""
    return {
        "id": u.id,
        "email": u.email,
        "displayName": u.display_name,
        "role": u.role.value,
        "disabled": u.disabled_at is not None,
        "disabledAt": iso(u.disabled_at),
        "createdAt": _iso(u.created_at),
    }


def user_created(u: User) -> EventDraft:
    payload: UserCreatedPayload = {"user": user_data(u)}
    return EventDraft(USER_CREATED, payload)


def user_updated(before: User, after: User) -> EventDraft | None:
    """``user.updated`` with what moved (``displayName``, ``role``, ``disabled``);
    None when nothing visible did (a password reset is not announced)."""
    new = user_data(after)
    changes = _moved(user_data(before), new, ("displayName", "role", "disabled"))
    if not changes:
        return None
    payload: UserUpdatedPayload = {"userId": after.id, "changes": changes, "user": new}
    return EventDraft(USER_UPDATED, payload)


def user_deleted(user_id: str) -> EventDraft:
    payload: UserDeletedPayload = {"userId": user_id}
    return EventDraft(USER_DELETED, payload)


def typing_activity(conv: Conversation, actor: Actor, typing: bool, at: int) -> Event:
    """Ephemeral: published as it is, never stored (id 0), never replayed."""
    payload: TypingPayload = {
        "conversationId": conv.id,
        "customerId": conv.customer_id,
        "typing": typing,
        "sentBy": {"type": actor.type.value, "id": actor.id, "displayName": actor.name},
        "createdAt": _iso(at),
    }
    return Event(
        org_id=actor.org_id,
        id=0,
        type=TYPING_STARTED if typing else TYPING_STOPPED,
        payload=dict(payload),
        created_at=at,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        actor_type=actor.type.value,
        actor_id=actor.id,
    )


def changes_between(
    before: Mapping[str, Any], after_values: Mapping[str, Any]
) -> dict[str, Change]:
    """``{key: {"before", "after"}}`` for each key whose value really changes
    (``1`` and ``True`` differ; ``None`` means cleared)."""
    out: dict[str, Change] = {}
    for key, new in after_values.items():
        old = before.get(key)
        if old != new or type(old) is not type(new):
            out[key] = {"before": old, "after": new}
    return out
