"""Customers: created by chat sessions (anonymous) or integrations, described by both."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from klatch import metrics
from klatch.domain import events as ev
from klatch.domain.attributes import check_values
from klatch.domain.erasure import scrubbed
from klatch.domain.models import Actor, Customer, Event, Page
from klatch.errors import Conflict, InvalidArguments, NotFound
from klatch.ids import new_id, now_ms
from klatch.services import paging
from klatch.services.context import Context
from klatch.services.orgs import check_email
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage import customers as store
from klatch.storage import events as event_store
from klatch.storage.db import Tx

MAX_ITEMS = 10
LIST_FIELDS = ("emails", "sharedEmails", "phones", "sharedPhones", "socials", "sharedSocials")
_PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")
SOCIAL_TYPES = ("twitter", "facebook", "instagram", "linkedin", "pinterest")


def new_customer(org_id: str, **fields: Any) -> Customer:
    now = now_ms()
    base: dict[str, Any] = {
        "name": None,
        "external_id": None,
        "email": None,
        "verified": False,
        "emails": [],
        "phones": [],
        "socials": [],
        "custom": {},
    }
    base.update(fields)
    return Customer(id=new_id(), org_id=org_id, version=1, created_at=now, updated_at=now, **base)


def _strings(field: str, value: Any, check: Any) -> list[Any]:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise InvalidArguments(
            f"{field} must be a list of at most {MAX_ITEMS} items", pointer=f"/attributes/{field}"
        )
    out = []
    for item in value:
        # Kustomer's REST shape wraps items: {"email": "..."} / {"phone": "..."};
        # a social is an object of its own ({type, username}) and stays one.
        if isinstance(item, dict) and ("email" in item or "phone" in item):
            item = item.get("email") or item.get("phone")
        out.append(check(field, item))
    return out


def _phone(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _PHONE_RE.match(value.strip()):
        raise InvalidArguments(
            f"'{value}' in {field} is not a phone number",
            code="invalid_phone",
            pointer=f"/attributes/{field}",
        )
    return value.strip()


def _email(field: str, value: Any) -> str:
    return check_email(value if isinstance(value, str) else "")


def _social(field: str, value: Any) -> dict[str, str]:
    if (
        not isinstance(value, dict)
        or value.get("type") not in SOCIAL_TYPES
        or not isinstance(value.get("username"), str)
        or not value["username"].strip()
    ):
        raise InvalidArguments(
            f"each of {field} needs a username and a type among {', '.join(SOCIAL_TYPES)}",
            pointer=f"/attributes/{field}",
        )
    return {"type": value["type"], "username": value["username"].strip()[:256]}


def check_standard_attributes(attributes: Any) -> dict[str, list[Any]]:
    """describeCustomer's ``attributes``: (shared)emails, (shared)phones, (shared)socials.
    The ``shared*`` names and the plain names mean the same, as in Kustomer's SDKs."""
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise InvalidArguments("attributes must be an object", pointer="/attributes")
    out: dict[str, list[Any]] = {}
    checks = {"emails": _email, "phones": _phone, "socials": _social}
    for key, value in attributes.items():
        plain = key.removeprefix("shared").lower() if key.startswith("shared") else key
        if plain not in checks:
            raise InvalidArguments(
                f"Unknown customer attribute '{key}'; use sharedEmails, sharedPhones, "
                "sharedSocials (or customAttributes for custom ones)",
                pointer=f"/attributes/{key}",
            )
        out.setdefault(plain, []).extend(_strings(key, value, checks[plain]))
    return out


def _union(existing: list[Any], added: list[Any]) -> list[Any]:
    merged = list(existing)
    for item in added:
        if item not in merged:
            merged.append(item)
    return merged[-MAX_ITEMS:]


