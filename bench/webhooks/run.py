"""Benchmark: outbound webhooks — commit → receipt latency, and catch-up after an outage.

One ``klatch serve`` (SQLite in a fresh temp data dir, or ``--postgres`` for a fresh
PostgreSQL database), one webhook subscribed to ``kustomer.conversation.update``
pointing at a receiver on 127.0.0.1 in a process of its own (a threaded
``http.server`` that timestamps each request with ``time.monotonic()``, a
system-wide clock, and answers 200).

1. **Latency** (goal: p99 ≤ 100 ms at 200 events/s). Describes
   (``PATCH /c/v1/conversations/{id}`` with a unique ``orderNumberStr``) over
   ``--conversations`` chat sessions at a steady, open-loop ``--rate`` for
   ``--duration`` seconds. For each describe the time its response completed (the
   commit is durable by then) is recorded and matched with the envelope that
   carries its value. Printed: p50/p99/max of *commit → receipt* (receipt -
   response completed) and of *request start → receipt*, and how many never
   arrived.

2. **Catch-up** (goal: all delivered). The receiver goes down (its port refuses
   connections) for ``--outage`` seconds while describes go on at the same rate,
   then comes back. Printed: how many changes were committed during the outage,
   how long after the receiver was back every one of them had arrived, and how many
   arrived (the goal: all). The server runs with the retry schedule given by
   ``--schedule`` (seconds; Kustomer's 1, 1, 2, 5, … minutes scaled to seconds by
   default, so the run takes seconds; with the real schedule the catch-up waits
   for the next retry, up to the step in force).

    python bench/webhooks/run.py [--rate 200] [--duration 10] [--outage 15] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

GOAL_P99_MS = 100.0
UPDATE = "kustomer.conversation.update"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ the receiver


def receiver_main(port: int, pipe: Pipe) -> None:
    """Serve until told to stop; ``down``/``up`` close and reopen the port; ``dump``
    sends back [(monotonic receipt, value)]."""
    import http.server
    import threading

    got: list[tuple[float, str]] = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # no keep-alive: "down" really is

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            at = time.monotonic()
            envelope = json.loads(body)
            value = envelope["changes"]["attributes"]["custom.orderNumberStr"]["after"]
            with lock:
                got.append((at, value))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            return

    def serve() -> Server:
        server = Server(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    server: Server | None = serve()
    pipe.send("ready")
    while True:
        command = pipe.recv()
        if command == "down" and server is not None:
            server.shutdown()
            server.server_close()
            server = None
        elif command == "up" and server is None:
            server = serve()
        elif command == "dump":
            with lock:
                pipe.send(list(got))
            continue
        elif command == "stop":
            return
        pipe.send("ok")


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        ctx = multiprocessing.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.process = ctx.Process(target=receiver_main, args=(self.port, child), daemon=True)
        self.process.start()
        assert self.pipe.recv() == "ready"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def command(self, name: str) -> Any:
        self.pipe.send(name)
        return self.pipe.recv()

    def receipts(self) -> dict[str, float]:
        """The first receipt of each value."""
        first: dict[str, float] = {}
        for at, value in self.command("dump"):
            first.setdefault(value, at)
        return first

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(5)


# ------------------------------------------------------------------ the server


def start_server(args: argparse.Namespace, root: Path, database: str | None) -> tuple[Any, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLATCH_")}
    env.update(
        {
            "KLATCH_DATA_DIR": str(root / "data"),
            "KLATCH_SECRET_KEY": secrets.token_urlsafe(40),
            "KLATCH_RATE_LIMIT_SESSION": "0",
            "KLATCH_RATE_LIMIT_REST": "0",
            "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_ADDRESS": "0",
            "KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_KEY": "0",
            "KLATCH_WEBHOOK_ALLOW_HTTP": "1",
            "KLATCH_WEBHOOK_ALLOW_PRIVATE": "1",
            "KLATCH_WEBHOOK_RETRY_SCHEDULE": args.schedule,
        }
    )
    if database:
        env["KLATCH_DATABASE_URL"] = database
    klatch = [sys.executable, "-m", "klatch.cli"]
    init = subprocess.run(
        [*klatch, "init", "--json"], env=env, capture_output=True, text=True, check=True
    )
    keys = json.loads(init.stdout)
    subprocess.run(
        [*klatch, "attributes", "define", "conversation", "orderNumberStr"],
        env=env,
        capture_output=True,
        check=True,
    )
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [*klatch, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return (process, keys), url
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("klatch serve did not start; see " + str(root / "server.log"))


# ------------------------------------------------------------------ load


async def sessions(url: str, key: str, n: int) -> list[tuple[str, str]]:
    out = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(n):
            auth = {"Authorization": f"Bearer {key}"}
            token = (await http.post("/c/v1/sessions", headers=auth)).json()["sessionToken"]
            created = await http.post(
                "/c/v1/conversations", headers={**auth, "X-Klatch-Session": token}, json={}
            )
            out.append((token, created.json()["conversationId"]))
    return out


async def describe_at_rate(
    url: str, key: str, convs: list[tuple[str, str]], rate: float, seconds: float, tag: str
) -> dict[str, tuple[float, float]]:
    """Open-loop describes; value -> (request start, response completed)."""
    done: dict[str, tuple[float, float]] = {}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as http:

        async def one(i: int) -> None:
            token, conv_id = convs[i % len(convs)]
            value = f"{tag}-{i}"
            start = time.monotonic()
            response = await http.patch(
                f"/c/v1/conversations/{conv_id}",
                headers={"Authorization": f"Bearer {key}", "X-Klatch-Session": token},
                json={"custom": {"orderNumberStr": value}},
            )
            if response.status_code == 200:
                done[value] = (start, time.monotonic())

        tasks = []
        began = time.monotonic()
        total = int(rate * seconds)
        for i in range(total):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return done


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wait_for(receiver: Receiver, values: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        got = receiver.receipts()
        if values <= set(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


# ------------------------------------------------------------------ main


def latency(args: argparse.Namespace, url: str, keys: dict[str, str], receiver: Receiver) -> None:
    convs = asyncio.run(sessions(url, keys["trackingKey"], args.conversations))
    sent = asyncio.run(
        describe_at_rate(url, keys["trackingKey"], convs, args.rate, args.duration, "lat")
    )
    got = wait_for(receiver, set(sent), 30)
    commit = [(got[v] - end) * 1000 for v, (_, end) in sent.items() if v in got]
    start = [(got[v] - begin) * 1000 for v, (begin, _) in sent.items() if v in got]
    response = [(end - begin) * 1000 for begin, end in sent.values()]
    p99 = pct(commit, 99)
    print(f"\n1. latency at {args.rate:g} events/s for {args.duration:g} s ({len(sent)} describes)")
    print(
        f"   commit → receipt   p50 {pct(commit, 50):6.1f} ms  p99 {p99:6.1f} ms  "
        f"max {max(commit):6.1f} ms   (goal p99 ≤ {GOAL_P99_MS:g} ms: "
        f"{'met' if p99 <= GOAL_P99_MS else 'NOT met'})"
    )
    print(f"   request → receipt  p50 {pct(start, 50):6.1f} ms  p99 {pct(start, 99):6.1f} ms")
    print(f"   describe response  p50 {pct(response, 50):6.1f} ms  p99 {pct(response, 99):6.1f} ms")
    print(f"   never arrived      {len(set(sent) - set(got))}")


def catch_up(args: argparse.Namespace, url: str, keys: dict[str, str], receiver: Receiver) -> None:
    convs = asyncio.run(sessions(url, keys["trackingKey"], args.conversations))
    receiver.command("down")
    sent = asyncio.run(
        describe_at_rate(url, keys["trackingKey"], convs, args.rate, args.outage, "out")
    )
    receiver.command("up")
    back = time.monotonic()
    got = wait_for(receiver, set(sent), args.catch_up_timeout)
    arrived = [got[v] for v in sent if v in got]
    took = max(arrived) - back if arrived else float("nan")
    print(f"\n2. catch-up: receiver down {args.outage:g} s while {len(sent)} changes committed")
    print(f"   retry schedule (s) {args.schedule}")
    print(f"   all arrived        {len(arrived)} of {len(sent)} ({took:.1f} s after it was back)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--outage", type=float, default=15)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--schedule", default="1,1,2,5,10,15,30")
    parser.add_argument("--catch-up-timeout", type=float, default=120)
    parser.add_argument("--postgres", help="server URL; a database of its own is made")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="klatch-bench-webhooks-"))
    database = None
    if args.postgres:
        database = _create_database(args.postgres)
    receiver = Receiver()
    (process, keys), url = start_server(args, root, database)
    try:
        hook = httpx.post(
            f"{url}/v1/outbound-webhooks",
            headers={"Authorization": f"Bearer {keys['adminKey']}"},
            json={"name": "bench", "url": receiver.url, "events": [UPDATE]},
        )
        assert hook.status_code == 201, hook.text
        print(f"klatch serve on {'PostgreSQL' if database else 'SQLite'}, receiver {receiver.url}")
        latency(args, url, keys, receiver)
        catch_up(args, url, keys, receiver)
    finally:
        process.terminate()
        process.wait(15)
        receiver.stop()
        if database:
            _drop_database(args.postgres, database)
        shutil.rmtree(root, ignore_errors=True)


def _admin(server: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _create_database(server: str) -> str:
    name = f"klatch_bench_webhooks_{secrets.token_hex(4)}"
    _admin(server, f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def _drop_database(server: str, database: str) -> None:
    name = urlsplit(database).path.lstrip("/")
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
