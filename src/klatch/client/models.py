"""Typed views of the REST API's JSON:API resources.

Each model reads the fields integrations use from a resource's ``attributes``
and ``relationships``, and keeps the whole resource in ``raw``, so a field the
server adds later is never lost (``conversation.raw["attributes"]["priority"]``).
Times are timezone-aware ``datetime`` values (UTC); a missing field is None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Json = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time as the API writes it (``2026-01-02T03:04:05.678Z``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _attributes(resource: Mapping[str, Any]) -> Json:
    attributes = resource.get("attributes")
    return dict(attributes) if isinstance(attributes, Mapping) else {}


def _related_id(resource: Mapping[str, Any], name: str) -> str | None:
    relationships = resource.get("relationships")
    if not isinstance(relationships, Mapping):
        return None
    related = relationships.get(name)
    data = related.get("data") if isinstance(related, Mapping) else None
    ident = data.get("id") if isinstance(data, Mapping) else None
    return str(ident) if ident is not None else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Resource:
    """Any resource: its ``type``, ``id``, ``attributes`` and the whole of it."""

    type: str
    id: str
    attributes: Json
    created_at: datetime | None
    updated_at: datetime | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Resource:
        attributes = _attributes(resource)
        return cls(
            type=str(resource.get("type", "")),
            id=str(resource.get("id", "")),
            attributes=attributes,
            created_at=parse_time(attributes.get("createdAt")),
            updated_at=parse_time(attributes.get("updatedAt")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str | None
    email: str | None
    external_id: str | None
    emails: list[str]
    phones: list[str]
    custom: Json
    verified: bool
    created_at: datetime | None
    updated_at: datetime | None
    rev: int | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Customer:
        a = _attributes(resource)
        return cls(
            id=str(resource["id"]),
            name=_str(a.get("name")),
            email=_str(a.get("email")),
            external_id=_str(a.get("externalId")),
            emails=[str(e.get("email")) for e in a.get("emails") or [] if isinstance(e, dict)],
            phones=[str(p.get("phone")) for p in a.get("phones") or [] if isinstance(p, dict)],
            custom=dict(a.get("custom") or {}),
            verified=bool(a.get("verified")),
            created_at=parse_time(a.get("createdAt")),
            updated_at=parse_time(a.get("updatedAt")),
            rev=_int(a.get("rev")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    name: str | None
    status: str | None
    custom: Json
    customer_id: str | None
    brand_id: str | None
    external_id: str | None
    message_count: int | None
    preview: str | None
    ended: bool
    ended_at: datetime | None
    last_message_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    rev: int | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Conversation:
        a = _attributes(resource)
        return cls(
            id=str(resource["id"]),
            name=_str(a.get("name")),
            status=_str(a.get("status")),
            custom=dict(a.get("custom") or {}),
            customer_id=_related_id(resource, "customer"),
            brand_id=_related_id(resource, "brand"),
            external_id=_str(a.get("externalId")),
            message_count=_int(a.get("messageCount")),
            preview=_str(a.get("preview")),
            ended=bool(a.get("ended")),
            ended_at=parse_time(a.get("endedAt")),
            last_message_at=parse_time(a.get("lastMessageAt")),
            created_at=parse_time(a.get("createdAt")),
            updated_at=parse_time(a.get("updatedAt")),
            rev=_int(a.get("rev")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    body: str | None
    direction: str | None
    channel: str | None
    payload: str | None
    sent_by: Json
    custom: Json  # the message klass's attributes
    conversation_id: str | None
    customer_id: str | None
    created_at: datetime | None
    updated_at: datetime | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Message:
        a = _attributes(resource)
        return cls(
            id=str(resource["id"]),
            body=_str(a.get("body")),
            direction=_str(a.get("direction")),
            channel=_str(a.get("channel")),
            payload=_str(a.get("payload")),
            sent_by=dict(a.get("sentBy") or {}),
            custom=dict(a.get("custom") or {}),
            conversation_id=_related_id(resource, "conversation"),
            customer_id=_related_id(resource, "customer"),
            created_at=parse_time(a.get("createdAt")),
            updated_at=parse_time(a.get("updatedAt")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a conversation's history (``GET /v1/conversations/{id}/events``)."""

    id: str
    name: str
    actor: Json
    payload: Json
    created_at: datetime | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Event:
        a = _attributes(resource)
        return cls(
            id=str(resource["id"]),
            name=str(a.get("name", "")),
            actor=dict(a.get("actor") or {}),
            payload=dict(a.get("payload") or {}),
            created_at=parse_time(a.get("createdAt")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Property:
    """One custom attribute definition of a klass."""

    name: str
    type: str | None
    display_name: str | None
    sdk_writable: bool
    enumeration: list[Any] | None
    tree: Any
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, name: str, view: Json) -> Property:
        return cls(
            name=name,
            type=_str(view.get("type")),
            display_name=_str(view.get("displayName")),
            sdk_writable=bool(view.get("sdkWritable", True)),
            enumeration=view.get("enumeration"),
            tree=view.get("tree"),
            raw=view,
        )


@dataclass(frozen=True, slots=True)
class Metadata:
    """The custom attribute definitions of a klass (``conversation``, ``customer``)."""

    klass: str
    properties: dict[str, Property]
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Metadata:
        properties = _attributes(resource).get("properties") or {}
        return cls(
            klass=str(resource.get("id", "")),
            properties={
                name: Property.parse(name, dict(view)) for name, view in properties.items()
            },
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key; ``token`` (the secret) only in the answer that created it."""

    id: str
    name: str | None
    roles: list[str]
    prefix: str | None
    brand_id: str | None
    token: str | None
    created_at: datetime | None
    revoked_at: datetime | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> ApiKey:
        a = _attributes(resource)
        return cls(
            id=str(resource["id"]),
            name=_str(a.get("name")),
            roles=[str(r) for r in a.get("roles") or []],
            prefix=_str(a.get("prefix")),
            brand_id=_str(a.get("brandId")),
            token=_str(a.get("token")),
            created_at=parse_time(a.get("createdAt")),
            revoked_at=parse_time(a.get("revokedAt")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class User:
    """A user of the org: ``user_type`` ``user`` (the console's) or ``machine``
    (an API key)."""

    id: str
    name: str | None
    email: str | None
    user_type: str | None
    roles: list[str]
    created_at: datetime | None
    updated_at: datetime | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> User:
        a = _attributes(resource)
        return cls(
            id=str(resource["id"]),
            name=_str(a.get("name") or a.get("displayName")),
            email=_str(a.get("email")),
            user_type=_str(a.get("userType")),
            roles=[str(r) for r in a.get("roles") or []],
            created_at=parse_time(a.get("createdAt")),
            updated_at=parse_time(a.get("updatedAt")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Webhook:
    """An outbound webhook subscription; ``token`` is the key of its signatures;
    ``disabled_reason`` says why Klatch disabled it (a receiver that kept failing)."""

    id: str
    name: str | None
    url: str | None
    events: list[str]
    headers: list[dict[str, str]]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    token: str | None
    created_at: datetime | None
    updated_at: datetime | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Webhook:
        a = _attributes(resource)
        return cls(
            id=str(resource["id"]),
            name=_str(a.get("name")),
            url=_str(a.get("url")),
            events=[str(e) for e in a.get("events") or []],
            headers=[
                {"name": str(h.get("name")), "value": str(h.get("value"))}
                for h in a.get("headers") or []
                if isinstance(h, dict)
            ],
            enabled=bool(a.get("enabled", True)),
            disabled_reason=_str(a.get("disabledReason")),
            disabled_at=parse_time(a.get("disabledAt")),
            token=_str(a.get("token")),
            created_at=parse_time(a.get("createdAt")),
            updated_at=parse_time(a.get("updatedAt")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a delivery: when, the answer's status code (None when none
    came), how long it took, the error if any, and the start of the body."""

    at: datetime | None
    status_code: int | None
    duration_ms: float | None
    error: str | None
    response: str | None

    @classmethod
    def parse(cls, view: Mapping[str, Any]) -> Attempt:
        duration = view.get("durationMs")
        return cls(
            at=parse_time(view.get("at")),
            status_code=_int(view.get("statusCode")),
            duration_ms=float(duration) if isinstance(duration, int | float) else None,
            error=_str(view.get("error")),
            response=_str(view.get("response")),
        )


@dataclass(frozen=True, slots=True)
class Transaction:
    """One delivery of one event to a webhook (Kustomer's "transaction"): the
    event (``event``, the envelope's ``event_id``, the object's ``data_id``), its
    ``state`` (``pending`` or ``delivered``), the last answer's status code and
    error, when it is tried next, and every attempt made."""

    id: str
    event: str | None
    event_id: str | None
    data_id: str | None
    state: str | None
    status_code: int | None
    error: str | None
    attempts: list[Attempt]
    next_attempt_at: datetime | None
    created_at: datetime | None
    delivered_at: datetime | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, resource: Json) -> Transaction:
        a = _attributes(resource)
        return cls(
            id=str(resource.get("id", "")),
            event=_str(a.get("event")),
            event_id=_str(a.get("eventId")),
            data_id=_str(a.get("dataId")),
            state=_str(a.get("status")),
            status_code=_int(a.get("lastStatusCode")),
            error=_str(a.get("lastError")),
            attempts=[Attempt.parse(x) for x in a.get("attempts") or [] if isinstance(x, dict)],
            next_attempt_at=parse_time(a.get("nextAttemptAt")),
            created_at=parse_time(a.get("createdAt")),
            delivered_at=parse_time(a.get("deliveredAt")),
            raw=resource,
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its ``items``, where it stands (``page``, ``page_size``,
    ``total``, ``total_pages`` when the server counts) and ``next``, the link to
    the following page (None on the last)."""

    items: list[T]
    page: int | None
    page_size: int | None
    total: int | None
    total_pages: int | None
    next: str | None
    raw: Json = field(repr=False)

    @classmethod
    def parse(cls, document: Json, item: Callable[[Json], T]) -> Page[T]:
        meta = _mapping(document.get("meta"))
        links = _mapping(document.get("links"))
        data = document.get("data")
        next_link = links.get("next")
        return cls(
            items=[item(r) for r in data or [] if isinstance(r, dict)],
            page=_int(meta.get("page")),
            page_size=_int(meta.get("pageSize")),
            total=_int(meta.get("total")),
            total_pages=_int(meta.get("totalPages")),
            next=next_link if isinstance(next_link, str) and next_link else None,
            raw=document,
        )

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
