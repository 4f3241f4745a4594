"""Search (Kustomer's ``POST /v1/customers/search``): check a query against the
org's definitions, read one page, count the matches.

Pages come two ways. ``page=N`` alone is an offset (any page, at once). Each
page also hands out a *cursor* for the next one, which carries the sort values
of its last record and the total: following ``links.next`` reads the next page
by keyset (it costs what the first page costs, however deep) and does not count
again. A cursor only counts for the same org, body, page size and page; any
other request is answered by offset, so a stale or edited cursor is harmless.

Matches are counted up to ``COUNT_CAP`` (10,000; an index range of at most that
many entries, so a search of a whole org costs what a narrow one does). Past it,
``total`` is what is known to exist — more than the cap, or more still as deeper
pages are read — and ``meta.totalRelation`` says ``gte``: ``totalPages`` is then
always beyond the page just read while there is a next one, and exact on the last.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from klatch.domain.attributes import AttributeDef
from klatch.domain.models import Actor
from klatch.domain.search import Query, parse_query
from klatch.domain.text import MAX_PAGE
from klatch.errors import InvalidArguments
from klatch.services import paging
from klatch.services.context import Context
from klatch.storage import attributes as attribute_store
from klatch.storage import search as store
from klatch.storage.db import Database, Tx

log = logging.getLogger("klatch.search")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results, with what ``meta`` and ``links`` say about it."""

    items: list[store.Record]
    context: str
    page: int
    page_size: int
    total: int
    next_cursor: str | None  # None on the last page
    total_capped: bool = False  # more than COUNT_CAP: ``total`` is a lower bound

    @property
    def total_pages(self) -> int:
        return -(-self.total // self.page_size)


class SearchService:
    def __init__(self, ctx: Context, *, count_cap: int = paging.COUNT_CAP) -> None:
        self.ctx = ctx
        # Matches are counted up to this many; past it ``total`` is a lower bound.
        self.count_cap = count_cap

    async def search(
        self,
        actor: Actor,
        body: Any,
        *,
        page: int | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> SearchPage:
        """The ``page`` (from 1; 0 or none is the first) of ``page_size`` (0 or none is
        100, at most 500) records the body's criteria find in the actor's org."""
        page, page_size = check_paging(page, page_size)
        query = await self._query(actor.org_id, body)
        if query.empty:
            return SearchPage([], query.context, page, page_size, 0, None)
        digest = _digest(actor.org_id, body, page_size)
        after, known_total = _resume(cursor, digest, page)
        cap = self.count_cap
        limit, offset = paging.window(page, page_size)

        async def work(tx: Tx) -> tuple[list[store.Found], int]:
            total = known_total
            if total is None:
                total = await store.count(tx, actor.org_id, query, cap=cap)
            found = await store.find(
                tx,
                actor.org_id,
                query,
                limit=limit,
                offset=offset,
                after=after,
                few=query.where is not None and total <= cap,
            )
            return found, total

        found, counted = await self.ctx.db.read(work)
        shown = found[:page_size]
        total, capped = paging.known_total(counted, cap, page, page_size, len(found))
        next_cursor = None
        if len(found) > page_size:
            next_cursor = _cursor(page + 1, shown[-1].keys, total, digest)
        return SearchPage(
            [f.item for f in shown], query.context, page, page_size, total, next_cursor, capped
        )

    async def _query(self, org_id: str, body: Any) -> Query:
        version, defs = await self.ctx.schemas.get(org_id)
        try:
            return parse_query(body, defs)
        except InvalidArguments as exc:
            # An attribute defined by another process since this one cached them.
            if exc.code != "unknown_field" or not await self.ctx.schemas.is_stale(org_id, version):
                raise
        self.ctx.schemas.invalidate(org_id)
        _, defs = await self.ctx.schemas.get(org_id)
        return parse_query(body, defs)


def check_paging(page: int | None, page_size: int | None) -> tuple[int, int]:
    """Kustomer's paging: ``page`` from 1 (0 means 1), ``pageSize`` up to 500 (0 means 100)."""
    page = page or 1
    page_size = page_size or DEFAULT_PAGE_SIZE
    if not 1 <= page <= MAX_PAGE:
        raise InvalidArguments(
            f"page is a whole number from 1 to {MAX_PAGE}", pointer="/query/page"
        )
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArguments(
            f"pageSize is a whole number from 1 to {MAX_PAGE_SIZE} (0: the default, "
            f"{DEFAULT_PAGE_SIZE})",
            pointer="/query/pageSize",
        )
    return page, page_size


def _digest(org_id: str, body: Any, page_size: int) -> str:
    canonical = json.dumps([org_id, body, page_size], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _cursor(page: int, keys: list[Any], total: int, digest: str) -> str:
    data = orjson.dumps({"p": page, "k": keys, "t": total, "h": digest})
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _resume(cursor: str | None, digest: str, page: int) -> tuple[list[Any] | None, int | None]:
    """The sort values to continue after and the total, from a cursor made for this
    very request; (None, None) for anything else."""
    if not cursor or len(cursor) > 4096:
        return None, None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None, None
    if not isinstance(data, Mapping) or data.get("h") != digest or data.get("p") != page:
        return None, None
    keys, total = data.get("k"), data.get("t")
    if not isinstance(keys, list) or not isinstance(total, int):
        return None, None
    return keys, total


# ---------------------------------------------------------------- indexes


async def build_index(db: Database, definition: AttributeDef) -> None:
    """Create the index of a just-defined attribute (shared by the orgs that define
    it), outside the definition's transaction: CONCURRENTLY on PostgreSQL, so writes
    go on; between two write batches on SQLite. A build that fails is logged and
    left to the next definition or ``klatch migrate``: searches stay right, only slower."""
    sql = store.create_index_sql(db.dialect, definition)
    if sql is None:
        return
    try:
        await db.run_ddl(sql)
    except Exception as exc:  # the definition is stored; the index is an optimisation
        log.warning("index for %s.%s not built: %s", definition.klass, definition.name, exc)
        drop = store.drop_index_sql(db.dialect, definition)
        if db.dialect == "postgresql" and drop is not None:  # an INVALID leftover
            with contextlib.suppress(Exception):
                await db.run_ddl(drop)


async def drop_index_if_unused(db: Database, definition: AttributeDef) -> None:
    """Drop a deleted attribute's index once no org defines it any more."""
    sql = store.drop_index_sql(db.dialect, definition)
    if sql is None:
        return
    used = await db.read(
        lambda tx: attribute_store.defined_anywhere(
            tx, definition.klass, definition.name, definition.type
        )
    )
    if not used:
        try:
            await db.run_ddl(sql)
        except Exception as exc:
            log.warning("index of %s.%s not dropped: %s", definition.klass, definition.name, exc)
