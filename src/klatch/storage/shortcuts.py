"""The org's shortcuts (canned answers)."""

from __future__ import annotations

import sqlalchemy as sa

from klatch.domain.shortcuts import Shortcut
from klatch.storage import records
from klatch.storage.codec import record
from klatch.storage.db import Tx
from klatch.storage.tables import shortcut

s = shortcut.c


async def list_shortcuts(tx: Tx, org_id: str, *, limit: int, offset: int = 0) -> list[Shortcut]:
    by_name = sa.select(shortcut).where(s.org_id == org_id).order_by(s.name, s.id)
    return await records.page(tx, Shortcut, by_name, limit=limit, offset=offset)


async def count_shortcuts(tx: Tx, org_id: str) -> int:
    return await records.count(tx, shortcut, s.org_id == org_id)


async def get_shortcut(tx: Tx, org_id: str, shortcut_id: str) -> Shortcut | None:
    return await records.get(tx, shortcut, Shortcut, org_id, shortcut_id)


async def shortcut_by_name(tx: Tx, org_id: str, name: str) -> Shortcut | None:
    row = await tx.one(sa.select(shortcut).where(s.org_id == org_id, s.name == name))
    return record(Shortcut, row) if row else None


async def insert_shortcut(tx: Tx, item: Shortcut) -> None:
    await records.insert(tx, shortcut, item)


async def update_shortcut(tx: Tx, item: Shortcut) -> None:
    await records.update(tx, shortcut, item, "name", "body", "updated_at")


async def delete_shortcut(tx: Tx, org_id: str, shortcut_id: str) -> bool:
    return await records.delete(tx, shortcut, org_id, shortcut_id)
