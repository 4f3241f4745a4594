"""``/v1/conversations/{id}/events``: a conversation's attribute history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.http.requests import CheckedRoute, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", tags=["conversations"], route_class=CheckedRoute)


@router.get(
    "/conversations/{conversation_id}/events",
    description="The conversation's attribute history, oldest first.",
)
async def conversation_history(
    request: Request, conversation_id: str, actor: Agent
) -> dict[str, Any]:
    events = await services_of(request).conversations.history(actor, conversation_id)
    return views.whole_list_document(
        [views.event_resource(e) for e in events], f"/v1/conversations/{conversation_id}/events"
    )
