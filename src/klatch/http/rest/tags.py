"""``/v1/tags`` (Kustomer's shape: ``name``, ``color``, ``updatedAt``; paged until
``links.next`` is null), and tagging one conversation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.events import iso
from klatch.domain.tags import MAX_TAG_NAME, MAX_TAGS, Tag
from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin, Agent

router = APIRouter(prefix="/v1", tags=["tags"], route_class=CheckedRoute)


class TagCreate(StrictBody):
    name: str = Field(..., max_length=MAX_TAG_NAME, description="Unique in the org")
    color: str | None = Field(None, description="#rrggbb")


class TagUpdate(StrictBody):
    name: str | None = Field(None, max_length=MAX_TAG_NAME)
    color: str | None = None


class ConversationTags(StrictBody):
    tags: list[str] = Field(..., max_length=MAX_TAGS, description="Tag ids or names")


def tag_resource(t: Tag) -> dict[str, Any]:
    return {
        "type": "tag",
        "id": t.id,
        "attributes": {
            "name": t.name,
            "color": t.color,
            "deleted": False,
            "createdAt": iso(t.created_at),
            "updatedAt": iso(t.updated_at),
        },
        "links": {"self": f"/v1/tags/{t.id}"},
    }


@router.get("/tags", description="The org's tags by name.")
async def list_tags(
    request: Request, actor: Agent, page_size: PageSize, page: int = PAGE
) -> dict[str, Any]:
    result = await services_of(request).tags.list(actor, page=page, page_size=page_size)
    return views.page_document(result, tag_resource, "/v1/tags")


@router.post("/tags", status_code=201)
async def create_tag(request: Request, body: TagCreate, actor: Agent) -> dict[str, Any]:
    tag = await services_of(request).tags.create(actor, body.name, body.color)
    return {"data": tag_resource(tag)}


@router.get("/tags/{tag_id}")
async def get_tag(request: Request, tag_id: str, actor: Agent) -> dict[str, Any]:
    return {"data": tag_resource(await services_of(request).tags.get(actor, tag_id))}


@router.patch("/tags/{tag_id}")
async def update_tag(
    request: Request, tag_id: str, body: TagUpdate, actor: Agent
) -> dict[str, Any]:
    tag = await services_of(request).tags.update(actor, tag_id, body.model_dump(exclude_unset=True))
    return {"data": tag_resource(tag)}


@router.delete(
    "/tags/{tag_id}",
    status_code=204,
    description="Delete the tag; the conversations that carried it no longer do.",
)
async def delete_tag(request: Request, tag_id: str, actor: Admin) -> None:
    await services_of(request).tags.delete(actor, tag_id)


@router.post(
    "/conversations/{conversation_id}/tags",
    description="Add tags (ids or names of existing tags) to the conversation.",
)
async def add_conversation_tags(
    request: Request, conversation_id: str, body: ConversationTags, actor: Agent
) -> dict[str, Any]:
    conv = await services_of(request).tags.change(actor, conversation_id, add=body.tags)
    return {"data": views.conversation_resource(conv)}


@router.delete(
    "/conversations/{conversation_id}/tags",
    description="Remove tags (ids or names) from the conversation.",
)
async def remove_conversation_tags(
    request: Request, conversation_id: str, body: ConversationTags, actor: Agent
) -> dict[str, Any]:
    conv = await services_of(request).tags.change(actor, conversation_id, remove=body.tags)
    return {"data": views.conversation_resource(conv)}
