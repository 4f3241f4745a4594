"""``/v1/conversations/{id}/notes``: internal notes (Kustomer's notes). Agents and
integrations read and write them; the customer never sees one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.events import iso
from klatch.domain.notes import MAX_NOTE_CHARS, Note
from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", tags=["notes"], route_class=CheckedRoute)


class NoteCreate(StrictBody):
    body: str = Field(..., max_length=MAX_NOTE_CHARS, description="The note's text")


def note_resource(n: Note) -> dict[str, Any]:
    return {
        "type": "note",
        "id": n.id,
        "attributes": {
            "body": n.body,
            "createdAt": iso(n.created_at),
            "updatedAt": iso(n.updated_at),
            "createdBy": {"type": n.author_type, "id": n.author_id, "displayName": n.author_name},
        },
        "relationships": {
            "conversation": {"data": {"type": "conversation", "id": n.conversation_id}},
            "createdBy": {"data": {"type": n.author_type, "id": n.author_id}},
        },
        "links": {"self": f"/v1/conversations/{n.conversation_id}/notes/{n.id}"},
    }


@router.post(
    "/conversations/{conversation_id}/notes",
    status_code=201,
    description="Write an internal note: shown to agents, never sent to the customer.",
)
async def create_note(
    request: Request, conversation_id: str, body: NoteCreate, actor: Agent
) -> dict[str, Any]:
    note = await services_of(request).notes.check_create(actor, conversation_id, body.body)
    return {"data": note_resource(note)}


@router.get(
    "/conversations/{conversation_id}/notes", description="The conversation's notes, oldest first."
)
async def list_notes(
    request: Request, conversation_id: str, actor: Agent, page_size: PageSize, page: int = PAGE
) -> dict[str, Any]:
    result = await services_of(request).notes.list(
        actor, conversation_id, page=page, page_size=page_size
    )
    return views.page_document(result, note_resource, f"/v1/conversations/{conversation_id}/notes")
