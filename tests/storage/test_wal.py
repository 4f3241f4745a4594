"""The SQLite WAL, and what a process does while writes fail.

The WAL is truncated on purpose (a TRUNCATE checkpoint between two batches once a
passive one copied it), so it stays bounded under sustained writes and does not
fill a small disk by itself. A batch whose transaction fails as a whole (disk
full, a lock held too long, SQLite rolling the transaction back under a unit) is
answered 503 and leaves the writer ready for the next batch; ``/readyz`` answers
503 with the reason until a write succeeds again.

The small disk is a tmpfs of a few MB mounted for the test (and unmounted after).
Mounting needs root (or CAP_SYS_ADMIN): without it those tests skip with the
reason, also under ``KLATCH_REQUIRE_SERVICES=1`` -- a mount is a privilege of the
machine the suite runs on, not a service Klatch promises (CI runs as root).
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import sqlite3
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from klatch.app import create_app
from klatch.errors import Unavailable
from klatch.runtime import running
from klatch.services import Services
from klatch.storage.db import SqliteDatabase, Tx
from support import (
    POSTGRES_URL,
    Chat,
    fresh_postgres_database,
    make_settings,
    need_service,
    start_chat,
)

PAGE = 4096


# ---------------------------------------------------------------- helpers


@contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` MB mounted at ``path``, unmounted afterwards."""
    path.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount command: cannot make a small disk")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a {megabytes} MB tmpfs as a small disk (needs root or "
            f"CAP_SYS_ADMIN): {done.stderr.strip()}"
        )
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path) -> Path:
    """Write ``path`` until its disk is full; the file stays as ballast."""
    with path.open("wb", buffering=0) as out:
        for chunk in (b"\0" * (64 * 1024), b"\0" * PAGE, b"\0" * 512):
            try:
                while True:
                    out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return path


