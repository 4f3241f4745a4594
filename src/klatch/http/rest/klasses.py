"""``GET /v1/klasses``: the klasses Klatch holds records of, as Kustomer lists klasses.

Klatch has no custom klasses (KObjects): the list is its standard klasses that
carry custom attributes (customer, conversation, message), each with how many
attributes it defines and when its definitions last changed; their definitions
themselves are ``/v1/metadata/{klass}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.domain.attributes import KLASSES, AttributeDef
from klatch.domain.events import iso
from klatch.http.requests import CheckedRoute, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", tags=["metadata"], route_class=CheckedRoute)
_DISPLAY = {"customer": "Customer", "conversation": "Conversation", "message": "Message"}


def klass_resource(klass: str, defs: list[AttributeDef], since: int) -> dict[str, Any]:
    """One klass; ``since`` (the org's creation) dates a klass without definitions."""
    created = min((d.created_at for d in defs), default=since)
    updated = max((d.updated_at for d in defs), default=since)
    return {
        "type": "klass",
        "id": klass,
        "attributes": {
            "name": klass,
            "displayName": _DISPLAY.get(klass, klass.title()),
            "standard": True,
            "status": "enabled",
            "attributeCount": len(defs),
            "createdAt": iso(created),
            "updatedAt": iso(updated),
        },
        "links": {"self": f"/v1/metadata/{klass}"},
    }


@router.get(
    "/klasses",
    description="The klasses Klatch holds (customer, conversation, message), each with "
    "its number of custom attributes; their definitions are /v1/metadata/{klass}.",
)
async def list_klasses(request: Request, actor: Agent) -> dict[str, Any]:
    services = services_of(request)
    defs = await services.attributes.list(actor.org_id)
    org = await services.orgs.get_org(actor.org_id)
    items = [klass_resource(k, [d for d in defs if d.klass == k], org.created_at) for k in KLASSES]
    return views.whole_list_document(items, "/v1/klasses")
