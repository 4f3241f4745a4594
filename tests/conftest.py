"""Shared fixtures: real SQLite and real PostgreSQL, parametrised; Chromium.

The helpers test modules import (``Chat``, ``Rest``, ``need_service``, …) are in
``support.py``. Here, besides the fixtures, each test is marked with the services
it needs (``postgres``, ``redis``, ``browser``), so ``-m "not browser"`` runs
without Chromium and ``-m "not postgres and not redis"`` without servers.
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from klatch.app import create_app
from klatch.config import Settings
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from support import (
    POSTGRES_URL,
    Chat,
    Rest,
    create_worker_database,
    drop_worker_database,
    make_settings,
    need_service,
    start_chat,
)


def pytest_configure(config: pytest.Config) -> None:
    create_worker_database()  # under pytest-xdist: this worker's own PostgreSQL database


def pytest_unconfigure(config: pytest.Config) -> None:
    drop_worker_database()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """``None`` selects SQLite in the test's data dir; else a PostgreSQL URL.

    PostgreSQL tests share one database: every test makes its own org (unique
    name) and every lookup is scoped by org, so tests cannot see each other.
    """
    if request.param == "sqlite":
        return None
    return need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with running(settings) as started:
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


@pytest.fixture
async def chat(http: httpx.AsyncClient, setup: Setup) -> Chat:
    return await start_chat(http, setup.tracking_key.secret)


@pytest.fixture
def admin(http: httpx.AsyncClient, setup: Setup) -> Rest:
    return Rest(http, setup.admin_key.secret)


@pytest.fixture
def artifacts_dir() -> Iterator[Path]:
    path = Path(os.environ.get("KLATCH_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    yield path


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


# ---------------------------------------------------------------- markers

# A test needs a service when it runs a fixture parametrised to the service's name
# (``database_url`` "postgres", the bus contract's "redis"), uses a fixture that
# is the service, or names the service's URL (or a private server) in its body or
# in an unparametrised fixture's body, as tests that call ``need_service`` do.
PARAM_MARKS = {"postgres": "postgres", "redis": "redis"}
FIXTURE_MARKS = {"browser": "browser"}
NAME_MARKS = {"POSTGRES_URL": "postgres", "REDIS_URL": "redis", "RedisServer": "redis"}
BROWSER_DIR = Path(__file__).parent / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in sorted(services_needed(item)):
            item.add_marker(mark)


def services_needed(item: pytest.Item) -> set[str]:
    """The markers of the services ``item`` needs."""
    if not isinstance(item, pytest.Function):
        return set()
    needs = _names_in(item.function)
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        needs |= {PARAM_MARKS[v] for v in callspec.params.values() if _is_mark(v, PARAM_MARKS)}
    definitions = item._fixtureinfo.name2fixturedefs
    for name in item.fixturenames:
        if name in FIXTURE_MARKS:
            needs.add(FIXTURE_MARKS[name])
        for fixturedef in definitions.get(name, ()):
            if fixturedef.params is None:
                needs |= _names_in(fixturedef.func)
    if item.path.is_relative_to(BROWSER_DIR):
        needs.add("browser")
    return needs


def _names_in(function: Callable[..., Any]) -> set[str]:
    """Markers for the service names ``function``'s own code refers to."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    names = code.co_names if code is not None else ()
    return {NAME_MARKS[name] for name in names if name in NAME_MARKS}


def _is_mark(value: object, marks: dict[str, str]) -> bool:
    return isinstance(value, str) and value in marks


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
