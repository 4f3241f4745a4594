"""``/v1/shortcuts``: canned answers (Kustomer's shortcuts; paged until ``links.next``
is null, each with ``updatedAt``). A body's variables (``{{customer.name}}``,
``{{conversation.custom.orderNumberStr}}``, ``{{agent.name}}``) are checked when it
is saved and filled in the console for each conversation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.events import iso
from klatch.domain.shortcuts import MAX_BODY, MAX_NAME, VARIABLE_RE, Shortcut
from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin, Agent

router = APIRouter(prefix="/v1", tags=["shortcuts"], route_class=CheckedRoute)


class ShortcutCreate(StrictBody):
    name: str = Field(..., max_length=MAX_NAME, description="Typed as /name in the console")
    body: str = Field(..., max_length=MAX_BODY, description="Text with {{variables}}")


class ShortcutUpdate(StrictBody):
    name: str | None = Field(None, max_length=MAX_NAME)
    body: str | None = Field(None, max_length=MAX_BODY)


def shortcut_resource(s: Shortcut) -> dict[str, Any]:
    return {
        "type": "shortcut",
        "id": s.id,
        "attributes": {
            "name": s.name,
            "body": s.body,
            "variables": list(dict.fromkeys(VARIABLE_RE.findall(s.body))),
            "createdAt": iso(s.created_at),
            "updatedAt": iso(s.updated_at),
        },
        "links": {"self": f"/v1/shortcuts/{s.id}"},
    }


@router.get("/shortcuts", description="The org's shortcuts by name.")
async def list_shortcuts(
    request: Request, actor: Agent, page_size: PageSize, page: int = PAGE
) -> dict[str, Any]:
    result = await services_of(request).shortcuts.list(actor, page=page, page_size=page_size)
    return views.page_document(result, shortcut_resource, "/v1/shortcuts")


@router.post("/shortcuts", status_code=201)
async def create_shortcut(request: Request, body: ShortcutCreate, actor: Admin) -> dict[str, Any]:
    item = await services_of(request).shortcuts.create(actor, body.name, body.body)
    return {"data": shortcut_resource(item)}


@router.get("/shortcuts/{shortcut_id}")
async def get_shortcut(request: Request, shortcut_id: str, actor: Agent) -> dict[str, Any]:
    return {"data": shortcut_resource(await services_of(request).shortcuts.get(actor, shortcut_id))}


@router.patch("/shortcuts/{shortcut_id}")
async def update_shortcut(
    request: Request, shortcut_id: str, body: ShortcutUpdate, actor: Admin
) -> dict[str, Any]:
    item = await services_of(request).shortcuts.update(
        actor, shortcut_id, body.model_dump(exclude_unset=True, exclude_none=True)
    )
    return {"data": shortcut_resource(item)}


@router.delete("/shortcuts/{shortcut_id}", status_code=204)
async def delete_shortcut(request: Request, shortcut_id: str, actor: Admin) -> None:
    await services_of(request).shortcuts.delete(actor, shortcut_id)
