"""Outbound webhooks, the pure rules: Kustomer's event names, the envelope and its
``changes``, the signature, what a subscription may hold, and which addresses a
delivery may never reach.

An envelope announces one object (a conversation, a customer, a message) after
one committed write: ``kustomer.<object>.create`` with ``changes: null``, or
``kustomer.<object>.update`` with what the write changed. Several events of one
write about the same object make one envelope (a REST PATCH that sets custom
attributes and closes the conversation is one update).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from klatch.domain import events as ev
from klatch.domain.models import ActorType, Event
from klatch.errors import InvalidArguments

CONVERSATION_CREATE = "kustomer.conversation.create"
CONVERSATION_UPDATE = "kustomer.conversation.update"
CUSTOMER_CREATE = "kustomer.customer.create"
CUSTOMER_UPDATE = "kustomer.customer.update"
MESSAGE_CREATE = "kustomer.message.create"
MESSAGE_UPDATE = "kustomer.message.update"  # its custom attributes changed
NOTE_CREATE = "kustomer.note.create"  # an internal note (agents' tools)
TEAM_CREATE = "kustomer.team.create"
TEAM_UPDATE = "kustomer.team.update"
TAG_CREATE = "kustomer.tag.create"
TAG_UPDATE = "kustomer.tag.update"
USER_CREATE = "kustomer.user.create"
USER_UPDATE = "kustomer.user.update"  # also when a user is disabled or enabled again
TEST_EVENT = "kustomer.webhook.test"  # "send a test event"; never subscribed to

# What a subscription may name. A deleted team, tag or user is not announced: there
# is no resource left for ``data`` (a disabled user is a ``kustomer.user.update``).
EVENTS = (
    CONVERSATION_CREATE,
    CONVERSATION_UPDATE,
    CUSTOMER_CREATE,
    CUSTOMER_UPDATE,
    MESSAGE_CREATE,
    MESSAGE_UPDATE,
    NOTE_CREATE,
    TEAM_CREATE,
    TEAM_UPDATE,
    TAG_CREATE,
    TAG_UPDATE,
    USER_CREATE,
    USER_UPDATE,
)
MAX_EVENTS = len(EVENTS)  # Kustomer's 12 are its events; here each of Klatch's once
MAX_NAME = 255
MAX_URL = 2048
MAX_HEADERS = 20
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 4096
# Headers Klatch sets itself: a subscription cannot replace them.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "host",
        "x-kustomer-webhook-event",
        "x-kustomer-webhook-signature",
    }
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field name
_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")  # no CR, LF or other controls

Kind = Literal["conversation", "customer", "message", "note", "team", "tag", "user"]

# The writer, as Kustomer names it in ``client``.
CLIENTS = {
    ActorType.CUSTOMER.value: "chat-sdk",
    ActorType.API_KEY.value: "api",
    ActorType.USER.value: "console",
    ActorType.SYSTEM.value: "system",
    "rule": "rule",
}


def client_of(actor_type: str) -> str:
    return CLIENTS.get(actor_type, actor_type)


def signature(token: str, body: bytes) -> str:
    """``X-Kustomer-Webhook-Signature``: lowercase hex HMAC-SHA256 of the raw body."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- envelopes


@dataclass(slots=True)
class Announcement:
    """One object one write changed: the envelope to build, before its ``data``."""

    name: str
    kind: Kind
    object_id: str
    ordering_key: str  # deliveries of one key arrive in commit order
    event: Event  # the first event of the write about the object
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    relationships: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: int = 0  # messages the write added to this conversation

    @property
    def is_create(self) -> bool:
        return self.name.endswith(".create")

    def changes(self) -> dict[str, Any] | None:
        if self.is_create:
            return None
        return {"attributes": self.attributes, "relationships": self.relationships}


def change(before: Any, after: Any) -> dict[str, Any]:
    """``{op, before, after}``: ``add`` when there was no value, ``remove`` when there
    is none left, else ``replace``."""
    op = "add" if before is None else "remove" if after is None else "replace"
    return {"op": op, "before": before, "after": after}


def announcements(events: Sequence[Event]) -> list[Announcement]:
    """What one write's events announce, one per (event name, object), in the order
    of the events; a create absorbs the updates of the same write."""
    found: dict[tuple[str, str], Announcement] = {}
    for event in events:
        for name, kind, object_id, key, attrs, rels in _parts(event):
            slot = (kind, object_id)
            current = found.get(slot)
            if current is None:
                found[slot] = Announcement(name, kind, object_id, key, event, attrs, rels)
                continue
            if name.endswith(".create") and not current.is_create:
                current.name = name
            _merge(current.attributes, attrs)
            _merge(current.relationships, rels)
        if event.type == ev.MESSAGE_CREATED:
            found["conversation", event.payload["message"]["conversationId"]].messages += 1
    return list(found.values())


