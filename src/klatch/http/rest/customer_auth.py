"""``/v1/auth/customer/settings`` (admin): how an org's server identifies customers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.http.requests import CheckedRoute, services_of
from klatch.http.rest.auth import Admin

router = APIRouter(prefix="/v1", tags=["admin"], route_class=CheckedRoute)


@router.get(
    "/auth/customer/settings",
    description="The secret your server signs login JWTs with (HS256).",
)
async def customer_auth_settings(request: Request, actor: Admin) -> dict[str, Any]:
    secret = await services_of(request).chat.org_secret(actor.org_id)
    return {
        "data": {
            "type": "customerAuthSettings",
            "id": actor.org_id,
            "attributes": {"secret": secret, "algorithm": "HS256"},
        }
    }
