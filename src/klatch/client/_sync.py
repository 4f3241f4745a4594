"""``Client``: the REST API, blocking. Mirrors ``AsyncClient`` method for method."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar, overload

import httpx

from klatch.client import _calls as calls
from klatch.client._base import BaseClient, Call, Pages, UpdatedAtWalk, without_none
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

T = TypeVar("T")
Strings = builtins.list[str]
Sort = Sequence[Mapping[str, str]] | Mapping[str, str]
Headers = Mapping[str, str] | Iterable[Mapping[str, str]]


class Client(BaseClient):
    """The Klatch REST API (``/v1``) with one API key::

        with Client(base_url="https://chat.example.com", api_key="ka_...") as klatch:
            conversation = klatch.conversations.get("...")

    ``transport`` is handed to httpx (e.g. ``httpx.HTTPTransport(retries=2)``).
    Errors are ``klatch.client.ApiError`` subclasses; see ``BaseClient`` for retries.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 2,
        max_retry_wait: float = 30.0,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
        )
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self.customers = Customers(self)
        self.conversations = Conversations(self)
        self.messages = Messages(self)
        self.metadata = MetadataResource(self)
        self.keys = Keys(self)
        self.search = Search(self)
        self.webhooks = Webhooks(self)
        self.users = Users(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Make one request, retrying a 429 within the bounds; its result."""
        request = self._request(call)
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                raise self._unreachable(call, exc) from exc
            delay = self._retry_delay(response, attempt)
            if delay is None:
                return self._result(call, response)
            response.close()
            time.sleep(delay)
            attempt += 1

    def walk(self, call: Call[Page[T]]) -> Iterator[T]:
        """Every item of a list, page after page along ``links.next``."""
        pages = Pages()
        next_call: Call[Page[T]] | None = call
        while next_call is not None:
            page = self.send(next_call)
            yield from page.items
            next_call = pages.next_call(next_call, page)


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client


class Customers(_Resource):
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
    ) -> Customer:
        """A new customer; ``fields`` adds any other attribute as the API spells it."""
        body = without_none(
            name=name, email=email, externalId=external_id, emails=emails, phones=phones
        )
        if custom is not None:
            body["custom"] = dict(custom)
        return self._client.send(calls.create_customer({**body, **(fields or {})}))

    def get(self, customer_id: str) -> Customer:
        return self._client.send(calls.get_customer(customer_id))

    def by_email(self, email: str) -> Customer:
        return self._client.send(calls.customer_by("email", email))

    def by_external_id(self, external_id: str) -> Customer:
        return self._client.send(calls.customer_by("externalId", external_id))

    def list(self, *, page: int | None = None, page_size: int | None = None) -> Page[Customer]:
        return self._client.send(calls.list_customers(page, page_size))

    def iterate(self, *, page_size: int | None = None) -> Iterator[Customer]:
        return self._client.walk(calls.list_customers(None, page_size))

    def update(
        self,
        customer_id: str,
        *,
        name: str | None = None,
        emails: Strings | None = None,
        phones: Strings | None = None,
        custom: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Customer:
        """Merge attributes; in ``custom``, None clears a key."""
        body = without_none(name=name, emails=emails, phones=phones)
        if custom is not None:
            body["custom"] = dict(custom)
        return self._client.send(calls.update_customer(customer_id, {**body, **(fields or {})}))

    def delete(self, customer_id: str) -> None:
        self._client.send(calls.delete_customer(customer_id))

    def conversations(
        self, customer_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Conversation]:
        return self._client.send(calls.list_customer_conversations(customer_id, page, page_size))


class Conversations(_Resource):
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
    ) -> Conversation:
        body = calls.conversation_fields(
            name=name, status=status, custom=custom, external_id=external_id, extra=fields or {}
        )
        if brand_id is not None:
            body["brand"] = brand_id
        return self._client.send(calls.create_conversation(customer_id, body))

    def get(self, conversation_id: str) -> Conversation:
        return self._client.send(calls.get_conversation(conversation_id))

    def by_external_id(self, external_id: str) -> Conversation:
        return self._client.send(calls.conversation_by_external_id(external_id))

    def list(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        status: str | None = None,
        customer_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Page[Conversation]:
        """Most recently updated first; ``custom`` filters by attribute equality."""
        return self._client.send(
            calls.list_conversations(
                page=page,
                page_size=page_size,
                status=status,
                customer_id=customer_id,
                custom=custom,
            )
        )

    def iterate(
        self,
        *,
        page_size: int | None = None,
        status: str | None = None,
        customer_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Iterator[Conversation]:
        return self._client.walk(
            calls.list_conversations(
                page=None,
                page_size=page_size,
                status=status,
                customer_id=customer_id,
                custom=custom,
            )
        )

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
    ) -> Conversation:
        """Merge ``custom`` per key (None clears one); ``replace=True`` makes it all
        the custom attributes (PUT ``?replace=true``)."""
        body = calls.conversation_fields(
            name=name, status=status, custom=custom, external_id=external_id, extra=fields or {}
        )
        return self._client.send(calls.update_conversation(conversation_id, body, replace=replace))

    def end(self, conversation_id: str) -> Conversation:
        return self._client.send(calls.end_conversation(conversation_id))

    def delete(self, conversation_id: str) -> None:
        self._client.send(calls.delete_conversation(conversation_id))

    def history(self, conversation_id: str) -> builtins.list[Event]:
        """The conversation's attribute changes, oldest first."""
        return self._client.send(calls.conversation_history(conversation_id))


class Messages(_Resource):
    def send(
        self,
        conversation_id: str,
        body: str,
        *,
        payload: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Message:
        """An agent's reply (direction ``out``), with message-klass ``custom`` attributes."""
        return self._client.send(calls.send_message(conversation_id, body, payload, custom))

    def get(self, message_id: str) -> Message:
        return self._client.send(calls.get_message(message_id))

    def update(self, message_id: str, *, custom: Mapping[str, Any]) -> Message:
        """Merge ``custom`` into the message's custom attributes per key (None clears one)."""
        return self._client.send(calls.update_message(message_id, custom))

    def list(
        self, conversation_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Message]:
        return self._client.send(calls.list_messages(conversation_id, page, page_size))

    def iterate(self, conversation_id: str, *, page_size: int | None = None) -> Iterator[Message]:
        return self._client.walk(calls.list_messages(conversation_id, None, page_size))

    def typing(self, conversation_id: str, active: bool = True) -> None:
        self._client.send(calls.typing(conversation_id, active))


class MetadataResource(_Resource):
    def get(self, klass: str) -> Metadata:
        return self._client.send(calls.get_metadata(klass))

    def put(self, klass: str, properties: Mapping[str, Mapping[str, Any]]) -> Metadata:
        """Create or update definitions, all or nothing (admin)."""
        return self._client.send(calls.put_metadata(klass, properties))

    def delete_property(self, klass: str, name: str) -> None:
        self._client.send(calls.delete_property(klass, name))


class Keys(_Resource):
    def list(self) -> builtins.list[ApiKey]:
        return self._client.send(calls.list_keys())

    def create(self, name: str, *, role: str = "org.user", brand_id: str | None = None) -> ApiKey:
        """A new key; its ``token`` is in this answer only."""
        return self._client.send(calls.create_key(name, role, brand_id))

    def revoke(self, key_id: str) -> None:
        self._client.send(calls.revoke_key(key_id))


class Search(_Resource):
    @overload
    def query(
        self,
        context: Literal["conversation"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> Page[Conversation]: ...
    @overload
    def query(
        self,
        context: Literal["customer"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> Page[Customer]: ...
    @overload
    def query(
        self,
        context: Literal["message"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> Page[Message]: ...
    @overload
    def query(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> Page[Any]: ...
    def query(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = None,
        *,
        sort: Sort | None = None,
        time_zone: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[Any]:
        """One page of ``POST /v1/customers/search``. ``criteria`` is the body's
        query as Kustomer spells it: ``{"and": [{"conversation_custom_tierStr":
        {"equals": "gold"}}], "or": [...], "not": [...]}``."""
        return self._client.send(
            calls.search(
                context, criteria, sort=sort, time_zone=time_zone, page=page, page_size=page_size
            )
        )

    @overload
    def walk(
        self,
        context: Literal["conversation"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> Iterator[Conversation]: ...
    @overload
    def walk(
        self,
        context: Literal["customer"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> Iterator[Customer]: ...
    @overload
    def walk(
        self,
        context: Literal["message"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> Iterator[Message]: ...
    @overload
    def walk(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> Iterator[Any]: ...
    def walk(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = None,
        *,
        page_size: int = 500,
        since: str | datetime | None = None,
        time_zone: str | None = None,
    ) -> Iterator[Any]:
        """Every record matching ``criteria``, in ``updatedAt`` order, each once
        (see ``UpdatedAtWalk``), however large the result; ``since`` resumes from
        an ``updatedAt`` a previous walk reached."""
        walk = UpdatedAtWalk(
            context, criteria, page_size=page_size, since=since, time_zone=time_zone
        )
        parse = calls.record_parser(context)
        while not walk.done:
            for record in walk.take(self._client.send(walk.call())):
                yield parse(record)


class Webhooks(_Resource):
    def create(
        self,
        *,
        name: str,
        url: str,
        events: Iterable[str],
        headers: Headers | None = None,
        enabled: bool = True,
    ) -> Webhook:
        """A new subscription (admin); the answer's ``token`` signs its deliveries."""
        fields = calls.webhook_fields(
            name=name, url=url, events=events, headers=headers or [], enabled=enabled
        )
        return self._client.send(calls.create_webhook(fields))

    def list(self, *, page: int | None = None, page_size: int | None = None) -> Page[Webhook]:
        return self._client.send(calls.list_webhooks(page, page_size))

    def get(self, webhook_id: str) -> Webhook:
        return self._client.send(calls.get_webhook(webhook_id))

    def update(
        self,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        events: Iterable[str] | None = None,
        headers: Headers | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        fields = calls.webhook_fields(
            name=name, url=url, events=events, headers=headers, enabled=enabled
        )
        return self._client.send(calls.update_webhook(webhook_id, fields))

    def delete(self, webhook_id: str) -> None:
        self._client.send(calls.delete_webhook(webhook_id))

    def events(self) -> builtins.list[str]:
        """The event names a subscription may list."""
        return self._client.send(calls.webhook_events())

    def transactions(
        self, webhook_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Transaction]:
        """The subscription's delivery log, newest first, each delivery with its attempts."""
        return self._client.send(calls.list_transactions(webhook_id, page, page_size))

    def redeliver(self, webhook_id: str, transaction_id: str) -> Transaction:
        """Send a logged delivery again, now, on a fresh retry schedule."""
        return self._client.send(calls.redeliver(webhook_id, transaction_id))

    def test(self, webhook_id: str) -> Transaction:
        """Send a ``kustomer.webhook.test`` event to the webhook now."""
        return self._client.send(calls.send_test(webhook_id))


class Users(_Resource):
    def list(self, *, page: int | None = None, page_size: int | None = None) -> Page[User]:
        return self._client.send(calls.list_users(page, page_size))

    def iterate(self, *, page_size: int | None = None) -> Iterator[User]:
        return self._client.walk(calls.list_users(None, page_size))

    def get(self, user_id: str) -> User:
        return self._client.send(calls.get_user(user_id))

    def current(self) -> User:
        """The principal behind the API key (a machine user)."""
        return self._client.send(calls.current_user())


__all__ = ["Client"]
