"""Customers: created by chat sessions (anonymous) or integrations, described by both."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, cast

from klatch.domain import events as ev
from klatch.domain.attributes import check_values
from klatch.domain.models import Actor, Customer, Page
from klatch.errors import Conflict, InvalidArguments, NotFound
from klatch.ids import new_id, now_ms
from klatch.services.context import Context, Definitions
from klatch.services.orgs import check_email
from klatch.storage import customers as store
from klatch.storage import events as event_store
from klatch.storage.db import Tx
from klatch.storage.events import EventDraft

MAX_ITEMS = 10
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
        # Kustomer's REST shape wraps items: {"email": "..."} / {"phone": "..."}.
        if isinstance(item, dict):
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

    async def get(self, actor: Actor, customer_id: str) -> Customer:
        if actor.customer_id is not None and customer_id != actor.customer_id:
            raise _not_found(customer_id)
        found = await self.ctx.db.read(lambda tx: store.get_customer(tx, actor.org_id, customer_id))
        if found is None:
            raise _not_found(customer_id)
        return found

    async def list(self, actor: Actor, *, page: int, page_size: int) -> Page:
        offset = (page - 1) * page_size

        async def work(tx: Tx) -> tuple[list[Customer], int]:
            rows = await store.list_customers(tx, actor.org_id, limit=page_size + 1, offset=offset)
            return rows, await store.count_customers(tx, actor.org_id)

        rows, total = await self.ctx.db.read(work)
        return Page(rows[:page_size], page, page_size, total=total, has_next=len(rows) > page_size)

    async def check_create(self, actor: Actor, body: dict[str, Any]) -> Customer:
        """REST ``POST /v1/customers`` with Kustomer's field names."""
        if not isinstance(body, dict):
            raise InvalidArguments("The body must be an object")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            raise InvalidArguments("name must be text of at most 255 characters", pointer="/name")
        external_id = body.get("externalId")
        if external_id is not None and (
            not isinstance(external_id, str) or not 1 <= len(external_id) <= 256
        ):
            raise InvalidArguments("externalId must be 1 to 256 characters", pointer="/externalId")
        standard = check_standard_attributes(
            {
                k: body[k]
                for k in (
                    "emails",
                    "sharedEmails",
                    "phones",
                    "sharedPhones",
                    "socials",
                    "sharedSocials",
                )
                if k in body
            }
        )
        email = body.get("email")
        emails = standard.get("emails", [])
        primary = check_email(email) if email is not None else (emails[0] if emails else None)

        async def attempt(defs: Definitions, version: int) -> Any:
            custom = check_values(
                "customer", defs["customer"], body.get("custom") or {}, from_sdk=False
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

            async def work(tx: Tx) -> tuple[Customer, list[Any]]:
                await _check_unique(tx, customer)
                await store.insert_customer(tx, customer)
                events = await _append(
                    tx,
                    actor,
                    [
                        EventDraft(
                            ev.CUSTOMER_CREATED,
                            {"customer": ev.customer_data(customer)},
                            None,
                            customer.id,
                        )
                    ],
                    version,
                )
                return customer, events

            return await self.ctx.db.write(work)

        customer, events = await self.ctx.with_schema(actor.org_id, attempt)
        self.ctx.publish(events)
        return cast(Customer, customer)

    async def check_describe(
        self,
        actor: Actor,
        customer_id: str,
        *,
        attributes: Any = None,
        custom: Any = None,
        name: Any = ...,
    ) -> Customer:
        """describeCustomer / REST PATCH: lists are added to (never silently replaced),
        custom attributes merged per key, ``None`` clears one."""
        standard = check_standard_attributes(attributes)
        if name is not ... and name is not None and (not isinstance(name, str) or len(name) > 255):
            raise InvalidArguments("name must be text of at most 255 characters", pointer="/name")

        async def attempt(defs: Definitions, version: int) -> Any:
            values = (
                {}
                if custom is None
                else check_values(
                    "customer",
                    defs["customer"],
                    custom,
                    from_sdk=actor.is_customer,
                    pointer="/customAttributes" if actor.is_customer else "/custom",
                )
            )

            async def work(tx: Tx) -> tuple[Customer, list[Any]]:
                current = await store.get_customer(tx, actor.org_id, customer_id)
                if current is None or (
                    actor.customer_id is not None and current.id != actor.customer_id
                ):
                    raise _not_found(customer_id)
                changed = _describe(current, standard, values, name)
                changes = _customer_changes(current, changed)
                if not changes:
                    return current, []
                changed = replace(changed, updated_at=now_ms(), version=current.version + 1)
                await store.update_customer(tx, changed)
                events = await _append(
                    tx,
                    actor,
                    [
                        EventDraft(
                            ev.CUSTOMER_UPDATED,
                            {
                                "customerId": current.id,
                                "changes": changes,
                                "customer": ev.customer_data(changed),
                            },
                            None,
                            current.id,
                        )
                    ],
                    version,
                )
                return changed, events

            return await self.ctx.db.write(work)

        customer, events = await self.ctx.with_schema(actor.org_id, attempt)
        self.ctx.publish(events)
        return cast(Customer, customer)


def _describe(
    current: Customer, standard: dict[str, list[Any]], values: dict[str, Any], name: Any
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
        name=current.name if name is ... else name,
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


async def _append(tx: Tx, actor: Actor, drafts: list[EventDraft], version: int) -> list[Any]:
    return await event_store.append(
        tx,
        actor.org_id,
        drafts,
        actor_type=actor.type.value,
        actor_id=actor.id,
        now=now_ms(),
        schema_version=version,
    )


def _not_found(customer_id: str) -> NotFound:
    return NotFound(f"No customer with id '{customer_id}'", code="customer_not_found")
