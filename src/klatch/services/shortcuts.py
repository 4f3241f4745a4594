"""Shortcuts: the org's canned answers (``/v1/shortcuts``), and each filled in for
one conversation from its live values (``domain/shortcuts.py`` says how)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from klatch.domain.attributes import AttributeDef
from klatch.domain.models import Actor, Conversation, Customer, Page
from klatch.domain.shortcuts import Filled, Shortcut, check_body, check_name, fill, shown
from klatch.errors import Conflict, NotFound
from klatch.ids import new_id
from klatch.services import paging
from klatch.services.context import Context, Definitions
from klatch.services.unit import Unit
from klatch.storage import shortcuts as store
from klatch.storage.db import Tx


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who fills the ``agent.*`` variables."""

    name: str | None
    email: str | None = None


def _not_found(shortcut_id: str) -> NotFound:
    return NotFound("No shortcut with this id", code="shortcut_not_found", pointer="/path/id")


def _custom(
    prefix: str, custom: Mapping[str, Any], defs: Mapping[str, AttributeDef]
) -> dict[str, str]:
    return {
        f"{prefix}.custom.{name}": shown(value, defs[name].type if name in defs else None)
        for name, value in custom.items()
    }


def variables(
    conv: Conversation, customer: Customer | None, speaker: Speaker, defs: Definitions
) -> dict[str, str]:
    """Every variable's value for this conversation, as people read it."""
    values = {
        "conversation.id": conv.id,
        "conversation.name": conv.title or "",
        "agent.name": speaker.name or "",
        "agent.email": speaker.email or "",
        **_custom("conversation", conv.custom, defs.get("conversation", {})),
    }
    if customer is not None:
        values |= {
            "customer.name": customer.name or "",
            "customer.email": customer.email or "",
            "customer.externalId": customer.external_id or "",
            "customer.phone": customer.phones[0] if customer.phones else "",
            **_custom("customer", customer.custom, defs.get("customer", {})),
        }
    return values


class ShortcutService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list(self, actor: Actor, *, page: int = 1, page_size: int = 100) -> Page:
        return await paging.counted_page(
            self.ctx.db, actor.org_id, page, page_size, store.list_shortcuts, store.count_shortcuts
        )

    async def all(self, org_id: str) -> builtins.list[Shortcut]:
        return await self.ctx.db.read(lambda tx: store.list_shortcuts(tx, org_id, limit=1000))

    async def get(self, actor: Actor, shortcut_id: str) -> Shortcut:
        return await self.ctx.read_one(store.get_shortcut, actor.org_id, shortcut_id, _not_found)

    async def create(self, actor: Actor, name: Any, body: Any) -> Shortcut:
        checked = check_name(name)
        _, defs = await self.ctx.schemas.get(actor.org_id)
        text = check_body(body, defs)

        async def work(unit: Unit) -> Shortcut:
            await _refuse_taken(unit.tx, actor.org_id, checked)
            item = Shortcut(new_id(), actor.org_id, checked, text, unit.now, unit.now)
            await store.insert_shortcut(unit.tx, item)
            return item

        return await self.ctx.uow.write(actor, work)

    async def update(self, actor: Actor, shortcut_id: str, changes: Mapping[str, Any]) -> Shortcut:
        name = check_name(changes["name"]) if "name" in changes else None
        _, defs = await self.ctx.schemas.get(actor.org_id)
        text = check_body(changes["body"], defs) if "body" in changes else None

        async def work(unit: Unit) -> Shortcut:
            item = await store.get_shortcut(unit.tx, actor.org_id, shortcut_id)
            if item is None:
                raise _not_found(shortcut_id)
            if name is not None and name != item.name:
                await _refuse_taken(unit.tx, actor.org_id, name)
            updated = replace(
                item, name=name or item.name, body=text or item.body, updated_at=unit.now
            )
            await store.update_shortcut(unit.tx, updated)
            return updated

        return await self.ctx.uow.write(actor, work)

    async def delete(self, actor: Actor, shortcut_id: str) -> None:
        await self.ctx.delete_one(actor, store.delete_shortcut, shortcut_id, _not_found)

    async def filled(
        self, org_id: str, conv: Conversation, customer: Customer | None, speaker: Speaker
    ) -> builtins.list[tuple[Shortcut, Filled]]:
        """Every shortcut of the org, filled in for ``conv``."""
        _, defs = await self.ctx.schemas.get(org_id)
        values = variables(conv, customer, speaker, defs)
        return [(s, fill(s.body, values)) for s in await self.all(org_id)]


async def _refuse_taken(tx: Tx, org_id: str, name: str) -> None:
    if await store.shortcut_by_name(tx, org_id, name) is not None:
        raise Conflict(f"A shortcut named '{name}' exists", code="already_exists", pointer="/name")
