"""``GET /v1/conversations/{id}/attachments``: a conversation's attachments.

Klatch's messages carry text (and a ``payload`` string), never files, so every
conversation has no attachments: a valid empty page for a conversation the key
may see, the same 404 as ``GET /v1/conversations/{id}`` otherwise.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.domain.models import Page
from klatch.http.requests import PAGE, CheckedRoute, PageSize, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", tags=["conversations"], route_class=CheckedRoute)


@router.get(
    "/conversations/{conversation_id}/attachments",
    description="The conversation's attachments: always none (Klatch's messages "
    "carry no files), in the shape of every list.",
)
async def list_attachments(
    request: Request, conversation_id: str, actor: Agent, page_size: PageSize, page: int = PAGE
) -> dict[str, Any]:
    await services_of(request).conversations.get(actor, conversation_id)
    return views.list_document(
        [],
        Page([], page, page_size, total=0),
        f"/v1/conversations/{conversation_id}/attachments",
        {},
    )
