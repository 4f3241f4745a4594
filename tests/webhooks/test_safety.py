"""SSRF rules with the allow flags off (as in production): a webhook URL must be
https and must not resolve to a loopback, private, link-local or metadata
address, checked when it is saved and again before each delivery (DNS can
change). The DNS answers come from a stand-in resolver where a test needs a
name that resolves to a private address (this machine has no such name)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from klatch.config import Settings
from klatch.domain.webhooks import forbidden_address
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Receiver, Rest, error_codes, make_settings

PUBLIC = "93.184.216.34"


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return make_settings(
        tmp_path, database_url, webhook_retry_schedule=(0.2,), webhook_poll_seconds=0.2
    )


def resolving_to(address: str) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return resolve


async def create(admin: Rest, url: str) -> Any:
    return await admin.post(
        "/v1/outbound-webhooks",
        json={"name": "hook", "url": url, "events": ["kustomer.conversation.update"]},
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://[::1]/hook",
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://[::1]:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "ftp://example.com/hook",
        "https://user:secret@example.com/hook",
    ],
)
async def test_a_webhook_url_that_is_not_https_to_a_public_address_is_refused(
    admin: Rest, url: str
) -> None:
    response = await create(admin, url)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["source"]["pointer"] == "/url"
    assert (await admin.get("/v1/outbound-webhooks")).json()["data"] == []


async def test_a_name_that_resolves_to_a_private_address_is_refused(
    services: Services, admin: Rest
) -> None:
    services.webhooks.resolver = resolving_to("10.0.0.7")
    response = await create(admin, "https://hooks.example.com/in")
    assert response.status_code == 400
    assert error_codes(response) == ["url_not_allowed"]
    assert "resolves to 10.0.0.7, a private address" in response.text
    services.webhooks.resolver = resolving_to(PUBLIC)
    assert (await create(admin, "https://hooks.example.com/in")).status_code == 201


async def test_the_address_is_checked_again_at_delivery(
    services: Services, setup: Setup, admin: Rest, chat: Any
) -> None:
    """Saved while the name resolved to a public address; by delivery time it
    resolves to the metadata address: the delivery is refused, not sent."""
    await services.attributes.define(setup.org.id, "conversation", "codeStr")
    services.webhooks.resolver = resolving_to(PUBLIC)
    hook = (await create(admin, "https://hooks.example.com/in")).json()["data"]
    services.webhooks.resolver = resolving_to("169.254.169.254")
    conv = await chat.create_conversation()
    conv_id = conv["conversationId"] if "conversationId" in conv else conv["data"]["id"]
    assert (await chat.describe(conv_id, {"codeStr": "x"})).status_code == 200
    attempts: list[Any] = []
    for _ in range(100):
        log = (await admin.get(f"/v1/outbound-webhooks/{hook['id']}/transactions")).json()
        attempts = log["data"][0]["attributes"]["attempts"] if log["data"] else []
        if attempts:
            break
        await asyncio.sleep(0.1)
    assert attempts, "no attempt was logged"
    assert attempts[0]["statusCode"] is None
    assert "refused" in attempts[0]["error"] and "link-local" in attempts[0]["error"]


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("169.254.169.254", False),
        ("fe80::1%eth0", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("fd00:ec2::254", False),
        ("::ffff:10.0.0.1", False),
        (PUBLIC, True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_which_addresses_a_delivery_may_reach(address: str, allowed: bool) -> None:
    assert (forbidden_address(address) is None) is allowed


async def test_redirects_are_not_followed(tmp_path: Path, database_url: str | None) -> None:
    from klatch.runtime import running

    settings = make_settings(
        tmp_path,
        database_url,
        webhook_allow_private=True,
        webhook_allow_http=True,
        webhook_retry_schedule=(0.2,),
        webhook_poll_seconds=0.2,
    )
    receiver = Receiver()
    receiver.statuses = [302]
    try:
        async with running(settings) as services:
            setup = await services.orgs.create_org(f"Redirects {uuid.uuid4().hex[:12]}")
            hook = await services.webhooks.check_create(
                _admin_actor(setup),
                {"name": "r", "url": receiver.url, "events": ["kustomer.customer.create"]},
            )
            await services.webhooks.check_send_test(_admin_actor(setup), hook.id)
            for _ in range(100):
                if len(receiver.received) >= 2:
                    break
                await asyncio.sleep(0.1)
            page = await services.webhooks.transactions(
                _admin_actor(setup), hook.id, page=1, page_size=10
            )
    finally:
        receiver.stop()
    paths = [h[":path"] for h, _ in receiver.received]
    assert paths == ["/hook", "/hook"]  # the 302, then the retry: never /elsewhere
    (delivery,) = page.items
    assert delivery.log[0].error == "HTTP 302: redirects are not followed"


def _admin_actor(setup: Any) -> Any:
    from klatch.domain.models import Actor, ActorType, Role

    return Actor(ActorType.API_KEY, setup.admin_key.key.id, setup.org.id, role=Role.ADMIN)
