"""Accessibility: axe-core (from the npm registry) injected into real Chromium, WCAG
2.1 A and AA rules, over the chat widget in each of its states (closed, open, the
list, a thread, an ended conversation; on a desktop and on a phone), the demo
page around it, and every page of the agent console (login, inbox, a
conversation, every admin page its navigation links to, an error page; with a
webhook Klatch disabled, so that webhook's page with its log, and the alert on
every page, are audited too). Zero violations allowed: a failure lists each rule
with the nodes it found."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Frame, Page, ViewportSize, expect

from npm_tools import AXE_CORE, npm_package
from support import KlatchProcess, clean_env, cli, free_port

WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REALTIME_TIMEOUT = 10_000
UNKNOWN_ID = "6b06a46ca718eb9231222a55"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)


@dataclass
class Demo:
    server: KlatchProcess
    info: dict[str, Any]

    def rest(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {self.info['adminKey']}"},
            timeout=10,
        )


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {**clean_env(), "KLATCH_DATA_DIR": str(tmp_path / "data")}
    env.update({"KLATCH_RATE_LIMIT_SESSION": "0", "KLATCH_RATE_LIMIT_REST": "0"})
    # A webhook to a local port that refuses, disabled after one retry.
    env.update({"KLATCH_WEBHOOK_ALLOW_HTTP": "1", "KLATCH_WEBHOOK_ALLOW_PRIVATE": "1"})
    env["KLATCH_WEBHOOK_RETRY_SCHEDULE"] = "0.1"
    info = json.loads(cli(env, tmp_path, "demo", "--no-serve", "--json"))
    with KlatchProcess({**env, "KLATCH_DEMO": "1"}, tmp_path, tmp_path / "server.log") as server:
        yield Demo(server, info)


@pytest.fixture(scope="module")
def axe_source() -> str:
    return (npm_package(AXE_CORE) / "axe.min.js").read_text()


class Audit:
    """Runs axe in pages and frames, collecting what it finds by the state audited."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: dict[str, list[dict[str, Any]]] = {}
        self.audited: list[str] = []

    async def __call__(self, target: Page | Frame, state: str) -> None:
        # Evaluated through the DevTools protocol, so the console's CSP allows it.
        if not await target.evaluate("typeof window.axe === 'object'"):
            await target.evaluate(self.source)
        # Colours are measured as they settle, not half-way through the opening fade.
        await target.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")
        violations = await target.evaluate(
            """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
                                           iframes: false, resultTypes: ['violations']})
                 .then((r) => r.violations.map((v) => ({
                   id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => ({target: n.target.join(' '),
                                               summary: n.failureSummary}))})))""",
            WCAG21_AA,
        )
        self.audited.append(state)
        if violations:
            self.found[state] = violations

    def report(self) -> str:
        lines = []
        for state, violations in self.found.items():
            for v in violations:
                lines.append(f"{state}: {v['id']} ({v['impact']}) {v['help']}")
                lines += [f"    {n['target']}: {n['summary']}" for n in v["nodes"]]
        return "\n".join(lines)


@pytest.fixture
async def audit(axe_source: str) -> AsyncIterator[Audit]:
    checker = Audit(axe_source)
    yield checker
    assert not checker.found, "WCAG 2.1 AA violations:\n" + checker.report()


async def widget_frame(page: Page) -> Frame:
    handle = await page.wait_for_selector("#kustomer-ui-sdk-iframe", state="attached")
    assert handle is not None
    frame = await handle.content_frame()
    assert frame is not None
    return frame


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_the_widget_and_the_demo_page_have_no_violations_in_any_state(
    browser: Browser, demo: Demo, audit: Audit, viewport: ViewportSize
) -> None:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    await page.goto(demo.server.url + "/demo")
    widget = page.frame_locator("#kustomer-ui-sdk-iframe")
    launcher = widget.get_by_role("button", name="Open chat", exact=True)
    await expect(launcher).to_be_visible()
    frame = await widget_frame(page)
    await audit(page, "demo page")
    await audit(frame, "widget closed")

    await launcher.click()
    composer = widget.get_by_label("Message", exact=True)
    await expect(composer).to_be_visible()
    await audit(frame, "widget open (a new conversation)")

    await composer.fill("Where is my order?")
    await composer.press("Enter")
    await expect(page.locator("#demo-log")).to_contain_text("orderNumberStr = KL-10423")
    with demo.rest() as rest:
        (conversation,) = rest.get("/v1/conversations").json()["data"]
        conversation_id = conversation["id"]
        sent = rest.post(
            f"/v1/conversations/{conversation_id}/messages", json={"body": "It ships today."}
        )
        assert sent.status_code == 201, sent.text
        await expect(widget.get_by_text("It ships today.")).to_be_visible(timeout=REALTIME_TIMEOUT)
        typing = rest.post(f"/v1/conversations/{conversation_id}/typing", json={"typing": True})
        assert typing.status_code == 204, typing.text
        await expect(widget.get_by_text("is typing")).to_be_visible(timeout=REALTIME_TIMEOUT)
        await audit(frame, "widget thread")
        await audit(page, "demo page with the widget open")

        ended = rest.post(f"/v1/conversations/{conversation_id}/end")
        assert ended.status_code == 200, ended.text
        await expect(widget.get_by_text("This conversation has ended.")).to_be_visible(
            timeout=REALTIME_TIMEOUT
        )
        await audit(frame, "widget ended")

    # The first thread has no way back (there is nothing else); a second one does.
    await widget.get_by_role("button", name="Start a new conversation").click()
    await expect(composer).to_be_enabled()
    await audit(frame, "widget new conversation after an ended one")
    await widget.get_by_role("button", name="Back to conversations").click()
    await expect(widget.get_by_role("list", name="Conversations")).to_be_visible()
    await audit(frame, "widget list")
    assert len(audit.audited) == 8, audit.audited
    await context.close()


