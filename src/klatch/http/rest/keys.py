"""``/v1/keys`` (admin): list, create and revoke API keys."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.models import Role
from klatch.http.requests import CheckedRoute, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin

router = APIRouter(prefix="/v1/keys", tags=["admin"], route_class=CheckedRoute)


class KeyCreate(StrictBody):
    name: str = Field(..., min_length=1, max_length=255)
    roles: list[Literal["org.tracking", "org.user", "org.admin"]] = Field(
        ..., min_length=1, max_length=1
    )
    brand: str | None = None


@router.get("")
async def list_keys(request: Request, actor: Admin) -> dict[str, Any]:
    keys = await services_of(request).orgs.list_keys(actor.org_id)
    return views.whole_list_document([views.key_resource(k) for k in keys], "/v1/keys")


@router.post("", status_code=201)
async def create_key(request: Request, body: KeyCreate, actor: Admin) -> dict[str, Any]:
    created = await services_of(request).orgs.create_key(
        actor.org_id, role=Role(body.roles[0]), name=body.name, brand_id=body.brand
    )
    return {"data": views.key_resource(created.key, created.secret)}


@router.delete("/{key_id}", status_code=204)
async def revoke_key(request: Request, key_id: str, actor: Admin) -> None:
    await services_of(request).orgs.revoke_key(actor.org_id, key_id)
