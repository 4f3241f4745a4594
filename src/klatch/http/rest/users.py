"""``/v1/users``: the org's users as Kustomer lists them, and the caller's own.

In Kustomer every API key belongs to a *machine user*; here the key is that user:
``GET /v1/users/current`` answers a user-shaped resource for the key that calls
(``userType: machine``, its name and roles), which is how integrations check a
token. The list holds the console users (``userType: user``) and the keys that
reach ``/v1`` (org.user, org.admin); never a secret, a hash or a key's prefix.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.http.requests import PAGE, CheckedRoute, PageSize, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", tags=["users"], route_class=CheckedRoute)
_CURRENT = "The user behind the API key that calls: its machine user (`userType: machine`)."


@router.get(
    "/users",
    description="Console users and machine users (API keys with org.user or org.admin), "
    "oldest first.",
)
async def list_users(
    request: Request, actor: Agent, page_size: PageSize, page: int = PAGE
) -> dict[str, Any]:
    result = await services_of(request).orgs.list_principals(
        actor.org_id, page=page, page_size=page_size
    )
    return views.list_document(
        [views.user_resource(p) for p in result.items], result, "/v1/users", {}
    )


# Both spellings answer at once: integrations send the trailing slash as a token
# check, and a redirect would drop the Authorization header in some clients.
# Declared before /users/{user_id}, which would take "current" for an id.
@router.get("/users/current", description=_CURRENT)
async def current_user(request: Request, actor: Agent) -> dict[str, Any]:
    return await _current(request, actor.org_id, actor.id)


@router.get("/users/current/", description=_CURRENT)
async def current_user_slash(request: Request, actor: Agent) -> dict[str, Any]:
    return await _current(request, actor.org_id, actor.id)


async def _current(request: Request, org_id: str, key_id: str | None) -> dict[str, Any]:
    principal = await services_of(request).orgs.get_principal(org_id, key_id or "")
    return {"data": views.user_resource(principal)}


@router.get("/users/{user_id}", description="A console user or a machine user (an API key).")
async def get_user(request: Request, user_id: str, actor: Agent) -> dict[str, Any]:
    principal = await services_of(request).orgs.get_principal(actor.org_id, user_id)
    return {"data": views.user_resource(principal)}
