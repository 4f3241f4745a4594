"""Internal notes of conversations."""

from __future__ import annotations

import sqlalchemy as sa

from klatch.domain.notes import Note
from klatch.storage.codec import record
from klatch.storage.db import Tx
from klatch.storage.tables import note

n = note.c


async def insert_note(tx: Tx, item: Note) -> None:
    await tx.execute(
        sa.insert(note).values(
            id=item.id,
            org_id=item.org_id,
            conversation_id=item.conversation_id,
            body=item.body,
            author_type=item.author_type,
            author_id=item.author_id,
            author_name=item.author_name,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )
    )


async def list_notes(
    tx: Tx, org_id: str, conversation_id: str, *, limit: int, offset: int = 0
) -> list[Note]:
    """A conversation's notes, oldest first."""
    rows = await tx.all(
        sa.select(note)
        .where(n.org_id == org_id, n.conversation_id == conversation_id)
        .order_by(n.created_at, n.id)
        .limit(limit)
        .offset(offset)
    )
    return [record(Note, r) for r in rows]


async def get_note(tx: Tx, org_id: str, note_id: str) -> Note | None:
    row = await tx.one(sa.select(note).where(n.org_id == org_id, n.id == note_id))
    return record(Note, row) if row else None


async def count_notes(tx: Tx, org_id: str, conversation_id: str) -> int:
    row = await tx.one(
        sa.select(sa.func.count())
        .select_from(note)
        .where(n.org_id == org_id, n.conversation_id == conversation_id)
    )
    return int(row[0]) if row else 0
