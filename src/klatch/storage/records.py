"""What the org's small repositories (notes, shortcuts, tags, teams) do alike: a
record by id, a page, a count, an insert, a delete; and the write of a list a
conversation keeps twice (its tags, its assignees). Each statement is the one the
repository would spell itself; every lookup is scoped to the org."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from klatch.storage.codec import record, row_of
from klatch.storage.db import Tx
from klatch.storage.tables import conversation

R = TypeVar("R")


def _by_id(table: sa.Table, org_id: str, item_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return table.c.org_id == org_id, table.c.id == item_id


async def get(tx: Tx, table: sa.Table, cls: type[R], org_id: str, item_id: str) -> R | None:
    """The org's ``table`` row with this id, as a ``cls`` record."""
    row = await tx.one(sa.select(table).where(*_by_id(table, org_id, item_id)))
    return record(cls, row) if row else None


async def page(tx: Tx, cls: type[R], stmt: sa.Select[Any], *, limit: int, offset: int) -> list[R]:
    """``limit`` rows of ``stmt`` (ordered by the caller) from ``offset`` on, as records."""
    return [record(cls, r) for r in await tx.all(stmt.limit(limit).offset(offset))]


async def count(tx: Tx, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    """How many rows of ``table`` match ``where``."""
    row = await tx.one(sa.select(sa.func.count()).select_from(table).where(*where))
    return int(row[0]) if row else 0


async def insert(tx: Tx, table: sa.Table, item: Any, **encoded: Any) -> None:
    """Insert the record as a row of ``table`` (see :func:`codec.row_of`)."""
    await tx.execute(sa.insert(table).values(row_of(table, item, **encoded)))


async def update(tx: Tx, table: sa.Table, item: Any, *fields: str, **encoded: Any) -> None:
    """Write the record's ``fields`` (and the ``encoded`` columns) on its row."""
    values = {f: getattr(item, f) for f in fields}
    await tx.execute(
        sa.update(table).where(*_by_id(table, item.org_id, item.id)).values(**values, **encoded)
    )


async def delete(tx: Tx, table: sa.Table, org_id: str, item_id: str) -> bool:
    """Delete the org's ``table`` row with this id; False when there was none."""
    return await tx.execute(sa.delete(table).where(*_by_id(table, org_id, item_id))) == 1


async def write_conversation_list(
    tx: Tx,
    org_id: str,
    conversation_id: str,
    now: int,
    lists: Mapping[str, str | None],
    rows_in: sa.Table,
    rows: Sequence[Mapping[str, Any]],
) -> int:
    """Store ``lists`` (JSON arrays, or NULL for none) on a locked conversation as its
    next version, and make ``rows`` its only rows in ``rows_in``, which holds the same
    lists as rows (for the inbox views and search); the conversation's new version."""
    c = conversation.c
    row = await tx.one(
        sa.update(conversation)
        .where(c.org_id == org_id, c.id == conversation_id)
        .values(**lists, version=c.version + 1, updated_at=now)
        .returning(c.version)
    )
    assert row is not None
    held = rows_in.c
    await tx.execute(
        sa.delete(rows_in).where(held.org_id == org_id, held.conversation_id == conversation_id)
    )
    for values in rows:
        await tx.execute(
            sa.insert(rows_in).values(org_id=org_id, conversation_id=conversation_id, **values)
        )
    return int(row[0])