class CustomerService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.count_cap = paging.COUNT_CAP  # the list counts up to this many

    async def get(self, actor: Actor, customer_id: str) -> Customer:
        if actor.customer_id is not None and customer_id != actor.customer_id:
            raise customer_not_found(customer_id)
        return await self.ctx.read_one(
            store.get_customer, actor.org_id, customer_id, customer_not_found
        )

    async def get_many(self, actor: Actor, customer_ids: list[str]) -> dict[str, Customer]:
        """The customers of these ids that exist, by id, in one read (a page of an
        inbox shows one per row); a chat session sees only its own."""
        if actor.customer_id is not None:
            customer_ids = [i for i in customer_ids if i == actor.customer_id]
        return await self.ctx.db.read(
            lambda tx: store.customers_by_ids(tx, actor.org_id, customer_ids)
        )

    async def history(self, actor: Actor, customer_id: str) -> tuple[Event, ...]:
        """AGENT TOOLS (the console's customer page): the customer's own changes,
        oldest first, from the event log."""
        await self.get(actor, customer_id)
        events = await self.ctx.db.read(
            lambda tx: event_store.events_of_customers(tx, actor.org_id, [customer_id])
        )
        return tuple(e for e in events if e.type in (ev.CUSTOMER_CREATED, ev.CUSTOMER_UPDATED))

    async def get_by_email(self, actor: Actor, email: str) -> Customer:
        """The customer whose (primary) email this is, compared case-insensitively."""
        address = email.strip().lower()
        found = await self.ctx.db.read(
            lambda tx: store.customer_by_email(tx, actor.org_id, address)
        )
        return _found(actor, found, "No customer has this email", "/path/email")

    async def get_by_external_id(self, actor: Actor, external_id: str) -> Customer:
        """The customer with this ``externalId`` (unique per org)."""
        found = await self.ctx.db.read(
            lambda tx: store.customer_by_external_id(tx, actor.org_id, external_id)
        )
        return _found(actor, found, "No customer has this externalId", "/path/externalId")

    async def delete(self, actor: Actor, customer_id: str) -> Customer:
        """Erase a customer: the customer, the anonymous customers merged into it,
        their conversations, messages and chat sessions (open sockets of those
        sessions close, ``credential.revoked``). The event log keeps that it all
        happened but none of the personal data: each event about them is scrubbed
        (``domain/erasure.py``), and ``customer.deleted`` (ids only) is appended.
        Returns the customer as it was."""

        async def work(unit: Unit) -> Customer:
            org_id = unit.actor.org_id
            current = await store.get_customer(unit.tx, org_id, customer_id, for_update=True)
            if current is None or actor.customer_id is not None:
                raise customer_not_found(customer_id)
            merged = await _merged_into(unit.tx, org_id, current.id)
            ids = [current.id, *merged]
            conversation_ids = await conversation_store.conversation_ids_of(unit.tx, org_id, ids)
            sessions = await store.session_ids_of(unit.tx, org_id, ids)
            events = await event_store.events_of_customers(unit.tx, org_id, ids)
            await event_store.rewrite_payloads(
                unit.tx, org_id, [(e.id, scrubbed(e.type, e.payload)) for e in events]
            )
            await conversation_store.delete_for_customers(unit.tx, org_id, ids)
            await store.delete_customers(unit.tx, org_id, ids)
            unit.emit(*(ev.credential_revoked("chat_session", s) for s in sessions))
            unit.emit(ev.customer_deleted(current.id, merged, conversation_ids))
            return current

        return await self.ctx.uow.write(actor, work)

    async def list(self, actor: Actor, *, page: int, page_size: int) -> Page:
        limit, offset = paging.window(page, page_size)

        async def work(tx: Tx) -> tuple[list[Customer], int]:
            rows = await store.list_customers(tx, actor.org_id, limit=limit, offset=offset)
            return rows, await store.count_customers(tx, actor.org_id, cap=self.count_cap)

        rows, counted = await self.ctx.db.read(work)
        total, capped = paging.known_total(counted, self.count_cap, page, page_size, len(rows))
        return paging.offset_page(rows, page, page_size, total, capped=capped)

    async def check_create(self, actor: Actor, body: dict[str, Any]) -> Customer:
        """REST ``POST /v1/customers`` with Kustomer's field names."""
        if not isinstance(body, dict):
            raise InvalidArguments("The body must be an object")
        name = _check_name(body.get("name"))
        external_id = body.get("externalId")
        if external_id is not None and (
            not isinstance(external_id, str) or not 1 <= len(external_id) <= 256
        ):
            raise InvalidArguments("externalId must be 1 to 256 characters", pointer="/externalId")
        standard = check_standard_attributes({k: body[k] for k in LIST_FIELDS if k in body})
        email = body.get("email")
        emails = standard.get("emails", [])
        primary = check_email(email) if email is not None else (emails[0] if emails else None)

        async def work(unit: Unit) -> Customer:
            custom = check_values(
                "customer", unit.defs["customer"], body.get("custom") or {}, from_sdk=False
            )
            customer = new_customer(
                actor.org_id,
                name=name,
                external_id=external_id,
                email=primary,
                emails=_union([primary] if primary else [], emails),
                phones=standard.get("phones", []),
                socials=standard.get("socials", []),
                custom={k: v for k, v in custom.items() if v is not None},
            )
            await _check_unique(unit.tx, customer)
            await store.insert_customer(unit.tx, customer)
            unit.emit(ev.customer_created(customer))
            return customer

        return await self.ctx.uow.write(actor, work, schema=True)

    async def check_describe(
        self, actor: Actor, customer_id: str, changes: Mapping[str, Any]
    ) -> Customer:
        """describeCustomer / REST PATCH: lists are added to (never silently replaced),
        custom attributes merged per key, ``None`` clears one. ``changes`` holds the
        fields given among ``name``, ``custom`` and ``attributes`` (the lists)."""
        standard = check_standard_attributes(changes.get("attributes"))
        if "name" in changes:
            _check_name(changes["name"])
        custom = changes.get("custom")

        async def work(unit: Unit) -> Customer:
            values = {} if custom is None else _custom_values(unit, actor, custom)
            current = await store.get_customer(unit.tx, actor.org_id, customer_id, for_update=True)
            if current is None or (
                actor.customer_id is not None and current.id != actor.customer_id
            ):
                raise customer_not_found(customer_id)
            name = changes["name"] if "name" in changes else current.name
            changed = _describe(current, standard, values, name)
            diff = _customer_changes(current, changed)
            if not diff:
                return current
            changed = replace(changed, updated_at=unit.now, version=current.version + 1)
            await store.update_customer(unit.tx, changed)
            unit.emit(ev.customer_updated(changed, diff))
            return changed

        write = self.ctx.uow.write(actor, work, schema=True)
        return await metrics.counted_describe("customer", actor.is_customer, write)


