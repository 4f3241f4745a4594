"""The customer page: their profile, the customer klass's custom attributes with
the same typed editors and history as a conversation's, and every conversation
of theirs. Linked from the conversation view."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from klatch.console.editors import (
    attribute_errors,
    custom_changes,
    editor_for,
    errors_json,
    shown,
    values_from_form,
)
from klatch.console.session import Agent
from klatch.console.web import (
    PageError,
    agent_write,
    page,
    render,
    require_agent,
    services_of,
    wants_json,
)
from klatch.domain.attributes import AttributeDef
from klatch.domain.models import Customer
from klatch.domain.shortcuts import shown as readable
from klatch.errors import KlatchError, NotFound


def _not_found() -> PageError:
    return PageError(404, "Not found", "There is no such customer.")


async def _history(
    request: Request, agent: Agent, customer_id: str, definitions: list[AttributeDef]
) -> list[dict[str, Any]]:
    """The customer's attribute changes, newest first, with who made them."""
    services = services_of(request)
    names = {
        f"user:{u.id}": u.display_name for u in await services.orgs.list_users(agent.user.org_id)
    }
    for key in await services.orgs.list_keys(agent.user.org_id):
        names[f"api_key:{key.id}"] = f"API key “{key.name}”"
    by_name = {d.name: d for d in definitions}
    out = []
    for event in await services.customers.history(agent.actor, customer_id):
        who = (
            "Customer (chat)"
            if event.actor_type == "customer"
            else names.get(f"{event.actor_type}:{event.actor_id}") or event.actor_type
        )
        for name, change in custom_changes(event, "customer").items():
            d = by_name.get(name)
            kind = d.type if d else None
            out.append(
                {
                    "when": event.created_at,
                    "who": who,
                    "attribute": d.display_name if d else name,
                    "before": readable(change.get("before"), kind),
                    "after": readable(change.get("after"), kind),
                }
            )
    out.reverse()
    return out


async def _context(
    request: Request, agent: Agent, customer_id: str, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    services = services_of(request)
    try:
        customer: Customer = await services.customers.get(agent.actor, customer_id)
        conversations = await services.conversations.list_for_customer(
            agent.actor, customer_id, page_size=100
        )
    except NotFound:
        raise _not_found() from None
    definitions = await services.attributes.list(agent.user.org_id, "customer")
    editors = {d.name: editor_for(d) for d in definitions}
    return {
        "agent": agent,
        "customer": customer,
        "conversations": conversations.items,
        "total": conversations.total,
        "definitions": definitions,
        "editors": editors,
        "values": {d.name: shown(customer.custom.get(d.name)) for d in definitions},
        "datetime_values": {
            d.name: str(customer.custom.get(d.name) or "")[:16]
            for d in definitions
            if editors[d.name] == "datetime"
        },
        "history": await _history(request, agent, customer_id, definitions),
        "errors": errors or {},
        "attributes_action": f"/console/customers/{customer_id}/attributes",
        "klass": "customer",
    }


# The parts the page's script refreshes when the customer changes (live).
PARTS = {"attributes": "_attributes.html", "history": "_history.html"}


@page
async def customer_page(request: Request) -> Response:
    agent = await require_agent(request)
    context = await _context(request, agent, request.path_params["id"])
    part = PARTS.get(request.query_params.get("partial") or "")
    return render(request, part or "customer.html", context)


@page
async def set_attributes(request: Request) -> Response:
    agent, form = await agent_write(request)
    customer_id = request.path_params["id"]
    services = services_of(request)
    definitions = {d.name: d for d in await services.attributes.list(agent.user.org_id, "customer")}
    values = values_from_form(form, definitions)
    try:
        updated = await services.customers.check_describe(
            agent.actor, customer_id, {"custom": values}
        )
    except NotFound:
        raise _not_found() from None
    except KlatchError as exc:
        errors = attribute_errors(exc, definitions)
        if wants_json(request):
            return errors_json(errors, exc.status)
        context = await _context(request, agent, customer_id, errors)
        return render(request, "customer.html", context, status_code=exc.status)
    if wants_json(request):
        return JSONResponse({"customerId": updated.id, "custom": updated.custom})
    return RedirectResponse(f"/console/customers/{customer_id}", status_code=303)
