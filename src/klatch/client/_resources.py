"""The REST client's resources (``client.customers``, …), each method written
once for ``Client`` and ``AsyncClient``: its signature, its docstring and the
``Call`` it makes (or the list it walks). ``_endpoints.py`` makes of each the
method that blocks or awaits; the paths and bodies live in ``_calls.py``.
"""

from __future__ import annotations

import builtins
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar, overload

from klatch.client import _calls as calls
from klatch.client._base import Call, UpdatedAtWalk
from klatch.client._endpoints import (
    Awaiting,
    Blocking,
    Endpoints,
    M,
    Method,
    Sender,
    endpoint,
    for_client,
    pages,
    sending,
    walking,
)
from klatch.client.models import (
    ApiKey,
    Conversation,
    Customer,
    Event,
    Message,
    Metadata,
    Page,
    Transaction,
    User,
    Webhook,
)

Strings = builtins.list[str]
Sort = Sequence[Mapping[str, str]] | Mapping[str, str]
Headers = Mapping[str, str] | Iterable[Mapping[str, str]]


class Customers(Endpoints[M]):
    @endpoint
    def create(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
        emails: Strings | None = None,
        phones: Strings | None = None,
        custom: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Call[Customer]:
        """A new customer; ``fields`` adds any other attribute as the API spells it."""
        body = calls.customer_fields(
            name=name,
            email=email,
            externalId=external_id,
            emails=emails,
            phones=phones,
            custom=custom,
            extra=fields,
        )
        return calls.create_customer(body)

    @endpoint
    def get(self, customer_id: str) -> Call[Customer]:
        return calls.get_customer(customer_id)

    @endpoint
    def by_email(self, email: str) -> Call[Customer]:
        return calls.customer_by("email", email)

    @endpoint
    def by_external_id(self, external_id: str) -> Call[Customer]:
        return calls.customer_by("externalId", external_id)

    @endpoint
    def list(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Customer]]:
        return calls.list_customers(page, page_size)

    @pages
    def iterate(self, *, page_size: int | None = None) -> Call[Page[Customer]]:
        return calls.list_customers(None, page_size)

    @endpoint
    def update(
        self,
        customer_id: str,
        *,
        name: str | None = None,
        emails: Strings | None = None,
        phones: Strings | None = None,
        custom: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Call[Customer]:
        """Merge attributes; in ``custom``, None clears a key."""
        body = calls.customer_fields(
            name=name, emails=emails, phones=phones, custom=custom, extra=fields
        )
        return calls.update_customer(customer_id, body)

    @endpoint
    def delete(self, customer_id: str) -> Call[None]:
        return calls.delete_customer(customer_id)

    @endpoint
    def conversations(
        self, customer_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Conversation]]:
        return calls.list_customer_conversations(customer_id, page, page_size)