async def _merged_into(tx: Tx, org_id: str, customer_id: str) -> list[str]:
    """Every customer merged into this one, directly or through another."""
    found: list[str] = []
    frontier = [customer_id]
    while frontier:
        batch: list[str] = []
        for ident in frontier:
            batch.extend(i for i in await store.merged_into(tx, org_id, ident) if i not in found)
        found.extend(batch)
        frontier = batch
    return found


def _found(actor: Actor, found: Customer | None, detail: str, pointer: str) -> Customer:
    if found is None or (actor.customer_id is not None and found.id != actor.customer_id):
        raise NotFound(detail, code="customer_not_found", pointer=pointer)
    return found


def _custom_values(unit: Unit, actor: Actor, custom: Any) -> dict[str, Any]:
    return check_values(
        "customer",
        unit.defs["customer"],
        custom,
        from_sdk=actor.is_customer,
        pointer="/customAttributes" if actor.is_customer else "/custom",
    )


def _check_name(name: Any) -> str | None:
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise InvalidArguments("name must be text of at most 255 characters", pointer="/name")
    return name


def _describe(
    current: Customer, standard: dict[str, list[Any]], values: dict[str, Any], name: str | None
) -> Customer:
    custom = dict(current.custom)
    for key, value in values.items():
        if value is None:
            custom.pop(key, None)
        else:
            custom[key] = value
    emails = _union(current.emails, standard.get("emails", []))
    return replace(
        current,
        name=name,
        email=current.email or (emails[0] if emails else None),
        emails=emails,
        phones=_union(current.phones, standard.get("phones", [])),
        socials=_union(current.socials, standard.get("socials", [])),
        custom=custom,
    )


def _customer_changes(before: Customer, after: Customer) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field in ("name", "email", "emails", "phones", "socials"):
        old, new = getattr(before, field), getattr(after, field)
        if old != new:
            changes[field] = {"before": old, "after": new}
    custom = ev.changes_between(
        before.custom, {**{k: None for k in before.custom if k not in after.custom}, **after.custom}
    )
    if custom:
        changes["custom"] = custom
    return changes


async def _check_unique(tx: Tx, customer: Customer) -> None:
    if customer.external_id and await store.customer_by_external_id(
        tx, customer.org_id, customer.external_id
    ):
        raise Conflict(
            f"A customer with externalId '{customer.external_id}' exists",
            code="already_exists",
            pointer="/externalId",
        )
    if customer.email and await store.customer_by_email(tx, customer.org_id, customer.email):
        raise Conflict(
            f"A customer with email '{customer.email}' exists",
            code="already_exists",
            pointer="/email",
        )


def customer_not_found(customer_id: str) -> NotFound:
    return NotFound(f"No customer with id '{customer_id}'", code="customer_not_found")