@asynccontextmanager
async def serving(
    tmp_path: Path, data_dir: Path, **overrides: Any
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The app in-process with its data in ``data_dir``."""
    url = overrides.pop("database_url", None)
    settings = make_settings(tmp_path, url, data_dir=data_dir, **overrides)
    async with running(settings) as services:
        app = create_app(settings, services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://klatch.test") as http:
            yield services, http


async def described_chat(services: Services, http: httpx.AsyncClient) -> tuple[Chat, str]:
    """A chat session of a new org with one conversation, ``orderNumberStr`` defined;
    the org's admin key is kept on the chat (``chat.admin``) for REST reads."""
    setup = await services.orgs.create_org(f"WAL org {uuid.uuid4().hex[:12]}")
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    chat = await start_chat(http, setup.tracking_key.secret)
    chat.data["adminKey"] = setup.admin_key.secret
    conv = await chat.create_conversation(message="hi")
    return chat, str(conv["conversationId"])


async def history(chat: Chat, conversation_id: str) -> list[str]:
    """The ``orderNumberStr`` values of the conversation's events, oldest first."""
    response = await chat.http.get(
        f"/v1/conversations/{conversation_id}/events",
        headers={"Authorization": f"Bearer {chat.data['adminKey']}"},
    )
    assert response.status_code == 200, response.text
    values = []
    for event in response.json()["data"]:
        custom = event["attributes"]["payload"].get("custom") or {}
        if "orderNumberStr" in custom:
            values.append(custom["orderNumberStr"])
    return values


# ---------------------------------------------------------------- a bounded WAL

THRESHOLD_PAGES = 100  # the smallest sqlite_checkpoint_pages allows: 400 KiB


async def test_the_wal_stays_bounded_under_sustained_describes_and_is_truncated_after(
    tmp_path: Path,
) -> None:
    clients, rounds = 8, 400
    async with serving(tmp_path, tmp_path / "data", sqlite_checkpoint_pages=THRESHOLD_PAGES) as (
        services,
        http,
    ):
        db = services.db
        assert isinstance(db, SqliteDatabase)
        wal = services.settings.sqlite_path.with_name("klatch.db-wal")
        chats = [await described_chat(services, http) for _ in range(clients)]
        sizes: list[int] = []

        async def client(i: int, chat: Chat, conversation_id: str) -> None:
            for n in range(rounds):
                response = await chat.describe(conversation_id, {"orderNumberStr": f"{i}-{n}"})
                assert response.status_code == 200, response.text
                sizes.append(wal.stat().st_size if wal.exists() else 0)

        await asyncio.gather(*(client(i, c, conv) for i, (c, conv) in enumerate(chats)))
        resets = db.restarts + db.truncations
        for _ in range(40):  # writes pause: the WAL is truncated to nothing
            if wal.stat().st_size == 0:
                break
            await asyncio.sleep(0.1)
        after = wal.stat().st_size
        for i, (chat, conversation_id) in enumerate(chats):
            stored = await chat.request("GET", f"/conversations/{conversation_id}")
            assert stored.json()["custom"] == {"orderNumberStr": f"{i}-{rounds - 1}"}
    peak = max(sizes)
    print(
        f"{len(sizes)} describes from {clients} clients: WAL peak {peak // 1024} KiB "
        f"(threshold {THRESHOLD_PAGES * PAGE // 1024} KiB), reset {resets} times while "
        f"serving ({db.restarts} restarts), {after} bytes after a pause"
    )
    assert resets >= 3, f"the WAL was never reset while serving (peak {peak} bytes)"
    # Reset at four times the threshold under load, plus what came during the passive
    # pass before it (the old checkpoints let it grow to 15 MB here, and on).
    assert peak <= 12 * THRESHOLD_PAGES * PAGE, f"WAL peak {peak} bytes"
    assert after == 0


async def test_the_wal_does_not_fill_a_small_disk_by_itself(tmp_path: Path) -> None:
    # The default threshold (4000 pages, 16 MiB) is more than the whole disk.
    with small_disk(tmp_path / "disk", 4) as disk:
        async with serving(tmp_path, disk) as (services, http):
            chat, conversation_id = await described_chat(services, http)
            statuses: Counter[int] = Counter()
            padding = "x" * 200

            async def client(i: int) -> None:
                for n in range(300):
                    value = f"{i}-{n}-{padding}"
                    response = await chat.describe(conversation_id, {"orderNumberStr": value})
                    statuses[response.status_code] += 1

            await asyncio.gather(*(client(i) for i in range(4)))
            ready = await http.get("/readyz")
        usage = shutil.disk_usage(disk)
    print(f"1200 describes on a 4 MiB disk: {dict(statuses)}, {usage.used // 1024} KiB used")
    assert statuses == {200: 1200}
    assert ready.status_code == 200, ready.text


# ---------------------------------------------------------------- writes that fail


async def test_a_full_disk_fails_writes_readyz_says_so_and_writes_resume(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 4) as disk:
        async with serving(tmp_path, disk) as (services, http):
            chat, conversation_id = await described_chat(services, http)
            first = await chat.describe(conversation_id, {"orderNumberStr": "before"})
            assert first.status_code == 200, first.text
            assert (await http.get("/readyz")).status_code == 200

            ballast = fill(disk / "ballast")
            acknowledged, refused = ["before"], []
            for n in range(200):
                value = f"full-{n}"
                response = await chat.describe(conversation_id, {"orderNumberStr": value})
                if response.status_code == 200:
                    acknowledged.append(value)
                    continue
                assert response.status_code == 503, response.text
                assert response.json()["errors"][0]["code"] == "unavailable"
                refused.append(value)
                if len(refused) == 3:
                    break
            assert refused, "200 describes fitted on a full disk"

            ready = await http.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] == "unavailable"
            assert "full" in ready.json()["reason"], ready.json()
            await asyncio.sleep(1.1)  # readyz tries a write again: still full
            assert (await http.get("/readyz")).status_code == 503

            ballast.unlink()
            # No other traffic: readyz's own write finds the space.
            for _ in range(30):
                ready = await http.get("/readyz")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert ready.status_code == 200, ready.text
            after = await chat.describe(conversation_id, {"orderNumberStr": "after"})
            assert after.status_code == 200, after.text
            stored = await history(chat, conversation_id)
    assert stored == [*acknowledged, "after"]
    assert not set(refused) & set(stored)


# ---------------------------------------------------------------- the group commit recovers


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "klatch.db")
    await db.open()
    await db.write(lambda tx: tx.execute(sa.text("CREATE TABLE t (v TEXT NOT NULL)")))
    try:
        yield db
    finally:
        await db.close()


def insert(value: str) -> Any:
    async def work(tx: Tx) -> int:
        return await tx.execute(sa.text("INSERT INTO t (v) VALUES (:v)").bindparams(v=value))

    return work


async def stored(db: SqliteDatabase) -> list[str]:
    rows = await db.read(lambda tx: tx.all(sa.text("SELECT v FROM t ORDER BY rowid")))
    return [row[0] for row in rows]