class Conversations(Endpoints[M]):
    @endpoint
    def create(
        self,
        customer_id: str,
        *,
        name: str | None = None,
        status: str | None = None,
        custom: Mapping[str, Any] | None = None,
        external_id: str | None = None,
        brand_id: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Call[Conversation]:
        body = calls.conversation_fields(
            name=name, status=status, custom=custom, external_id=external_id, extra=fields or {}
        )
        if brand_id is not None:
            body["brand"] = brand_id
        return calls.create_conversation(customer_id, body)

    @endpoint
    def get(self, conversation_id: str) -> Call[Conversation]:
        return calls.get_conversation(conversation_id)

    @endpoint
    def by_external_id(self, external_id: str) -> Call[Conversation]:
        return calls.conversation_by_external_id(external_id)

    @endpoint
    def list(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        status: str | None = None,
        customer_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Call[Page[Conversation]]:
        """Most recently updated first; ``custom`` filters by attribute equality."""
        return calls.list_conversations(
            page=page, page_size=page_size, status=status, customer_id=customer_id, custom=custom
        )

    @pages
    def iterate(
        self,
        *,
        page_size: int | None = None,
        status: str | None = None,
        customer_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Call[Page[Conversation]]:
        return calls.list_conversations(
            page=None, page_size=page_size, status=status, customer_id=customer_id, custom=custom
        )

    @endpoint
    def update(
        self,
        conversation_id: str,
        *,
        name: str | None = None,
        status: str | None = None,
        custom: Mapping[str, Any] | None = None,
        external_id: str | None = None,
        fields: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> Call[Conversation]:
        """Merge ``custom`` per key (None clears one); ``replace=True`` makes it all
        the custom attributes (PUT ``?replace=true``)."""
        body = calls.conversation_fields(
            name=name, status=status, custom=custom, external_id=external_id, extra=fields or {}
        )
        return calls.update_conversation(conversation_id, body, replace=replace)

    @endpoint
    def end(self, conversation_id: str) -> Call[Conversation]:
        return calls.end_conversation(conversation_id)

    @endpoint
    def delete(self, conversation_id: str) -> Call[None]:
        return calls.delete_conversation(conversation_id)

    @endpoint
    def history(self, conversation_id: str) -> Call[builtins.list[Event]]:
        """The conversation's attribute changes, oldest first."""
        return calls.conversation_history(conversation_id)


class Messages(Endpoints[M]):
    @endpoint
    def send(
        self,
        conversation_id: str,
        body: str,
        *,
        payload: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Call[Message]:
        """An agent's reply (direction ``out``), with message-klass ``custom`` attributes."""
        return calls.send_message(conversation_id, body, payload, custom)

    @endpoint
    def get(self, message_id: str) -> Call[Message]:
        return calls.get_message(message_id)

    @endpoint
    def update(self, message_id: str, *, custom: Mapping[str, Any]) -> Call[Message]:
        """Merge ``custom`` into the message's custom attributes per key (None clears one)."""
        return calls.update_message(message_id, custom)

    @endpoint
    def list(
        self, conversation_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Message]]:
        return calls.list_messages(conversation_id, page, page_size)

    @pages
    def iterate(self, conversation_id: str, *, page_size: int | None = None) -> Call[Page[Message]]:
        return calls.list_messages(conversation_id, None, page_size)

    @endpoint
    def typing(self, conversation_id: str, active: bool = True) -> Call[None]:
        return calls.typing(conversation_id, active)


class MetadataResource(Endpoints[M]):
    @endpoint
    def get(self, klass: str) -> Call[Metadata]:
        return calls.get_metadata(klass)

    @endpoint
    def put(self, klass: str, properties: Mapping[str, Mapping[str, Any]]) -> Call[Metadata]:
        """Create or update definitions, all or nothing (admin)."""
        return calls.put_metadata(klass, properties)

    @endpoint
    def delete_property(self, klass: str, name: str) -> Call[None]:
        return calls.delete_property(klass, name)


class Keys(Endpoints[M]):
    @endpoint
    def list(self) -> Call[builtins.list[ApiKey]]:
        return calls.list_keys()

    @endpoint
    def create(
        self, name: str, *, role: str = "org.user", brand_id: str | None = None
    ) -> Call[ApiKey]:
        """A new key; its ``token`` is in this answer only."""
        return calls.create_key(name, role, brand_id)

    @endpoint
    def revoke(self, key_id: str) -> Call[None]:
        return calls.revoke_key(key_id)


ConvT = TypeVar("ConvT", covariant=True)
CustT = TypeVar("CustT", covariant=True)
MsgT = TypeVar("MsgT", covariant=True)
AnyT = TypeVar("AnyT", covariant=True)


class Query(Protocol[ConvT, CustT, MsgT, AnyT]):
    """``search.query``: what it gives for the records of each context."""

    @overload
    def __call__(
        self,
        context: Literal["conversation"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> ConvT: ...
    @overload
    def __call__(
        self,
        context: Literal["customer"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> CustT: ...
    @overload
    def __call__(
        self,
        context: Literal["message"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> MsgT: ...
    @overload
    def __call__(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> AnyT: ...


class SearchWalk(Protocol[ConvT, CustT, MsgT, AnyT]):
    """``search.walk``: what it gives for the records of each context."""

    @overload
    def __call__(
        self,
        context: Literal["conversation"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> ConvT: ...
    @overload
    def __call__(
        self,
        context: Literal["customer"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> CustT: ...
    @overload
    def __call__(
        self,
        context: Literal["message"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> MsgT: ...
    @overload
    def __call__(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> AnyT: ...


BlockingQuery = Query[Page[Conversation], Page[Customer], Page[Message], Page[Any]]
AwaitingQuery = Query[
    Coroutine[Any, Any, Page[Conversation]],
    Coroutine[Any, Any, Page[Customer]],
    Coroutine[Any, Any, Page[Message]],
    Coroutine[Any, Any, Page[Any]],
]
BlockingWalk = SearchWalk[
    Iterator[Conversation], Iterator[Customer], Iterator[Message], Iterator[Any]
]
AwaitingWalk = SearchWalk[
    AsyncIterator[Conversation],
    AsyncIterator[Customer],
    AsyncIterator[Message],
    AsyncIterator[Any],
]


def _query(build: Callable[..., Call[Page[Any]]]) -> Method[BlockingQuery, AwaitingQuery]:
    """``search.query``: sends the call ``build`` describes, as ``endpoint`` does,
    typed by the context's model."""
    return Method(*sending(build))


def _walk(build: Callable[..., UpdatedAtWalk]) -> Method[BlockingWalk, AwaitingWalk]:
    """``search.walk``: runs the walk ``build`` makes, typed by the context's model."""
    return Method(*walking(build))


class Search(Endpoints[M]):
    @_query
    def query(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = None,
        *,
        sort: Sort | None = None,
        time_zone: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Call[Page[Any]]:
        """One page of ``POST /v1/customers/search``. ``criteria`` is the body's
        query as Kustomer spells it: ``{"and": [{"conversation_custom_tierStr":
        {"equals": "gold"}}], "or": [...], "not": [...]}``."""
        return calls.search(
            context, criteria, sort=sort, time_zone=time_zone, page=page, page_size=page_size
        )

    @_walk
    def walk(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = None,
        *,
        page_size: int = 500,
        since: str | datetime | None = None,
        time_zone: str | None = None,
    ) -> UpdatedAtWalk:
        """Every record matching ``criteria``, in ``updatedAt`` order, each once
        (see ``UpdatedAtWalk``), however large the result; ``since`` resumes from
        an ``updatedAt`` a previous walk reached."""
        return UpdatedAtWalk(
            context,
            criteria,
            page_size=page_size,
            since=since,
            time_zone=time_zone,
            parse=calls.record_parser(context),
        )


class Webhooks(Endpoints[M]):
    @endpoint
    def create(
        self,
        *,
        name: str,
        url: str,
        events: Iterable[str],
        headers: Headers | None = None,
        enabled: bool = True,
    ) -> Call[Webhook]:
        """A new subscription (admin); the answer's ``token`` signs its deliveries."""
        fields = calls.webhook_fields(
            name=name, url=url, events=events, headers=headers or [], enabled=enabled
        )
        return calls.create_webhook(fields)

    @endpoint
    def list(self, *, page: int | None = None, page_size: int | None = None) -> Call[Page[Webhook]]:
        return calls.list_webhooks(page, page_size)

    @endpoint
    def get(self, webhook_id: str) -> Call[Webhook]:
        return calls.get_webhook(webhook_id)

    @endpoint
    def update(
        self,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        events: Iterable[str] | None = None,
        headers: Headers | None = None,
        enabled: bool | None = None,
    ) -> Call[Webhook]:
        fields = calls.webhook_fields(
            name=name, url=url, events=events, headers=headers, enabled=enabled
        )
        return calls.update_webhook(webhook_id, fields)

    @endpoint
    def delete(self, webhook_id: str) -> Call[None]:
        return calls.delete_webhook(webhook_id)

    @endpoint
    def events(self) -> Call[builtins.list[str]]:
        """The event names a subscription may list."""
        return calls.webhook_events()

    @endpoint
    def transactions(
        self, webhook_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Call[Page[Transaction]]:
        """The subscription's delivery log, newest first, each delivery with its attempts."""
        return calls.list_transactions(webhook_id, page, page_size)

    @endpoint
    def redeliver(self, webhook_id: str, transaction_id: str) -> Call[Transaction]:
        """Send a logged delivery again, now, on a fresh retry schedule."""
        return calls.redeliver(webhook_id, transaction_id)

    @endpoint
    def test(self, webhook_id: str) -> Call[Transaction]:
        """Send a ``kustomer.webhook.test`` event to the webhook now."""
        return calls.send_test(webhook_id)


class Users(Endpoints[M]):
    @endpoint
    def list(self, *, page: int | None = None, page_size: int | None = None) -> Call[Page[User]]:
        return calls.list_users(page, page_size)

    @pages
    def iterate(self, *, page_size: int | None = None) -> Call[Page[User]]:
        return calls.list_users(None, page_size)

    @endpoint
    def get(self, user_id: str) -> Call[User]:
        return calls.get_user(user_id)

    @endpoint
    def current(self) -> Call[User]:
        """The principal behind the API key (a machine user)."""
        return calls.current_user()


class Resources(Generic[M]):
    """A client's resources, their methods blocking or awaited (``M``)."""

    customers: Customers[M]
    conversations: Conversations[M]
    messages: Messages[M]
    metadata: MetadataResource[M]
    keys: Keys[M]
    search: Search[M]
    webhooks: Webhooks[M]
    users: Users[M]

    def _open_resources(self, client: Sender) -> None:
        """Give ``client`` (this object) its resources, each of its own class."""
        kind = type(client)
        self.customers = for_client(Customers, kind)(client)
        self.conversations = for_client(Conversations, kind)(client)
        self.messages = for_client(Messages, kind)(client)
        self.metadata = for_client(MetadataResource, kind)(client)
        self.keys = for_client(Keys, kind)(client)
        self.search = for_client(Search, kind)(client)
        self.webhooks = for_client(Webhooks, kind)(client)
        self.users = for_client(Users, kind)(client)


__all__ = ["Awaiting", "Blocking", "Resources"]
