"""``/v1/conversations/{id}/messages``, ``/v1/messages/{id}`` (a message and its
custom attributes) and agent typing activity."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", route_class=CheckedRoute)
_CONVERSATION = "/conversations/{conversation_id}"
_CUSTOM = "Custom attributes of the message klass"


class MessageCreate(StrictBody):
    body: str | None = Field(None, description="The text; `preview` is accepted as its alias")
    preview: str | None = None
    direction: Literal["out"] = "out"
    channel: Literal["chat"] = "chat"
    app: str | None = None
    payload: str | None = None
    custom: dict[str, Any] | None = Field(
        None, description=f"{_CUSTOM}, stored with the message (all valid or nothing stored)"
    )


class MessageUpdate(StrictBody):
    custom: dict[str, Any] | None = Field(
        None,
        description=f"{_CUSTOM}: merged per key; null clears a key; all valid or nothing stored",
    )


class TypingActivity(StrictBody):
    typing: bool = Field(description="true while typing, false when stopped")


@router.post(f"{_CONVERSATION}/messages", status_code=201, tags=["messages"])
async def create_message(
    request: Request, conversation_id: str, body: MessageCreate, actor: Agent
) -> dict[str, Any]:
    message = await services_of(request).messages.check_send(
        actor,
        conversation_id,
        body.body if body.body is not None else body.preview,
        payload=body.payload,
        custom=body.custom,
    )
    return {"data": views.message_resource(message)}


@router.get(f"{_CONVERSATION}/messages", tags=["messages"])
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
    return views.page_document(
        result, views.message_resource, f"/v1/conversations/{conversation_id}/messages"
    )


@router.get(
    "/messages/{message_id}",
    tags=["messages"],
    description="One message, as its conversation's list and search show it.",
)
async def get_message(request: Request, message_id: str, actor: Agent) -> dict[str, Any]:
    message = await services_of(request).messages.get(actor, message_id)
    return {"data": views.message_resource(message)}


@router.patch(
    "/messages/{message_id}",
    tags=["messages"],
    description=(
        "Set the message's custom attributes (the message klass's definitions): each "
        "key given replaces its value, null clears it, the others are kept; any "
        "invalid value is a 400 naming it, and nothing is stored."
    ),
)
async def patch_message(
    request: Request, message_id: str, body: MessageUpdate, actor: Agent
) -> dict[str, Any]:
    message = await services_of(request).messages.check_update(
        actor, message_id, body.model_dump(exclude_unset=True)
    )
    return {"data": views.message_resource(message)}


@router.post(
    f"{_CONVERSATION}/typing",
    status_code=204,
    tags=["conversations"],
    description='Agent typing activity, `{"typing": true}` or `false`; shown live in '
    "the customer's widget, not stored.",
)
async def typing(
    request: Request, conversation_id: str, body: TypingActivity, actor: Agent
) -> None:
    await services_of(request).messages.check_typing(actor, conversation_id, body.typing)
