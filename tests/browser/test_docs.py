"""The API documentation in real Chromium: ``/docs`` (Swagger UI) and ``/redoc``
render every operation of ``/openapi.json`` and ask no other host for anything
(scripts, styles, fonts, images, a validator badge): requests to any other host
are recorded and refused, as they would fail on a server without internet. The
pages' Content-Security-Policy keeps the browser from even trying (ReDoc's
sidebar names an image on Redocly's CDN)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support import KlatchProcess, prepare

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[KlatchProcess]:
    env, _ = prepare(tmp_path)
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as process:
        yield process


def operations(server: KlatchProcess) -> dict[str, tuple[str, str]]:
    """Every documented operation: its operationId -> (METHOD, path)."""
    document = httpx.get(f"{server.url}/openapi.json").json()
    return {
        operation["operationId"]: (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


async def offline_page(browser: Any, server: KlatchProcess) -> tuple[Any, Any, list[str]]:
    """A page whose requests to any host but the server's are refused and listed."""
    context = await browser.new_context()
    page = await context.new_page()
    outside: list[str] = []
    own = urlsplit(server.url).netloc

    async def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == own:
            await request_route.continue_()
        else:
            outside.append(url)
            await request_route.abort("internetdisconnected")

    await page.route("**/*", route)
    page.on("console", lambda m: print("console:", m.type, m.text))
    return context, page, outside


async def test_swagger_ui_renders_every_operation_without_other_hosts(
    browser: Any, server: KlatchProcess
) -> None:
    expected = operations(server)
    context, page, outside = await offline_page(browser, server)
    try:
        await page.goto(f"{server.url}/docs")
        await page.wait_for_selector(".opblock", timeout=30_000)
        await page.wait_for_function(
            "(n) => document.querySelectorAll('.opblock').length >= n", arg=len(expected)
        )
        rendered = await page.evaluate(
            """() => [...document.querySelectorAll('.opblock')].map((block) => [
                 block.querySelector('.opblock-summary-method').textContent.trim(),
                 block.querySelector('.opblock-summary-path').getAttribute('data-path'),
               ])"""
        )
        title = await page.title()
    finally:
        await context.close()
    assert sorted(map(tuple, rendered)) == sorted(expected.values())
    assert "Klatch" in title
    for path in ("/docs", "/redoc"):
        policy = httpx.get(server.url + path).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    assert outside == [], f"requests to other hosts: {outside}"


async def test_redoc_renders_every_operation_without_other_hosts(
    browser: Any, server: KlatchProcess
) -> None:
    expected = operations(server)
    context, page, outside = await offline_page(browser, server)
    try:
        await page.goto(f"{server.url}/redoc")
        await page.wait_for_selector("[data-section-id*='operation/']", timeout=60_000)
        sections = await page.evaluate(
            """() => [...document.querySelectorAll("[data-section-id*='operation/']")]
                 .map((el) => el.getAttribute('data-section-id').split('operation/').pop())"""
        )
    finally:
        await context.close()
    assert set(sections) == set(expected)
    assert outside == [], f"requests to other hosts: {outside}"
