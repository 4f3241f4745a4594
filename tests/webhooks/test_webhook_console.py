"""The console's webhook pages, as an admin's browser uses them (in-process app,
forms posted with the session's CSRF token): create, edit, disable and enable,
send a test event, browse the log and redeliver; the banner of a webhook Klatch
disabled. What a write did is checked through the REST API."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from klatch.domain.models import UserRole
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Receiver, Rest

UPDATE = "kustomer.conversation.update"


@pytest.fixture
async def browser_session(services: Services, setup: Setup, http: httpx.AsyncClient) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    await services.orgs.create_user(setup.org.id, email, "secret-pass-1", role=UserRole.ADMIN)
    login = await services.console.login(email, "secret-pass-1")
    http.cookies.set("klatch_console", login.token)
    return login.session.csrf_token


async def webhooks(admin: Rest) -> list[dict[str, Any]]:
    return list((await admin.get("/v1/outbound-webhooks")).json()["data"])


async def test_an_admin_creates_tests_disables_and_enables_a_webhook_in_the_console(
    http: httpx.AsyncClient, admin: Rest, receiver: Receiver, browser_session: str
) -> None:
    csrf = browser_session
    page = await http.get("/console/admin/webhooks")
    assert page.status_code == 200 and "Create webhook" in page.text
    refused = await http.post(
        "/console/admin/webhooks",
        data={"csrf": csrf, "name": "Shop", "url": receiver.url, "events": ["nope"]},
    )
    assert refused.status_code == 400 and "is not an event Klatch sends" in refused.text
    assert await webhooks(admin) == []
    created = await http.post(
        "/console/admin/webhooks",
        data={
            "csrf": csrf,
            "name": "Shop",
            "url": receiver.url,
            "events": [UPDATE, "kustomer.customer.update"],
            "headers": "X-Shop: north\nX-Env: test",
        },
    )
    assert created.status_code == 303
    (hook,) = await webhooks(admin)
    assert hook["attributes"]["headers"] == [
        {"name": "X-Shop", "value": "north"},
        {"name": "X-Env", "value": "test"},
    ]
    base = f"/console/admin/webhooks/{hook['id']}"
    assert created.headers["location"].startswith(base)
    shown = await http.get(base)
    assert hook["attributes"]["token"] in shown.text

    assert (await http.post(f"{base}/test", data={"csrf": csrf})).status_code == 303
    for _ in range(50):
        if receiver.envelopes("kustomer.webhook.test"):
            break
        await asyncio.sleep(0.1)
    (test,) = receiver.envelopes("kustomer.webhook.test")
    assert test["client"] == "console"
    log = await http.get(base)
    assert "kustomer.webhook.test" in log.text
    seq = re.search(r'data-transaction="(\d+)"', log.text)
    assert seq is not None
    again = await http.post(f"{base}/transactions/{seq.group(1)}/redeliver", data={"csrf": csrf})
    assert again.status_code == 303

    assert (await http.post(f"{base}/disable", data={"csrf": csrf})).status_code == 303
    assert (await webhooks(admin))[0]["attributes"]["enabled"] is False
    assert (await http.post(f"{base}/enable", data={"csrf": csrf})).status_code == 303
    assert (await webhooks(admin))[0]["attributes"]["enabled"] is True
    no_token = await http.post(f"{base}/disable", data={"csrf": "wrong"})
    assert no_token.status_code == 403
    assert (await webhooks(admin))[0]["attributes"]["enabled"] is True

    saved = await http.post(
        base, data={"csrf": csrf, "name": "Shop 2", "url": receiver.url, "events": [UPDATE]}
    )
    assert saved.status_code == 303
    assert (await webhooks(admin))[0]["attributes"]["events"] == [UPDATE]
    assert (await http.post(f"{base}/delete", data={"csrf": csrf})).status_code == 303
    assert await webhooks(admin) == []


async def test_a_webhook_klatch_disabled_shows_a_banner(
    services: Services,
    setup: Setup,
    http: httpx.AsyncClient,
    admin: Rest,
    receiver: Receiver,
    browser_session: str,
) -> None:
    receiver.stop()
    created = await admin.post(
        "/v1/outbound-webhooks",
        json={"name": "Flaky CRM", "url": receiver.url, "events": [UPDATE]},
    )
    hook_id = created.json()["data"]["id"]
    await admin.post(f"/v1/outbound-webhooks/{hook_id}/test")
    for _ in range(100):
        got = (await admin.get(f"/v1/outbound-webhooks/{hook_id}")).json()["data"]
        if not got["attributes"]["enabled"]:
            break
        await asyncio.sleep(0.1)
    page = await http.get("/console/admin/webhooks")
    assert f'data-disabled-webhook="{hook_id}"' in page.text
    assert "Webhook “Flaky CRM” was disabled" in page.text
