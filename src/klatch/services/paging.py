"""Paging: offset pages, and keyset cursors for lists sorted by a key (the
conversation list's ``updated_at`` and id, newest first).

An offset page reads one row more than it shows (:func:`window`), which is how it
knows whether a next page exists (:func:`offset_page`); :func:`counted_page` reads
such a page of an org's list with the list's total.

``page=N`` alone reads by offset, which walks every row before the page. Each page
also hands out a cursor for the next one, carried by ``links.next``: the sort key
of its last row, the total (so a deep page does not count again) and a digest of
the request it belongs to. Following it reads the next page by keyset, as fast
however deep, and a row inserted meanwhile neither shifts the pages nor repeats
one. A cursor only counts for the request it was made for (same org, filters,
page size, and the page it names); any other is ignored and the page is read by
offset, so a stale or edited cursor is harmless.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from klatch.domain.models import Page
from klatch.storage.db import Database, Tx

MAX_CURSOR = 1024  # characters: a cursor this package made is far shorter
# Lists and searches count their matches up to this many (an index range of at most
# that many entries, so counting a whole org of a million costs what a narrow filter
# does); past it the total is a lower bound (``meta.totalRelation: "gte"``).
COUNT_CAP = 10_000


class OrgRows(Protocol):
    """A storage function that reads ``limit`` rows of an org's list from ``offset``."""

    def __call__(self, tx: Tx, org_id: str, *, limit: int, offset: int) -> Awaitable[list[Any]]: ...


def window(page: int, page_size: int) -> tuple[int, int]:
    """(limit, offset) that read ``page`` (from 1) by offset, and one row more: the
    row that says whether a next page exists."""
    return page_size + 1, (page - 1) * page_size


def offset_page(
    rows: list[Any], page: int, page_size: int, total: int | None = None, *, capped: bool = False
) -> Page:
    """The page of ``rows`` read through :func:`window`."""
    return Page(
        rows[:page_size],
        page,
        page_size,
        total=total,
        has_next=len(rows) > page_size,
        total_capped=capped,
    )


async def counted_page(
    db: Database,
    org_id: str,
    page: int,
    page_size: int,
    rows: OrgRows,
    count: Callable[[Tx, str], Awaitable[int]],
) -> Page:
    """``page`` of an org's list by offset, with the list's total, in one read."""
    limit, offset = window(page, page_size)

    async def work(tx: Tx) -> tuple[list[Any], int]:
        return await rows(tx, org_id, limit=limit, offset=offset), await count(tx, org_id)

    found, total = await db.read(work)
    return offset_page(found, page, page_size, total)


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a cursor says the requested page starts."""

    after: tuple[int, str]  # (updated_at, id) of the last row of the page before
    total: int | None  # the total counted for the first page, if the list counts


def digest(*parts: Any) -> str:
    """What a cursor is bound to: the org, the filters and the page size."""
    canonical = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def cursor(page: int, after: tuple[int, str], total: int | None, bound_to: str) -> str:
    """The cursor of ``page``, which starts after the row whose sort key is ``after``."""
    data = orjson.dumps({"p": page, "k": list(after), "t": total, "h": bound_to})
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def resume(value: str | None, bound_to: str, page: int) -> Resume | None:
    """Where ``page`` starts, from a cursor made for this very request; else None."""
    if not value or len(value) > MAX_CURSOR:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, Mapping) or data.get("h") != bound_to or data.get("p") != page:
        return None
    keys, total = data.get("k"), data.get("t")
    if not (
        isinstance(keys, list)
        and len(keys) == 2
        and type(keys[0]) is int
        and isinstance(keys[1], str)
        and (total is None or type(total) is int)
    ):
        return None
    return Resume((keys[0], keys[1]), total)


def known_total(counted: int, cap: int, page: int, page_size: int, read: int) -> tuple[int, bool]:
    """(total, whether it is only a lower bound) of a list whose matches were
    counted up to ``cap + 1`` (``counted``), once ``page`` has been read: ``read``
    rows, one more than ``page_size`` when there is a next page.

    Past the cap the total is what is known to exist — more than the cap, or more
    still once a page beyond it is read — so ``totalPages`` is always beyond the
    page just read while there is a next one, and exact on the last page."""
    if counted <= cap:
        return counted, False
    total = max(counted, (page - 1) * page_size + read)
    return total, not 0 < read <= page_size
