"""``/v1/customers``: create, list, get and describe customers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ConfigDict

from klatch.http.requests import PAGE, PAGE_SIZE, CheckedRoute, StrictBody, services_of
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
    request: Request, actor: Agent, page: int = PAGE, page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    result = await services_of(request).customers.list(actor, page=page, page_size=page_size)
    return views.list_document(
        [views.customer_resource(c) for c in result.items], result, "/v1/customers", {}
    )


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
