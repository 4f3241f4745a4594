"""The alert of a webhook Klatch disabled, in real Chromium against a real server:
once a receiver has failed the whole retry schedule, every console page an admin
opens (not only the webhook pages) says so, with a link to the webhook, until the
admin dismisses it in this browser or the webhook is enabled again; a webhook
disabled once more alerts again; agents never see it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from support import KlatchProcess, Receiver, prepare

PASSWORD = "alert-pass-1"
ALERT = "[data-webhook-alert]"
PAGES = ["/console/inbox", "/console/admin/attributes", "/console/admin/keys"]


@dataclass
class Server:
    process: KlatchProcess
    rest: httpx.Client


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env, keys = prepare(
        tmp_path,
        KLATCH_WEBHOOK_ALLOW_PRIVATE="1",
        KLATCH_WEBHOOK_ALLOW_HTTP="1",
        KLATCH_WEBHOOK_RETRY_SCHEDULE="0.1,0.1",
        KLATCH_WEBHOOK_POLL_SECONDS="0.2",
    )
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as process:
        headers = {"Authorization": f"Bearer {keys['adminKey']}"}
        with httpx.Client(base_url=process.url, headers=headers, timeout=10) as rest:
            for email, role in (("admin@example.com", "admin"), ("agent@example.com", "agent")):
                user = {"email": email, "password": PASSWORD, "role": role, "name": role}
                created = rest.post("/v1/users", json=user)
                assert created.status_code == 201, created.text
            yield Server(process, rest)


def fail_until_disabled(server: Server, hook_id: str) -> dict[str, Any]:
    """Send a test event to the (down) receiver and wait until Klatch disables the
    webhook after the last retry."""
    assert server.rest.post(f"/v1/outbound-webhooks/{hook_id}/test").status_code == 202
    deadline = time.monotonic() + 20
    while True:
        got: dict[str, Any] = server.rest.get(f"/v1/outbound-webhooks/{hook_id}").json()["data"]
        if not got["attributes"]["enabled"]:
            assert got["attributes"]["disabledReason"].startswith("Disabled after 3 failed")
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.1)


async def log_in(browser: Browser, server: Server, email: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(server.process.url + "/console/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("navigation", name="Console")).to_be_visible()
    return context, page


async def test_a_disabled_webhook_alerts_admins_on_every_page_until_dismissed_or_enabled(
    browser: Browser, server: Server
) -> None:
    receiver = Receiver()
    receiver.stop()  # down for the whole schedule
    created = server.rest.post(
        "/v1/outbound-webhooks",
        json={"name": "Flaky CRM", "url": receiver.url, "events": ["kustomer.customer.create"]},
    )
    assert created.status_code == 201, created.text
    hook_id = created.json()["data"]["id"]
    admin, page = await log_in(browser, server, "admin@example.com")
    await expect(page.locator(ALERT)).to_have_count(0)  # nothing failed yet

    fail_until_disabled(server, hook_id)
    for path in PAGES:
        await page.goto(server.process.url + path)
        alert = page.locator(f'[data-webhook-alert="{hook_id}"]')
        await expect(alert).to_contain_text("Webhook “Flaky CRM” was disabled")
        await expect(alert).to_contain_text("Disabled after 3 failed attempts")
    # The webhook pages show the webhook's own banner instead (not two).
    await page.goto(server.process.url + "/console/admin/webhooks")
    await expect(page.locator(ALERT)).to_have_count(0)
    await expect(page.locator(f'[data-disabled-webhook="{hook_id}"]')).to_be_visible()

    # An agent is not told (nor could they act on it).
    agent, agent_page = await log_in(browser, server, "agent@example.com")
    await expect(agent_page.get_by_role("link", name="Inbox")).to_be_visible()
    await expect(agent_page.locator(ALERT)).to_have_count(0)
    await agent.close()

    # The alert's link leads to the webhook; Dismiss hides it on every page, here.
    await page.goto(server.process.url + "/console/admin/keys")
    await page.get_by_role("link", name="Fix the receiver, then enable it").click()
    await expect(page).to_have_url(server.process.url + f"/console/admin/webhooks/{hook_id}")
    await page.goto(server.process.url + "/console/admin/attributes")
    await page.get_by_role("button", name="Dismiss the alert of webhook “Flaky CRM”").click()
    await expect(page).to_have_url(server.process.url + "/console/admin/attributes")
    await expect(page.locator(ALERT)).to_have_count(0)
    for path in PAGES:
        await page.goto(server.process.url + path)
        await expect(page.locator(ALERT)).to_have_count(0)

    # Another admin's browser still shows it, until the webhook is enabled again.
    other, other_page = await log_in(browser, server, "admin@example.com")
    await expect(other_page.locator(ALERT)).to_have_count(1)
    # Disabled once more (enabled while the receiver is still down): alerted again.
    enabled = server.rest.patch(f"/v1/outbound-webhooks/{hook_id}", json={"enabled": True})
    assert enabled.status_code == 200, enabled.text
    await other_page.reload()
    await expect(other_page.locator(ALERT)).to_have_count(0)  # enabled: no alert
    fail_until_disabled(server, hook_id)
    await page.reload()
    await expect(page.locator(ALERT)).to_have_count(1)  # the earlier dismissal was for then

    receiver.start()
    enabled = server.rest.patch(f"/v1/outbound-webhooks/{hook_id}", json={"enabled": True})
    assert enabled.status_code == 200, enabled.text
    for shown in (page, other_page):
        await shown.reload()
        await expect(shown.locator(ALERT)).to_have_count(0)
    await other.close()
    await admin.close()
    receiver.stop()
