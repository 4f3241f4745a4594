"""Benchmark: describeConversation over HTTP, durable, against a bare Starlette no-op.

Starts the real server (one uvicorn worker, SQLite) and, in the same run on the
same machine, a bare Starlette app whose PATCH handler only reads the body;
drives both with wrk (64 connections) and prints req/s, p50, p99 and the ratio.
Goal (DESIGN §7): ratio >= 0.5 and p99 <= 20 ms.

    python bench/describe/run.py [--duration 10] [--connections 64]

Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def wrk(
    url: str, connections: int, duration: int, script: Path | None, env: dict[str, str]
) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
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
    return {"rps": rps, "p50": pct("50"), "p99": pct("99")}


def serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # The server's output goes to a file: a pipe nobody reads would block it.
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sessions", type=int, default=64)
    opts = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

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
    init = json.loads(klatch("init", "--json", env=env))
    klatch("attributes", "define", "conversation", "orderNumberStr", env=env)
    klatch("attributes", "define", "conversation", "priorityNum", env=env)

    port = free_port()
    server = serve(
        [sys.executable, "-m", "klatch.cli", "serve", "--port", str(port)], env, data / "klatch.log"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/healthz")
        key = init["trackingKey"]
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
        klatch_result = wrk(
            base + "/", opts.connections, opts.duration, HERE / "describe.lua", wrk_env
        )
    finally:
        server.terminate()
        server.wait(10)

    port = free_port()
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
        {**env, "PYTHONPATH": str(HERE)},
        data / "noop.log",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base + "/c/v1/conversations/x")
        noop_url = base + "/c/v1/conversations/x"
        wrk(noop_url, 8, 2, HERE / "noop.lua", env)
        noop_result = wrk(noop_url, opts.connections, opts.duration, HERE / "noop.lua", env)
    finally:
        noop.terminate()
        noop.wait(10)
    shutil.rmtree(data, ignore_errors=True)

    ratio = klatch_result["rps"] / noop_result["rps"]
    print(f"{'':28} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in (
        ("klatch describe (durable)", klatch_result),
        ("bare starlette PATCH no-op", noop_result),
    ):
        print(f"{name:28} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}")
    print(f"ratio (describe / no-op)     {ratio:.2f}   goal >= 0.50")
    print(f"describe p99                 {klatch_result['p99']:.2f} ms   goal <= 20 ms")


if __name__ == "__main__":
    main()
