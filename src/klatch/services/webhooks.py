"""Outbound webhooks: the subscriptions (Kustomer's ``/v1/outbound-webhooks``), the
transactional outbox that enqueues their deliveries, and the delivery log.

The outbox is a hook of the unit of work (``UnitOfWork.after_append``): it runs
in the transaction of the change, after the events were appended, and writes
one delivery per subscription and announced object. A change that commits is
therefore always delivered, and one that rolls back never is. Its ``data`` is
rendered there, by the renderers the process was started with (the REST API's,
so ``data`` is exactly what ``GET`` returns), while the transaction holds the
object as the change left it.

Which subscriptions an org has is cached per process for a few seconds; every
replica forgets an org's entry when it hears ``outbound_webhook.changed``.
Delivery itself is ``services/deliveries.py``.
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import orjson

from klatch.domain import events as ev
from klatch.domain import webhooks as rules
from klatch.domain.models import (
    Actor,
    ActorType,
    Conversation,
    Customer,
    Event,
    Message,
    Page,
    Principal,
)
from klatch.domain.notes import Note
from klatch.domain.tags import Tag
from klatch.domain.teams import Team
from klatch.domain.webhooks import Announcement, Delivery, Kind, OutboundWebhook, Target
from klatch.errors import Conflict, InvalidArguments, NotFound
from klatch.ids import new_id
from klatch.services import paging
from klatch.services.caches import OrgCache
from klatch.services.context import Context
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage import customers as customer_store
from klatch.storage import notes as note_store
from klatch.storage import orgs as org_store
from klatch.storage import tags as tag_store
from klatch.storage import teams as team_store
from klatch.storage import webhooks as store
from klatch.storage.db import Tx

T = TypeVar("T")
Resolver = Callable[[str, int], Awaitable[list[str]]]
_CACHE_SECONDS = 5.0
_ANNOUNCED = frozenset(
    {
        ev.CONVERSATION_CREATED,
        ev.CONVERSATION_UPDATED,
        ev.CONVERSATION_ENDED,
        ev.MESSAGE_CREATED,
        ev.MESSAGE_UPDATED,
        ev.CUSTOMER_CREATED,
        ev.CUSTOMER_UPDATED,
        ev.NOTE_CREATED,
        ev.TEAM_CREATED,
        ev.TEAM_UPDATED,
        ev.TAG_CREATED,
        ev.TAG_UPDATED,
        ev.USER_CREATED,
        ev.USER_UPDATED,
    }
)
_ERASING = frozenset({ev.CONVERSATION_DELETED, ev.CUSTOMER_DELETED})
_FORGET = frozenset({ev.OUTBOUND_WEBHOOK_CHANGED, ev.OUTBOUND_WEBHOOK_DISABLED})


@dataclass(frozen=True, slots=True)
class Renderers:
    """How a resource looks in ``data``: the REST API's own views, handed in by the
    process that starts the services (services do not import the HTTP layer)."""

    conversation: Callable[[Conversation], dict[str, Any]]
    customer: Callable[[Customer], dict[str, Any]]
    message: Callable[[Message], dict[str, Any]]
    note: Callable[[Note], dict[str, Any]]
    team: Callable[[Team], dict[str, Any]]
    tag: Callable[[Tag], dict[str, Any]]
    user: Callable[[Principal], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _View(Generic[T]):
    """One kind of announced object: how the outbox reads it, in the change's
    transaction, and how ``data`` shows it."""

    get: Callable[[Tx, str, str], Awaitable[T | None]]
    show: Callable[[T], dict[str, Any]]

    async def render(self, tx: Tx, org_id: str, object_id: str) -> dict[str, Any] | None:
        """``data`` for the object; None when it is gone within the same write."""
        found = await self.get(tx, org_id, object_id)
        return None if found is None else self.show(found)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class UrlRefused(InvalidArguments):
    """The URL points where webhooks may not go (or nowhere)."""

    code = "url_not_allowed"


async def reachable_addresses(
    target: Target, resolver: Resolver, *, allow_private: bool
) -> list[str]:
    """The addresses ``target`` resolves to, every one of them allowed; else UrlRefused.
    Checked when a subscription is saved and again before every delivery."""
    try:
        addresses = await resolver(target.host, target.port)
    except OSError as exc:
        raise UrlRefused(f"'{target.host}' does not resolve ({exc})", pointer="/url") from None
    if not addresses:
        raise UrlRefused(f"'{target.host}' does not resolve", pointer="/url")
    if not allow_private:
        for address in addresses:
            reason = rules.forbidden_address(address)
            if reason is not None:
                raise UrlRefused(
                    f"'{target.host}' resolves to {address}, {reason}; webhooks only reach "
                    "public addresses (KLATCH_WEBHOOK_ALLOW_PRIVATE=1 lifts this)",
                    pointer="/url",
                )
    return addresses


_ENQUEUED_KEYS = 10_000


class Outbox:
    """The unit of work's hook that enqueues deliveries in the change's transaction."""

    def __init__(self, renderers: Renderers) -> None:
        self._views: dict[Kind, _View[Any]] = {
            "conversation": _View(conversation_store.get_conversation, renderers.conversation),
            "customer": _View(customer_store.get_customer, renderers.customer),
            "message": _View(store.message_by_id, renderers.message),
            "note": _View(note_store.get_note, renderers.note),
            "team": _View(team_store.get_team, renderers.team),
            "tag": _View(tag_store.get_tag, renderers.tag),
            "user": _View(org_store.get_principal, renderers.user),
        }
        self.cache: OrgCache[store.OrgHooks] = OrgCache(_CACHE_SECONDS)
        # The last event of each write that enqueued deliveries here, so the delivery
        # worker wakes when such a write is published (after its commit) and for no
        # other (a write without subscribers costs it nothing). A write that rolls
        # back leaves its key behind; the set is bounded.
        self._enqueued: set[tuple[str, int]] = set()

    def enqueued(self, events: Sequence[Event]) -> bool:
        """Whether this published write enqueued deliveries (asked once per write)."""
        if not events or not self._enqueued:
            return False
        last = events[-1]
        key = (last.org_id, last.id)
        if key in self._enqueued:
            self._enqueued.discard(key)
            return True
        return False

    async def __call__(self, tx: Tx, events: Sequence[Event]) -> None:
        if not events:
            return
        org_id = events[0].org_id
        erased = _erased_keys(events)
        if erased:
            await store.erase_objects(tx, org_id, erased)
        announced = [e for e in events if e.type in _ANNOUNCED]
        if not announced:
            return
        org = await self.cache.get(org_id, lambda: store.enabled_webhooks(tx, org_id))
        if not org.hooks:
            return
        rows: list[dict[str, Any]] = []
        for a in rules.announcements(announced):
            targets = [h for h in org.hooks if a.name in h.events]
            if targets:
                rows.extend(await self._deliveries(tx, org_id, org.org_name, a, targets))
        if rows:
            await store.insert_deliveries(tx, rows)
            if len(self._enqueued) >= _ENQUEUED_KEYS:
                self._enqueued.clear()  # rolled back writes' keys; the poll covers the rest
            self._enqueued.add((org_id, events[-1].id))

    async def _deliveries(
        self,
        tx: Tx,
        org_id: str,
        org_name: str,
        a: Announcement,
        targets: Sequence[OutboundWebhook],
    ) -> list[dict[str, Any]]:
        data = await self._render(tx, org_id, a)
        if data is None:  # gone within the same write
            return []
        envelope_id = new_id()
        body = orjson.dumps(
            rules.envelope(a, envelope_id=envelope_id, org_id=org_id, org_name=org_name, data=data)
        ).decode()
        now = a.event.created_at
        return [
            delivery_row(h, envelope_id, a.name, a.object_id, a.ordering_key, body, now)
            for h in targets
        ]

    async def _render(self, tx: Tx, org_id: str, a: Announcement) -> dict[str, Any] | None:
        return await self._views[a.kind].render(tx, org_id, a.object_id)


def delivery_row(
    hook: OutboundWebhook,
    envelope_id: str,
    name: str,
    data_id: str | None,
    ordering_key: str,
    body: str,
    now: int,
) -> dict[str, Any]:
    return {
        "org_id": hook.org_id,
        "webhook_id": hook.id,
        "envelope_id": envelope_id,
        "name": name,
        "data_id": data_id,
        "ordering_key": ordering_key,
        "body": body,
        "state": "pending",
        "tries": 0,
        "attempts": 0,
        "due_at": now,
        "created_at": now,
    }


def _erased_keys(events: Sequence[Event]) -> list[str]:
    keys: list[str] = []
    for e in events:
        if e.type == ev.CONVERSATION_DELETED:
            keys.append(e.payload["conversationId"])
        elif e.type == ev.CUSTOMER_DELETED:
            p = e.payload
            keys.extend([p["customerId"], *p["mergedIds"], *p["conversationIds"]])
    return keys


class WebhookService:
    """Outbound webhook subscriptions of an org and their delivery log (admins)."""

    def __init__(self, ctx: Context, outbox: Outbox) -> None:
        self.ctx = ctx
        self.outbox = outbox
        self.resolver: Resolver = system_resolver  # DNS; tests may stand in for it
        self.wake: Callable[[], None] = lambda: None  # set by the delivery worker

    def on_events(self, events: Sequence[Event]) -> None:
        """Bus listener: forget an org's cached subscriptions when they changed."""
        for event in events:
            if event.type in _FORGET:
                self.outbox.cache.forget(event.org_id)

    # -- reads

    async def list(self, actor: Actor, *, page: int, page_size: int) -> Page:
        return await paging.counted_page(
            self.ctx.db, actor.org_id, page, page_size, store.list_webhooks, store.count_webhooks
        )

    async def get(self, actor: Actor, webhook_id: str) -> OutboundWebhook:
        return await self.ctx.read_one(
            store.get_webhook, actor.org_id, webhook_id, webhook_not_found
        )

    async def pending(self, actor: Actor, webhook_id: str) -> int:
        """How many deliveries of the subscription wait (to go out, or to be retried)."""
        _, waiting = await self.ctx.db.read(
            lambda tx: store.count_deliveries(tx, actor.org_id, webhook_id)
        )
        return waiting

    async def transactions(
        self, actor: Actor, webhook_id: str, *, page: int, page_size: int
    ) -> Page:
        """The delivery log: newest first, each delivery with its attempts."""

        limit, offset = paging.window(page, page_size)

        async def work(tx: Tx) -> tuple[builtins.list[Delivery], int] | None:
            if await store.get_webhook(tx, actor.org_id, webhook_id) is None:
                return None
            rows = await store.list_deliveries(
                tx, actor.org_id, webhook_id, limit=limit, offset=offset
            )
            total, _ = await store.count_deliveries(tx, actor.org_id, webhook_id)
            return rows, total

        found = await self.ctx.db.read(work)
        if found is None:
            raise webhook_not_found(webhook_id)
        rows, total = found
        return paging.offset_page(rows, page, page_size, total)

    # -- writes

    async def check_create(self, actor: Actor, fields: Mapping[str, Any]) -> OutboundWebhook:
        """A new subscription, its URL checked (form, then where it resolves)."""
        name = rules.check_name(fields.get("name"))
        url = await self._check_url(fields.get("url"))
        events = rules.check_events(fields.get("events"))
        headers = rules.check_headers(fields.get("headers"))
        enabled = _check_enabled(fields.get("enabled", True))
        limit = self.ctx.settings.webhook_limit

        async def work(unit: Unit) -> OutboundWebhook:
            if await store.count_webhooks(unit.tx, actor.org_id) >= limit:
                raise Conflict(
                    f"An org has at most {limit} outbound webhooks (KLATCH_WEBHOOK_LIMIT)",
                    code="limit_reached",
                )
            hook = OutboundWebhook(
                id=new_id(),
                org_id=actor.org_id,
                name=name,
                url=url,
                events=events,
                headers=headers,
                token=secrets.token_hex(32),
                enabled=enabled,
                disabled_reason=None,
                disabled_at=None,
                created_at=unit.now,
                updated_at=unit.now,
            )
            await store.insert_webhook(unit.tx, hook)
            unit.emit(ev.outbound_webhook_changed(hook.id, "created"))
            return hook

        return await self.ctx.uow.write(actor, work)

    async def check_update(
        self, actor: Actor, webhook_id: str, fields: Mapping[str, Any]
    ) -> OutboundWebhook:
        """PATCH: the fields given. Enabling a webhook Klatch disabled resumes the
        deliveries that waited, on a fresh retry schedule."""
        unknown = [k for k in fields if k not in ("name", "url", "events", "headers", "enabled")]
        if unknown:
            raise InvalidArguments(f"'{unknown[0]}' cannot be changed", pointer=f"/{unknown[0]}")
        changes: dict[str, Any] = {}
        if "name" in fields:
            changes["name"] = rules.check_name(fields["name"])
        if "url" in fields:
            changes["url"] = await self._check_url(fields["url"])
        if "events" in fields:
            changes["events"] = rules.check_events(fields["events"])
        if "headers" in fields:
            changes["headers"] = rules.check_headers(fields["headers"])
        if "enabled" in fields:
            changes["enabled"] = _check_enabled(fields["enabled"])

        async def work(unit: Unit) -> OutboundWebhook:
            current = _found(webhook_id, await store.get_webhook(unit.tx, actor.org_id, webhook_id))
            hook = replace(current, **changes, updated_at=unit.now)
            if hook.enabled and not current.enabled:
                hook = replace(hook, disabled_reason=None, disabled_at=None)
                await store.resume_deliveries(unit.tx, actor.org_id, webhook_id, unit.now)
            await store.update_webhook(unit.tx, hook, unit.now)
            unit.emit(ev.outbound_webhook_changed(hook.id, "updated"))
            return hook

        hook = await self.ctx.uow.write(actor, work)
        self.wake()
        return hook

    async def check_delete(self, actor: Actor, webhook_id: str) -> None:
        changed = ev.outbound_webhook_changed(webhook_id, "deleted")
        await self.ctx.delete_one(
            actor, store.delete_webhook, webhook_id, webhook_not_found, changed
        )

    async def check_send_test(self, actor: Actor, webhook_id: str) -> Delivery:
        """Enqueue a ``kustomer.webhook.test`` envelope for this subscription only."""

        async def work(unit: Unit) -> Delivery:
            hook = _found(webhook_id, await store.get_webhook(unit.tx, actor.org_id, webhook_id))
            envelope_id = new_id()
            body = orjson.dumps(_test_envelope(hook, envelope_id, unit)).decode()
            row = delivery_row(hook, envelope_id, rules.TEST_EVENT, None, hook.id, body, unit.now)
            await store.insert_deliveries(unit.tx, [row])
            delivery = await store.list_deliveries(
                unit.tx, actor.org_id, webhook_id, limit=1, offset=0
            )
            return delivery[0]

        delivery = await self.ctx.uow.write(actor, work)
        self.wake()
        return delivery

    async def check_redeliver(self, actor: Actor, webhook_id: str, seq: int) -> Delivery:
        """Send a delivery again (now, on a fresh schedule), delivered or not."""

        async def work(unit: Unit) -> Delivery:
            if not await store.redeliver(unit.tx, actor.org_id, webhook_id, seq, unit.now):
                raise NotFound(
                    f"Outbound webhook '{webhook_id}' has no transaction '{seq}'",
                    code="transaction_not_found",
                )
            found = await store.get_delivery(unit.tx, actor.org_id, webhook_id, seq)
            assert found is not None
            return found

        delivery = await self.ctx.uow.write(actor, work)
        self.wake()
        return delivery

    async def _check_url(self, url: Any) -> str:
        settings = self.ctx.settings
        target = rules.check_url(url, allow_http=settings.webhook_allow_http)
        if not settings.webhook_allow_private:
            await reachable_addresses(target, self.resolver, allow_private=False)
        return str(url)


def _test_envelope(hook: OutboundWebhook, envelope_id: str, unit: Unit) -> dict[str, Any]:
    return {
        "id": envelope_id,
        "name": rules.TEST_EVENT,
        "org": hook.org_id,
        "orgName": "",
        "dataId": hook.id,
        "data": {"type": "outboundWebhook", "id": hook.id, "attributes": {"name": hook.name}},
        "changes": None,
        "createdAt": ev.iso(unit.now),
        "client": rules.client_of(unit.actor.type.value),
        "meta": {"test": True},
    }


def _check_enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArguments("enabled is true or false", pointer="/enabled")
    return value


def _found(webhook_id: str, hook: OutboundWebhook | None) -> OutboundWebhook:
    if hook is None:
        raise webhook_not_found(webhook_id)
    return hook


def webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"No outbound webhook with id '{webhook_id}'", code="webhook_not_found")


def system_actor(org_id: str) -> Actor:
    return Actor(ActorType.SYSTEM, None, org_id, name="webhooks")
