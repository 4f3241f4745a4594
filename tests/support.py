"""Helpers that test modules import: the services a test needs (PostgreSQL, Redis),
settings, the chat and REST APIs as their callers use them, fresh PostgreSQL
databases, free ports, and ``klatch serve`` as a subprocess that can be stopped and
restarted. Fixtures live in ``conftest.py``; pytest finds them there, a test
module imports only from here.

PostgreSQL comes from ``KLATCH_TEST_POSTGRES_URL``, Redis from
``KLATCH_TEST_REDIS_URL``. Without them a test that needs one skips with a reason,
unless ``KLATCH_REQUIRE_SERVICES=1`` is set (as ``.ci/run`` does): then it fails, so
a green CI run always means the service was exercised.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from klatch.config import Settings

REQUIRE_SERVICES = os.environ.get("KLATCH_REQUIRE_SERVICES") == "1"
# Under pytest-xdist each worker has a database of its own on the same server
# (KLATCH_TEST_POSTGRES_URL's name + "_gw0", ...; conftest creates and drops it),
# so two workers never migrate one schema at once.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _worker_database(url: str | None) -> str | None:
    if not url or not XDIST_WORKER:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_{XDIST_WORKER}"))


_CONFIGURED_POSTGRES_URL = os.environ.get("KLATCH_TEST_POSTGRES_URL")
POSTGRES_URL = _worker_database(_CONFIGURED_POSTGRES_URL)
REDIS_URL = os.environ.get("KLATCH_TEST_REDIS_URL")


def need_service(name: str, value: str | None, variable: str) -> str:
    """Return the service URL, or skip (fail under KLATCH_REQUIRE_SERVICES=1)."""
    if value:
        return value
    reason = f"{name} not configured: set {variable} to run this test"
    if REQUIRE_SERVICES:
        pytest.fail(f"KLATCH_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def make_settings(tmp_path: Path, database_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": "s" * 40,
        "rate_limit_rest": 0,
        "rate_limit_search": 0,
        "rate_limit_session": 0,
        "rate_limit_new_sessions_per_address": 0,
        "rate_limit_new_sessions_per_key": 0,
    }
    values.update(overrides)
    (tmp_path / "data").mkdir(exist_ok=True)
    return Settings(**values)


class Chat:
    """A chat session as the browser SDK holds it: tracking key + session token."""

    def __init__(self, http: httpx.AsyncClient, tracking_key: str, token: str, data: Any):
        self.http = http
        self.tracking_key = tracking_key
        self.token = token
        self.data = data

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tracking_key}", "X-Klatch-Session": self.token}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.request(method, "/c/v1" + path, headers=headers, **kwargs)

    async def create_conversation(self, **body: Any) -> dict[str, Any]:
        response = await self.request("POST", "/conversations", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def describe(self, conversation_id: str, custom: Any) -> httpx.Response:
        return await self.request(
            "PATCH", f"/conversations/{conversation_id}", json={"custom": custom}
        )


async def start_chat(http: httpx.AsyncClient, tracking_key: str) -> Chat:
    response = await http.post(
        "/c/v1/sessions", headers={"Authorization": f"Bearer {tracking_key}"}
    )
    assert response.status_code in (200, 201), response.text
    data = response.json()
    return Chat(http, tracking_key, data["sessionToken"], data)


class Rest:
    """The REST API as an integration calls it, with one API key."""

    def __init__(self, http: httpx.AsyncClient, key: str):
        self.http = http
        self.key = key

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This process's environment without any KLATCH_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KLATCH_")}


def _server_and_name(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/") or "klatch"


async def _admin_sql(url: str, sql: str) -> None:
    import asyncpg

    server, _ = _server_and_name(url)
    dsn = server.replace("postgresql+asyncpg://", "postgresql://")
    try:
        conn = await asyncpg.connect(dsn)
    except Exception:  # no "postgres" database: use the configured one to issue DDL
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_worker_database() -> None:
    """This xdist worker's PostgreSQL database (``POSTGRES_URL``), new and empty."""
    if POSTGRES_URL and _CONFIGURED_POSTGRES_URL and XDIST_WORKER:
        _, name = _server_and_name(POSTGRES_URL)
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
            asyncio.run(_admin_sql(_CONFIGURED_POSTGRES_URL, sql))


def drop_worker_database() -> None:
    if POSTGRES_URL and _CONFIGURED_POSTGRES_URL and XDIST_WORKER:
        _, name = _server_and_name(POSTGRES_URL)
        sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        asyncio.run(_admin_sql(_CONFIGURED_POSTGRES_URL, sql))


