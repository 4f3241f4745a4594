"""``/v1/metadata/{klass}``: the custom attribute definitions of a klass."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.attributes import check_klass
from klatch.http.requests import CheckedRoute, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin, Agent

router = APIRouter(prefix="/v1/metadata/{klass}", tags=["metadata"], route_class=CheckedRoute)


class MetadataUpdate(StrictBody):
    properties: dict[str, dict[str, Any]] = Field(
        ..., description="name -> {type?, displayName?, enumeration?, tree?, sdkWritable?}"
    )


@router.get("")
async def get_metadata(request: Request, klass: str, actor: Agent) -> dict[str, Any]:
    check_klass(klass)
    definitions = await services_of(request).attributes.list(actor.org_id, klass)
    return views.metadata_document(klass, definitions)


@router.put(
    "",
    description="Create or update the named properties, all or nothing. Types "
    "follow the name's suffix (Str, Txt, Num, Bool, At, Url); a name "
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
