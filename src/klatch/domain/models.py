"""The records services work with: plain, immutable, free of storage details."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    TRACKING = "org.tracking"  # public chat key: client API only
    USER = "org.user"  # agent integrations: conversations, customers, messages
    ADMIN = "org.admin"  # everything, including klass attributes and keys


class UserRole(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class ActorType(StrEnum):
    CUSTOMER = "customer"  # a chat session in a browser (or klatch.chat)
    USER = "user"  # an agent or admin in the console
    API_KEY = "api_key"  # an integration using the REST API
    SYSTEM = "system"  # the CLI, migrations, the demo


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: decides what may be written and is recorded in the event log."""

    type: ActorType
    id: str | None
    org_id: str
    name: str | None = None
    customer_id: str | None = None  # set for chat sessions: the only customer they may touch
    role: Role | None = None
    brand_id: str | None = None  # chat sessions: the brand the chat was started on

    @property
    def is_customer(self) -> bool:
        return self.type is ActorType.CUSTOMER


@dataclass(frozen=True, slots=True)
class Org:
    id: str
    name: str
    jwt_secret: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    org_id: str
    name: str
    is_default: bool
    settings: dict[str, Any]
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    org_id: str
    name: str
    role: Role
    prefix: str
    brand_id: str | None
    created_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    org_id: str
    email: str
    display_name: str
    role: UserRole
    created_at: int
    disabled_at: int | None


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    org_id: str
    name: str | None
    external_id: str | None
    email: str | None
    verified: bool
    emails: list[str]
    phones: list[str]
    socials: list[dict[str, str]]
    custom: dict[str, Any]
    version: int
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class ChatSession:
    id: str
    org_id: str
    brand_id: str
    customer_id: str
    api_key_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    org_id: str
    brand_id: str
    customer_id: str
    status: str  # open | done
    title: str | None
    custom: dict[str, Any]
    preview: str | None
    message_count: int
    ended_at: int | None
    ended_by_type: str | None
    customer_read_at: int | None
    last_message_at: int | None
    version: int
    created_at: int
    updated_at: int
    external_id: str | None = None  # an integration's id for it, unique per org
    assigned_users: tuple[str, ...] = ()  # user ids (Kustomer's assignedUsers)
    assigned_teams: tuple[str, ...] = ()  # team ids (assignedTeams)
    tags: tuple[str, ...] = ()  # tag ids (Kustomer's tags)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    org_id: str
    conversation_id: str
    customer_id: str
    direction: str  # in (from the customer) | out (to the customer)
    body: str
    payload: str | None
    sent_by_type: str
    sent_by_id: str | None
    sent_by_name: str | None
    created_at: int
    # The message klass's custom attributes (PATCH /v1/messages/{id}), and when they
    # last changed; stored as created_at until then.
    custom: dict[str, Any] = field(default_factory=dict)
    updated_at: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One committed entry of an org's append-only event log."""

    org_id: str
    id: int
    type: str
    payload: dict[str, Any]
    created_at: int
    conversation_id: str | None = None
    customer_id: str | None = None
    actor_type: str = ActorType.SYSTEM.value
    actor_id: str | None = None


@dataclass(slots=True)
class Page:
    """One page of a list, numbered from 1 as in Kustomer's API."""

    items: list[Any]
    page: int
    page_size: int
    total: int | None = None
    has_next: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    next_cursor: str | None = None  # keyset lists: where the next page starts (opaque)
    total_capped: bool = False  # counted up to a cap: ``total`` is a lower bound


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A console login: who is signed in, the token their forms carry against CSRF,
    and when it ends (epoch ms). The browser's cookie holds another, secret token."""

    user: User
    csrf_token: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts on the REST API, listed as Kustomer lists users: a person (a console
    user, ``user``) or a machine user (an org.user or org.admin API key, ``machine``)."""

    id: str
    org_id: str
    user_type: str  # user | machine
    name: str
    email: str | None
    role: Role
    created_at: int
    deactivated_at: int | None  # a disabled user, a revoked key

    @property
    def updated_at(self) -> int:
        return self.deactivated_at or self.created_at
