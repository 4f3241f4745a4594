"""The org's tags, and which conversations carry them: ``conversation.tags`` (JSON
ids, for reading) and ``conversation_tag`` rows (for the inbox filter and search)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from klatch.domain.search import Condition
from klatch.domain.tags import Tag
from klatch.domain.text import name_key
from klatch.storage import records
from klatch.storage.codec import dumps, loads, record
from klatch.storage.db import Tx
from klatch.storage.tables import conversation, conversation_tag, tag

t = tag.c
ct = conversation_tag.c
c = conversation.c
TAG_COLUMN = "tags"  # the search field's column name (domain/search.py)


async def list_tags(tx: Tx, org_id: str, *, limit: int, offset: int = 0) -> list[Tag]:
    by_name = sa.select(tag).where(t.org_id == org_id).order_by(sa.func.lower(t.name), t.id)
    return await records.page(tx, Tag, by_name, limit=limit, offset=offset)


async def count_tags(tx: Tx, org_id: str) -> int:
    return await records.count(tx, tag, t.org_id == org_id)


async def get_tag(tx: Tx, org_id: str, tag_id: str) -> Tag | None:
    return await records.get(tx, tag, Tag, org_id, tag_id)


async def find_tags(tx: Tx, org_id: str, ids_or_names: Sequence[str]) -> list[Tag]:
    """The tags with these ids or (case-insensitive) names."""
    if not ids_or_names:
        return []
    keys = [name_key(v) for v in ids_or_names]
    rows = await tx.all(
        sa.select(tag).where(
            t.org_id == org_id,
            sa.or_(t.id.in_(list(ids_or_names)), t.name_key.in_(keys)),
        )
    )
    return [record(Tag, r) for r in rows]


async def insert_tag(tx: Tx, item: Tag) -> None:
    await records.insert(tx, tag, item, name_key=name_key(item.name))


async def update_tag(tx: Tx, item: Tag) -> None:
    await records.update(tx, tag, item, "name", "color", "updated_at", name_key=name_key(item.name))


async def delete_tag(tx: Tx, org_id: str, tag_id: str) -> bool:
    """Delete the tag and take it off every conversation carrying it."""
    rows = await tx.all(
        sa.select(c.id, c.tags).where(
            c.org_id == org_id, c.id.in_(sa.select(ct.conversation_id).where(ct.tag_id == tag_id))
        )
    )
    for row in rows:
        kept = [i for i in loads(row["tags"]) or [] if i != tag_id]
        await tx.execute(
            sa.update(conversation)
            .where(c.org_id == org_id, c.id == row["id"])
            .values(tags=dumps(kept) if kept else None)
        )
    await tx.execute(sa.delete(conversation_tag).where(ct.org_id == org_id, ct.tag_id == tag_id))
    return await records.delete(tx, tag, org_id, tag_id)


async def write_tags(
    tx: Tx, org_id: str, conversation_id: str, tag_ids: Sequence[str], now: int
) -> int:
    """The (locked) conversation carries exactly ``tag_ids``; its new version."""
    tags = dumps(list(tag_ids)) if tag_ids else None
    rows = [{"tag_id": tag_id, "created_at": now + i} for i, tag_id in enumerate(tag_ids)]
    return await records.write_conversation_list(
        tx, org_id, conversation_id, now, {"tags": tags}, conversation_tag, rows
    )


def tag_rows(org_id: str, cond: Condition) -> sa.Select[Any]:
    """The org's tag rows a tag equality matches, one per conversation (the primary
    key is the conversation and the tag): what a count of that criterion alone can
    read instead of the conversations."""
    return sa.select(sa.literal(1)).where(ct.org_id == org_id, ct.tag_id == cond.value)


def tag_condition(
    table: sa.Table, cond: Condition, *, rows_of: str | None = None
) -> sa.ColumnElement[bool]:
    """Search's ``conversation_tags``: equals one tag id or one of several, exists
    (any tag), missing (none). With ``rows_of`` (the org id), an equality reads the
    org's tag rows first (see ``search.where``)."""
    value: Any = cond.value
    ids = list(value) if cond.op == "in" else [value]
    if rows_of is not None and cond.op in ("eq", "in"):
        rows = sa.select(ct.conversation_id).where(ct.org_id == rows_of, ct.tag_id.in_(ids))
        return table.c.id.in_(rows)
    test = sa.exists().where(ct.conversation_id == table.c.id)
    if cond.op in ("eq", "in"):
        test = test.where(ct.tag_id == value if cond.op == "eq" else ct.tag_id.in_(ids))
    return sa.not_(test) if cond.op == "missing" else test