@contextmanager
def fresh_postgres_database(url: str, purpose: str) -> Iterator[str]:
    """A new, empty database on the server of ``url``, dropped afterwards."""
    _, base = _server_and_name(url)
    name = f"{base}_{purpose}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin_sql(url, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(_admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class KlatchProcess:
    """``klatch serve`` on a port of its own, output appended to ``log``."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path, port: int | None = None):
        self.env = env
        self.cwd = cwd
        self.log = log
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "klatch.cli", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    pytest.fail(f"klatch serve exited ({self.process.returncode}):\n{self.output}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"klatch serve did not answer /healthz:\n{self.output}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @property
    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def __enter__(self) -> KlatchProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    """A private ``redis-server`` on a free port, to stop and restart in tests."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import shutil

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def _as_the_command(env: dict[str, str], cwd: Path) -> Iterator[None]:
    """This process's environment and working directory as a command's, then back."""
    saved, here = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)


def klatch_in_process(
    env: dict[str, str], cwd: Path, args: Sequence[str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``klatch *args`` in this process, ended as the process would have: Typer's
    runner on the app the ``klatch`` command runs, with exactly ``env`` as the
    environment and ``cwd`` as the working directory, giving its exit code, stdout,
    and stderr with the traceback of any exception nothing caught.

    It runs in a thread of its own, so a caller inside an event loop can use it
    (the command runs its own loop); starting a Python process for each command
    cost more than most commands do."""
    from typer.testing import CliRunner

    from klatch.cli.main import app

    def invoke() -> subprocess.CompletedProcess[str]:
        with _as_the_command(env, cwd):
            result = CliRunner().invoke(app, list(args), input=stdin, prog_name="klatch")
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, stderr)

    with _ONE_COMMAND, ThreadPoolExecutor(1) as thread:
        return thread.submit(invoke).result()


_ONE_COMMAND = threading.Lock()  # the environment and working directory are the process's


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run ``klatch *args`` (in this process, ``klatch_in_process``); it must
    succeed. Its stdout."""
    done = klatch_in_process(env, cwd, args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def prepare(tmp_path: Path, **settings: str) -> tuple[dict[str, str], dict[str, str]]:
    """A data dir set up by `klatch init --json` (+ `orderNumberStr` defined): the
    environment to serve it with, and the keys init printed."""
    env = clean_env()
    env.update({"KLATCH_DATA_DIR": str(tmp_path / "data"), "KLATCH_RATE_LIMIT_SESSION": "0"})
    env.update({f"KLATCH_RATE_LIMIT_NEW_SESSIONS_PER_{per}": "0" for per in ("ADDRESS", "KEY")})
    env.update(settings)
    keys = json.loads(cli(env, tmp_path, "init", "--json"))
    cli(env, tmp_path, "attributes", "define", "conversation", "orderNumberStr")
    return env, keys


class PageServer:
    """Serves test pages (HTML by path) from a real loopback HTTP server, so a page
    is a site of its own (``http://localhost:<port>``), cross-origin to Klatch, and
    Chromium's local-network rules let it reach the Klatch server on 127.0.0.1."""

    def __init__(self) -> None:
        import http.server
        import threading

        pages = self.pages = {}  # type: dict[str, str]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def eventually(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    """Poll ``check`` (e.g. a REST read) until it gives something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last saw {value!r}")
        await asyncio.sleep(0.1)


class Receiver:
    """A webhook receiver: a real HTTP server on 127.0.0.1 (a thread) that records
    every request (headers, raw body) and answers the statuses queued in
    ``statuses`` (then 200), after ``delay`` seconds. ``stop()`` takes it down (its
    port refuses connections) and ``start()`` brings it back on the same port.
    ``identify(client_port, body)``, when set, names each request's sender while its
    connection is open (kept in ``senders``, parallel to ``received``)."""

    def __init__(self) -> None:
        import threading

        self.received: list[tuple[dict[str, str], bytes]] = []
        self.senders: list[str] = []
        self.identify: Callable[[int, bytes], str] | None = None
        self.statuses: list[int] = []
        self.delay = 0.0
        self.port = free_port()
        self._lock = threading.Lock()
        self._server: Any = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        import http.server
        import threading

        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # no keep-alive: stop() really takes it down

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                identify = receiver.identify
                sender = identify(self.client_address[1], body) if identify else ""
                if receiver.delay:
                    time.sleep(receiver.delay)
                headers = {k.lower(): v for k, v in self.headers.items()} | {":path": self.path}
                with receiver._lock:
                    receiver.received.append((headers, body))
                    receiver.senders.append(sender)
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                reply = b'{"ok": true}' if status < 300 else b"receiver says no"
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                return

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a sender killed mid-request (the replica test does that)

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def envelopes(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            bodies = [json.loads(body) for _, body in self.received]
        return [e for e in bodies if name is None or e["name"] == name]
