"""Tags: the org's list (``/v1/tags``), and the tags a conversation carries.

``add_tags(unit, conversation_id, names)`` is for other writes that want to tag a
conversation inside their own unit of work (a routing rule's "add tags" action):
it creates the tags it does not find by name, and emits ``conversation.updated``
with ``changes.tags`` when anything changed.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from klatch.domain import events as ev
from klatch.domain.models import Actor, Conversation, Page
from klatch.domain.tags import MAX_TAGS, Tag, check_color, check_tag_list, check_tag_name, merged
from klatch.domain.text import name_key
from klatch.errors import Conflict, InvalidArguments, NotFound, conversation_not_found
from klatch.ids import new_id
from klatch.services import paging
from klatch.services.context import Context
from klatch.services.messages import safe_id
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage import tags as store
from klatch.storage.db import Tx


def tag_not_found(ref: str, pointer: str = "/tags") -> InvalidArguments:
    return InvalidArguments(
        f"No tag '{ref}' in this org (send a tag id or name; create tags with POST /v1/tags)",
        code="tag_not_found",
        pointer=pointer,
    )


async def resolve_tags(
    unit: Unit, refs: Sequence[str], *, create: bool = False, pointer: str = "/tags"
) -> list[str]:
    """The ids of the tags ``refs`` name (by id or name), in order; an unknown one
    is created by name when ``create``, else refused."""
    found = await store.find_tags(unit.tx, unit.actor.org_id, refs)
    by_ref = {t.id: t.id for t in found} | {name_key(t.name): t.id for t in found}
    ids: list[str] = []
    for i, ref in enumerate(refs):
        tag_id = by_ref.get(ref) or by_ref.get(name_key(ref))
        if tag_id is None:
            if not create:
                raise tag_not_found(ref, f"{pointer}/{i}")
            tag = _new_tag(unit, check_tag_name(ref, f"{pointer}/{i}"), None)
            await store.insert_tag(unit.tx, tag)
            unit.emit(ev.tag_created(tag))
            by_ref[name_key(tag.name)] = tag_id = tag.id
        if tag_id not in ids:
            ids.append(tag_id)
    return ids


async def write_conversation_tags(
    unit: Unit, conv: Conversation, tag_ids: Sequence[str], changes: ev.ConversationChanges
) -> Conversation:
    """The locked ``conv`` carries exactly ``tag_ids``; what moved goes in
    ``changes``. Nothing is written when nothing changes."""
    tags = tuple(tag_ids)
    if tags == conv.tags:
        return conv
    if len(tags) > MAX_TAGS:
        raise InvalidArguments(
            f"A conversation carries at most {MAX_TAGS} tags", code="too_many_tags", pointer="/tags"
        )
    version = await store.write_tags(unit.tx, conv.org_id, conv.id, tags, unit.now)
    changes["tags"] = {"before": list(conv.tags), "after": list(tags)}
    return replace(conv, tags=tags, version=version, updated_at=unit.now)


async def add_tags(unit: Unit, conversation_id: str, names: Sequence[str]) -> Conversation:
    """Tag the conversation with ``names`` (creating tags it does not find) inside
    the caller's unit of work; emits ``conversation.updated`` if anything changed."""
    return await change_tags(unit, conversation_id, add=names, create=True)


async def change_tags(
    unit: Unit,
    conversation_id: str,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    create: bool = False,
) -> Conversation:
    conv = await conversation_store.get_conversation(
        unit.tx, unit.actor.org_id, conversation_id, for_update=True
    )
    if conv is None or unit.actor.is_customer:
        raise conversation_not_found(safe_id(conversation_id))
    added = await resolve_tags(unit, check_tag_list(list(add)), create=create)
    removed = await resolve_tags(unit, check_tag_list(list(remove)), pointer="/remove")
    changes: ev.ConversationChanges = {}
    updated = await write_conversation_tags(unit, conv, merged(conv.tags, added, removed), changes)
    if changes:
        unit.emit(ev.conversation_updated(updated, changes))
    return updated


def _new_tag(unit: Unit, name: str, color: str | None) -> Tag:
    return Tag(new_id(), unit.actor.org_id, name, color, unit.now, unit.now)


def _not_found(tag_id: str) -> NotFound:
    return NotFound("No tag with this id", code="tag_not_found", pointer="/path/id")


class TagService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list(self, actor: Actor, *, page: int = 1, page_size: int = 100) -> Page:
        return await paging.counted_page(
            self.ctx.db, actor.org_id, page, page_size, store.list_tags, store.count_tags
        )

    async def all(self, org_id: str) -> builtins.list[Tag]:
        return await self.ctx.db.read(lambda tx: store.list_tags(tx, org_id, limit=10_000))

    async def get(self, actor: Actor, tag_id: str) -> Tag:
        return await self.ctx.read_one(store.get_tag, actor.org_id, tag_id, _not_found)

    async def create(self, actor: Actor, name: Any, color: Any = None) -> Tag:
        checked, shade = check_tag_name(name), check_color(color)

        async def work(unit: Unit) -> Tag:
            await _refuse_taken(unit.tx, actor.org_id, checked)
            tag = _new_tag(unit, checked, shade)
            await store.insert_tag(unit.tx, tag)
            unit.emit(ev.tag_created(tag))
            return tag

        return await self.ctx.uow.write(actor, work)

    async def update(self, actor: Actor, tag_id: str, changes: dict[str, Any]) -> Tag:
        name = check_tag_name(changes["name"]) if "name" in changes else None
        shade = check_color(changes.get("color")) if "color" in changes else None

        async def work(unit: Unit) -> Tag:
            tag = await store.get_tag(unit.tx, actor.org_id, tag_id)
            if tag is None:
                raise _not_found(tag_id)
            if name is not None and name_key(name) != name_key(tag.name):
                await _refuse_taken(unit.tx, actor.org_id, name)
            updated = replace(
                tag,
                name=name or tag.name,
                color=shade if "color" in changes else tag.color,
                updated_at=unit.now,
            )
            await store.update_tag(unit.tx, updated)
            changed = ev.tag_updated(tag, updated)
            if changed is not None:
                unit.emit(changed)
            return updated

        return await self.ctx.uow.write(actor, work)

    async def delete(self, actor: Actor, tag_id: str) -> None:
        """Delete the tag; the conversations that carried it no longer do."""
        await self.ctx.delete_one(
            actor, store.delete_tag, tag_id, _not_found, ev.tag_deleted(tag_id)
        )

    async def change(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        create: bool = False,
    ) -> Conversation:
        """Add and remove tags of one conversation (the console's tag editor)."""
        return await self.ctx.uow.write(
            actor,
            lambda unit: change_tags(unit, conversation_id, add=add, remove=remove, create=create),
        )


async def _refuse_taken(tx: Tx, org_id: str, name: str) -> None:
    key = name_key(name)
    if any(name_key(t.name) == key for t in await store.find_tags(tx, org_id, [name])):
        raise Conflict(f"A tag named '{name}' exists", code="already_exists", pointer="/name")
