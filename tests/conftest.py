"""Shared fixtures: real SQLite and real PostgreSQL, parametrised.

PostgreSQL comes from ``KLATCH_TEST_POSTGRES_URL`` (CI: a fresh database on the
local server). Without it the PostgreSQL variants skip with a reason, unless
``KLATCH_REQUIRE_SERVICES=1`` is set (as ``.ci/run`` does): then they fail, so a
green CI run always means PostgreSQL was exercised. The same rule applies to
Redis (``KLATCH_TEST_REDIS_URL``) and Chromium.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from klatch.app import create_app
from klatch.config import Settings
from klatch.services import Services
from klatch.services.orgs import Setup

REQUIRE_SERVICES = os.environ.get("KLATCH_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("KLATCH_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("KLATCH_TEST_REDIS_URL")


def need_service(name: str, value: str | None, variable: str) -> str:
    """Return the service URL, or skip (fail under KLATCH_REQUIRE_SERVICES=1)."""
    if value:
        return value
    reason = f"{name} not configured: set {variable} to run this test"
    if REQUIRE_SERVICES:
        pytest.fail(f"KLATCH_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """``None`` selects SQLite in the test's data dir; else a PostgreSQL URL.

    PostgreSQL tests share one database: every test makes its own org (unique
    name) and every lookup is scoped by org, so tests cannot see each other.
    """
    if request.param == "sqlite":
        return None
    return need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")


def make_settings(tmp_path: Path, database_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": "s" * 40,
        "rate_limit_rest": 0,
        "rate_limit_session": 0,
    }
    values.update(overrides)
    (tmp_path / "data").mkdir(exist_ok=True)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with Services(settings) as started:
        yield started


@pytest.fixture
async def setup(services: Services) -> Setup:
    """A fresh org with its default brand, tracking key and admin key."""
    return await services.orgs.create_org(f"Test org {uuid.uuid4().hex[:12]}")


@pytest.fixture
async def http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the real app in-process (services already started)."""
    app = create_app(services.settings, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://klatch.test") as client:
        yield client


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


@pytest.fixture
async def chat(http: httpx.AsyncClient, setup: Setup) -> Chat:
    return await start_chat(http, setup.tracking_key.secret)


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


@pytest.fixture
def admin(http: httpx.AsyncClient, setup: Setup) -> Rest:
    return Rest(http, setup.admin_key.secret)


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


@pytest.fixture
def artifacts_dir() -> Iterator[Path]:
    path = Path(os.environ.get("KLATCH_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    yield path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests ran on each backend, so a CI log shows PostgreSQL ran."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error", "xfailed"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            for backend in ("sqlite", "postgres"):
                if f"[{backend}" in nodeid or f"-{backend}]" in nodeid or f"-{backend}-" in nodeid:
                    by = counts.setdefault(backend, {})
                    by[outcome] = by.get(outcome, 0) + 1
    if counts:
        terminalreporter.section("backends")
        for backend, by in sorted(counts.items()):
            summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(by.items()))
            terminalreporter.write_line(f"{backend}: {summary}")


CHROMIUM = os.environ.get("KLATCH_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        need_service("Chromium", None, "KLATCH_TEST_CHROMIUM (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()
