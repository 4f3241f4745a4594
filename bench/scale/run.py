"""Benchmark: every read path that grows with the data, at 10k and 1M conversations.

For each backend (SQLite, PostgreSQL) and each size, a fresh database: the org, its
attribute definitions and ten console users are made through the services, then
customers (one per two conversations), conversations (every column filled as the
code fills it: custom attributes, preview, counts, assignment), two messages each
(the customer's and an agent's reply; half of them read), the assignment rows and
chat sessions for a sample of the loaded customers are bulk-loaded with the driver
(executemany in one transaction on SQLite, COPY on PostgreSQL, which then runs
ANALYZE as autovacuum would; SQLite gets no ANALYZE: keeping its statistics is
Klatch's job). Then a real ``klatch serve`` starts on it and, one request at a
time over HTTP, the bench times:

- the visitor's paths (chat client API): their own conversations, a conversation's
  messages, unread counts;
- the console inbox (no filter, by status), the console's customer page, and
  conversations assigned to a user (the search API: the inbox has no assignee view);
- REST lists by customer and by status, lookups by id / externalId / email, a
  deep page of the conversation list by ``page=N`` and by following ``links.next``;

and a describe load (wrk, 64 connections, ``bench/describe/describe.lua``). It
prints one table with p50 / p99 per size, the ratio of the p99s at the largest and
smallest size, the goal, the database's size and the server's memory (RSS).
Goals (issue 16, DESIGN §7): visitor paths <= 10 ms p99, agent and REST paths
<= 50 ms p99 at 1M; describe at 1M within 1.5x of 10k.

    python bench/scale/run.py [--sizes 10000,1000000] [--backends sqlite,postgres]
        [--iterations 200] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Each case stops after ``--iterations`` requests or ``--case-seconds``, whichever
comes first. PostgreSQL runs in its own database ``klatch_bench_scale``, dropped
afterwards. Needs wrk (Debian: apt-get install wrk) for the describe row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from klatch.config import Settings
from klatch.domain.models import UserRole
from klatch.ids import hash_secret
from klatch.runtime import running
from klatch.storage.tables import (
    chat_session,
    conversation,
    conversation_assignment,
    customer,
    message,
)

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
DAY = 86_400_000
NOW = 1_780_000_000_000  # a fixed "now" (2026-05), so both backends hold the same data
SPAN = 365 * DAY
TIERS = ("free", "basic", "pro", "gold", "vip")
PG_DB = "klatch_bench_scale"
PASSWORD = "bench-password"
VISITORS = 20  # loaded customers that get a chat session
USERS = 10
SECRET = "s" * 40
CONVERSATION_ATTRIBUTES = ("orderNumberStr", "priceNum", "tierStr", "vipBool", "priorityNum")
CUSTOMER_ATTRIBUTES = ("tierStr", "lifetimeNum")
VISITOR, AGENT = 10.0, 50.0  # p99 goals, ms


# ---------------------------------------------------------------- data


def _id(kind: int, i: int) -> str:
    return f"{kind:02x}{i:022x}"


def _token(k: int) -> str:
    return f"ks_bench-visitor-{k:04d}"


def visitor_customer(k: int, n: int) -> int:
    """The k-th visitor: loaded customers spread over the whole range."""
    return (k * 7919 * 13) % (n // 2)


class Loaded:
    """What the loader made that the measurements use."""

    def __init__(self, org_id: str, brand_id: str, tracking_key_id: str, users: list[str]):
        self.org_id = org_id
        self.brand_id = brand_id
        self.tracking_key_id = tracking_key_id
        self.users = users


def rows(loaded: Loaded, n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for every row of the load, every column as the code fills it."""
    rng = random.Random(16)
    org_id = loaded.org_id
    for i in range(n):
        created = NOW - SPAN + (i * SPAN) // n  # spread over the year, in id order
        replied = created + 60_000
        updated = replied + rng.randrange(0, 2 * DAY)
        customer_index = i // 2
        customer_id = _id(1, customer_index)
        conversation_id = _id(2, i)
        done = i % 3 == 0
        user = loaded.users[(i // 4) % USERS] if i % 4 == 0 else None
        custom = {
            "orderNumberStr": f"A-{i:08d}",
            "priceNum": rng.randrange(0, 100_000) / 10,
            "tierStr": TIERS[i % 5],
            "vipBool": i % 7 == 0,
        }
        yield (
            "conversation",
            {
                "id": conversation_id,
                "org_id": org_id,
                "brand_id": loaded.brand_id,
                "customer_id": customer_id,
                "status": "done" if done else "open",
                "title": None,
                "custom": orjson.dumps(custom).decode(),
                "preview": "Thanks, it is on its way",
                "message_count": 2,
                "ended_at": updated if done else None,
                "ended_by_type": "user" if done else None,
                "customer_read_at": replied + 1000 if i % 2 else None,
                "last_message_at": replied,
                "version": 4,
                "created_at": created,
                "updated_at": updated,
                "external_id": f"conv-{i}",
                "assigned_users": orjson.dumps([user]).decode() if user else None,
                "assigned_teams": None,
                "tags": None,
            },
        )
        for m, (direction, by, at, body) in enumerate(
            (
                ("in", "customer", created, f"Hello, about order A-{i:08d}"),
                ("out", "user", replied, "Thanks, it is on its way"),
            )
        ):
            yield (
                "message",
                {
                    "id": _id(3 + m, i),
                    "org_id": org_id,
                    "conversation_id": conversation_id,
                    "customer_id": customer_id,
                    "direction": direction,
                    "body": body,
                    "payload": None,
                    "sent_by_type": by,
                    "sent_by_id": customer_id if by == "customer" else loaded.users[0],
                    "sent_by_name": None if by == "customer" else "Agent",
                    "created_at": at,
                    "updated_at": at,  # as insert_message: its creation until it changes
                },
            )
        if user:
            yield (
                "conversation_assignment",
                {
                    "org_id": org_id,
                    "conversation_id": conversation_id,
                    "kind": "user",
                    "assignee_id": user,
                },
            )
        if i % 2:
            continue
        yield (
            "customer",
            {
                "id": customer_id,
                "org_id": org_id,
                "name": f"Customer {customer_index}",
                "external_id": f"ext-{customer_index}",
                "email": f"c{customer_index}@example.test",
                "verified": True,
                "emails": orjson.dumps([f"c{customer_index}@example.test"]).decode(),
                "phones": "[]",
                "socials": "[]",
                "custom": orjson.dumps(
                    {"tierStr": TIERS[i % 5], "lifetimeNum": customer_index % 1000}
                ).decode(),
                "merged_into": None,
                "version": 1,
                "created_at": created,
                "updated_at": created,
            },
        )
    for k in range(VISITORS):
        yield (
            "chat_session",
            {
                "id": _id(6, k),
                "org_id": org_id,
                "brand_id": loaded.brand_id,
                "customer_id": _id(1, visitor_customer(k, n)),
                "api_key_id": loaded.tracking_key_id,
                "token_hash": hash_secret(_token(k)),
                "created_at": NOW,
            },
        )


TABLES = {
    t.name: t for t in (conversation, message, customer, conversation_assignment, chat_session)
}


def _columns(name: str, sample: dict[str, Any]) -> list[str]:
    table = TABLES[name]
    for column in table.columns:  # a column the bench does not know must be nullable
        if column.name not in sample:
            assert column.nullable, f"bench/scale does not fill {name}.{column.name}"
    return [c.name for c in table.columns]


def _names(loaded: Loaded) -> dict[str, list[str]]:
    """Each table's columns, checked against a sample of the rows."""
    names: dict[str, list[str]] = {}
    for table, row in rows(loaded, 2):
        names.setdefault(table, _columns(table, row))
    return names


def batches(
    loaded: Loaded, n: int, names: dict[str, list[str]], size: int = 50_000
) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """The load in batches: table name -> rows as tuples in ``names[table]`` order."""
    batch: dict[str, list[tuple[Any, ...]]] = {}
    count = 0
    for table, row in rows(loaded, n):
        batch.setdefault(table, []).append(tuple(row.get(c) for c in names[table]))
        count += 1
        if count >= size:
            yield batch
            batch, count = {}, 0
    yield batch


def load_sqlite(path: Path, loaded: Loaded, n: int) -> None:
    """One transaction; the tables' secondary indexes are dropped first and built
    again after (from their own definitions): much faster than growing them."""
    names = _names(loaded)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("BEGIN")
    marks = ", ".join("?" * len(TABLES))
    indexes = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        list(TABLES),
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    for batch in batches(loaded, n, names):
        for table, values in batch.items():
            cols = names[table]
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            conn.executemany(sql, values)
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def load_postgres(url: str, loaded: Loaded, n: int) -> None:
    """COPY, with the tables' indexes (but their primary keys) dropped first and
    built again after, from their own definitions."""
    import asyncpg

    names = _names(loaded)
    conn = await asyncpg.connect(url)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[]) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            list(TABLES),
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        for batch in batches(loaded, n, names):
            for table, values in batch.items():
                await conn.copy_records_to_table(table, records=values, columns=names[table])
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM ANALYZE")  # what autovacuum does after a load like this
    finally:
        await conn.close()


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(data: Path, url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "KLATCH_DATA_DIR": str(data),
        "KLATCH_SECRET_KEY": SECRET,
        "KLATCH_RATE_LIMIT_REST": "0",
        "KLATCH_RATE_LIMIT_SEARCH": "0",
        "KLATCH_RATE_LIMIT_SESSION": "0",
        "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_ADDRESS": "0",
        "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_KEY": "0",
        "KLATCH_LOG_LEVEL": "warning",
    }
    env.pop("KLATCH_DATABASE_URL", None)
    if url:
        env["KLATCH_DATABASE_URL"] = url
    return env


@contextlib.contextmanager
def serving(data: Path, url: str | None) -> Iterator[tuple[str, int]]:
    """A real ``klatch serve`` on the loaded database: (base URL, pid)."""
    port = free_port()
    log = (data / "serve.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "klatch.cli", "serve", "--port", str(port)],
        env=env_for(data, url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a first open may migrate or analyse
        while True:
            if server.poll() is not None:
                raise SystemExit(f"klatch serve exited: {(data / 'serve.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("klatch serve did not come up")
            time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def rss_mib(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its peak, MiB."""
    status = Path(f"/proc/{pid}/status").read_text()

    def field(name: str) -> float:
        m = re.search(rf"^{name}:\s+(\d+) kB", status, re.M)
        return int(m.group(1)) / 1024 if m else 0.0

    return field("VmRSS"), field("VmHWM")


# ---------------------------------------------------------------- timing


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def timed(iterations: int, seconds: float, call: Callable[[int], None]) -> tuple[float, float]:
    for i in range(3):  # warm the caches and the statement caches
        call(i)
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    for i in range(iterations):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
        if time.monotonic() > deadline and len(samples) >= 10:
            break
    return percentiles(samples)


def ok(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return response.json() if "json" in response.headers.get("content-type", "") else None


def console_login(http: httpx.Client, email: str) -> None:
    form = http.get("/console/login")
    csrf = re.search(r'name="csrf"\s+value="([^"]+)"', form.text)
    assert csrf, form.text[:500]
    done = http.post(
        "/console/login", data={"csrf": csrf.group(1), "email": email, "password": PASSWORD}
    )
    assert done.status_code in (200, 303), done.text[:500]
    assert "/console/login" not in str(done.headers.get("location", "")), "login refused"


Case = tuple[str, float, Callable[[int], None]]


def cases(  # noqa: C901 - one closure per path, read top to bottom
    http: httpx.Client, admin: str, tracking: str, users: list[str], n: int
) -> list[Case]:
    rng = random.Random(5)
    auth = {"Authorization": f"Bearer {admin}"}
    visitors = [
        {"Authorization": f"Bearer {tracking}", "X-Klatch-Session": _token(k)}
        for k in range(VISITORS)
    ]
    pages = n // 100
    deep = min(500, pages // 2)

    def visitor_list(i: int) -> None:
        found = ok(http.get("/c/v1/conversations", headers=visitors[i % VISITORS]))
        assert len(found["conversations"]) == 2, found

    def visitor_messages(i: int) -> None:
        k = i % VISITORS
        conv = _id(2, visitor_customer(k, n) * 2 + i % 2)
        found = ok(http.get(f"/c/v1/conversations/{conv}/messages", headers=visitors[k]))
        assert len(found["messages"]) == 2, found

    def visitor_unread(i: int) -> None:
        ok(http.get("/c/v1/unread", headers=visitors[i % VISITORS]))

    def inbox(query: str) -> Callable[[int], None]:
        def call(i: int) -> None:
            page = http.get(f"/console/inbox{query}")
            assert page.status_code == 200, page.text[:300]

        return call

    def customer_page(i: int) -> None:
        page = http.get(f"/console/customers/{_id(1, rng.randrange(n // 2))}")
        assert page.status_code == 200, page.text[:300]

    def assigned(i: int) -> None:
        body = {
            "queryContext": "conversation",
            "and": [{"conversation_assigned_users": {"equals": users[i % USERS]}}],
            "sort": [{"conversation_updated_at": "desc"}],
        }
        found = ok(
            http.post("/v1/customers/search", json=body, headers=auth, params={"pageSize": 25})
        )
        assert len(found["data"]) == 25, found["meta"]

    def by_customer(i: int) -> None:
        who = _id(1, rng.randrange(n // 2))
        found = ok(http.get("/v1/conversations", params={"customer": who}, headers=auth))
        assert len(found["data"]) == 2, found["meta"]

    def customer_conversations(i: int) -> None:
        who = _id(1, rng.randrange(n // 2))
        found = ok(http.get(f"/v1/customers/{who}/conversations", headers=auth))
        assert len(found["data"]) == 2, found["meta"]

    def by_status(i: int) -> None:
        status = ("open", "done")[i % 2]
        found = ok(http.get("/v1/conversations", params={"status": status}, headers=auth))
        assert len(found["data"]) == 100

    def first_page(i: int) -> None:
        ok(http.get("/v1/conversations", headers=auth))

    def by_id(i: int) -> None:
        ok(http.get(f"/v1/conversations/{_id(2, rng.randrange(n))}", headers=auth))

    def by_external_id(i: int) -> None:
        ok(http.get(f"/v1/conversations/externalId=conv-{rng.randrange(n)}", headers=auth))

    def customer_by_id(i: int) -> None:
        ok(http.get(f"/v1/customers/{_id(1, rng.randrange(n // 2))}", headers=auth))

    def customer_by_email(i: int) -> None:
        ok(http.get(f"/v1/customers/email=c{rng.randrange(n // 2)}@example.test", headers=auth))

    def customer_by_external_id(i: int) -> None:
        ok(http.get(f"/v1/customers/externalId=ext-{rng.randrange(n // 2)}", headers=auth))

    def deep_offset(i: int) -> None:
        found = ok(http.get("/v1/conversations", params={"page": deep}, headers=auth))
        assert len(found["data"]) == 100, found["meta"]

    before = ok(http.get("/v1/conversations", params={"page": deep - 1}, headers=auth))
    deep_next = before["links"]["next"]

    def deep_keyset(i: int) -> None:
        found = ok(http.get(deep_next, headers=auth))
        assert len(found["data"]) == 100 and found["meta"]["page"] == deep, found["meta"]

    return [
        ("visitor: own conversations (GET /c/v1/conversations)", VISITOR, visitor_list),
        ("visitor: messages of one", VISITOR, visitor_messages),
        ("visitor: unread counts (GET /c/v1/unread)", VISITOR, visitor_unread),
        ("console inbox, no filter", AGENT, inbox("")),
        ("console inbox, status=open", AGENT, inbox("?status=open")),
        ("console inbox, status=done, page 3", AGENT, inbox("?status=done&page=3")),
        ("console customer page", AGENT, customer_page),
        ("assigned to a user (search, 25 newest)", AGENT, assigned),
        ("REST list, first page (counted)", AGENT, first_page),
        ("REST list ?customer=", AGENT, by_customer),
        ("REST /v1/customers/{id}/conversations", AGENT, customer_conversations),
        ("REST list ?status=", AGENT, by_status),
        ("REST conversation by id", AGENT, by_id),
        ("REST conversation by externalId", AGENT, by_external_id),
        ("REST customer by id", AGENT, customer_by_id),
        ("REST customer by email", AGENT, customer_by_email),
        ("REST customer by externalId", AGENT, customer_by_external_id),
        ("REST deep page by page=N (N=500; 10k: 50)", AGENT, deep_offset),
        ("REST deep page by links.next (the same page)", AGENT, deep_keyset),
    ]


def describe_load(
    base: str, tracking: str, data: Path, pid: int, seconds: int
) -> tuple[float, ...]:
    """64 connections of describes for ``seconds``: (req/s, p50, p99) from wrk."""
    if shutil.which("wrk") is None:
        return (0.0, 0.0, 0.0)
    targets = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tracking}"}) as c:
        for _ in range(64):
            token = ok(c.post("/c/v1/sessions"), 201)["sessionToken"]
            conv = ok(
                c.post(
                    "/c/v1/conversations",
                    json={"message": "hi"},
                    headers={"X-Klatch-Session": token},
                ),
                201,
            )
            targets.append((token, conv["conversationId"]))
    lua = data / "targets.lua"
    lua.write_text("return {" + ",".join(f'{{"{t}", "{c}"}}' for t, c in targets) + "}\n")
    env = {**os.environ, "KLATCH_BENCH_TARGETS": str(lua), "KLATCH_BENCH_KEY": tracking}
    script = str(ROOT / "bench" / "describe" / "describe.lua")
    cmd = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "-s", script, base + "/"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    if "Non-2xx" in out:
        raise SystemExit("describes failed:\n" + out)
    return rps, pct("50"), pct("99")


# ---------------------------------------------------------------- one run


async def _admin(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _setup(settings: Settings) -> tuple[Loaded, str, str, str]:
    async with running(settings, deliver_webhooks=False) as services:
        setup = await services.orgs.create_org("Bench scale")
        for name in CONVERSATION_ATTRIBUTES:
            await services.attributes.define(setup.org.id, "conversation", name)
        for name in CUSTOMER_ATTRIBUTES:
            await services.attributes.define(setup.org.id, "customer", name)
        users = []
        for u in range(USERS):
            user = await services.orgs.create_user(
                setup.org.id, f"agent{u}@bench.test", PASSWORD, role=UserRole.AGENT
            )
            users.append(user.id)
    loaded = Loaded(setup.org.id, setup.brand.id, setup.tracking_key.key.id, users)
    return loaded, setup.admin_key.secret, setup.tracking_key.secret, "agent0@bench.test"


def database_mib(data: Path, url: str | None) -> float:
    if url is None:
        return sum(p.stat().st_size for p in data.glob("klatch.db*")) / 2**20
    import asyncpg

    async def size() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()

    return asyncio.run(size()) / 2**20


def run_one(backend: str, n: int, opts: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data = workdir / f"{backend}-{n}"
    data.mkdir()
    url = None
    if backend == "postgres":
        asyncio.run(_admin(opts.postgres, f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        asyncio.run(_admin(opts.postgres, f"CREATE DATABASE {PG_DB}"))
        url = opts.postgres.rsplit("/", 1)[0] + f"/{PG_DB}"
    settings = Settings(data_dir=data, database_url=url, secret_key=SECRET)
    try:
        loaded, admin, tracking, email = asyncio.run(_setup(settings))
        started = time.perf_counter()
        if url is None:
            load_sqlite(data / "klatch.db", loaded, n)
        else:
            asyncio.run(load_postgres(url, loaded, n))
        load_s = time.perf_counter() - started
        print(f"  {backend} {n:,}: loaded in {load_s:.1f} s", flush=True)
        out: dict[str, Any] = {"load_s": load_s, "cases": {}}
        started = time.perf_counter()
        with serving(data, url) as (base, pid):
            out["start_s"] = time.perf_counter() - started
            with httpx.Client(base_url=base, timeout=60) as http:
                console_login(http, email)
                for name, goal, call in cases(http, admin, tracking, loaded.users, n):
                    p50, p99 = timed(opts.iterations, opts.case_seconds, call)
                    out["cases"][name] = (p50, p99, goal)
                    print(f"    {name:55s} p50 {p50:8.2f}  p99 {p99:8.2f} ms", flush=True)
            rps, p50, p99 = describe_load(base, tracking, data, pid, opts.describe_seconds)
            out["describe"] = (rps, p50, p99)
            print(f"    describe, 64 connections: {rps:.0f} req/s, p50 {p50:.2f}, p99 {p99:.2f} ms")
            out["rss"] = rss_mib(pid)
        out["db_mib"] = database_mib(data, url)
        return out
    finally:
        if url is not None:
            asyncio.run(_admin(opts.postgres, f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        shutil.rmtree(data, ignore_errors=True)


def report(backend: str, small: dict[str, Any], large: dict[str, Any], sizes: list[int]) -> None:
    lo, hi = f"{min(sizes):,}", f"{max(sizes):,}"
    print(f"\n{backend}: p50 / p99 ms at {lo} and {hi} conversations; ratio of the p99s")
    print(f"  {'path':55s} {lo:>17s} {hi:>17s} {'ratio':>6s} {'goal':>6s}")
    for name, (p50, p99, goal) in large["cases"].items():
        a50, a99, _ = small["cases"][name]
        flag = "" if p99 <= goal else "  MISSED"
        print(
            f"  {name:55s} {a50:7.2f} / {a99:7.2f} {p50:7.2f} / {p99:7.2f}"
            f" {p99 / a99:6.2f} {goal:6.0f}{flag}"
        )
    (ar, a50, a99), (br, b50, b99) = small["describe"], large["describe"]
    if ar:
        print(
            f"  {'describe, 64 conns (req/s; p50 / p99)':55s} {ar:5.0f}; {a50:.1f} / {a99:.1f}"
            f"   {br:5.0f}; {b50:.1f} / {b99:.1f}  p99 x{b99 / a99:.2f} (goal <= 1.5)"
        )
    for label, key, fmt in (
        ("load (s)", "load_s", "{:.1f}"),
        ("server start on the loaded db (s)", "start_s", "{:.1f}"),
        ("database size (MiB)", "db_mib", "{:.0f}"),
    ):
        print(f"  {label:55s} {fmt.format(small[key]):>17s} {fmt.format(large[key]):>17s}")
    print(
        f"  {'server RSS now / peak (MiB)':55s} {'{:.0f} / {:.0f}'.format(*small['rss']):>17s}"
        f" {'{:.0f} / {:.0f}'.format(*large['rss']):>17s}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--case-seconds", type=float, default=10.0)
    parser.add_argument("--describe-seconds", type=int, default=10)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    opts = parser.parse_args()
    sizes = sorted(int(s) for s in opts.sizes.split(","))
    backends = opts.backends.split(",")
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="klatch-bench-scale-") as tmp:
        for backend in backends:
            for n in sizes:
                results[backend, n] = run_one(backend, n, opts, Path(tmp))
    for backend in backends:
        report(backend, results[backend, sizes[0]], results[backend, sizes[-1]], sizes)
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
