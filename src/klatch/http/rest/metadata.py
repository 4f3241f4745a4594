"""``/v1/metadata/{klass}``: the custom attribute definitions of a klass.

Kustomer's standard klasses are customer, conversation, message, company and user.
Klatch holds custom attributes on the first three; it holds no companies, and its
users have no custom attributes, so ``GET`` of those two answers a valid klass
without properties (integrations read ``data.attributes.properties`` of each
standard klass as an object) and ``PUT`` of them is a 400 ``unknown_klass``.
A tree attribute's ``tree`` is Kustomer's nested shape, read and written alike:
``{"children": [{"id", "displayName", "children"?}]}``, with ``lastNodeRequired``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.attributes import check_klass
from klatch.http.requests import CheckedRoute, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin, Agent

router = APIRouter(prefix="/v1/metadata/{klass}", tags=["metadata"], route_class=CheckedRoute)
# Standard klasses of Kustomer's that hold no custom attributes in Klatch.
EMPTY_KLASSES = ("company", "user")


class MetadataUpdate(StrictBody):
    properties: dict[str, dict[str, Any]] = Field(
        ...,
        description="name -> {type?, displayName?, enumeration?, tree?, lastNodeRequired?, "
        'sdkWritable?}; tree: {"children": [{"id", "displayName", "children"?}]}',
    )


@router.get(
    "",
    description="The klass's attribute definitions (customer, conversation, message; "
    "company and user answer no properties).",
)
async def get_metadata(request: Request, klass: str, actor: Agent) -> dict[str, Any]:
    if klass in EMPTY_KLASSES:
        return views.metadata_document(klass, [])
    check_klass(klass)
    definitions = await services_of(request).attributes.list(actor.org_id, klass)
    return views.metadata_document(klass, definitions)


@router.put(
    "",
    description="Create or update the named properties, all or nothing. Types "
    "follow the name's suffix (Str, Txt, Num, Bool, At, Url, Tree, Id); a name "
    "without one needs `type`.",
)
async def put_metadata(
    request: Request, klass: str, body: MetadataUpdate, actor: Admin
) -> dict[str, Any]:
    definitions = await services_of(request).attributes.put_properties(
        actor.org_id, klass, body.properties
    )
    return views.metadata_document(klass, definitions)


@router.delete("/properties/{name}", status_code=204)
async def delete_property(request: Request, klass: str, name: str, actor: Admin) -> None:
    await services_of(request).attributes.delete(actor.org_id, klass, name)
