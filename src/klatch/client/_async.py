"""``AsyncClient``: the REST API for asyncio. Mirrors ``Client`` method for method."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
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


class AsyncClient(BaseClient):
    """The Klatch REST API (``/v1``) with one API key::

        async with AsyncClient(base_url="https://chat.example.com", api_key="ka_...") as klatch:
            conversation = await klatch.conversations.get("...")

    ``transport`` is handed to httpx (e.g. ``httpx.AsyncHTTPTransport(retries=2)``).
    Errors are ``klatch.client.ApiError`` subclasses; see ``BaseClient`` for retries.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
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
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self.customers = Customers(self)
        self.conversations = Conversations(self)
        self.messages = Messages(self)
        self.metadata = MetadataResource(self)
        self.keys = Keys(self)
        self.search = Search(self)
        self.webhooks = Webhooks(self)
        self.users = Users(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Make one request, retrying a 429 within the bounds; its result."""
        request = self._request(call)
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                raise self._unreachable(call, exc) from exc
            delay = self._retry_delay(response, attempt)
            if delay is None:
                return self._result(call, response)
            await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    async def walk(self, call: Call[Page[T]]) -> AsyncIterator[T]:
        """Every item of a list, page after page along ``links.next``."""
        pages = Pages()
        next_call: Call[Page[T]] | None = call
        while next_call is not None:
            page = await self.send(next_call)
            for item in page.items:
                yield item
            next_call = pages.next_call(next_call, page)


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client


class Customers(_Resource):
    async def create(
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
        return await self._client.send(calls.create_customer({**body, **(fields or {})}))

    async def get(self, customer_id: str) -> Customer:
        return await self._client.send(calls.get_customer(customer_id))

    async def by_email(self, email: str) -> Customer:
        return await self._client.send(calls.customer_by("email", email))

    async def by_external_id(self, external_id: str) -> Customer:
        return await self._client.send(calls.customer_by("externalId", external_id))

    async def list(
        self, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Customer]:
        return await self._client.send(calls.list_customers(page, page_size))

    def iterate(self, *, page_size: int | None = None) -> AsyncIterator[Customer]:
        return self._client.walk(calls.list_customers(None, page_size))

    async def update(
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
        return await self._client.send(
            calls.update_customer(customer_id, {**body, **(fields or {})})
        )

    async def delete(self, customer_id: str) -> None:
        await self._client.send(calls.delete_customer(customer_id))

    async def conversations(
        self, customer_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Conversation]:
        return await self._client.send(
            calls.list_customer_conversations(customer_id, page, page_size)
        )


class Conversations(_Resource):
    async def create(
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
        return await self._client.send(calls.create_conversation(customer_id, body))

    async def get(self, conversation_id: str) -> Conversation:
        return await self._client.send(calls.get_conversation(conversation_id))

    async def by_external_id(self, external_id: str) -> Conversation:
        return await self._client.send(calls.conversation_by_external_id(external_id))

    async def list(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        status: str | None = None,
        customer_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Page[Conversation]:
        """Most recently updated first; ``custom`` filters by attribute equality."""
        return await self._client.send(
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
    ) -> AsyncIterator[Conversation]:
        return self._client.walk(
            calls.list_conversations(
                page=None,
                page_size=page_size,
                status=status,
                customer_id=customer_id,
                custom=custom,
            )
        )

    async def update(
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
        return await self._client.send(
            calls.update_conversation(conversation_id, body, replace=replace)
        )

    async def end(self, conversation_id: str) -> Conversation:
        return await self._client.send(calls.end_conversation(conversation_id))

    async def delete(self, conversation_id: str) -> None:
        await self._client.send(calls.delete_conversation(conversation_id))

    async def history(self, conversation_id: str) -> builtins.list[Event]:
        """The conversation's attribute changes, oldest first."""
        return await self._client.send(calls.conversation_history(conversation_id))


class Messages(_Resource):
    async def send(
        self,
        conversation_id: str,
        body: str,
        *,
        payload: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> Message:
        """An agent's reply (direction ``out``), with message-klass ``custom`` attributes."""
        return await self._client.send(calls.send_message(conversation_id, body, payload, custom))

    async def get(self, message_id: str) -> Message:
        return await self._client.send(calls.get_message(message_id))

    async def update(self, message_id: str, *, custom: Mapping[str, Any]) -> Message:
        """Merge ``custom`` into the message's custom attributes per key (None clears one)."""
        return await self._client.send(calls.update_message(message_id, custom))

    async def list(
        self, conversation_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Message]:
        return await self._client.send(calls.list_messages(conversation_id, page, page_size))

    def iterate(
        self, conversation_id: str, *, page_size: int | None = None
    ) -> AsyncIterator[Message]:
        return self._client.walk(calls.list_messages(conversation_id, None, page_size))

    async def typing(self, conversation_id: str, active: bool = True) -> None:
        await self._client.send(calls.typing(conversation_id, active))


class MetadataResource(_Resource):
    async def get(self, klass: str) -> Metadata:
        return await self._client.send(calls.get_metadata(klass))

    async def put(self, klass: str, properties: Mapping[str, Mapping[str, Any]]) -> Metadata:
        """Create or update definitions, all or nothing (admin)."""
        return await self._client.send(calls.put_metadata(klass, properties))

    async def delete_property(self, klass: str, name: str) -> None:
        await self._client.send(calls.delete_property(klass, name))


class Keys(_Resource):
    async def list(self) -> builtins.list[ApiKey]:
        return await self._client.send(calls.list_keys())

    async def create(
        self, name: str, *, role: str = "org.user", brand_id: str | None = None
    ) -> ApiKey:
        """A new key; its ``token`` is in this answer only."""
        return await self._client.send(calls.create_key(name, role, brand_id))

    async def revoke(self, key_id: str) -> None:
        await self._client.send(calls.revoke_key(key_id))


class Search(_Resource):
    @overload
    async def query(
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
    async def query(
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
    async def query(
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
    async def query(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = ...,
        *,
        sort: Sort | None = ...,
        time_zone: str | None = ...,
        page: int | None = ...,
        page_size: int | None = ...,
    ) -> Page[Any]: ...
    async def query(
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
        return await self._client.send(
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
    ) -> AsyncIterator[Conversation]: ...
    @overload
    def walk(
        self,
        context: Literal["customer"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> AsyncIterator[Customer]: ...
    @overload
    def walk(
        self,
        context: Literal["message"],
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> AsyncIterator[Message]: ...
    @overload
    def walk(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = ...,
        *,
        page_size: int = ...,
        since: str | datetime | None = ...,
        time_zone: str | None = ...,
    ) -> AsyncIterator[Any]: ...
    async def walk(
        self,
        context: str,
        criteria: Mapping[str, Any] | None = None,
        *,
        page_size: int = 500,
        since: str | datetime | None = None,
        time_zone: str | None = None,
    ) -> AsyncIterator[Any]:
        """Every record matching ``criteria``, in ``updatedAt`` order, each once
        (see ``UpdatedAtWalk``), however large the result; ``since`` resumes from
        an ``updatedAt`` a previous walk reached."""
        walk = UpdatedAtWalk(
            context, criteria, page_size=page_size, since=since, time_zone=time_zone
        )
        parse = calls.record_parser(context)
        while not walk.done:
            for record in walk.take(await self._client.send(walk.call())):
                yield parse(record)


class Webhooks(_Resource):
    async def create(
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
        return await self._client.send(calls.create_webhook(fields))

    async def list(self, *, page: int | None = None, page_size: int | None = None) -> Page[Webhook]:
        return await self._client.send(calls.list_webhooks(page, page_size))

    async def get(self, webhook_id: str) -> Webhook:
        return await self._client.send(calls.get_webhook(webhook_id))

    async def update(
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
        return await self._client.send(calls.update_webhook(webhook_id, fields))

    async def delete(self, webhook_id: str) -> None:
        await self._client.send(calls.delete_webhook(webhook_id))

    async def events(self) -> builtins.list[str]:
        """The event names a subscription may list."""
        return await self._client.send(calls.webhook_events())

    async def transactions(
        self, webhook_id: str, *, page: int | None = None, page_size: int | None = None
    ) -> Page[Transaction]:
        """The subscription's delivery log, newest first, each delivery with its attempts."""
        return await self._client.send(calls.list_transactions(webhook_id, page, page_size))

    async def redeliver(self, webhook_id: str, transaction_id: str) -> Transaction:
        """Send a logged delivery again, now, on a fresh retry schedule."""
        return await self._client.send(calls.redeliver(webhook_id, transaction_id))

    async def test(self, webhook_id: str) -> Transaction:
        """Send a ``kustomer.webhook.test`` event to the webhook now."""
        return await self._client.send(calls.send_test(webhook_id))


class Users(_Resource):
    async def list(self, *, page: int | None = None, page_size: int | None = None) -> Page[User]:
        return await self._client.send(calls.list_users(page, page_size))

    def iterate(self, *, page_size: int | None = None) -> AsyncIterator[User]:
        return self._client.walk(calls.list_users(None, page_size))

    async def get(self, user_id: str) -> User:
        return await self._client.send(calls.get_user(user_id))

    async def current(self) -> User:
        """The principal behind the API key (a machine user)."""
        return await self._client.send(calls.current_user())


__all__ = ["AsyncClient"]
