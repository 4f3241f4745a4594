"""``/v1/conversations/{id}/messages`` and agent typing activity."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1/conversations/{conversation_id}", route_class=CheckedRoute)


class MessageCreate(StrictBody):
    body: str | None = Field(None, description="The text; `preview` is accepted as its alias")
    preview: str | None = None
    direction: Literal["out"] = "out"
    channel: Literal["chat"] = "chat"
    app: str | None = None
    payload: str | None = None


class TypingActivity(StrictBody):
    typing: bool = Field(description="true while typing, false when stopped")


@router.post("/messages", status_code=201, tags=["messages"])
async def create_message(
    request: Request, conversation_id: str, body: MessageCreate, actor: Agent
) -> dict[str, Any]:
    message = await services_of(request).messages.check_send(
        actor,
        conversation_id,
        body.body if body.body is not None else body.preview,
        payload=body.payload,
    )
    return {"data": views.message_resource(message)}


@router.get("/messages", tags=["messages"])
async def list_messages(
    request: Request,
    conversation_id: str,
    actor: Agent,
    page_size: PageSize,
    page: int = PAGE,
) -> dict[str, Any]:
    conv, result = await services_of(request).messages.list(
        actor, conversation_id, page=page, page_size=page_size
    )
    result.total = conv.message_count  # counted as messages are added
    return views.list_document(
        [views.message_resource(m) for m in result.items],
        result,
        f"/v1/conversations/{conversation_id}/messages",
        {},
    )


@router.post(
    "/typing",
    status_code=204,
    tags=["conversations"],
    description='Agent typing activity, `{"typing": true}` or `false`; shown live in '
    "the customer's widget, not stored.",
)
async def typing(
    request: Request, conversation_id: str, body: TypingActivity, actor: Agent
) -> None:
    await services_of(request).messages.check_typing(actor, conversation_id, body.typing)
