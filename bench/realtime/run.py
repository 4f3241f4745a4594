"""Benchmark: realtime sockets — memory of idle chat sockets, and cross-replica latency.

Two measurements, each printed against its goal:

1. **Memory of idle chat sockets** (goal: N sockets in one process < 1 GiB RSS).
   One ``klatch serve`` (SQLite, fresh temp data dir). N chat sessions are created
   with concurrent ``POST /c/v1/sessions``; then N WebSockets to
   ``/c/v1/realtime?key=…&session=…`` are opened from a few client processes
   (so that one Python client is not the bottleneck) and each waits for its
   ``hello`` frame. After a settling pause the server's resident set (``VmRSS`` in
   ``/proc/<pid>/status``, plus any children's) is read. Printed: the RSS right
   after start, the baseline after the sessions were created (before any
   socket), the RSS with N sockets, and (with - baseline) / N per socket. Only
   the server is measured; the clients run in their own processes. Sockets offer
   permessage-deflate like a browser does (``--compression none`` to compare).

2. **Cross-replica latency** (goal: p99 commit → event ≤ 50 ms). Two replicas,
   A and B, share one PostgreSQL database (created fresh for the run, dropped at
   the end) and one Redis bus. An agent socket (``/v1/realtime``, admin key) is
   held on B by a separate process that only timestamps frames. Chat sessions
   with a conversation each are created on A; then describes
   (``PATCH /c/v1/conversations/{id}`` with a unique ``orderNumberStr``) are sent
   to A at a steady, open-loop rate. For each describe the time its response
   completed (the commit is durable by then) is recorded; each
   ``conversation.updated`` event reaching B is matched by that unique value.
   Printed: p50/p99/max of *commit → event at B* (event arrival - response
   completed; slightly negative when the event overtakes the HTTP response) and
   of *request start → event at B*, the describe response time, and how many
   events never arrived (should be 0). All timestamps are ``time.monotonic()``,
   a system-wide clock, so the two processes' times compare directly.

    python bench/realtime/run.py [--sockets 10000] [--rate 200] [--duration 10]

Part 2 needs PostgreSQL (``--postgres-url``, default
postgresql://postgres@127.0.0.1:5432/postgres, a role that may create databases)
and Redis (``--redis-url``, default redis://127.0.0.1:6379/0); when either is not
reachable it is skipped with a message and part 1 still runs. ``--skip-memory`` /
``--skip-latency`` run one part only; ``--keep`` keeps the temp dirs and logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from multiprocessing.connection import Connection as Pipe
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect

GIB = 1024 * 1024 * 1024
MEMORY_GOAL_BYTES = 1 * GIB
LATENCY_GOAL_MS = 50.0
SOCKETS_PER_CLIENT = 2500  # sockets one client process opens and holds
FD_RESERVE = 200  # descriptors a process needs besides its sockets (files, pools, pipes)
ATTRIBUTE = "orderNumberStr"

Compression = Literal["deflate", "none"]


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def klatch(*args: str, env: dict[str, str]) -> str:
    """Run a ``klatch`` CLI command to completion; its stdout."""
    out = subprocess.run(
        [sys.executable, "-m", "klatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"klatch {' '.join(args)} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


@dataclass
class Server:
    name: str
    base: str
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def ws_base(self) -> str:
        return "ws" + self.base.removeprefix("http")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(self.log_lines()[-20:])
            raise SystemExit(f"server {self.name} exited with {self.proc.returncode}:\n{tail}")

    def log_lines(self) -> list[str]:
        """What the server logged (at level warning, everything there is notable)."""
        try:
            return [line for line in self.log.read_text(errors="replace").splitlines() if line]
        except OSError:
            return []


@contextlib.contextmanager
def running_server(name: str, env: dict[str, str], workdir: Path) -> Iterator[Server]:
    """Start ``klatch serve`` on a free port with its output in a log file (a pipe
    nobody reads would block it); always terminate it."""
    port = free_port()
    log = workdir / f"server-{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "klatch.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches the benchmark, which stops it
        )
    server = Server(name, f"http://127.0.0.1:{port}", log, proc)
    try:
        wait_up(server)
        yield server
    finally:
        server.stop()


def wait_up(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            if httpx.get(server.base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server {server.name} at {server.base} did not come up")


def base_env(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "KLATCH_DATA_DIR": str(data_dir),
        "KLATCH_RATE_LIMIT_SESSION": "0",
        "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_ADDRESS": "0",
        "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_KEY": "0",
        "KLATCH_MAX_CONNECTIONS": "1000000",  # the bench measures how many a process holds
        "KLATCH_LOG_LEVEL": "warning",
    }
    for name in ("KLATCH_DATABASE_URL", "KLATCH_BUS_URL", "KLATCH_CONFIG", "KLATCH_PORT"):
        env.pop(name, None)
    return env


# ------------------------------------------------------------------ /proc


def status_bytes(pid: int, name: str) -> int:
    """A ``kB`` line of /proc/<pid>/status, in bytes (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_bytes(pid: int) -> int:
    return status_bytes(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int:
    """Peak RSS (VmHWM) of a process and its descendants."""
    return sum(status_bytes(p, "VmHWM") for p in (pid, *descendants(pid)))


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError, ValueError):
            for child in (task / "children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def tree_rss_bytes(pid: int) -> int:
    """RSS of a process and all its descendants."""
    return sum(rss_bytes(p) for p in (pid, *descendants(pid)))


def open_sockets(pid: int) -> int:
    """How many socket descriptors a process holds."""
    count = 0
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                count += os.readlink(fd).startswith("socket:")
    return count


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE (inherited by the servers and clients spawned later) to
    ``wanted`` if allowed, else as far as the hard limit goes; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    with contextlib.suppress(ValueError, OSError):
        # Raising the hard limit works for root (up to fs.nr_open).
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
        return wanted
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ------------------------------------------------------------------ statistics


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Summary:
    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Summary:
        ordered = sorted(values_ms)
        return cls(
            len(ordered),
            percentile(ordered, 50),
            percentile(ordered, 99),
            ordered[-1] if ordered else math.nan,
        )


# ------------------------------------------------------------------ part 1: memory


async def create_sessions(base: str, tracking_key: str, count: int, concurrency: int) -> list[str]:
    """Start ``count`` anonymous chat sessions, ``concurrency`` requests at a time."""
    tokens: list[str] = []
    failures: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {tracking_key}"},
        limits=limits,
        timeout=60,
    ) as client:
        gate = asyncio.Semaphore(concurrency * 2)

        async def one() -> None:
            async with gate:
                try:
                    response = await client.post("/c/v1/sessions")
                except httpx.HTTPError as exc:
                    failures[f"{type(exc).__name__}: {exc}"] += 1
                    return
                if response.status_code != 201:
                    failures[f"HTTP {response.status_code}: {response.text[:200]}"] += 1
                    return
                tokens.append(response.json()["sessionToken"])

        await asyncio.gather(*(one() for _ in range(count)))
    if failures:
        print(f"  ! {sum(failures.values())} session requests failed: {dict(failures)}")
    return tokens


def chat_socket_url(ws_base: str, tracking_key: str, token: str) -> str:
    return f"{ws_base}/c/v1/realtime?{urlencode({'key': tracking_key, 'session': token})}"


def hold_sockets_worker(
    pipe: Pipe,
    ws_base: str,
    tracking_key: str,
    tokens: list[str],
    concurrency: int,
    compression: Compression,
) -> None:
    """Client process: open one chat socket per token, report, hold until told to close."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark process ends us
    asyncio.run(_hold_sockets(pipe, ws_base, tracking_key, tokens, concurrency, compression))


async def _hold_sockets(
    pipe: Pipe,
    ws_base: str,
    tracking_key: str,
    tokens: list[str],
    concurrency: int,
    compression: Compression,
) -> None:
    held: list[ClientConnection] = []
    errors: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def open_one(token: str) -> None:
        async with gate:
            try:
                ws = await connect(
                    chat_socket_url(ws_base, tracking_key, token),
                    compression=None if compression == "none" else "deflate",
                    ping_interval=None,  # idle like a browser tab; the server's pings are answered
                    open_timeout=120,
                    close_timeout=5,
                    max_queue=4,
                )
            except Exception as exc:
                errors[f"connect: {type(exc).__name__}: {exc}"[:200]] += 1
                return
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            except Exception as exc:
                errors[f"first frame: {type(exc).__name__}: {exc}"[:200]] += 1
                await ws.close()
                return
            if frame.get("op") != "hello":
                errors[f"first frame is not hello: {str(frame)[:150]}"] += 1
                await ws.close()
                return
            held.append(ws)

    started = time.monotonic()
    await asyncio.gather(*(open_one(token) for token in tokens))
    pipe.send(
        {
            "held": len(held),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(5)),
            "seconds": time.monotonic() - started,
            "rss": rss_bytes(os.getpid()),
        }
    )
    while not pipe.poll():
        await asyncio.sleep(0.2)
    pipe.recv()
    dropped = [ws.close_code for ws in held if ws.close_code is not None]

    async def close(ws: ClientConnection) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await ws.close()

    await asyncio.gather(*(close(ws) for ws in held))
    pipe.send({"dropped": len(dropped), "close_codes": dict(Counter(dropped))})


def collect_reports(
    workers: Sequence[tuple[SpawnProcess, Pipe]], server: Server, timeout: float
) -> list[dict[str, Any]]:
    """Wait for every client process's report, watching that nobody died."""
    reports: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(reports) < len(workers):
        if time.monotonic() > deadline:
            raise SystemExit(f"client processes did not open their sockets within {timeout:.0f} s")
        server.check_alive()
        for proc, pipe in workers:
            if proc.name in reports:
                continue
            if pipe.poll(0.2):
                reports[proc.name] = pipe.recv()
            elif not proc.is_alive():
                raise SystemExit(f"{proc.name} exited with {proc.exitcode} before reporting")
    return list(reports.values())


@dataclass
class MemoryResult:
    wanted: int
    held: int
    rss_start: int
    rss_baseline: int
    rss_sockets: int
    rss_peak: int
    server_sockets: int
    open_seconds: float
    session_seconds: float
    client_rss: int
    dropped: int
    errors: dict[str, int]
    log: list[str]
    compression: Compression

    @property
    def per_socket_kib(self) -> float:
        return (self.rss_sockets - self.rss_baseline) / max(self.held, 1) / 1024


def measure_memory(
    sockets: int, clients: int | None, settle: float, compression: Compression, keep: bool
) -> MemoryResult:
    workdir = Path(tempfile.mkdtemp(prefix="klatch-bench-rt-mem-"))
    env = base_env(workdir / "data")
    workers: list[tuple[SpawnProcess, Pipe]] = []
    try:
        init = json.loads(klatch("init", "--json", env=env))
        key = init["trackingKey"]
        with running_server("memory", env, workdir) as server:
            time.sleep(1)
            rss_start = tree_rss_bytes(server.proc.pid)

            started = time.monotonic()
            tokens = asyncio.run(create_sessions(server.base, key, sockets, concurrency=32))
            session_seconds = time.monotonic() - started
            server.check_alive()
            if not tokens:
                raise SystemExit("no chat session could be created")
            time.sleep(2)
            rss_baseline = tree_rss_bytes(server.proc.pid)

            n_clients = clients or max(1, math.ceil(len(tokens) / SOCKETS_PER_CLIENT))
            ctx = multiprocessing.get_context("spawn")
            started = time.monotonic()
            for i in range(n_clients):
                ours, theirs = ctx.Pipe()
                share = tokens[i::n_clients]
                proc = ctx.Process(
                    target=hold_sockets_worker,
                    args=(theirs, server.ws_base, key, share, 32, compression),
                    name=f"klatch-bench-client-{i}",
                    daemon=True,
                )
                proc.start()
                theirs.close()
                workers.append((proc, ours))
            reports = collect_reports(workers, server, timeout=120 + len(tokens) / 20)
            open_seconds = time.monotonic() - started
            held = sum(r["held"] for r in reports)
            errors: Counter[str] = Counter()
            for r in reports:
                errors.update(r["errors"])

            time.sleep(settle)
            server.check_alive()
            rss_sockets = tree_rss_bytes(server.proc.pid)
            rss_peak = peak_rss_bytes(server.proc.pid)
            server_sockets = open_sockets(server.proc.pid)

            dropped = 0
            for _, pipe in workers:
                pipe.send("close")
            for proc, pipe in workers:
                if pipe.poll(120):
                    dropped += pipe.recv()["dropped"]
                proc.join(30)
            log = server.log_lines()
        return MemoryResult(
            wanted=sockets,
            held=held,
            rss_start=rss_start,
            rss_baseline=rss_baseline,
            rss_sockets=rss_sockets,
            rss_peak=rss_peak,
            server_sockets=server_sockets,
            open_seconds=open_seconds,
            session_seconds=session_seconds,
            client_rss=sum(r["rss"] for r in reports),
            dropped=dropped,
            errors=dict(errors),
            log=log,
            compression=compression,
        )
    finally:
        for proc, _ in workers:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        if keep:
            print(f"  (kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------ part 2: latency


def event_value(data: dict[str, Any]) -> str | None:
    """The orderNumberStr a conversation.updated event set."""
    change = (data.get("changes") or {}).get("custom", {}).get(ATTRIBUTE)
    if isinstance(change, dict) and change.get("after") is not None:
        return str(change["after"])
    value = (data.get("custom") or {}).get(ATTRIBUTE)
    return None if value is None else str(value)


def agent_receiver_worker(pipe: Pipe, url: str, admin_key: str) -> None:
    """Receiver process: hold an agent socket and timestamp every conversation.updated.

    Protocol on ``pipe``: sends ``("ready", hello)``; receives ``("expect", values,
    seconds)``; keeps reading until every expected value arrived or the time is up;
    sends ``("done", arrivals, stats)`` with arrivals ``{value: [monotonic, ...]}``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark process ends us
    asyncio.run(_receive_events(pipe, url, admin_key))


async def _record_frames(ws: Any, arrivals: dict[str, list[float]], stats: Counter[str]) -> None:
    """Note when each described value arrives, and count every frame by kind."""
    async for raw in ws:
        now = time.monotonic()
        frame = json.loads(raw)
        op = frame.get("op")
        if op != "event":
            stats[f"frame {op}"] += 1
            continue
        stats[f"event {frame.get('type')}"] += 1
        if frame.get("type") == "conversation.updated":
            value = event_value(frame.get("data") or {})
            if value is not None:
                arrivals.setdefault(value, []).append(now)
    stats[f"socket closed {ws.close_code} {ws.close_reason}"] += 1


async def _receive_events(pipe: Pipe, url: str, admin_key: str) -> None:
    arrivals: dict[str, list[float]] = {}
    stats: Counter[str] = Counter()
    try:
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {admin_key}"},
            ping_interval=None,
            max_queue=None,  # never apply backpressure to the server while measuring
        )
    except Exception as exc:
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    async with ws:
        hello = json.loads(await ws.recv())
        pipe.send(("ready", hello))
        expected: set[str] | None = None
        deadline = math.inf

        async def control() -> None:
            nonlocal expected, deadline
            while True:
                if expected is None and pipe.poll():
                    _, values, seconds = pipe.recv()
                    expected = set(values)
                    deadline = time.monotonic() + seconds
                if expected is not None and (
                    expected.issubset(arrivals) or time.monotonic() > deadline
                ):
                    return
                await asyncio.sleep(0.02)

        reader = asyncio.create_task(_record_frames(ws, arrivals, stats))
        await control()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    pipe.send(("done", arrivals, dict(stats)))


@dataclass
class Target:
    token: str
    conversation_id: str


@dataclass
class Describe:
    value: str
    start: float
    done: float
    status: int
    error: str | None = None


async def create_conversations(base: str, tracking_key: str, count: int) -> list[Target]:
    targets: list[Target] = []
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {tracking_key}"}, timeout=30
    ) as client:

        async def one(i: int) -> None:
            r = await client.post("/c/v1/sessions")
            r.raise_for_status()
            token = r.json()["sessionToken"]
            r = await client.post(
                "/c/v1/conversations",
                json={"message": f"benchmark conversation {i}"},
                headers={"X-Klatch-Session": token},
            )
            r.raise_for_status()
            targets.append(Target(token, r.json()["conversationId"]))

        await asyncio.gather(*(one(i) for i in range(count)))
    return targets


async def drive_describes(
    base: str,
    tracking_key: str,
    targets: Sequence[Target],
    rate: float,
    duration: float,
    prefix: str,
) -> list[Describe]:
    """Send ``rate * duration`` describes, open loop: request i starts at t0 + i/rate
    whatever the earlier ones are doing."""
    results: list[Describe] = []
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {tracking_key}"},
        limits=limits,
        timeout=30,
    ) as client:

        async def one(seq: int) -> None:
            target = targets[seq % len(targets)]
            value = f"{prefix}{seq}"
            start = time.monotonic()
            try:
                response = await client.patch(
                    f"/c/v1/conversations/{target.conversation_id}",
                    json={"custom": {ATTRIBUTE: value}},
                    headers={"X-Klatch-Session": target.token},
                )
                done = time.monotonic()
                error = None if response.status_code == 200 else response.text[:300]
                results.append(Describe(value, start, done, response.status_code, error))
            except httpx.HTTPError as exc:
                results.append(Describe(value, start, time.monotonic(), 0, repr(exc)))

        total = round(rate * duration)
        tasks: list[asyncio.Task[None]] = []
        t0 = time.monotonic() + 0.05
        for seq in range(total):
            delay = t0 + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(seq)))
        await asyncio.gather(*tasks)
    return results


@dataclass
class LatencyResult:
    rate: float
    duration: float
    sent: int
    ok: int
    failures: dict[str, int]
    received: int
    missing: list[str]
    duplicates: int
    commit_to_event: Summary
    start_to_event: Summary
    response: Summary
    achieved_rate: float
    stats: dict[str, int]
    log: list[str] = field(default_factory=list)


def issue_rate(sent: Sequence[Describe]) -> float:
    """Describes started per second, from the first start to the last."""
    starts = sorted(d.start for d in sent)
    span = starts[-1] - starts[0] if len(starts) > 1 else 0.0
    return (len(starts) - 1) / span if span > 0 else math.nan


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def reachable(postgres_url: str, redis_url: str) -> str | None:
    """None when both services answer, else what is wrong."""
    import asyncpg
    import redis.asyncio as aioredis

    problems = []
    try:
        conn = await asyncpg.connect(postgres_url, timeout=3)
        await conn.close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {postgres_url}: {type(exc).__name__}: {exc}")
    client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        problems.append(f"Redis at {redis_url}: {type(exc).__name__}: {exc}")
    finally:
        await client.aclose()
    return "; ".join(problems) or None


async def create_database(postgres_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(postgres_url, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(postgres_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(postgres_url, timeout=5)
    try:
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except asyncpg.PostgresSyntaxError:  # before PostgreSQL 13
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


def measure_latency(
    postgres_url: str,
    redis_url: str,
    rate: float,
    duration: float,
    conversations: int,
    keep: bool,
) -> LatencyResult:
    workdir = Path(tempfile.mkdtemp(prefix="klatch-bench-rt-lat-"))
    db_name = f"klatch_bench_{secrets.token_hex(4)}"
    asyncio.run(create_database(postgres_url, db_name))
    receiver: SpawnProcess | None = None
    try:
        env = {
            **base_env(workdir / "data"),
            "KLATCH_DATABASE_URL": with_database(postgres_url, db_name),
            "KLATCH_BUS_URL": redis_url,
        }
        init = json.loads(klatch("init", "--json", env=env))
        klatch("attributes", "define", "conversation", ATTRIBUTE, env=env)
        tracking_key, admin_key = init["trackingKey"], init["adminKey"]
        with (
            running_server("A", env, workdir) as a,
            running_server("B", env, workdir) as b,
        ):
            ctx = multiprocessing.get_context("spawn")
            pipe, theirs = ctx.Pipe()
            receiver = ctx.Process(
                target=agent_receiver_worker,
                args=(theirs, f"{b.ws_base}/v1/realtime", admin_key),
                name="klatch-bench-agent-socket",
                daemon=True,
            )
            receiver.start()
            theirs.close()
            if not pipe.poll(30):
                raise SystemExit("the agent socket on B did not say hello within 30 s")
            kind, payload = pipe.recv()
            if kind != "ready":
                raise SystemExit(f"the agent socket on B failed: {payload}")

            targets = asyncio.run(create_conversations(a.base, tracking_key, conversations))
            # Warm-up (not measured): connections, caches, the bus path.
            asyncio.run(
                drive_describes(a.base, tracking_key, targets, rate, min(1.0, duration), "w")
            )
            time.sleep(1)

            sent = asyncio.run(drive_describes(a.base, tracking_key, targets, rate, duration, ""))
            ok = [d for d in sent if d.status == 200]
            pipe.send(("expect", [d.value for d in ok], 10.0))
            if not pipe.poll(60):
                raise SystemExit("the agent socket process did not report")
            kind, arrivals, stats = pipe.recv()
            receiver.join(10)
            log = a.log_lines() + b.log_lines()

        failures: Counter[str] = Counter(
            f"HTTP {d.status}: {d.error}" for d in sent if d.status != 200
        )
        commit_to_event, start_to_event, missing = [], [], []
        for d in ok:
            times = arrivals.get(d.value)
            if not times:
                missing.append(d.value)
                continue
            commit_to_event.append((times[0] - d.done) * 1000)
            start_to_event.append((times[0] - d.start) * 1000)
        measured = {d.value for d in sent}
        return LatencyResult(
            rate=rate,
            duration=duration,
            sent=len(sent),
            ok=len(ok),
            failures=dict(failures),
            received=sum(1 for v in arrivals if v in measured),
            missing=missing,
            duplicates=sum(len(t) - 1 for v, t in arrivals.items() if v in measured),
            commit_to_event=Summary.of(commit_to_event),
            start_to_event=Summary.of(start_to_event),
            response=Summary.of([(d.done - d.start) * 1000 for d in ok]),
            achieved_rate=issue_rate(sent),
            stats=stats,
            log=log,
        )
    finally:
        if receiver is not None and receiver.is_alive():
            receiver.terminate()
            receiver.join(5)
        try:
            asyncio.run(drop_database(postgres_url, db_name))
        except Exception as exc:
            print(f"  ! could not drop database {db_name}: {exc}")
        if keep:
            print(f"  (kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------ report


LABEL = 34  # width of the label column


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<{LABEL}} {value:>14}   {note}".rstrip())


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def print_log(lines: list[str], limit: int = 15) -> None:
    if not lines:
        row("server log", "clean", "(nothing at warning or above)")
        return
    row("server log", f"{len(lines)} lines", "at warning or above; first:")
    for line in lines[:limit]:
        print(f"    | {line[:200]}")


def print_memory(r: MemoryResult, fd_limit: int, requested: int) -> None:
    print()
    print(f"1. Idle chat sockets, one server process (SQLite; compression: {r.compression})")
    held_note = "" if r.held == requested else f"! only {r.held} of the {requested} requested"
    row("sockets held (hello received)", f"{r.held} / {r.wanted}", held_note)
    row("socket fds in the server", str(r.server_sockets), f"(open-files limit {fd_limit})")
    row("sessions created in", f"{r.session_seconds:.1f} s")
    row("sockets opened in", f"{r.open_seconds:.1f} s")
    if r.errors:
        print(f"  ! sockets that failed: {sum(r.errors.values())}")
        for error, count in list(r.errors.items())[:5]:
            print(f"    {count:>6} x {error}")
    if r.dropped:
        print(f"  ! sockets the server closed while idle: {r.dropped}")
    row("server RSS at start", mib(r.rss_start))
    row("server RSS baseline", mib(r.rss_baseline), "(sessions created, no socket)")
    complete = r.held == requested
    goal = r.rss_sockets < MEMORY_GOAL_BYTES
    row(
        f"server RSS with {r.held} sockets",
        mib(r.rss_sockets),
        f"goal < 1024 MiB   {verdict(goal) if complete else 'NOT MEASURED at full size'}",
    )
    row("per socket", f"{r.per_socket_kib:.1f} KiB", "(with - baseline) / sockets")
    if not complete:
        estimate = r.rss_baseline + r.per_socket_kib * 1024 * requested
        row(f"estimate for {requested} sockets", mib(int(estimate)), "(baseline + per socket x N)")
    row("server peak RSS", mib(r.rss_peak), "(VmHWM: the highest RSS of the run)")
    row("client processes' RSS", mib(r.client_rss), "(not counted)")
    print_log(r.log)


def print_latency(r: LatencyResult) -> None:
    print()
    print("2. Cross-replica latency: describe on A -> agent socket on B (PostgreSQL + Redis)")
    row(
        "describes sent / ok",
        f"{r.sent} / {r.ok}",
        f"at {r.achieved_rate:.0f}/s (target {r.rate:g}/s for {r.duration:g} s)",
    )
    for failure, count in list(r.failures.items())[:5]:
        print(f"    ! {count:>5} x {failure}")
    row("events received at B", str(r.received))
    row("missing / duplicate events", f"{len(r.missing)} / {r.duplicates}")
    if r.missing:
        print(f"    ! missing values (first 10): {', '.join(r.missing[:10])}")
    print(f"  {'':<{LABEL}} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, s in (
        ("commit (response) -> event at B", r.commit_to_event),
        ("request start -> event at B", r.start_to_event),
        ("describe response time on A", r.response),
    ):
        print(f"  {name:<{LABEL}} {s.p50:>8.2f} {s.p99:>8.2f} {s.max:>8.2f}")
    goal = r.commit_to_event.p99 <= LATENCY_GOAL_MS and not r.missing and r.ok == r.sent
    row(
        "commit -> event p99",
        f"{r.commit_to_event.p99:.2f} ms",
        f"goal <= {LATENCY_GOAL_MS:g} ms, none missing   {verdict(goal)}",
    )
    unusual = {k: v for k, v in r.stats.items() if not k.startswith("event ")}
    if unusual:
        print(f"  ! other frames on the agent socket: {unusual}")
    print_log(r.log)


# ------------------------------------------------------------------ main


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sockets", type=positive_int, default=10_000, help="idle chat sockets (part 1)"
    )
    parser.add_argument(
        "--clients", type=positive_int, default=None, help="client processes (part 1)"
    )
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before reading RSS")
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="offer permessage-deflate like browsers (default) or not",
    )
    parser.add_argument("--rate", type=positive_float, default=200.0, help="describes per second")
    parser.add_argument(
        "--duration", type=positive_float, default=10.0, help="seconds of describes"
    )
    parser.add_argument("--conversations", type=positive_int, default=50)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep temp dirs and server logs")
    opts = parser.parse_args()
    # `kill` ends the benchmark like Ctrl-C does: servers stopped, temp dirs removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    # Before anything is spawned: the servers and client processes inherit it.
    fd_limit = raise_fd_limit(opts.sockets + FD_RESERVE)
    sockets = opts.sockets
    if fd_limit < opts.sockets + FD_RESERVE:
        sockets = max(1, fd_limit - FD_RESERVE)
        print(
            f"! the open-files hard limit is {fd_limit}: the server can hold about {sockets} "
            f"sockets, not {opts.sockets} (raise it with `ulimit -Hn` as root)"
        )

    print(
        f"Klatch realtime benchmark — {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"websockets {version('websockets')}, uvicorn {version('uvicorn')}"
    )
    memory: MemoryResult | None = None
    latency: LatencyResult | None = None
    latency_skipped: str | None = None

    if not opts.skip_memory:
        print(f"part 1: {sockets} idle chat sockets ...", flush=True)
        memory = measure_memory(sockets, opts.clients, opts.settle, opts.compression, opts.keep)

    if not opts.skip_latency:
        problem = asyncio.run(reachable(opts.postgres_url, opts.redis_url))
        if problem is not None:
            latency_skipped = f"skipped, a service is not reachable: {problem}"
        else:
            print(f"part 2: describes at {opts.rate:g}/s for {opts.duration:g} s ...", flush=True)
            try:
                latency = measure_latency(
                    opts.postgres_url,
                    opts.redis_url,
                    opts.rate,
                    opts.duration,
                    opts.conversations,
                    opts.keep,
                )
            except (Exception, SystemExit) as exc:  # still print part 1
                if isinstance(exc, SystemExit) and exc.code == 143:
                    raise
                latency_skipped = f"failed: {type(exc).__name__}: {exc}"

    if memory is not None:
        print_memory(memory, fd_limit, opts.sockets)
    if latency is not None:
        print_latency(latency)
    elif latency_skipped is not None:
        print()
        print("2. Cross-replica latency (PostgreSQL + Redis)")
        print(f"  ! {latency_skipped}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; servers stopped, temp dirs removed", file=sys.stderr)
        sys.exit(130)
