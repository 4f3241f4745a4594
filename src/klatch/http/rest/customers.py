"""``/v1/customers``: create, list, get, look up (by email, by externalId), describe
and delete (erase) customers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ConfigDict

from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", tags=["customers"], route_class=CheckedRoute)

# The standard attributes, each a list, as Kustomer names them.
STANDARD_LISTS = ("emails", "sharedEmails", "phones", "sharedPhones", "socials", "sharedSocials")


class CustomerUpdate(StrictBody):
    name: str | None = None
    emails: list[Any] | None = None
    sharedEmails: list[Any] | None = None
    phones: list[Any] | None = None
    sharedPhones: list[Any] | None = None
    socials: list[Any] | None = None
    sharedSocials: list[Any] | None = None
    custom: dict[str, Any] | None = None


class CustomerCreate(CustomerUpdate):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    externalId: str | None = None
    email: str | None = None


@router.post("/customers", status_code=201)
async def create_customer(request: Request, body: CustomerCreate, actor: Agent) -> dict[str, Any]:
    customer = await services_of(request).customers.check_create(
        actor, body.model_dump(exclude_none=True)
    )
    return {"data": views.customer_resource(customer)}


@router.get("/customers")
async def list_customers(
    request: Request, actor: Agent, page_size: PageSize, page: int = PAGE
) -> dict[str, Any]:
    result = await services_of(request).customers.list(actor, page=page, page_size=page_size)
    return views.page_document(result, views.customer_resource, "/v1/customers")


# Before /customers/{customer_id}, which would take "email=..." for an id.
@router.get(
    "/customers/email={email}",
    description="The customer whose email this is (case-insensitive; the primary email).",
)
async def get_customer_by_email(request: Request, email: str, actor: Agent) -> dict[str, Any]:
    customer = await services_of(request).customers.get_by_email(actor, email)
    return {"data": views.customer_resource(customer)}


@router.get(
    "/customers/externalId={external_id}",
    description="The customer with this externalId (unique per org).",
)
async def get_customer_by_external_id(
    request: Request, external_id: str, actor: Agent
) -> dict[str, Any]:
    customer = await services_of(request).customers.get_by_external_id(actor, external_id)
    return {"data": views.customer_resource(customer)}


@router.get("/customers/{customer_id}")
async def get_customer(request: Request, customer_id: str, actor: Agent) -> dict[str, Any]:
    customer = await services_of(request).customers.get(actor, customer_id)
    return {"data": views.customer_resource(customer)}


@router.patch("/customers/{customer_id}")
async def update_customer(
    request: Request, customer_id: str, body: CustomerUpdate, actor: Agent
) -> dict[str, Any]:
    customer = await services_of(request).customers.check_describe(
        actor, customer_id, _changes(body.model_dump(exclude_unset=True))
    )
    return {"data": views.customer_resource(customer)}


def _changes(given: dict[str, Any]) -> dict[str, Any]:
    """The fields given, with the standard lists as one ``attributes`` object."""
    changes = {k: v for k, v in given.items() if k in ("name", "custom")}
    attributes = {k: v for k, v in given.items() if k in STANDARD_LISTS}
    if attributes:
        changes["attributes"] = attributes
    return changes


@router.delete(
    "/customers/{customer_id}",
    status_code=204,
    description=(
        "Erase the customer: it, the anonymous customers merged into it at login, their "
        "conversations, messages and chat sessions (open chat sockets close). The event log "
        "keeps that each change happened, without the personal data, and a "
        "`customer.deleted` event (ids only)."
    ),
)
async def delete_customer(request: Request, customer_id: str, actor: Agent) -> None:
    await services_of(request).customers.delete(actor, customer_id)