def _merge(into: dict[str, dict[str, Any]], more: Mapping[str, dict[str, Any]]) -> None:
    """Later changes of one key keep the first ``before`` and the last ``after``."""
    for key, value in more.items():
        first = into.get(key)
        if first is None:
            into[key] = value
        elif isinstance(value["after"], list):
            into[key] = list_change(first["before"], value["after"])
        else:
            into[key] = change(first["before"], value["after"])


_Part = tuple[str, Kind, str, str, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


def _parts(event: Event) -> Iterable[_Part]:
    p = event.payload
    if event.type == ev.CONVERSATION_CREATED:
        conv_id = p["conversation"]["id"]
        yield CONVERSATION_CREATE, "conversation", conv_id, conv_id, {}, {}
    elif event.type == ev.CONVERSATION_UPDATED:
        conv_id = p["conversationId"]
        attributes, relationships = conversation_changes(p), conversation_relationships(p)
        yield CONVERSATION_UPDATE, "conversation", conv_id, conv_id, attributes, relationships
    elif event.type == ev.CONVERSATION_ENDED:
        conv_id = p["conversationId"]
        ended = {
            "ended": change(False, True),
            "endedAt": change(None, p["endedAt"]),
            "endedByType": change(None, p["endedByType"]),
        }
        yield CONVERSATION_UPDATE, "conversation", conv_id, conv_id, ended, {}
    elif event.type == ev.MESSAGE_CREATED:
        yield from _message_parts(p["message"])
    elif event.type == ev.MESSAGE_UPDATED:
        attributes = custom_changes(p["changes"]["custom"])
        yield MESSAGE_UPDATE, "message", p["messageId"], p["conversationId"], attributes, {}
    elif event.type == ev.NOTE_CREATED:
        # In the conversation's order: after the message it speaks of, say.
        note = p["note"]
        yield NOTE_CREATE, "note", note["id"], note["conversationId"], {}, {}
    elif event.type == ev.CUSTOMER_CREATED:
        cid = p["customer"]["id"]
        yield CUSTOMER_CREATE, "customer", cid, cid, {}, {}
    elif event.type == ev.CUSTOMER_UPDATED:
        yield from _customer_parts(p)
    elif event.type in ev.ORG_OBJECTS:
        yield from _org_object_parts(event.type, p)


def _org_object_parts(event_type: str, p: Mapping[str, Any]) -> Iterable[_Part]:
    """A team, tag or user created or changed (deletes are not announced)."""
    if event_type == ev.TEAM_CREATED:
        yield TEAM_CREATE, "team", p["team"]["id"], p["team"]["id"], {}, {}
    elif event_type == ev.TEAM_UPDATED:
        yield TEAM_UPDATE, "team", p["teamId"], p["teamId"], *_team_changes(p["changes"])
    elif event_type == ev.TAG_CREATED:
        yield TAG_CREATE, "tag", p["tag"]["id"], p["tag"]["id"], {}, {}
    elif event_type == ev.TAG_UPDATED:
        attributes = {k: change(v["before"], v["after"]) for k, v in p["changes"].items()}
        yield TAG_UPDATE, "tag", p["tagId"], p["tagId"], attributes, {}
    elif event_type == ev.USER_CREATED:
        yield USER_CREATE, "user", p["user"]["id"], p["user"]["id"], {}, {}
    elif event_type == ev.USER_UPDATED:
        yield USER_UPDATE, "user", p["userId"], p["userId"], _user_changes(p["changes"]), {}


def _team_changes(
    moved: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """A team's changes under the REST resource's names; members also as the
    ``members`` relationship, ``{type: user, id}`` each."""
    attributes: dict[str, dict[str, Any]] = {}
    relationships: dict[str, dict[str, Any]] = {}
    for key in ("name", "displayName"):
        if key in moved:
            attributes[key] = change(moved[key]["before"], moved[key]["after"])
    if "members" in moved:
        before, after = moved["members"]["before"], moved["members"]["after"]
        attributes["members"] = list_change(before, after)
        relationships["members"] = list_change(
            [_ref("user", u) for u in before], [_ref("user", u) for u in after]
        )
    return attributes, relationships


def _user_changes(moved: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A user's changes under the REST resource's names (``name`` and
    ``displayName``, ``roles``, ``deleted`` for disabled)."""
    out: dict[str, dict[str, Any]] = {}
    if "displayName" in moved:
        shown = change(moved["displayName"]["before"], moved["displayName"]["after"])
        out["name"] = out["displayName"] = shown
    if "role" in moved:
        out["roles"] = list_change([moved["role"]["before"]], [moved["role"]["after"]])
    if "disabled" in moved:
        out["deleted"] = change(moved["disabled"]["before"], moved["disabled"]["after"])
    return out


def _message_parts(m: Mapping[str, Any]) -> Iterable[_Part]:
    conv_id = m["conversationId"]
    yield MESSAGE_CREATE, "message", m["id"], conv_id, {}, {}
    # The conversation gained a message: Kustomer sends its update as well.
    yield CONVERSATION_UPDATE, "conversation", conv_id, conv_id, {}, {}


def _customer_parts(p: Mapping[str, Any]) -> Iterable[_Part]:
    cid = p["customerId"]
    attributes: dict[str, dict[str, Any]] = {}
    for key, moved in p["changes"].items():
        if key == "custom":
            attributes.update(custom_changes(moved))
        else:
            attributes[key] = change(moved["before"], moved["after"])
    yield CUSTOMER_UPDATE, "customer", cid, cid, attributes, {}
    merged_from = p.get("mergedFrom")
    for conv_id in p.get("conversationIds", []):
        customer = change(_ref("customer", merged_from), _ref("customer", cid))
        yield CONVERSATION_UPDATE, "conversation", conv_id, conv_id, {}, {"customer": customer}


def _ref(kind: str, ident: str | None) -> dict[str, str] | None:
    return None if ident is None else {"type": kind, "id": ident}


# The conversation's fields as the REST resource names them.
_CONVERSATION_FIELDS = {"status": "status", "title": "name", "externalId": "externalId"}
# Lists of ids the REST resource shows twice, as Kustomer's does: as ids in
# ``attributes`` and as ``{type, id}`` references in ``relationships``.
_CONVERSATION_LISTS = {"assignedUsers": "user", "assignedTeams": "team", "tags": "tag"}


def conversation_changes(payload: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``changes.attributes`` of a ``conversation.updated``: each custom key as
    ``custom.<key>``, the fields under their REST names, and the id lists
    (``assignedUsers``, ``assignedTeams``, ``tags``) as lists of ids."""
    moved: Mapping[str, Any] = payload["changes"]
    out = custom_changes(moved.get("custom", {}))
    for key, name in _CONVERSATION_FIELDS.items():
        if key in moved:
            out[name] = change(moved[key]["before"], moved[key]["after"])
    for key in _CONVERSATION_LISTS:
        if key in moved:
            out[key] = list_change(moved[key]["before"], moved[key]["after"])
    return out


def conversation_relationships(payload: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``changes.relationships`` of a ``conversation.updated``: the id lists as the
    resource's relationships hold them, ``{type, id}`` each."""
    moved: Mapping[str, Any] = payload["changes"]
    out: dict[str, dict[str, Any]] = {}
    for key, kind in _CONVERSATION_LISTS.items():
        if key in moved:
            before, after = ([_ref(kind, i) for i in moved[key][w]] for w in ("before", "after"))
            out[key] = list_change(before, after)
    return out


def list_change(before: Sequence[Any], after: Sequence[Any]) -> dict[str, Any]:
    """``{op, before, after}`` of a list: ``add`` from an empty one, ``remove`` to an
    empty one, else ``replace``."""
    op = "add" if not before else "remove" if not after else "replace"
    return {"op": op, "before": list(before), "after": list(after)}


def custom_changes(custom: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"custom.{k}": change(v["before"], v["after"]) for k, v in custom.items()}


def envelope(
    a: Announcement,
    *,
    envelope_id: str,
    org_id: str,
    org_name: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Kustomer's envelope for ``a``; ``data`` is the resource as ``GET`` returns it
    (a conversation that gained messages lists its ``messageCount`` as changed)."""
    changes = a.changes()
    count = data.get("attributes", {}).get("messageCount")
    if changes is not None and a.messages and isinstance(count, int):
        changes["attributes"] = {
            "messageCount": change(count - a.messages, count),
            **changes["attributes"],
        }
    custom_changed = changes is not None and any(
        k.startswith("custom.") for k in changes["attributes"]
    )
    return {
        "id": envelope_id,
        "name": a.name,
        "org": org_id,
        "orgName": org_name,
        "dataId": a.object_id,
        "data": data,
        "changes": changes,
        "createdAt": ev.iso(a.event.created_at),
        "client": client_of(a.event.actor_type),
        "meta": {"customChanged": custom_changed},
    }


# ---------------------------------------------------------------- subscriptions


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InvalidArguments(f"name is text of 1 to {MAX_NAME} characters", pointer="/name")
    return name.strip()


def check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise InvalidArguments(
            f"events is a list of 1 to {MAX_EVENTS} event names", pointer="/events"
        )
    out: list[str] = []
    for i, name in enumerate(events):
        if name not in EVENTS:
            raise InvalidArguments(
                f"'{name}' is not an event Klatch sends; choose from {', '.join(EVENTS)}",
                code="unknown_event",
                pointer=f"/events/{i}",
            )
        if name not in out:
            out.append(name)
    return out


def check_headers(headers: Any) -> list[dict[str, str]]:
    """``[{name, value}]``: field names and values HTTP allows, none Klatch sets."""
    if headers is None:
        return []
    if not isinstance(headers, list) or len(headers) > MAX_HEADERS:
        raise InvalidArguments(
            f"headers is a list of at most {MAX_HEADERS} {{name, value}} objects",
            pointer="/headers",
        )
    return [_header(i, h) for i, h in enumerate(headers)]


def _header(i: int, header: Any) -> dict[str, str]:
    pointer = f"/headers/{i}"
    if not isinstance(header, dict) or set(header) != {"name", "value"}:
        raise InvalidArguments("each header is {name, value}", pointer=pointer)
    name, value = header["name"], header["value"]
    if not isinstance(name, str) or not _TOKEN.match(name) or len(name) > MAX_HEADER_NAME:
        raise InvalidArguments(
            "a header name is an HTTP field name (letters, digits, -)", pointer=f"{pointer}/name"
        )
    if name.lower() in RESERVED_HEADERS:
        raise InvalidArguments(
            f"'{name}' is set by Klatch on every delivery", pointer=f"{pointer}/name"
        )
    if not isinstance(value, str) or not _VALUE.match(value) or len(value) > MAX_HEADER_VALUE:
        raise InvalidArguments(
            f"a header value is text of at most {MAX_HEADER_VALUE} characters without "
            "line breaks or control characters",
            pointer=f"{pointer}/value",
        )
    return {"name": name, "value": value}


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points: its scheme, host and port."""

    scheme: str
    host: str
    port: int


def check_url(url: Any, *, allow_http: bool) -> Target:
    """The URL's form: absolute, ``https`` (``http`` only when allowed), a host, no
    credentials. Where its host resolves is checked by :func:`forbidden_address`."""
    pointer = "/url"
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise InvalidArguments(f"url is a URL of at most {MAX_URL} characters", pointer=pointer)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidArguments("url is not a valid URL", pointer=pointer) from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise InvalidArguments(
            "url must start with https:// (http:// only when KLATCH_WEBHOOK_ALLOW_HTTP=1)",
            code="url_not_allowed",
            pointer=pointer,
        )
    if not parts.hostname:
        raise InvalidArguments("url has no host", pointer=pointer)
    if parts.username is not None or parts.password is not None:
        raise InvalidArguments(
            "url must not carry credentials; send them in headers", pointer=pointer
        )
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default)


def forbidden_address(address: str) -> str | None:
    """Why a delivery may not reach ``address`` (loopback, private, link-local and
    cloud metadata, multicast, reserved: anything not globally routable), or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "not a public address"
    return None


def retry_delay(schedule: Sequence[float], tries: int) -> float | None:
    """Seconds until the retry after the ``tries``-th failed try of a schedule, or
    None once the schedule is spent."""
    return schedule[tries - 1] if 1 <= tries <= len(schedule) else None


@dataclass(frozen=True, slots=True)
class OutboundWebhook:
    """A subscription: where to send which events, signed with ``token``."""

    id: str
    org_id: str
    name: str
    url: str
    events: list[str]
    headers: list[dict[str, str]]
    token: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: int | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a delivery, as the transactions log shows it."""

    at: int
    status_code: int | None
    duration_ms: int
    error: str | None
    response: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One envelope for one subscription (a "transaction" in Kustomer's words)."""

    seq: int
    org_id: str
    webhook_id: str
    envelope_id: str
    name: str
    data_id: str | None
    state: str  # pending | delivered
    tries: int
    attempts: int
    due_at: int
    last_status: int | None
    last_error: str | None
    created_at: int
    delivered_at: int | None
    log: list[Attempt] = field(default_factory=list)
