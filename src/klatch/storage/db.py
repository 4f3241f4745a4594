"""Databases: SQLite (default) and PostgreSQL behind one small interface.

A *unit of work* is an ``async def work(tx) -> T`` that only awaits ``tx``
calls. ``Database.write(work)`` runs it in one transaction and returns once the
transaction is durable; ``Database.read(work)`` runs it on a consistent snapshot.

Statements are SQLAlchemy Core constructs, compiled once per dialect and run on
the raw driver (stdlib ``sqlite3``, ``asyncpg``): SQLAlchemy's per-execution
machinery costs ~45 µs a statement here against ~5 µs for the driver, and the
chat hot path runs three statements.

SQLite uses **group commit**: one writer connection; each unit of work runs in a
savepoint inside an open transaction, and a committer task commits whatever has
accumulated (fsync in a worker thread, off the event loop), then wakes every
caller of that batch. Under load one fsync serves many writes; idle, a write
waits for exactly one. Automatic WAL checkpoints are off on the writer (they ran
inside commits and made the 10-16 ms tail); past a size a background thread
checkpoints passively, then the committer resets the WAL between two batches
(truncated while writes are light or pause, reused in place under load).
A batch whose transaction fails as a whole is answered 503 and rolled back, and
the next batch tries again; ``write_failure()`` says why while writes fail.

PostgreSQL commits in groups too, for another reason: every write of an org takes
the org's row (its event sequence, which keeps event ids increasing in commit
order for resuming sockets) last, and holds it through the commit's flush. A
committer task runs whatever queued meanwhile in one transaction on one pooled
connection, so that row is taken once per batch; reads use the rest of the pool.
The units run without savepoints while none fails after changing rows; when one
does, the batch is run again with a savepoint around each unit. A batch that
meets a deadlock or a serialization failure (another replica's batch) is rolled
back and run again as a whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from klatch import metrics
from klatch.errors import Unavailable
from klatch.tasks import stop_task

log = logging.getLogger("klatch.storage")
T = TypeVar("T")


# The commit metrics' series of each backend, looked up once.
_SQLITE_UNITS = metrics.COMMIT_BATCH_UNITS.labels("sqlite")
_SQLITE_SECONDS = metrics.COMMIT_SECONDS.labels("sqlite")
_PG_UNITS = metrics.COMMIT_BATCH_UNITS.labels("postgresql")
_PG_MAX_BATCH = 256  # units per PostgreSQL transaction
_PG_SECONDS = metrics.COMMIT_SECONDS.labels("postgresql")


class Row(Protocol):
    def __getitem__(self, key: str | int, /) -> Any: ...


class Query:
    """A Core statement compiled once per dialect, executed with a dict of params.

    Inserts are compiled for exactly the columns given (so server defaults apply
    to the rest); other statements name their parameters with ``sa.bindparam``.
    """

    __slots__ = ("_cache", "reads", "stmt")

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self.reads = _reads_only(stmt)
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...], dict[str, Any]]]
        self._cache = {}

    def prepare(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        keys = tuple(params) if isinstance(self.stmt, sa.Insert) else ()
        cache_key = (dialect.name, keys)
        entry = self._cache.get(cache_key)
        if entry is None:
            compiled = cast(
                SQLCompiler, self.stmt.compile(dialect=dialect, column_keys=list(keys) or None)
            )
            entry = (compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))
            self._cache[cache_key] = entry
        sql, names, defaults = entry
        return sql, [params[n] if n in params else defaults[n] for n in names]


def bound(*columns: str) -> dict[str, sa.BindParameter[Any]]:
    """Each column set from the parameter of its name, for a statement's ``values``:
    ``.values(**bound("name", "url"))`` is ``.values(name=bindparam("name"), url=...)``."""
    return {c: sa.bindparam(c) for c in columns}


def _reads_only(stmt: ClauseElement) -> bool:
    """Whether a statement changes no row (a SELECT, locking or not): a unit that
    ran only such statements has nothing to take back when it fails."""
    return isinstance(stmt, sa.Select | sa.CompoundSelect)


def compile_adhoc(stmt: ClauseElement, dialect: Dialect) -> tuple[str, list[Any]]:
    """Compile a one-off statement whose values are embedded in it (dynamic filters)."""
    compiled = cast(
        SQLCompiler, stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    )
    params = compiled.params
    return compiled.string, [params[n] for n in compiled.positiontup or ()]


Statement = Query | ClauseElement


class Batch:
    """What the statements of one transaction remember from one unit of work to the
    next, and the statements owed before it commits.

    A committer runs many units in one transaction; a value that each unit would
    otherwise write to the same row (an org's event sequence) can be kept here and
    written once, by a ``finish`` step the committer runs just before COMMIT. A unit
    that is rolled back to its savepoint takes back what it set: a snapshot is a
    copy of the two dicts, so what they hold must not change in place (replace an
    entry instead)."""

    __slots__ = ("owed", "values")

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}
        # Keyed, so owing the same statement twice runs it once.
        self.owed: dict[Any, Callable[[Tx], Awaitable[None]]] = {}

    def snapshot(self) -> tuple[dict[Any, Any], dict[Any, Callable[[Tx], Awaitable[None]]]]:
        return dict(self.values), dict(self.owed)

    def restore(
        self, saved: tuple[dict[Any, Any], dict[Any, Callable[[Tx], Awaitable[None]]]]
    ) -> None:
        self.values, self.owed = saved

    async def finish(self, tx: Tx) -> None:
        """Run the statements owed, before the transaction commits."""
        owed, self.owed = self.owed, {}
        for statement in owed.values():
            await statement(tx)


class Tx(Protocol):
    """The statements a unit of work can run."""

    dialect: str
    batch: Batch  # what the units of this transaction share (see Batch)

    async def one(self, q: Statement, params: Mapping[str, Any] | None = None) -> Row | None: ...

    async def all(self, q: Statement, params: Mapping[str, Any] | None = None) -> list[Row]: ...

    async def execute(self, q: Statement, params: Mapping[str, Any] | None = None) -> int: ...

    async def execute_many(self, q: Query, params: Sequence[Mapping[str, Any]]) -> None: ...


Work = Callable[[Tx], Awaitable[T]]


class Database(Protocol):
    dialect: str
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, work: Work[T]) -> T: ...

    async def read(self, work: Work[T]) -> T: ...

    async def ping(self) -> None: ...

    async def run_ddl(self, sql: str) -> None:
        """Run one schema statement outside any unit of work (an index that follows
        a klass definition), without holding up the event loop."""
        ...

    async def write_failure(self) -> str | None:
        """Why writes fail (the last one failed for want of storage and none has
        succeeded since), or None; ``/readyz`` answers 503 with it."""
        ...


def _prepare(q: Statement, params: Mapping[str, Any] | None, dialect: Dialect) -> tuple[str, Any]:
    if isinstance(q, Query):
        return q.prepare(dialect, params or {})
    return compile_adhoc(q, dialect)


class _WriteHealth:
    """Whether writes are stored: why the last one failed, until one succeeds; and
    the write ``/readyz`` tries while they fail (at most once a second), so a server
    a load balancer took out of rotation sees them work again."""

    __slots__ = ("_last_probe", "failure")

    def __init__(self) -> None:
        self.failure: str | None = None
        self._last_probe = 0.0

    def failed(self, exc: BaseException) -> None:
        self.failure = f"the last write failed ({exc}) and none has succeeded since"

    async def probe(self, db: Database, touch: Work[None]) -> str | None:
        if self.failure is None:
            return None
        now = time.monotonic()
        if now - self._last_probe >= _PROBE_SECONDS:
            self._last_probe = now
            # Whatever the probe meets, readiness reports it through ``failure``.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(db.write(touch), _PROBE_TIMEOUT)
        return self.failure


class _GroupCommit:
    """The queue both databases commit from: ``write`` queues a unit of work and
    waits until its batch is durable; a committer task (``_commit_loop``, each
    database's own) runs what queued meanwhile in one transaction."""

    def __init__(self) -> None:
        self._pending: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._closing = False

    def _is_open(self) -> bool:
        raise NotImplementedError

    async def _commit_loop(self) -> None:
        raise NotImplementedError

    def _start_committer(self, name: str) -> None:
        self._closing = False
        self._committer = asyncio.create_task(self._commit_loop(), name=name)

    async def _stop_committer(self) -> None:
        if self._committer is not None:
            # The committer stores what is queued, then stops; new writes are refused.
            self._closing = True
            self._wake.set()
            await self._committer
            self._committer = None

    async def _woken(self) -> None:
        """Wait until a unit is queued (or the database closes)."""
        await self._wake.wait()
        self._wake.clear()

    async def write(self, work: Work[T]) -> T:
        """Queue ``work`` for the committer; return its result once it is durable.

        A caller that goes away does not take its unit back: it may already be in
        the batch being committed, and its batch-mates must not notice. (Its
        cancellation cancels the future, which the committer then leaves unanswered;
        the unit still runs and commits, so no ``shield`` is needed, nor its second
        future per write.)"""
        if not self._is_open() or self._closing:
            raise Unavailable("The database is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        self._wake.set()
        return await future


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """Answer each caller of a committed batch with its unit's result or error."""
    for future, result, error in outcomes:
        if future.done():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


# ------------------------------------------------------------------ SQLite


class _SqliteTx:
    dialect = "sqlite"
    _dialect = sqlite_dialect.dialect()

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.batch = Batch()

    async def one(self, q: Statement, params: Mapping[str, Any] | None = None) -> Row | None:
        sql, args = _prepare(q, params, self._dialect)
        row: Row | None = self._conn.execute(sql, args).fetchone()
        return row

    async def all(self, q: Statement, params: Mapping[str, Any] | None = None) -> list[Row]:
        sql, args = _prepare(q, params, self._dialect)
        return self._conn.execute(sql, args).fetchall()

    async def execute(self, q: Statement, params: Mapping[str, Any] | None = None) -> int:
        sql, args = _prepare(q, params, self._dialect)
        return self._conn.execute(sql, args).rowcount

    async def execute_many(self, q: Query, params: Sequence[Mapping[str, Any]]) -> None:
        if not params:
            return
        sql, _ = q.prepare(self._dialect, params[0])
        rows = [q.prepare(self._dialect, p)[1] for p in params]
        self._conn.executemany(sql, rows)


# SQLite's primary result codes that mean the storage failed, not the statement:
# the disk is full, an I/O error, a lock held too long, no memory, a read-only or
# vanished file. After one of them SQLite may have rolled the transaction back.
_STORAGE_FAILURES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})
_PAGE = 4096
_MIN_WAL_BYTES = 256 * 1024  # never truncate more often than this much WAL
_HARD_LIMIT = 4  # times sqlite_checkpoint_pages: the WAL is reset then even while writes wait
_PASSIVE_ROUNDS = 3  # passive passes before the resetting one, to leave it little to copy
_PASSIVE_EVERY = 32  # commits between two passive checkpoints (unless the file grew)
_RESET_BUSY_MS = 25  # how long the resetting checkpoint waits for readers
_FRAME = _PAGE + 24  # a WAL frame: header and page
_BUSY_UNITS = 4  # a batch (or a queue) this large means writes are under load
_QUIET_SECONDS = 1.0  # no write for this long: the WAL is truncated
_RESTART_BYTES = 8 * 1024 * 1024  # under load a WAL file this large is reused, not truncated
_BUSY_MS = 10000
_PROBE_SECONDS = 1.0  # while writes fail, /readyz tries one write at most this often
_PROBE_TIMEOUT = 2.0
_DDL_TIMEOUT = 3600.0  # seconds an index build may take on PostgreSQL
# SQLite's planner statistics (sqlite_stat1), kept by Klatch: SQLite gathers none by
# itself, and without them it walks the org's updated_at index for a visitor's three
# conversations (seconds at a million). ANALYZE reads at most this many rows of each
# index (estimates, in milliseconds at any size) when statistics are missing or stale.
_ANALYSIS_LIMIT = 2000
_STATS_MIN_ROWS = 1000  # a table smaller than this plans well without statistics
_STATS_SECONDS = 3600.0  # how often a server looks whether they went stale


def refresh_statistics(path: Path) -> bool:
    """ANALYZE the database (bounded by ``_ANALYSIS_LIMIT``) if its statistics are
    missing or stale, on a connection of its own; whether it did. Connections open
    already keep the statistics they loaded: reopen them to use the new ones."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_MS / 1000)
    try:
        if not _statistics_stale(conn):
            return False
        conn.execute(f"PRAGMA analysis_limit={_ANALYSIS_LIMIT}")
        conn.execute("ANALYZE")
        return True
    finally:
        conn.close()


def _statistics_stale(conn: sqlite3.Connection) -> bool:
    """Whether a table of some size has an index without statistics (a new database,
    a migration or an attribute's index since), or grew to more than twice the rows
    its statistics were gathered at."""
    known: dict[str, int] = {}
    indexed: set[str] = set()
    has_stats = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).fetchone()
    if has_stats:
        for table, index, stat in conn.execute("SELECT tbl, idx, stat FROM sqlite_stat1"):
            known[table] = max(known.get(table, 0), int(str(stat).split()[0]))
            indexed.add(f"{table}.{index}")
    # Every full index (a partial one may hold no rows, and then has no statistics).
    indexes = conn.execute(
        "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' "
        "AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE '% WHERE %'"
    ).fetchall()
    for table in {t for t, _ in indexes}:
        rows = _row_estimate(conn, table)
        if rows < _STATS_MIN_ROWS:
            continue
        if rows > 2 * known.get(table, 0):
            return True
        if any(f"{table}.{name}" not in indexed for t, name in indexes if t == table):
            return True
    return False


def _row_estimate(conn: sqlite3.Connection, table: str) -> int:
    """About how many rows ``table`` holds, without counting them: its largest rowid."""
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        row = conn.execute(f"SELECT max(rowid) FROM {quoted}").fetchone()
    except sqlite3.OperationalError:  # WITHOUT ROWID: count, up to what matters
        limit = _STATS_MIN_ROWS * 1000
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {quoted} LIMIT {limit})"
        ).fetchone()
    return int(row[0] or 0)


def _connect_sqlite(path: Path, *, writer: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so a write is durable before we answer.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
    conn.execute("PRAGMA cache_size=-32000")
    # X REGEXP Y, which SQLite leaves to the application: search's whole-word contains.
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    if writer:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and _pattern(pattern).search(value) is not None


def _is_storage_failure(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_FAILURES


def _wal_bytes(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


async def _touch(tx: Tx) -> None:
    """A write that changes nothing but is stored all the same (page 1 is rewritten):
    what ``/readyz`` tries while writes fail, to see whether they work again."""
    row = await tx.one(sa.text("PRAGMA user_version"))
    version = int(row[0]) if row is not None else 0
    await tx.execute(sa.text(f"PRAGMA user_version = {version}"))


class SqliteDatabase(_GroupCommit):
    """One file, WAL, one writer connection with group commit, one reader connection."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, checkpoint_pages: int = 4000) -> None:
        super().__init__()
        self.path = path
        self.url = f"sqlite:///{path}"
        self._checkpoint_bytes = checkpoint_pages * _PAGE
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._wtx: _SqliteTx | None = None
        self._rtx: _SqliteTx | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commit_pool = ThreadPoolExecutor(1, thread_name_prefix="klatch-commit")
        self._checkpoint_pool = ThreadPoolExecutor(1, thread_name_prefix="klatch-checkpoint")
        # Set from the moment a checkpoint is scheduled until its truncating pass is done.
        self._checkpointing = threading.Event()
        self._reset_due = False
        self._wal_frames = 0  # frames in the WAL at the last passive pass
        self._commits_since_passive = 0
        self._wal_bytes_at_passive = 0
        self._last_batch = 0  # units in the last batch: whether writes are busy
        self._quiet_timer: asyncio.TimerHandle | None = None
        self._wal_path = path.with_name(path.name + "-wal")
        self._health = _WriteHealth()
        # Held by each batch and by schema statements: an index is built between batches.
        self._ddl_lock = asyncio.Lock()
        self.commits = 0
        self.units = 0
        self.truncations = 0
        self.restarts = 0
        self._statistics: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Before the connections open, so that they load the statistics.
        await asyncio.get_running_loop().run_in_executor(None, self._refresh_statistics_now)
        self._writer = _connect_sqlite(self.path, writer=True)
        self._reader = _connect_sqlite(self.path, writer=False)
        self._wtx = _SqliteTx(self._writer)
        self._rtx = _SqliteTx(self._reader)
        self._loop = asyncio.get_running_loop()
        self._start_committer("klatch-sqlite-committer")
        self._statistics = asyncio.create_task(self._statistics_loop(), name="klatch-sqlite-stats")

    async def close(self) -> None:
        await stop_task(self._statistics)
        self._statistics = None
        await self._stop_committer()
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        self._checkpoint_pool.shutdown(wait=True)
        if self._writer is not None:
            with contextlib.suppress(sqlite3.Error):
                # What SQLite asks of a connection before it closes: statistics for
                # what its queries would have planned better with.
                self._writer.execute(f"PRAGMA analysis_limit={_ANALYSIS_LIMIT}")
                self._writer.execute("PRAGMA optimize")
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._writer.close()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._commit_pool.shutdown(wait=True)

    async def ping(self) -> None:
        assert self._reader is not None
        self._reader.execute("SELECT 1").fetchone()

    @property
    def failing(self) -> str | None:
        """Why the last batch failed, while none has committed since; else None."""
        return self._health.failure

    async def write_failure(self) -> str | None:
        return await self._health.probe(self, _touch)

    async def read(self, work: Work[T]) -> T:
        conn = self._reader
        if conn is None:
            raise Unavailable("The database is not open")
        conn.execute("BEGIN")
        try:
            return await work(self._rtx)  # type: ignore[arg-type]
        finally:
            conn.execute("COMMIT")

    async def run_ddl(self, sql: str) -> None:
        """Run a schema statement on its own connection in a thread, between two
        batches: writes queue up meanwhile (SQLite has one writer) but the event loop
        and the readers go on."""
        async with self._ddl_lock:
            await asyncio.get_running_loop().run_in_executor(None, self._ddl_now, sql)
            await self._refresh_statistics()  # a new index on a large table has none

    def _refresh_statistics_now(self) -> bool:
        try:
            return refresh_statistics(self.path)
        except sqlite3.Error as exc:  # statistics only make plans better: never fatal
            log.warning("sqlite statistics not refreshed: %s", exc)
            return False

    async def _refresh_statistics(self) -> None:
        """Refresh stale statistics (the caller holds the DDL lock: between two
        batches), then give the reader a new connection, which loads them."""
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self._refresh_statistics_now):
            return
        old, self._reader = self._reader, _connect_sqlite(self.path, writer=False)
        self._rtx = _SqliteTx(self._reader)
        if old is not None:
            old.close()  # reads never yield mid-transaction, so none is using it now

    async def _statistics_loop(self) -> None:
        """While serving: every ``_STATS_SECONDS``, refresh statistics gone stale as
        the data grew."""
        while True:
            await asyncio.sleep(_STATS_SECONDS)
            async with self._ddl_lock:
                await self._refresh_statistics()

    def _ddl_now(self, sql: str) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_MS / 1000)
        try:
            conn.execute(sql)
        finally:
            conn.close()

    def _is_open(self) -> bool:
        return self._writer is not None

    async def _commit_loop(self) -> None:
        while True:
            await self._woken()
            while self._pending or self._reset_due:
                if self._pending:
                    async with self._ddl_lock:
                        await self._run_batch()
                if self._reset_due:
                    await self._reset_wal()
            if self._closing:
                return
            self._when_quiet()

    async def _run_batch(self) -> None:
        """Run every queued unit in its own savepoint of one transaction, commit once
        (the fsync in a worker thread), then answer each caller.

        Units only await ``tx`` calls, which do not suspend, so the whole batch runs
        without yielding to the event loop until the commit. Whatever fails the
        transaction as a whole (its BEGIN, a storage failure in a unit, the COMMIT)
        fails the batch with 503, rolls back, and leaves the writer ready for the next.
        """
        batch, self._pending = self._pending, []
        conn = self._writer
        assert conn is not None
        started = time.perf_counter()
        try:
            outcomes = await self._run_units(conn, batch)
            await asyncio.get_running_loop().run_in_executor(
                self._commit_pool, conn.execute, "COMMIT"
            )
        except Exception as exc:  # the transaction as a whole failed; the committer goes on
            self._batch_failed(batch, exc)
            return
        _SQLITE_SECONDS.observe(time.perf_counter() - started)
        _SQLITE_UNITS.observe(len(batch))
        self.commits += 1
        self._health.failure = None
        _settle(outcomes)
        self._after_commit()

    async def _run_units(
        self, conn: sqlite3.Connection, batch: list[tuple[Work[Any], asyncio.Future[Any]]]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        tx = self._wtx
        assert tx is not None
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        tx.batch = Batch()
        for work, future in batch:
            conn.execute("SAVEPOINT unit")
            saved = tx.batch.snapshot()
            try:
                result = await work(tx)
            except Exception as exc:
                if _is_storage_failure(exc) or not conn.in_transaction:
                    raise
                conn.execute("ROLLBACK TO unit")
                conn.execute("RELEASE unit")
                tx.batch.restore(saved)
                outcomes.append((future, None, exc))
                continue
            conn.execute("RELEASE unit")
            outcomes.append((future, result, None))
        await tx.batch.finish(tx)
        self.units += len(batch)
        self._last_batch = len(batch)
        return outcomes

    def _batch_failed(
        self, batch: list[tuple[Work[Any], asyncio.Future[Any]]], exc: Exception
    ) -> None:
        log.error("sqlite write failed, %d units not stored: %s", len(batch), exc)
        metrics.COMMIT_FAILURES.labels("sqlite").inc()
        self._health.failed(exc)
        self._reset_writer()
        for _, future in batch:
            if not future.done():
                future.set_exception(Unavailable("The write could not be stored; try again"))

    def _reset_writer(self) -> None:
        """Roll back what is left of a failed transaction; a writer that cannot be
        rolled back is replaced, so the next batch starts clean."""
        conn = self._writer
        assert conn is not None
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if not conn.in_transaction:
            return
        log.error("sqlite writer still in a transaction after rollback; reconnecting")
        with contextlib.suppress(sqlite3.Error):
            conn.close()
        self._writer = _connect_sqlite(self.path, writer=True)
        self._wtx = _SqliteTx(self._writer)

    # -- the WAL: checkpointed in the background, reset between batches

    def _after_commit(self) -> None:
        self._commits_since_passive += 1
        if self._checkpointing.is_set():
            return
        wal_bytes = _wal_bytes(self._wal_path)
        if wal_bytes < _MIN_WAL_BYTES:
            return
        soft, hard = self._wal_limits(wal_bytes)
        # Past the soft limit a passive pass every few commits (the file keeps its size
        # after a RESTART, so only a pass tells how much of it is in use); at once when
        # the file grows past the hard limit.
        grown = wal_bytes >= hard and wal_bytes > self._wal_bytes_at_passive
        if grown or (wal_bytes >= soft and self._commits_since_passive >= _PASSIVE_EVERY):
            self._commits_since_passive = 0
            self._wal_bytes_at_passive = wal_bytes
            self._start_checkpoint()

    def _wal_limits(self, wal_bytes: int) -> tuple[int, int]:
        """The WAL size past which it is checkpointed (and truncated once no write
        waits), and the size past which it is reset even while writes wait:
        ``sqlite_checkpoint_pages`` and four times that, or on a small disk an eighth
        and a third of what the WAL file and the free space add up to, so the WAL
        never fills the disk by itself."""
        soft, hard = self._checkpoint_bytes, _HARD_LIMIT * self._checkpoint_bytes
        try:
            disk = os.statvfs(self.path.parent)
        except OSError:
            return soft, hard
        room = disk.f_bavail * disk.f_frsize + wal_bytes
        return (
            min(soft, max(_MIN_WAL_BYTES, room // 8)),
            min(hard, max(_MIN_WAL_BYTES, room // 3)),
        )

    def _start_checkpoint(self) -> None:
        self._checkpointing.set()
        try:
            self._checkpoint_pool.submit(self._checkpoint_passive)
        except RuntimeError:  # closing: the pool is shut down
            self._checkpointing.clear()

    def _checkpoint_passive(self) -> None:
        """PASSIVE checkpoints on their own connection, which never block the writer:
        they copy the WAL into the database while writes go on. Then the committer
        is asked for the pass that resets the WAL, which has little left to copy."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=1.0)
            try:
                self._wal_frames = self._copy_wal(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            log.warning("sqlite checkpoint failed: %s", exc)
            self._checkpointing.clear()
            return
        self._reset_due = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
                loop.call_soon_threadsafe(self._wake.set)

    def _copy_wal(self, conn: sqlite3.Connection) -> int:
        """Passive passes until what the writer added meanwhile is small; the number
        of frames the WAL holds."""
        frames = 0
        for _ in range(_PASSIVE_ROUNDS):
            _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            wal_bytes = _wal_bytes(self._wal_path)
            if wal_bytes - copied * _FRAME < self._wal_limits(wal_bytes)[0] // 8:
                break
        return int(frames)

    async def _reset_wal(self) -> None:
        """After a passive pass, between two batches, on the writer: the checkpoint
        that copies what the passive pass left and starts the WAL over. The callers
        of the last batch are answered meanwhile; the next batch waits for it.

        While writes are light, TRUNCATE sets the file back to zero bytes. Under
        load the WAL is left alone up to the hard limit, then RESTART makes the
        writer reuse the file from its start (about one fsync, where truncating a
        64 MiB file costs 15-30 ms); it is truncated once writes pause for a second.
        Readers are waited for only briefly; if they hold on, it is tried later."""
        self._reset_due = False
        try:
            conn, mode = self._writer, self._reset_mode()
            if conn is not None and mode is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._commit_pool, self._checkpoint_now, conn, mode
                )
        finally:
            self._checkpointing.clear()

    def _reset_mode(self) -> str | None:
        wal_bytes = _wal_bytes(self._wal_path)
        busy = len(self._pending) >= _BUSY_UNITS or self._last_batch >= _BUSY_UNITS
        if busy and self._wal_frames * _FRAME < self._wal_limits(wal_bytes)[1]:
            return None
        # Truncating a large file costs milliseconds per 4 MiB: under load it is reused.
        return "RESTART" if busy and wal_bytes > _RESTART_BYTES else "TRUNCATE"

    def _when_quiet(self) -> None:
        """The committer is idle: if no write comes for a second, checkpoint and
        truncate what the writes left in the WAL."""
        if self._quiet_timer is not None or self._loop is None:
            return
        if _wal_bytes(self._wal_path) > 0:
            self._quiet_timer = self._loop.call_later(_QUIET_SECONDS, self._quiet, self.commits)

    def _quiet(self, commits: int) -> None:
        self._quiet_timer = None
        if self._closing:
            return
        if self.commits != commits:  # writes went on: look again in a second
            self._when_quiet()
            return
        self._last_batch = 0
        if not self._checkpointing.is_set() and _wal_bytes(self._wal_path) > 0:
            self._start_checkpoint()

    def _checkpoint_now(self, conn: sqlite3.Connection, mode: str) -> None:
        try:
            conn.execute(f"PRAGMA busy_timeout={_RESET_BUSY_MS}")
            try:
                busy, _, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        except sqlite3.Error as exc:
            log.warning("sqlite WAL %s checkpoint failed: %s", mode, exc)
            return
        if busy:
            log.info("sqlite WAL not reset: readers still use it; tried again later")
        elif mode == "TRUNCATE":
            self.truncations += 1
        else:
            self.restarts += 1


# ------------------------------------------------------------------ PostgreSQL


class _PgTx:
    """Statements on one connection. ``dirty`` says whether the unit of work running
    since it was last cleared changed a row or met a database error (after which
    PostgreSQL refuses the rest of the transaction): only then must its failure be
    taken back by more than forgetting it."""

    dialect = "postgresql"

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect
        self.batch = Batch()
        self.dirty = False

    def _note(self, q: Statement) -> None:
        if not (q.reads if isinstance(q, Query) else _reads_only(q)):
            self.dirty = True

    async def one(self, q: Statement, params: Mapping[str, Any] | None = None) -> Row | None:
        sql, args = _prepare(q, params, self._dialect)
        self._note(q)
        try:
            row: Row | None = await self._conn.fetchrow(sql, *args)
        except BaseException:
            self.dirty = True
            raise
        return row

    async def all(self, q: Statement, params: Mapping[str, Any] | None = None) -> list[Row]:
        sql, args = _prepare(q, params, self._dialect)
        self._note(q)
        try:
            rows: list[Row] = await self._conn.fetch(sql, *args)
        except BaseException:
            self.dirty = True
            raise
        return rows

    async def execute(self, q: Statement, params: Mapping[str, Any] | None = None) -> int:
        sql, args = _prepare(q, params, self._dialect)
        self.dirty = True  # execute is for statements that change rows
        status: str = await self._conn.execute(sql, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def execute_many(self, q: Query, params: Sequence[Mapping[str, Any]]) -> None:
        if not params:
            return
        sql, _ = q.prepare(self._dialect, params[0])
        self.dirty = True
        await self._conn.executemany(sql, [q.prepare(self._dialect, p)[1] for p in params])


def asyncpg_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


class PostgresDatabase(_GroupCommit):
    """A pool of asyncpg connections for reads, and group commit for writes: a
    committer task takes every unit of work queued meanwhile and runs them in one
    transaction, each in a savepoint, as SQLite's committer does. Every write of an
    org takes the org row (its event sequence) last; with one transaction a unit
    each, 64 concurrent describes queued on that row for one commit flush each
    (~550 a second here); a batch holds it once for all of them."""

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

        super().__init__()
        self.url = url
        self._dsn = asyncpg_dsn(url)
        self._pool_size = pool_size
        self._pool: Any = None
        self._dialect = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]
        self._health = _WriteHealth()

    async def open(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._pool_size, command_timeout=30
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise Unavailable(f"Cannot connect to PostgreSQL: {exc}") from exc
        self._start_committer("klatch-pg-committer")

    async def close(self) -> None:
        await self._stop_committer()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def run_ddl(self, sql: str) -> None:
        """Run a schema statement outside a transaction (``CREATE INDEX CONCURRENTLY``
        must) and without the pool's statement timeout: an index build takes a while."""
        async with self._pool.acquire() as conn:
            await conn.execute(sql, timeout=_DDL_TIMEOUT)

    async def read(self, work: Work[T]) -> T:
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await work(_PgTx(conn, self._dialect))

    def _is_open(self) -> bool:
        return self._pool is not None

    async def _commit_loop(self) -> None:
        while True:
            await self._woken()
            while self._pending:
                batch = self._pending[:_PG_MAX_BATCH]
                del self._pending[:_PG_MAX_BATCH]
                await self._commit(batch)
            if self._closing:
                return

    async def _commit(self, batch: list[tuple[Work[Any], asyncio.Future[Any]]]) -> None:
        """One transaction for the whole batch, each unit in a savepoint; retried
        as a whole when PostgreSQL reports a deadlock or a serialization failure
        (another replica's batch), answered 503 when the database is away."""
        import asyncpg

        savepoints = False
        for attempt in range(5):
            started = time.perf_counter()
            try:
                async with self._pool.acquire() as conn:
                    outcomes = await self._run_units(conn, batch, savepoints=savepoints)
            except _DirtyFailure:  # once more, each unit in a savepoint this time
                savepoints = True
                continue
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == 4:
                    self._answer_all(
                        batch, Unavailable("The write conflicted repeatedly; try again")
                    )
                    return
                await asyncio.sleep(0.005 * (attempt + 1))
                continue
            except _pg_outages() as exc:
                await self._write_failed(exc)
                self._answer_all(batch, Unavailable("The write could not be stored; try again"))
                return
            except BaseException as exc:  # a bug in the committer itself: fail the batch
                self._answer_all(batch, exc)
                if not isinstance(exc, Exception):
                    raise
                return
            _PG_SECONDS.observe(time.perf_counter() - started)
            _PG_UNITS.observe(len(batch))
            self._health.failure = None
            _settle(outcomes)
            return

    async def _run_units(
        self,
        conn: Any,
        batch: list[tuple[Work[Any], asyncio.Future[Any]]],
        *,
        savepoints: bool,
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        """BEGIN, each unit, COMMIT.

        First without savepoints, a round trip less per unit: a unit that fails
        before changing anything (the answers a describe gives: unknown session,
        bad values, no such conversation) is simply left out; it may keep a row
        lock until the commit, nothing more. A unit that fails after it changed
        rows, or on a database error, raises ``_DirtyFailure``: the batch is rolled
        back and run again with each unit between savepoints (one round trip from
        one unit to the next: ``RELEASE``, then ``SAVEPOINT`` in one simple query).
        """
        import asyncpg

        tx = _PgTx(conn, self._dialect)
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        await conn.execute("BEGIN; SAVEPOINT unit" if savepoints else "BEGIN")
        try:
            for i, (work, future) in enumerate(batch):
                if i and savepoints:
                    await conn.execute("RELEASE SAVEPOINT unit; SAVEPOINT unit")
                saved = tx.batch.snapshot()
                tx.dirty = False
                try:
                    result = await work(tx)
                except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                    raise
                except _pg_outages():
                    raise
                except Exception as exc:
                    if not savepoints and tx.dirty:
                        raise _DirtyFailure from exc
                    if savepoints:
                        await conn.execute("ROLLBACK TO SAVEPOINT unit")
                    tx.batch.restore(saved)
                    outcomes.append((future, None, exc))
                    continue
                outcomes.append((future, result, None))
            await tx.batch.finish(tx)
            await conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                if conn.is_in_transaction():
                    await conn.execute("ROLLBACK")
            raise
        return outcomes

    @staticmethod
    def _answer_all(
        batch: list[tuple[Work[Any], asyncio.Future[Any]]], error: BaseException
    ) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)

    async def _write_failed(self, exc: BaseException) -> None:
        log.error("postgresql write failed: %s", exc)
        metrics.COMMIT_FAILURES.labels("postgresql").inc()
        self._health.failed(exc)
        # The next write gets new connections: after a failover or a restart the old
        # ones stay read-only or broken.
        with contextlib.suppress(Exception):
            await self._pool.expire_connections()

    async def write_failure(self) -> str | None:
        return await self._health.probe(self, _pg_touch)


class _DirtyFailure(Exception):
    """A unit of a batch run without savepoints failed after changing rows."""


def _pg_outages() -> tuple[type[BaseException], ...]:
    """Errors that mean PostgreSQL cannot store anything now (disk full, read-only
    after a failover, shutting down, connection lost), not that the statement is wrong."""
    import asyncpg

    return (
        asyncpg.InsufficientResourcesError,
        asyncpg.PostgresSystemError,
        asyncpg.ReadOnlySQLTransactionError,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.AdminShutdownError,
        asyncpg.CrashShutdownError,
        # A pooled connection whose backend was terminated: closed, or (when the
        # loss is noticed mid-query) its protocol left in a state it cannot leave.
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.exceptions._base.InternalClientError,
        OSError,
    )


async def _pg_touch(tx: Tx) -> None:
    """A write that changes nothing but is stored all the same (a new row version,
    refused by a read-only or full database): what ``/readyz`` tries while writes fail."""
    await tx.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))


def open_database(database_url: str | None, sqlite_path: Path, **options: Any) -> Database:
    """Choose the backend by URL; nothing is connected until ``open()``."""
    if database_url and database_url.startswith("postgres"):
        return PostgresDatabase(database_url, pool_size=options.get("pool_size", 10))
    return SqliteDatabase(sqlite_path, checkpoint_pages=options.get("checkpoint_pages", 4000))
