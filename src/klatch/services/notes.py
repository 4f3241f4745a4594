"""Internal notes: agents' and integrations' remarks on a conversation, kept apart
from its messages. The customer never gets one: no chat client API answer reads
the notes table, and ``note.created`` is an agents-only event."""

from __future__ import annotations

import builtins

from klatch.domain import events as ev
from klatch.domain.models import Actor, Page
from klatch.domain.notes import Note, check_note_body
from klatch.errors import conversation_not_found
from klatch.ids import new_id
from klatch.services import paging
from klatch.services.context import Context
from klatch.services.messages import safe_id
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage import notes as store
from klatch.storage.db import Tx


def note_data(n: Note) -> ev.NoteData:
    return {
        "id": n.id,
        "conversationId": n.conversation_id,
        "body": n.body,
        "createdBy": {"type": n.author_type, "id": n.author_id, "displayName": n.author_name},
        "createdAt": ev.iso(n.created_at) or "",
        "updatedAt": ev.iso(n.updated_at) or "",
    }


class NoteService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def check_create(self, actor: Actor, conversation_id: str, body: object) -> Note:
        """Write a note on the conversation (agents and integrations only)."""
        text = check_note_body(body)

        async def work(unit: Unit) -> Note:
            conv = await conversation_store.get_conversation(unit.tx, actor.org_id, conversation_id)
            if conv is None or actor.is_customer:
                raise conversation_not_found(safe_id(conversation_id))
            note = Note(
                new_id(),
                actor.org_id,
                conv.id,
                text,
                actor.type.value,
                actor.id,
                actor.name,
                unit.now,
                unit.now,
            )
            await store.insert_note(unit.tx, note)
            unit.emit(ev.note_created(note_data(note), conv.customer_id))
            return note

        return await self.ctx.uow.write(actor, work)

    async def list(
        self, actor: Actor, conversation_id: str, *, page: int = 1, page_size: int = 100
    ) -> Page:
        """A page of the conversation's notes, oldest first."""

        limit, offset = paging.window(page, page_size)

        async def work(tx: Tx) -> tuple[builtins.list[Note], int]:
            conv = await conversation_store.get_conversation(tx, actor.org_id, conversation_id)
            if conv is None or actor.is_customer:
                raise conversation_not_found(safe_id(conversation_id))
            rows = await store.list_notes(tx, actor.org_id, conv.id, limit=limit, offset=offset)
            return rows, await store.count_notes(tx, actor.org_id, conv.id)

        rows, total = await self.ctx.db.read(work)
        return paging.offset_page(rows, page, page_size, total)
