"""``/v1/users``: the org's users as Kustomer lists them, and the caller's own.

In Kustomer every API key belongs to a *machine user*; here the key is that user:
``GET /v1/users/current`` answers a user-shaped resource for the key that calls
(``userType: machine``, its name and roles), which is how integrations check a
token. The list holds the console users (``userType: user``) and the keys that
reach ``/v1`` (org.user, org.admin); never a secret, a hash or a key's prefix.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.models import UserRole
from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin, Agent

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
    return views.page_document(result, views.user_resource, "/v1/users")


# Both spellings answer at once: integrations send the trailing slash as a token
# check, and a redirect would drop the Authorization header in some clients.
# Declared before /users/{user_id}, which would take "current" for an id.
@router.get("/users/current", description=_CURRENT)
async def current_user(request: Request, actor: Agent) -> dict[str, Any]:
    return await _user_document(request, actor.org_id, actor.id or "")


@router.get("/users/current/", description=_CURRENT)
async def current_user_slash(request: Request, actor: Agent) -> dict[str, Any]:
    return await _user_document(request, actor.org_id, actor.id or "")


@router.get("/users/{user_id}", description="A console user or a machine user (an API key).")
async def get_user(request: Request, user_id: str, actor: Agent) -> dict[str, Any]:
    return await _user_document(request, actor.org_id, user_id)


async def _user_document(request: Request, org_id: str, user_id: str) -> dict[str, Any]:
    principal = await services_of(request).orgs.get_principal(org_id, user_id)
    return {"data": views.user_resource(principal)}


# ---------------------------------------------------------------- lifecycle (agents' tools)
# Console users only: a machine user is an API key (/v1/keys).


class UserCreate(StrictBody):
    email: str = Field(..., max_length=320, description="The console login")
    password: str = Field(..., min_length=1, max_length=1024, description="8+ characters")
    name: str | None = Field(None, max_length=255, description="Display name")
    role: Literal["agent", "admin"] = "agent"


class UserUpdate(StrictBody):
    name: str | None = Field(None, max_length=255)
    role: Literal["agent", "admin"] | None = None
    disabled: bool | None = Field(
        None, description="true ends their console sessions and sockets at once"
    )
    password: str | None = Field(
        None, max_length=1024, description="A new password; their sessions end"
    )


@router.post("/users", status_code=201, description="Create a console user (agent or admin).")
async def create_user(request: Request, body: UserCreate, actor: Admin) -> dict[str, Any]:
    user = await services_of(request).orgs.create_user(
        actor.org_id,
        body.email,
        body.password,
        role=UserRole(body.role),
        display_name=body.name,
        by=actor,
    )
    return await _user_document(request, actor.org_id, user.id)


@router.patch(
    "/users/{user_id}",
    description="Edit a console user: name, role, disabled (sessions and sockets end at "
    "once), password (reset; sessions end).",
)
async def update_user(
    request: Request, user_id: str, body: UserUpdate, actor: Admin
) -> dict[str, Any]:
    orgs = services_of(request).orgs
    if body.name is not None or body.role is not None:
        await orgs.update_user(
            actor.org_id,
            user_id,
            name=body.name,
            role=UserRole(body.role) if body.role else None,
            by=actor,
        )
    if body.password is not None:
        await orgs.reset_password(actor.org_id, user_id, body.password, by=actor)
    if body.disabled is True:
        await orgs.disable_user(actor.org_id, user_id, by=actor)
    elif body.disabled is False:
        await orgs.enable_user(actor.org_id, user_id, by=actor)
    return await _user_document(request, actor.org_id, user_id)


@router.delete(
    "/users/{user_id}",
    status_code=204,
    description="Delete a console user; their sessions and sockets end at once.",
)
async def delete_user(request: Request, user_id: str, actor: Admin) -> None:
    await services_of(request).orgs.delete_user(actor.org_id, user_id, by=actor)
