"""Internal notes of conversations."""

from __future__ import annotations

import sqlalchemy as sa

from klatch.domain.notes import Note
from klatch.storage import records
from klatch.storage.db import Tx
from klatch.storage.tables import note

n = note.c


async def insert_note(tx: Tx, item: Note) -> None:
    await records.insert(tx, note, item)


async def list_notes(
    tx: Tx, org_id: str, conversation_id: str, *, limit: int, offset: int = 0
) -> list[Note]:
    """A conversation's notes, oldest first."""
    oldest_first = (
        sa.select(note)
        .where(n.org_id == org_id, n.conversation_id == conversation_id)
        .order_by(n.created_at, n.id)
    )
    return await records.page(tx, Note, oldest_first, limit=limit, offset=offset)


async def get_note(tx: Tx, org_id: str, note_id: str) -> Note | None:
    return await records.get(tx, note, Note, org_id, note_id)


async def count_notes(tx: Tx, org_id: str, conversation_id: str) -> int:
    return await records.count(tx, note, n.org_id == org_id, n.conversation_id == conversation_id)
