"""Small caches the services share: klass definitions, API keys, and a per-org
cache of what a write's hooks read on every write (webhook subscriptions,
routing rules)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from klatch.domain.attributes import KLASSES, AttributeDef
from klatch.domain.models import ApiKey
from klatch.storage import attributes as attribute_store
from klatch.storage import orgs as org_store
from klatch.storage.db import Database, Tx

Definitions = Mapping[str, Mapping[str, AttributeDef]]  # klass -> name -> definition
T = TypeVar("T")


@dataclass(slots=True)
class _Schema:
    version: int
    definitions: Definitions


class SchemaCache:
    """Each org's klass definitions, tagged with the org's ``schema_version``.

    Writers validate against the cached definitions and hand the version to the
    event append, which refuses the write if the org's version moved on (another
    process changed a definition); the service then reloads and retries. So the
    cache is never trusted beyond what the database confirms in the same
    transaction.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_org: dict[str, _Schema] = {}

    async def get(self, org_id: str) -> tuple[int, Definitions]:
        schema = self._by_org.get(org_id)
        if schema is None:
            schema = await self._db.read(lambda tx: self._load(tx, org_id))
            self._by_org[org_id] = schema
        return schema.version, schema.definitions

    def invalidate(self, org_id: str) -> None:
        self._by_org.pop(org_id, None)

    async def is_stale(self, org_id: str, version: int) -> bool:
        """Whether the org's definitions changed since ``version`` (one small read)."""
        current = await self._db.read(lambda tx: org_store.schema_version(tx, org_id))
        return current != version

    @staticmethod
    async def _load(tx: Tx, org_id: str) -> _Schema:
        version = await org_store.schema_version(tx, org_id)
        by_klass: dict[str, dict[str, AttributeDef]] = {k: {} for k in KLASSES}
        for d in await attribute_store.list_definitions(tx, org_id):
            by_klass.setdefault(d.klass, {})[d.name] = d
        return _Schema(version, by_klass)


@dataclass(slots=True)
class KeyCache:
    """API keys by secret hash, for a few seconds: a key is checked on every request.

    A revocation in this process takes effect at once; in another process
    within ``ttl`` seconds.
    """

    ttl: float = 5.0
    _entries: dict[str, tuple[float, ApiKey | None]] = field(default_factory=dict)

    def get(self, key_hash: str) -> tuple[bool, ApiKey | None]:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key_hash: str, key: ApiKey | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl, key)

    def forget_key(self, key_id: str) -> None:
        for key_hash, (_, key) in list(self._entries.items()):
            if key is not None and key.id == key_id:
                del self._entries[key_hash]


class OrgCache(Generic[T]):
    """Something of each org that a write hook reads on every write, kept for
    ``ttl`` seconds. :meth:`forget` drops an org's entry: after a change here, or
    when the bus says another process changed it; the ``ttl`` bounds how long a
    lost bus message (or a change made where no bus reaches) goes unseen. A load
    that raced with a forget (the entry was dropped while it read) is not kept."""

    def __init__(self, ttl: float, *, limit: int = 10_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._orgs: dict[str, tuple[float, T]] = {}
        self._generation: dict[str, int] = {}

    async def get(self, org_id: str, load: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        entry = self._orgs.get(org_id)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        generation = self._generation.get(org_id, 0)
        value = await load()
        if self._generation.get(org_id, 0) == generation:
            if len(self._orgs) >= self.limit:
                self._orgs.clear()
            self._orgs[org_id] = (now, value)
        return value

    def forget(self, org_id: str) -> None:
        self._orgs.pop(org_id, None)
        if len(self._generation) >= self.limit:
            self._generation.clear()  # loads in flight may keep a stale entry for one ttl
        self._generation[org_id] = self._generation.get(org_id, 0) + 1

    def clear(self) -> None:
        """Forget every org (the bus was down: its messages may be lost)."""
        for org_id in list(self._orgs):
            self.forget(org_id)
