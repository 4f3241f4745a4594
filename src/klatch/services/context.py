"""What every service shares: settings, the database, the unit of work, two caches."""

from __future__ import annotations

from dataclasses import dataclass

from klatch.config import Settings
from klatch.services.caches import Definitions, KeyCache, SchemaCache
from klatch.services.unit import UnitOfWork
from klatch.storage.db import Database

__all__ = ["Context", "Definitions"]


@dataclass(slots=True)
class Context:
    settings: Settings
    db: Database  # reads; every write goes through ``uow``
    uow: UnitOfWork
    schemas: SchemaCache
    keys: KeyCache
