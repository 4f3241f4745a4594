"""``/v1/brands`` (admin): the brands and their chat settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.http.requests import CheckedRoute, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin

router = APIRouter(prefix="/v1/brands", tags=["admin"], route_class=CheckedRoute)


@router.get("")
async def list_brands(request: Request, actor: Admin) -> dict[str, Any]:
    brands = await services_of(request).orgs.list_brands(actor.org_id)
    return views.whole_list_document([views.brand_resource(b) for b in brands], "/v1/brands")


@router.patch(
    "/{brand_id}",
    description="Change a brand's chat settings: `teamName`, `greeting`, `colors`, "
    "`allowedOrigins` (the pages that may use the SDK; empty: any), `enabled`, "
    "`closableChat`, `availability`, `preChatForm` (the widget's questions before a "
    'first message: `{"questions": [{"klass", "attribute", "label", "required", '
    '"choices"?}]}`, each attribute defined and browser-writable).',
)
async def update_brand(
    request: Request, brand_id: str, body: dict[str, Any], actor: Admin
) -> dict[str, Any]:
    brand = await services_of(request).orgs.update_brand_settings(
        actor.org_id, brand_id, body.get("settings", body)
    )
    return {"data": views.brand_resource(brand)}
