"""Webhooks as a receiver sees them: a real HTTP server on 127.0.0.1 gets each
change of a conversation, signed, in Kustomer's envelope; a change that rolls back
is never sent; failures are retried on the schedule; a receiver that keeps failing
gets its subscription disabled; one object's deliveries keep their commit order.
Both backends."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import httpx
import pytest

from klatch import client as klatch_client
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage import events as event_store
from support import Chat, Receiver, Rest, eventually

UPDATE = "kustomer.conversation.update"
ALL = [
    "kustomer.conversation.create",
    UPDATE,
    "kustomer.customer.create",
    "kustomer.customer.update",
    "kustomer.message.create",
]


async def subscribe(admin: Rest, receiver: Receiver, events: list[str] | None = None) -> Any:
    response = await admin.post(
        "/v1/outbound-webhooks",
        json={
            "name": "Order system",
            "url": receiver.url,
            "events": events or ALL,
            "headers": [{"name": "X-Shop", "value": "north"}],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def arrived(receiver: Receiver, name: str, count: int = 1) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await eventually(
        lambda: len(receiver.envelopes(name)) >= count and receiver.envelopes(name),
        f"{count} {name} webhooks",
    )
    return found


async def delivered_log(admin: Rest, hook_id: str) -> list[dict[str, Any]]:
    """The webhook's transactions once every one of them is delivered (the receiver
    has its request a moment before the worker has stored the answer)."""
    for _ in range(100):
        response = await admin.get(f"/v1/outbound-webhooks/{hook_id}/transactions")
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["data"]
        if {e["attributes"]["status"] for e in entries} == {"delivered"}:
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"not all delivered: {entries}")


@pytest.fixture
async def defined(services: Services, setup: Setup) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    await services.attributes.define(setup.org.id, "conversation", "vipBool")


async def test_a_describe_from_the_browser_arrives_signed_with_before_and_after(
    services: Services, setup: Setup, admin: Rest, chat: Chat, receiver: Receiver, defined: None
) -> None:
    hook = await subscribe(admin, receiver)
    token = hook["attributes"]["token"]
    conv = await chat.create_conversation()
    conv_id = conv["conversationId"] if "conversationId" in conv else conv["data"]["id"]
    assert (await chat.describe(conv_id, {"orderNumberStr": "A-1"})).status_code == 200
    assert (
        await chat.describe(conv_id, {"orderNumberStr": "A-2", "vipBool": True})
    ).status_code == 200

    updates = await arrived(receiver, UPDATE, 2)
    first, second = updates[0], updates[1]
    assert first["changes"]["attributes"]["custom.orderNumberStr"] == {
        "op": "add",
        "before": None,
        "after": "A-1",
    }
    assert second["changes"]["attributes"] == {
        "custom.orderNumberStr": {"op": "replace", "before": "A-1", "after": "A-2"},
        "custom.vipBool": {"op": "add", "before": None, "after": True},
    }
    assert second["meta"] == {"customChanged": True}
    assert second["client"] == "chat-sdk"
    assert second["org"] == setup.org.id and second["orgName"] == setup.org.name
    assert second["dataId"] == conv_id and second["id"] != first["id"]
    current = await admin.get(f"/v1/conversations/{conv_id}")
    assert second["data"] == current.json()["data"]  # exactly the resource GET gives

    for headers, body in receiver.received:
        assert headers["content-type"] == "application/json"
        assert headers["x-shop"] == "north"
        expected = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-kustomer-webhook-signature"] == expected
        assert klatch_client.verify_webhook(token, body, headers["x-kustomer-webhook-signature"])
        assert not klatch_client.verify_webhook("another token", body, expected)
    names = [h["x-kustomer-webhook-event"] for h, _ in receiver.received]
    assert names.count("kustomer.conversation.create") == 1

    entries = await delivered_log(admin, hook["id"])
    attempt = entries[0]["attributes"]["attempts"][0]
    assert attempt["statusCode"] == 200 and attempt["response"] == '{"ok": true}'


async def test_rest_changes_messages_and_customers_are_announced(
    services: Services, setup: Setup, admin: Rest, receiver: Receiver, defined: None
) -> None:
    await subscribe(admin, receiver)
    customer = await admin.post("/v1/customers", json={"name": "Ada"})
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["data"]["id"]
    conv = await admin.post(f"/v1/customers/{customer_id}/conversations", json={"name": "Help"})
    conv_id = conv.json()["data"]["id"]
    sent = await admin.post(f"/v1/conversations/{conv_id}/messages", json={"body": "Hi"})
    assert sent.status_code == 201, sent.text
    patch = await admin.patch(
        f"/v1/conversations/{conv_id}", json={"status": "done", "custom": {"vipBool": True}}
    )
    assert patch.status_code == 200, patch.text
    renamed = await admin.patch(f"/v1/customers/{customer_id}", json={"name": "Ada L."})
    assert renamed.status_code == 200, renamed.text

    (created,) = await arrived(receiver, "kustomer.customer.create")
    assert created["changes"] is None and created["client"] == "api"
    assert created["data"]["attributes"]["name"] == "Ada"
    (updated,) = await arrived(receiver, "kustomer.customer.update")
    assert updated["changes"]["attributes"]["name"] == {
        "op": "replace",
        "before": "Ada",
        "after": "Ada L.",
    }
    (message,) = await arrived(receiver, "kustomer.message.create")
    assert message["data"]["attributes"]["body"] == "Hi"
    first, second = await arrived(receiver, UPDATE, 2)
    assert first["changes"]["attributes"] == {
        "messageCount": {"op": "replace", "before": 0, "after": 1}
    }
    changed = second["changes"]["attributes"]
    assert changed["status"] == {"op": "replace", "before": "open", "after": "done"}
    assert changed["custom.vipBool"] == {"op": "add", "before": None, "after": True}
    assert changed["ended"] == {"op": "replace", "before": False, "after": True}
    assert second["data"]["attributes"]["status"] == "done"
    # One conversation's deliveries arrive in commit order (its messages included).
    names = [e["name"] for e in receiver.envelopes() if e["dataId"] in (conv_id, message["dataId"])]
    assert names == ["kustomer.conversation.create", "kustomer.message.create", UPDATE, UPDATE]


MARKER = "FAILS-AT-COMMIT"
_SQLITE_ON = f"""
CREATE TABLE IF NOT EXISTS test_hook_parent (id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS test_hook_child (
    parent INTEGER REFERENCES test_hook_parent(id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TRIGGER test_hook_fail_commit AFTER INSERT ON webhook_delivery
WHEN NEW.body LIKE '%{MARKER}%'
BEGIN INSERT INTO test_hook_child VALUES (42); END;
"""
_SQLITE_OFF = "DROP TRIGGER test_hook_fail_commit"
_PG_ON = f"""
CREATE OR REPLACE FUNCTION test_hook_fail_commit() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'refused at commit by the test'; END $$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER test_hook_fail_commit AFTER INSERT ON webhook_delivery
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
WHEN (NEW.body LIKE '%{MARKER}%') EXECUTE FUNCTION test_hook_fail_commit();
"""
_PG_OFF = "DROP TRIGGER test_hook_fail_commit ON webhook_delivery"


async def _raw_sql(services: Services, script: str) -> None:
    import sqlite3

    import asyncpg

    from klatch.storage.db import asyncpg_dsn

    if services.settings.database_url:
        conn = await asyncpg.connect(asyncpg_dsn(services.settings.database_url))
        try:
            await conn.execute(script)
        finally:
            await conn.close()
    else:
        with sqlite3.connect(services.settings.sqlite_path) as conn:
            conn.executescript(script)


async def test_a_change_whose_commit_fails_is_never_delivered(
    services: Services, setup: Setup, admin: Rest, chat: Chat, receiver: Receiver, defined: None
) -> None:
    """The delivery is written in the change's transaction, and that commit fails
    for real (a deferred constraint): neither the change nor its webhook exists."""
    await subscribe(admin, receiver, [UPDATE])
    conv = await chat.create_conversation()
    conv_id = conv["conversationId"] if "conversationId" in conv else conv["data"]["id"]
    postgres = bool(services.settings.database_url)
    await _raw_sql(services, _PG_ON if postgres else _SQLITE_ON)
    try:
        try:
            failed = await chat.describe(conv_id, {"orderNumberStr": MARKER})
        except Exception as exc:  # the in-process transport re-raises the app's 500
            assert "refused at commit" in str(exc)
        else:
            assert failed.status_code == 503, failed.text
    finally:
        await _raw_sql(services, _PG_OFF if postgres else _SQLITE_OFF)
    assert (await chat.describe(conv_id, {"orderNumberStr": "kept"})).status_code == 200
    (update,) = await arrived(receiver, UPDATE)
    assert update["changes"]["attributes"]["custom.orderNumberStr"]["after"] == "kept"
    await asyncio.sleep(0.5)  # the worker has had every chance to send the other
    assert [e["changes"]["attributes"] for e in receiver.envelopes(UPDATE)] == [
        {"custom.orderNumberStr": {"op": "add", "before": None, "after": "kept"}}
    ]
    assert MARKER not in str(receiver.received)


async def test_a_receiver_answering_500_then_200_gets_the_retry(
    admin: Rest, chat: Chat, receiver: Receiver, defined: None
) -> None:
    hook = await subscribe(admin, receiver, [UPDATE])
    receiver.statuses = [500]
    conv = await chat.create_conversation()
    conv_id = conv["conversationId"] if "conversationId" in conv else conv["data"]["id"]
    assert (await chat.describe(conv_id, {"orderNumberStr": "R-1"})).status_code == 200
    first, retried = await arrived(receiver, UPDATE, 2)
    assert first == retried  # the same envelope: same id, same body, same signature
    assert receiver.received[0][1] == receiver.received[1][1]
    (entry,) = await delivered_log(admin, hook["id"])
    codes = [a["statusCode"] for a in entry["attributes"]["attempts"]]
    assert codes == [500, 200]
    assert entry["attributes"]["attempts"][0]["error"] == "HTTP 500"
    assert entry["attributes"]["attempts"][0]["response"] == "receiver says no"


async def test_a_receiver_down_through_the_schedule_gets_the_webhook_disabled_then_nothing_lost(
    services: Services, setup: Setup, admin: Rest, chat: Chat, receiver: Receiver, defined: None
) -> None:
    hook = await subscribe(admin, receiver, [UPDATE])
    receiver.stop()
    conv = await chat.create_conversation()
    conv_id = conv["conversationId"] if "conversationId" in conv else conv["data"]["id"]
    for n in range(3):
        assert (await chat.describe(conv_id, {"orderNumberStr": f"D-{n}"})).status_code == 200

    async def disabled() -> Any:
        got = (await admin.get(f"/v1/outbound-webhooks/{hook['id']}")).json()["data"]
        return not got["attributes"]["enabled"] and got

    got = None
    for _ in range(100):
        got = await disabled()
        if got:
            break
        await asyncio.sleep(0.1)
    assert got, "the webhook was not disabled"
    assert "Disabled after 4 failed attempts" in got["attributes"]["disabledReason"]
    events = await services.db.read(lambda tx: event_store.events_after(tx, setup.org.id, 0))
    (event,) = [e for e in events if e.type == "outbound_webhook.disabled"]
    assert event.payload["webhookId"] == hook["id"]
    log = (await admin.get(f"/v1/outbound-webhooks/{hook['id']}/transactions")).json()["data"]
    oldest = log[-1]["attributes"]
    assert oldest["attemptCount"] == 4 and oldest["status"] == "pending"
    assert all("ConnectError" in a["error"] for a in oldest["attempts"])

    # Back up and re-enabled: what waited goes out, in order, nothing lost.
    receiver.start()
    enabled = await admin.patch(f"/v1/outbound-webhooks/{hook['id']}", json={"enabled": True})
    assert (
        enabled.status_code == 200
        and enabled.json()["data"]["attributes"]["disabledReason"] is None
    )
    updates = await arrived(receiver, UPDATE, 3)
    values = [u["changes"]["attributes"]["custom.orderNumberStr"]["after"] for u in updates]
    assert values == ["D-0", "D-1", "D-2"]


async def test_one_conversations_deliveries_keep_commit_order_under_concurrent_changes(
    services: Services, setup: Setup, admin: Rest, chat: Chat, receiver: Receiver, defined: None
) -> None:
    """Many describes of a few conversations at once, the receiver slow and failing
    now and then: per conversation, the receiver sees the values in commit order."""
    await subscribe(admin, receiver, [UPDATE])
    receiver.delay = 0.01
    receiver.statuses = [500, 200, 503, 200, 200, 500]
    convs = []
    for _ in range(3):
        conv = await chat.create_conversation()
        convs.append(conv["conversationId"] if "conversationId" in conv else conv["data"]["id"])

    async def describe_many(conv_id: str) -> None:
        for n in range(15):
            response = await chat.describe(conv_id, {"orderNumberStr": f"{n:02d}"})
            assert response.status_code == 200

    await asyncio.gather(*(describe_many(c) for c in convs))
    await eventually(
        lambda: len({e["id"] for e in receiver.envelopes(UPDATE)}) >= 45, "45 distinct updates"
    )
    for conv_id in convs:
        seen = [
            e["changes"]["attributes"]["custom.orderNumberStr"]["after"]
            for e in receiver.envelopes(UPDATE)
            if e["dataId"] == conv_id
        ]
        deduped = [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v]  # retries
        assert deduped == [f"{n:02d}" for n in range(15)], seen


async def test_a_test_event_and_a_redelivery(admin: Rest, receiver: Receiver) -> None:
    hook = await subscribe(admin, receiver, [UPDATE])
    sent = await admin.post(f"/v1/outbound-webhooks/{hook['id']}/test")
    assert sent.status_code == 202, sent.text
    (test,) = await arrived(receiver, "kustomer.webhook.test")
    assert test["dataId"] == hook["id"] and test["changes"] is None
    transaction = sent.json()["data"]["id"]
    again = await admin.post(
        f"/v1/outbound-webhooks/{hook['id']}/transactions/{transaction}/redeliver"
    )
    assert again.status_code == 202, again.text
    first, second = await arrived(receiver, "kustomer.webhook.test", 2)
    assert first["id"] == second["id"]
    missing = await admin.post(f"/v1/outbound-webhooks/{hook['id']}/transactions/999999/redeliver")
    assert missing.status_code == 404


async def test_an_agent_key_cannot_reach_webhooks(
    http: httpx.AsyncClient, services: Services, setup: Setup
) -> None:
    from klatch.domain.models import Role

    created = await services.orgs.create_key(setup.org.id, role=Role.USER, name="agent")
    agent = Rest(http, created.secret)
    assert (await agent.get("/v1/outbound-webhooks")).status_code == 403
    assert (await agent.get("/v1/outbound-webhooks/events")).status_code == 403
