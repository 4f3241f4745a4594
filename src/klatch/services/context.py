"""What every service shares: settings, the database, the unit of work, two caches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from klatch.config import Settings
from klatch.domain.events import EventDraft
from klatch.domain.models import Actor
from klatch.errors import KlatchError
from klatch.services.caches import Definitions, KeyCache, SchemaCache
from klatch.services.unit import Unit, UnitOfWork
from klatch.storage.db import Database, Tx

__all__ = ["Context", "Definitions"]

T = TypeVar("T")


@dataclass(slots=True)
class Context:
    settings: Settings
    db: Database  # reads; every write goes through ``uow``
    uow: UnitOfWork
    schemas: SchemaCache
    keys: KeyCache

    async def read_one(
        self,
        get: Callable[[Tx, str, str], Awaitable[T | None]],
        org_id: str,
        ident: str,
        missing: Callable[[str], KlatchError],
    ) -> T:
        """The org's row ``ident``, read by the storage function ``get``; when there is
        none, the error ``missing(ident)`` (a 404 that does not say whether another
        org has it)."""
        found = await self.db.read(lambda tx: get(tx, org_id, ident))
        if found is None:
            raise missing(ident)
        return found

    async def delete_one(
        self,
        actor: Actor,
        delete: Callable[[Tx, str, str], Awaitable[bool]],
        ident: str,
        missing: Callable[[str], KlatchError],
        *drafts: EventDraft,
    ) -> None:
        """Delete the actor's org's row ``ident`` by the storage function ``delete``, in
        one unit of work that emits ``drafts``; when there is none, ``missing(ident)``.

        That error is raised once the unit has returned, having changed nothing, so
        it is not a failed unit that its batch must take back (``storage/db.py``)."""

        async def work(unit: Unit) -> bool:
            if not await delete(unit.tx, actor.org_id, ident):
                return False
            unit.emit(*drafts)
            return True

        if not await self.uow.write(actor, work):
            raise missing(ident)
