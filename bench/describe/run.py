"""Benchmark: describeConversation over HTTP, durable, against a bare Starlette no-op.

Starts the real server (one uvicorn worker, SQLite) and, in the same run on the
same machine, a bare Starlette app whose PATCH handler only reads the body. With
``--postgres SERVER_URL`` (or KLATCH_BENCH_POSTGRES_SERVER) the same load runs on
PostgreSQL too, in a database the bench creates on that server and drops after.
Drives each with wrk (64 connections) and prints req/s, p50, p99 and the ratio to
the no-op. Goals (DESIGN §7): SQLite ratio >= 0.5 and p99 <= 20 ms; PostgreSQL
>= 5k req/s with p99 <= 25 ms.

    python bench/describe/run.py [--duration 10] [--connections 64]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def klatch(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "klatch.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str,
    connections: int,
    duration: int,
    script: Path | None,
    env: dict[str, str],
    pid: int | None = None,
) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    if "unexpected status" in out.stderr:
        raise SystemExit("requests failed:\n" + out.stderr[:2000])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out.stdout)
        assert m, out.stdout
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return float(m.group(1)) * scale

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if errors:
        raise SystemExit(f"{errors.group(1)} requests failed:\n{out.stdout}")
    total = int(re.search(r"(\d+) requests in", out.stdout).group(1))  # type: ignore[union-attr]
    # The server's CPU per request: steadier than req/s on a machine that is busy
    # with other work (it does not count time spent waiting for a core).
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "cpu_us": cpu / total * 1e6}


def serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # The server's output goes to a file: a pipe nobody reads would block it.
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new database on ``server`` for one measurement, dropped afterwards."""
    name = f"klatch_bench_{os.getpid()}_{time.time_ns() % 10**9}"
    testdb = [sys.executable, str(ROOT / "scripts" / "testdb.py")]
    subprocess.run([*testdb, "create", server, name], check=True)
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        subprocess.run([*testdb, "drop", server, name], check=False)


def measure_klatch(opts: argparse.Namespace, database_url: str | None) -> dict[str, float]:
    """Describe throughput of ``klatch serve`` on SQLite (``None``) or PostgreSQL."""
    data = Path(tempfile.mkdtemp(prefix="klatch-bench-"))
    env = {
        **os.environ,
        "KLATCH_DATA_DIR": str(data),
        "KLATCH_RATE_LIMIT_SESSION": "0",
        "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_ADDRESS": "0",
        "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_KEY": "0",
        "KLATCH_LOG_LEVEL": "warning",
    }
    env.pop("KLATCH_DATABASE_URL", None)
    if database_url is not None:
        env["KLATCH_DATABASE_URL"] = database_url
        env["KLATCH_PG_POOL_SIZE"] = str(opts.pg_pool)
    init = json.loads(klatch("init", "--json", env=env))
    key = init["trackingKey"]
    klatch("attributes", "define", "conversation", "orderNumberStr", env=env)
    klatch("attributes", "define", "conversation", "priorityNum", env=env)

    port = free_port()
    command = [sys.executable, "-m", "klatch.cli", "serve", "--port", str(port)]
    if opts.py_spy:
        # Collapsed stacks of the server while it serves (py-spy; pip install py-spy).
        suffix = "pg" if database_url else "sqlite"
        out = f"{opts.py_spy}.{suffix}.txt"
        command = ["py-spy", "record", "--gil", "-r", "250", "-f", "raw", "-o", out, "--", *command]
    server = serve(command, env, data / "klatch.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/healthz")
        targets = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
            for _ in range(opts.sessions):
                token = c.post("/c/v1/sessions").json()["sessionToken"]
                conv = c.post(
                    "/c/v1/conversations",
                    json={"message": "hi"},
                    headers={"X-Klatch-Session": token},
                ).json()
                targets.append((token, conv["conversationId"]))
        lua_targets = data / "targets.lua"
        lua_targets.write_text(
            "return {" + ",".join(f'{{"{t}", "{cid}"}}' for t, cid in targets) + "}\n"
        )
        wrk_env = {**env, "KLATCH_BENCH_TARGETS": str(lua_targets), "KLATCH_BENCH_KEY": key}
        wrk(base + "/", 8, 2, HERE / "describe.lua", wrk_env)  # warm-up
        return wrk(
            base + "/", opts.connections, opts.duration, HERE / "describe.lua", wrk_env, server.pid
        )
    finally:
        # py-spy writes its profile when interrupted, as after Ctrl-C.
        server.send_signal(signal.SIGINT if opts.py_spy else signal.SIGTERM)
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def measure_noop(opts: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="klatch-bench-noop-")) / "noop.log"
    noop = serve(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "noop_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        {**os.environ, "PYTHONPATH": str(HERE)},
        log,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base + "/c/v1/conversations/x")
        noop_url = base + "/c/v1/conversations/x"
        wrk(noop_url, 8, 2, HERE / "noop.lua", dict(os.environ))
        return wrk(
            noop_url, opts.connections, opts.duration, HERE / "noop.lua", dict(os.environ), noop.pid
        )
    finally:
        noop.terminate()
        noop.wait(10)
        shutil.rmtree(log.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("KLATCH_BENCH_POSTGRES_SERVER"),
        help="a PostgreSQL server URL; the bench creates its own database there",
    )
    parser.add_argument("--pg-pool", type=int, default=20, help="KLATCH_PG_POOL_SIZE")
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        help="profile the server with py-spy into PREFIX.sqlite.txt / PREFIX.pg.txt",
    )
    opts = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    rows = [("klatch describe, SQLite", measure_klatch(opts, None))]
    if opts.postgres:
        with scratch_database(opts.postgres) as url:
            rows.append(("klatch describe, PostgreSQL", measure_klatch(opts, url)))
    noop = measure_noop(opts)
    print(f"{'':30} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'cpu us/req':>11}")
    for name, r in (*rows, ("bare starlette PATCH no-op", noop)):
        ratio = r["rps"] / noop["rps"]
        print(
            f"{name:30} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {ratio:>6.2f} "
            f"{r['cpu_us']:>11.0f}"
        )
    print("goals: SQLite ratio >= 0.50 and p99 <= 20 ms; PostgreSQL >= 5000 req/s, p99 <= 25 ms")


if __name__ == "__main__":
    main()