async def test_under_load_a_large_wal_is_reused_and_truncated_once_writes_pause(
    tmp_path: Path,
) -> None:
    """Past 8 MiB the WAL file is not truncated under load (that costs milliseconds
    per 4 MiB, paid by the next batch) but reset to be reused from its start; it is
    truncated to nothing once writes pause for a second."""
    db = SqliteDatabase(tmp_path / "klatch.db", checkpoint_pages=1024)  # 4 MiB
    await db.open()
    wal = tmp_path / "klatch.db-wal"
    try:
        await db.write(lambda tx: tx.execute(sa.text("CREATE TABLE t (v BLOB NOT NULL)")))
        peak = 0

        blob = sa.text("INSERT INTO t (v) VALUES (randomblob(12000))")

        async def writer() -> None:
            nonlocal peak
            for _ in range(100):
                await db.write(lambda tx: tx.execute(blob))
                peak = max(peak, wal.stat().st_size)

        await asyncio.gather(*(writer() for _ in range(48)))
        restarts = db.restarts
        for _ in range(40):
            if wal.stat().st_size == 0:
                break
            await asyncio.sleep(0.1)
        after = wal.stat().st_size
        count = await db.read(lambda tx: tx.one(sa.text("SELECT count(*) FROM t")))
    finally:
        await db.close()
    print(f"4800 writes of 12 KB: WAL peak {peak // 1024} KiB, {restarts} restarts, {after} after")
    assert count is not None and count[0] == 48 * 100
    assert restarts >= 1
    # Reset at the hard limit (16 MiB) plus what came during the pass before; the
    # writes add up to 56 MiB.
    assert peak <= 2 * 16 * 1024 * 1024, peak
    assert after == 0


async def test_a_transaction_rolled_back_under_a_unit_fails_its_batch_and_the_next_commits(
    database: SqliteDatabase,
) -> None:
    """SQLite rolls the whole transaction back on some errors inside a statement
    (SQLITE_FULL, SQLITE_IOERR): the batch fails with 503, the writer goes on."""

    async def rolled_back(tx: Tx) -> None:
        await tx.execute(sa.text("INSERT INTO t (v) VALUES ('lost')"))
        await tx.execute(sa.text("ROLLBACK"))
        raise sqlite3.OperationalError("database or disk is full")

    async def ends_quietly(tx: Tx) -> None:
        await tx.execute(sa.text("ROLLBACK"))

    for breaking in (rolled_back, ends_quietly):
        results = await asyncio.wait_for(
            asyncio.gather(
                database.write(insert("mate")), database.write(breaking), return_exceptions=True
            ),
            5,
        )
        assert all(isinstance(r, Unavailable) for r in results), results
        assert database.failing is not None
        assert await asyncio.wait_for(database.write(insert("next")), 5) == 1
        assert database.failing is None
    assert await stored(database) == ["next", "next"]


async def test_a_begin_that_fails_is_503_and_the_next_batch_commits(
    database: SqliteDatabase, tmp_path: Path
) -> None:
    await database.write(lambda tx: tx.execute(sa.text("PRAGMA busy_timeout=100")))
    blocker = sqlite3.connect(tmp_path / "klatch.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(Unavailable):
            await asyncio.wait_for(database.write(insert("locked out")), 5)
        failure = await database.write_failure()
        assert failure is not None and "locked" in failure
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert await asyncio.wait_for(database.write(insert("later")), 5) == 1
    assert await database.write_failure() is None
    assert await stored(database) == ["later"]


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def postgres_database() -> Iterator[str]:
    url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    with fresh_postgres_database(url, "wal") as fresh:
        yield fresh


async def _on_server(url: str, *statements: str) -> None:
    import asyncpg

    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_postgres_refusing_writes_is_503_readyz_says_so_and_writes_resume(
    tmp_path: Path, postgres_database: str
) -> None:
    """PostgreSQL turned read-only (as a failed-over primary is): writes are 503,
    ``/readyz`` says why, and once it takes writes again new connections store them."""
    name = urlsplit(postgres_database).path.lstrip("/")
    others = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    async with serving(tmp_path, tmp_path / "data", database_url=postgres_database) as (
        services,
        http,
    ):
        chat, conversation_id = await described_chat(services, http)
        first = await chat.describe(conversation_id, {"orderNumberStr": "before"})
        assert first.status_code == 200, first.text

        await _on_server(
            postgres_database,
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = on',
            others,
        )
        for n in range(3):
            refused = await chat.describe(conversation_id, {"orderNumberStr": f"ro-{n}"})
            assert refused.status_code == 503, refused.text
        ready = await http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert "read-only" in ready.json()["reason"], ready.json()

        await _on_server(postgres_database, f'ALTER DATABASE "{name}" RESET ALL')
        await asyncio.sleep(1.1)
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        after = await chat.describe(conversation_id, {"orderNumberStr": "after"})
        assert after.status_code == 200, after.text
        assert await history(chat, conversation_id) == ["before", "after"]
