"""The org's shortcuts (canned answers)."""

from __future__ import annotations

import sqlalchemy as sa

from klatch.domain.shortcuts import Shortcut
from klatch.storage.codec import record
from klatch.storage.db import Tx
from klatch.storage.tables import shortcut

s = shortcut.c


async def list_shortcuts(tx: Tx, org_id: str, *, limit: int, offset: int = 0) -> list[Shortcut]:
    rows = await tx.all(
        sa.select(shortcut)
        .where(s.org_id == org_id)
        .order_by(s.name, s.id)
        .limit(limit)
        .offset(offset)
    )
    return [record(Shortcut, r) for r in rows]


async def count_shortcuts(tx: Tx, org_id: str) -> int:
    row = await tx.one(sa.select(sa.func.count()).select_from(shortcut).where(s.org_id == org_id))
    return int(row[0]) if row else 0


async def get_shortcut(tx: Tx, org_id: str, shortcut_id: str) -> Shortcut | None:
    row = await tx.one(sa.select(shortcut).where(s.org_id == org_id, s.id == shortcut_id))
    return record(Shortcut, row) if row else None


async def shortcut_by_name(tx: Tx, org_id: str, name: str) -> Shortcut | None:
    row = await tx.one(sa.select(shortcut).where(s.org_id == org_id, s.name == name))
    return record(Shortcut, row) if row else None


async def insert_shortcut(tx: Tx, item: Shortcut) -> None:
    await tx.execute(
        sa.insert(shortcut).values(
            id=item.id,
            org_id=item.org_id,
            name=item.name,
            body=item.body,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )
    )


async def update_shortcut(tx: Tx, item: Shortcut) -> None:
    await tx.execute(
        sa.update(shortcut)
        .where(s.org_id == item.org_id, s.id == item.id)
        .values(name=item.name, body=item.body, updated_at=item.updated_at)
    )


async def delete_shortcut(tx: Tx, org_id: str, shortcut_id: str) -> bool:
    return await tx.execute(sa.delete(shortcut).where(s.org_id == org_id, s.id == shortcut_id)) == 1
