"""The session's customer: who it is, and describing it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from klatch.http.client.auth import session_actor
from klatch.http.client.routing import ClientRoute
from klatch.http.client.views import customer_view
from klatch.http.requests import json_response, read_object, services_of

PATH = "/c/v1/customers/current"


async def get_customer(request: Request) -> Response:
    actor = await session_actor(request)
    return json_response(customer_view(await services_of(request).chat.customer(actor)))


async def describe_customer(request: Request) -> Response:
    actor = await session_actor(request)
    body = await read_object(request)
    assert actor.customer_id is not None
    given = {
        "attributes": body.get("attributes"),
        "custom": body.get("customAttributes", body.get("custom")),
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    customer = await services_of(request).customers.check_describe(
        actor, actor.customer_id, changes
    )
    return json_response(customer_view(customer))


routes = [
    ClientRoute("GET", PATH, get_customer, "The session's customer"),
    ClientRoute(
        "PATCH",
        PATH,
        describe_customer,
        "Describe the session's customer",
        sdk="describeCustomer",
        body="required",
    ),
]
