"""Benchmark: search, the conversation list filter and describe at 10k and 1M conversations.

For each backend (SQLite, PostgreSQL) and each size, a fresh database: the org and
its attribute definitions are made through the services (so the indexes that follow
the definitions exist), then customers, conversations (every column filled as
``insert_conversation`` and the message path fill them, custom attributes included)
and one message each are bulk-loaded with the driver (executemany in one
transaction on SQLite, COPY on PostgreSQL). Then, through the real app in process
(httpx's ASGI transport: routing, auth, parsing, rendering, no network), one
client at a time, it times:

- search by a custom-attribute equality (a unique ``orderNumberStr``);
- search by a custom number range (``priceNum``, ~1% of the org);
- search by ``exists`` on a sparse attribute (``noteStr``, ~0.5%);
- search by an ``updated_at`` range (~3% of the org) sorted asc: the first page,
  a page deep in it followed by its ``links.next`` cursor, and the same page by
  ``page=N`` alone (an offset);
- search by a ``created_at`` day with a timeZone;
- the conversation list filter ``GET /v1/conversations?custom.orderNumberStr=…``
  and ``?custom.tierStr=…`` (a fifth of the org), which also count their matches;
- ``describeConversation`` over the chat client API (PATCH /c/v1/conversations/{id});

and prints p50/p99 for each, with the ratio 1M/10k, and how long it took to
build the index of an attribute defined on the loaded org (1M rows).
Goal (issue 12, DESIGN §7): searches and filters <= 50 ms p99 on both backends at
1M; describe at 1M within 1.5x of 10k.

    python bench/search/run.py [--sizes 10000,1000000] [--backends sqlite,postgres]
        [--iterations 300] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

PostgreSQL runs in its own database ``klatch_bench_search``, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from klatch.app import create_app, freeze_startup_objects
from klatch.config import Settings
from klatch.domain.attributes import format_datetime
from klatch.runtime import running
from klatch.services import Services
from klatch.storage.tables import conversation, customer, message

DAY = 86_400_000
NOW = 1_780_000_000_000  # a fixed "now" (2026-05), so both backends hold the same data
SPAN = 365 * DAY
TIERS = ("free", "basic", "pro", "gold", "vip")
REASONS = ("shipping", "shipping.delayed", "shipping.lost", "billing", "billing.refund")
PG_DB = "klatch_bench_search"
ATTRIBUTES = (
    ("orderNumberStr", {}),
    ("priceNum", {}),
    ("tierStr", {}),
    ("vipBool", {}),
    ("dueAt", {}),
    ("noteStr", {}),
    ("reasonTree", {"tree": list(REASONS)}),
    ("shopifyId", {}),
)


# ---------------------------------------------------------------- data


def _id(kind: int, i: int) -> str:
    return f"{kind:02x}{i:022x}"


def _custom(i: int, rng: random.Random) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "orderNumberStr": f"A-{i:08d}",
        "priceNum": rng.randrange(0, 100_000) / 10,
        "tierStr": TIERS[i % 5],
        "vipBool": i % 7 == 0,
        "dueAt": format_ms(NOW - rng.randrange(SPAN)),
        "reasonTree": REASONS[i % 5],
        "shopifyId": f"gid://shopify/Order/{i}",
    }
    if i % 200 == 0:
        custom["noteStr"] = "call back"
    return custom


def format_ms(ms: int) -> str:
    from datetime import UTC, datetime

    return format_datetime(datetime.fromtimestamp(ms / 1000, UTC))


def rows(org_id: str, brand_id: str, n: int) -> Iterator[tuple[dict[str, Any], ...]]:
    """(customer?, conversation, message) rows, every column as the code fills it."""
    rng = random.Random(12)
    for i in range(n):
        created = NOW - SPAN + (i * SPAN) // n  # spread evenly over the year, in id order
        updated = created + rng.randrange(0, 2 * DAY)
        customer_id = _id(1, i // 2)
        done = i % 3 == 0
        conv = {
            "id": _id(2, i),
            "org_id": org_id,
            "brand_id": brand_id,
            "customer_id": customer_id,
            "status": "done" if done else "open",
            "title": None,
            "custom": orjson.dumps(_custom(i, rng)).decode(),
            "preview": f"Hello, about order A-{i:08d}",
            "message_count": 1,
            "ended_at": updated if done else None,
            "ended_by_type": "user" if done else None,
            "customer_read_at": None,
            "last_message_at": created,
            "version": 3,
            "created_at": created,
            "updated_at": updated,
            "external_id": None,
        }
        msg = {
            "id": _id(3, i),
            "org_id": org_id,
            "conversation_id": conv["id"],
            "customer_id": customer_id,
            "direction": "in",
            "body": f"Hello, about order A-{i:08d}",
            "payload": None,
            "sent_by_type": "customer",
            "sent_by_id": customer_id,
            "sent_by_name": None,
            "created_at": created,
            "updated_at": created,  # as insert_message: its creation until it changes
        }
        if i % 2:
            yield (conv, msg)
            continue
        person = {
            "id": customer_id,
            "org_id": org_id,
            "name": f"Customer {i // 2}",
            "external_id": f"ext-{i // 2}",
            "email": f"c{i // 2}@example.test",
            "verified": True,
            "emails": orjson.dumps([f"c{i // 2}@example.test"]).decode(),
            "phones": "[]",
            "socials": "[]",
            "custom": orjson.dumps({"tierStr": TIERS[i % 5]}).decode(),
            "merged_into": None,
            "version": 1,
            "created_at": created,
            "updated_at": created,
        }
        yield (conv, msg, person)


def _columns(table: Any, sample: dict[str, Any]) -> list[str]:
    names = [c.name for c in table.columns]
    missing = [n for n in names if n not in sample]
    if missing:  # a column the bench does not know: it must be nullable
        for name in missing:
            assert table.c[name].nullable, f"bench/search does not fill {table.name}.{name}"
    return names


def load_sqlite(path: Path, org_id: str, brand_id: str, n: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    conn.execute("BEGIN")
    batches: dict[str, list[tuple[Any, ...]]] = {"conversation": [], "message": [], "customer": []}
    tables = {"conversation": conversation, "message": message, "customer": customer}
    names: dict[str, list[str]] = {}

    def flush() -> None:
        for key, batch in batches.items():
            if batch:
                cols = names[key]
                sql = f"INSERT INTO {key} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                conn.executemany(sql, batch)
                batch.clear()

    for group in rows(org_id, brand_id, n):
        for key, row in zip(("conversation", "message", "customer"), group, strict=False):
            if key not in names:
                names[key] = _columns(tables[key], row)
            batches[key].append(tuple(row.get(c) for c in names[key]))
        if len(batches["conversation"]) >= 50_000:
            flush()
    flush()
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def load_postgres(url: str, org_id: str, brand_id: str, n: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    tables = {"conversation": conversation, "message": message, "customer": customer}
    try:
        batches: dict[str, list[tuple[Any, ...]]] = {k: [] for k in tables}
        names: dict[str, list[str]] = {}

        async def flush() -> None:
            for key, batch in batches.items():
                if batch:
                    await conn.copy_records_to_table(key, records=batch, columns=names[key])
                    batch.clear()

        for group in rows(org_id, brand_id, n):
            for key, row in zip(("conversation", "message", "customer"), group, strict=False):
                if key not in names:
                    names[key] = _columns(tables[key], row)
                batches[key].append(tuple(row.get(c) for c in names[key]))
            if len(batches["conversation"]) >= 50_000:
                await flush()
        await flush()
        await conn.execute("ANALYZE")  # what autovacuum does after a load like this
    finally:
        await conn.close()


# ---------------------------------------------------------------- timing


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


async def timed(iterations: int, call: Callable[[int], Awaitable[None]]) -> tuple[float, float]:
    for i in range(5):  # warm the caches and the statement caches
        await call(i)
    samples = []
    for i in range(iterations):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    data: dict[str, Any] = response.json()
    return data


async def measure(  # noqa: C901 - one closure per case, read top to bottom
    services: Services, http: httpx.AsyncClient, key: str, tracking: str, n: int, iterations: int
) -> dict[str, tuple[float, float]]:
    auth = {"Authorization": f"Bearer {key}"}
    rng = random.Random(5)
    out: dict[str, tuple[float, float]] = {}

    async def search(body: dict[str, Any], **params: Any) -> dict[str, Any]:
        return _ok(await http.post("/v1/customers/search", json=body, params=params, headers=auth))

    def conv_body(*criteria: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"queryContext": "conversation", "and": list(criteria), **extra}

    async def equality(i: int) -> None:
        number = f"A-{rng.randrange(n):08d}"
        found = await search(conv_body({"conversation_custom_orderNumberStr": {"equals": number}}))
        assert len(found["data"]) == 1, found["meta"]

    async def number_range(i: int) -> None:
        low = rng.randrange(0, 9900)
        await search(conv_body({"conversation_custom_priceNum": {"gte": low, "lt": low + 100}}))

    async def exists(i: int) -> None:
        await search(conv_body({"conversation_custom_noteStr": {"exists": True}}), pageSize=100)

    window = (NOW - SPAN // 2, NOW - SPAN // 2 + 11 * DAY)  # ~3% of the org
    updated = conv_body(
        {"conversation_updated_at": {"gte": format_ms(window[0]), "lt": format_ms(window[1])}},
        sort=[{"conversation_updated_at": "asc"}],
    )

    async def updated_first(i: int) -> None:
        await search(updated, pageSize=100)

    matches = (await search(updated, pageSize=100))["meta"]["total"]
    deep = max(2, matches // 100 // 2)  # the middle of the results
    before = await search(updated, page=deep - 1, pageSize=100)
    deep_query = dict(httpx.URL(before["links"]["next"]).params)

    async def updated_deep_cursor(i: int) -> None:
        found = await search(updated, **deep_query)
        assert found["meta"]["page"] == deep and len(found["data"]) == 100

    async def updated_deep_offset(i: int) -> None:
        await search(updated, page=deep, pageSize=100)

    async def created_day(i: int) -> None:
        day = format_ms(NOW - rng.randrange(SPAN))[:10]
        await search(
            conv_body({"conversation_created_at": {"equals": day}}, timeZone="Europe/Paris")
        )

    async def list_unique(i: int) -> None:
        number = f"A-{rng.randrange(n):08d}"
        found = _ok(
            await http.get(
                "/v1/conversations", params={"custom.orderNumberStr": number}, headers=auth
            )
        )
        assert len(found["data"]) == 1

    async def list_fifth(i: int) -> None:
        _ok(
            await http.get(
                "/v1/conversations", params={"custom.tierStr": TIERS[i % 5]}, headers=auth
            )
        )

    started = await http.post("/c/v1/sessions", headers={"Authorization": f"Bearer {tracking}"})
    session = {
        "Authorization": f"Bearer {tracking}",
        "X-Klatch-Session": started.json()["sessionToken"],
    }
    created = await http.post("/c/v1/conversations", json={}, headers=session)
    assert created.status_code == 201, created.text
    conversation_id = created.json()["conversationId"]

    async def describe(i: int) -> None:
        response = await http.patch(
            f"/c/v1/conversations/{conversation_id}",
            json={"custom": {"orderNumberStr": f"B-{i}", "priceNum": i}},
            headers=session,
        )
        assert response.status_code == 200, response.text

    cases: list[tuple[str, Callable[[int], Awaitable[None]]]] = [
        ("search custom equality (orderNumberStr)", equality),
        ("search custom number range (priceNum, ~1%)", number_range),
        ("search custom exists (noteStr, 0.5%)", exists),
        ("search updated_at range asc, page 1", updated_first),
        (f"search updated_at range asc, page {deep} by cursor", updated_deep_cursor),
        (f"search updated_at range asc, page {deep} by page=N", updated_deep_offset),
        ("search created_at local day (timeZone)", created_day),
        ("list filter custom.orderNumberStr (unique)", list_unique),
        ("list filter custom.tierStr (a fifth)", list_fifth),
        ("describeConversation (PATCH /c/v1)", describe),
    ]
    for name, call in cases:
        p50, p99 = out[name.replace(f"page {deep}", "page deep")] = await timed(iterations, call)
        print(f"    {name:52s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms", flush=True)
    return out


# ---------------------------------------------------------------- one run


async def _admin(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run_one(
    backend: str, n: int, iterations: int, pg_server: str, workdir: Path
) -> dict[str, tuple[float, float]]:
    data = workdir / f"{backend}-{n}"
    data.mkdir()
    url = None
    if backend == "postgres":
        await _admin(pg_server, f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        await _admin(pg_server, f"CREATE DATABASE {PG_DB}")
        url = pg_server.rsplit("/", 1)[0] + f"/{PG_DB}"
    settings = Settings(
        data_dir=data,
        database_url=url,
        secret_key="s" * 40,
        rate_limit_rest=0,
        rate_limit_search=0,
        rate_limit_session=0,
        rate_limit_new_sessions_per_address=0,
        rate_limit_new_sessions_per_key=0,
    )
    async with running(settings, deliver_webhooks=False) as services:
        setup = await services.orgs.create_org(f"Bench {uuid.uuid4().hex[:6]}")
        for name, options in ATTRIBUTES:
            await services.attributes.define(setup.org.id, "conversation", name, **options)
        org_id, brand_id = setup.org.id, setup.brand.id
        key, tracking = setup.admin_key.secret, setup.tracking_key.secret
    started = time.perf_counter()
    if backend == "sqlite":
        await asyncio.to_thread(load_sqlite, data / "klatch.db", org_id, brand_id, n)
    else:
        assert url is not None
        await load_postgres(url, org_id, brand_id, n)
    print(f"  {backend} {n:,}: loaded in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        async with running(settings, deliver_webhooks=False) as services:
            app = create_app(settings, services)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                freeze_startup_objects()  # as klatch serve does once it has started
                figures = await measure(services, http, key, tracking, n, iterations)
                started = time.perf_counter()
                await services.attributes.define(org_id, "conversation", "laterNum")
                build = (time.perf_counter() - started) * 1000
                figures["define an attribute (index build)"] = (build, build)
                print(
                    f"    define an attribute on the loaded org (index build): {build:.0f} ms",
                    flush=True,
                )
    finally:
        if backend == "postgres":
            await _admin(pg_server, f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="klatch-bench-search-") as tmp:
        for backend in args.backends.split(","):
            for n in sizes:
                results[backend, n] = await run_one(
                    backend, n, args.iterations, args.postgres, Path(tmp)
                )
    print()
    small, large = min(sizes), max(sizes)
    for backend in args.backends.split(","):
        print(
            f"{backend}: p50 / p99 in ms at {small:,} and {large:,} conversations, "
            "ratio of the p50s"
        )
        for case, (p50, p99) in results[backend, large].items():
            s50, s99 = results[backend, small][case]
            print(
                f"  {case:52s} {s50:7.2f} / {s99:7.2f}   {p50:7.2f} / {p99:7.2f}"
                f"   x{p50 / s50:5.2f}"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