async def console_pages(page: Page, origin: str) -> list[str]:
    """Every console page the current page's links reach, by path (no logout)."""
    hrefs = await page.eval_on_selector_all("a[href]", "els => els.map((e) => e.href)")
    paths = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != origin or not parts.path.startswith("/console"):
            continue
        if "/static/" in parts.path:
            continue
        paths.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return paths


def console_routes_without_parameters() -> list[str]:
    """The console's GET pages that need no id, from its route table (so a page
    added without a link in the navigation is audited too)."""
    from starlette.routing import Mount, Route

    from klatch.console import console_routes

    paths = []
    for mount in console_routes():
        if not isinstance(mount, Mount):
            continue
        for route in mount.routes:
            if (
                isinstance(route, Route)
                and "GET" in (route.methods or ())
                and "{" not in route.path
            ):
                paths.append(mount.path + route.path)
    return paths


def disabled_webhook(demo: Demo) -> str:
    """A webhook whose receiver is down, disabled by Klatch after its schedule: its
    page has a delivery log with failed attempts, and every page an alert."""
    with demo.rest() as rest:
        created = rest.post(
            "/v1/outbound-webhooks",
            json={
                "name": "Order system",
                "url": f"http://127.0.0.1:{free_port()}/hook",
                "events": ["kustomer.conversation.update"],
            },
        )
        assert created.status_code == 201, created.text
        hook_id: str = created.json()["data"]["id"]
        assert rest.post(f"/v1/outbound-webhooks/{hook_id}/test").status_code == 202
        deadline = time.monotonic() + 20
        while rest.get(f"/v1/outbound-webhooks/{hook_id}").json()["data"]["attributes"]["enabled"]:
            assert time.monotonic() < deadline, "the webhook was never disabled"
            time.sleep(0.1)
    return hook_id


async def test_every_console_page_has_no_violations(
    browser: Browser, demo: Demo, audit: Audit
) -> None:
    hook_id = disabled_webhook(demo)
    # A conversation (with its order number) for the inbox and the conversation page.
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(demo.server.url + "/demo")
    widget = page.frame_locator("#kustomer-ui-sdk-iframe")
    await widget.get_by_role("button", name="Open chat", exact=True).click()
    await widget.get_by_label("Message", exact=True).fill("Where is my order?")
    await widget.get_by_label("Message", exact=True).press("Enter")
    await expect(page.locator("#demo-log")).to_contain_text("orderNumberStr = KL-10423")

    await page.goto(demo.server.url + "/console")
    await expect(page.get_by_label("Email")).to_be_visible()
    await audit(page, "console login")
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_label("Email").fill(demo.info["agentEmail"])
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await audit(page, "console login, refused")
    await page.get_by_label("Email").fill(demo.info["agentEmail"])
    await page.get_by_label("Password").fill(demo.info["agentPassword"])
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("link", name="Where is my order?")).to_be_visible()

    origin = demo.server.url
    await expect(page.locator(f'[data-webhook-alert="{hook_id}"]')).to_be_visible()
    navigation = await page.eval_on_selector_all(
        "nav[aria-label='Console'] a", "els => els.map((e) => new URL(e.href).pathname)"
    )
    to_visit = ["/console/inbox", *await console_pages(page, origin)]
    to_visit += console_routes_without_parameters()
    seen: set[str] = set()
    while to_visit and len(seen) < 80:
        path = to_visit.pop(0)
        key = path.split("?")[0]
        if key in seen:
            continue
        seen.add(key)
        response = await page.goto(origin + path)
        assert response is not None and response.status == 200, path
        await page.wait_for_load_state("networkidle")
        await audit(page, path)
        to_visit += await console_pages(page, origin)
    assert any(p.startswith("/console/conversations/") for p in seen), seen
    # Every page of the navigation, whatever it lists now (admin pages included).
    assert {"/console/admin/attributes", "/console/admin/webhooks"} <= set(navigation)
    assert set(navigation) <= seen, set(navigation) - seen
    assert f"/console/admin/webhooks/{hook_id}" in seen
    print("audited:", *sorted(seen))

    response = await page.goto(origin + f"/console/conversations/{UNKNOWN_ID}")
    assert response is not None and response.status == 404
    await audit(page, "console error page")
    await context.close()
