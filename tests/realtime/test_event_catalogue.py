"""Every event Klatch emits matches its documented schema, and the docs name them all."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from pydantic import TypeAdapter

from klatch.config import Settings
from klatch.domain import events as ev
from klatch.domain.erasure import scrubbed
from klatch.domain.models import Event
from klatch.realtime.hub import Connection
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage import events as event_store
from support import Chat, Receiver, Rest, eventually, make_settings, start_chat

DOCS = Path(__file__).parents[2] / "docs" / "events.md"


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """Webhooks may reach the test's (closed) local receiver, and give up at once."""
    return make_settings(
        tmp_path,
        database_url,
        webhook_allow_http=True,
        webhook_allow_private=True,
        webhook_retry_schedule=(0.1,),
        webhook_poll_seconds=0.1,
    )


async def test_every_emitted_event_matches_its_schema(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    published: list[Event] = []
    services.bus.subscribe(published.extend)
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    await services.attributes.define(setup.org.id, "customer", "planStr")
    await services.attributes.define(setup.org.id, "message", "intentStr")

    created = await admin.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201, created.text
    conv = await chat.create_conversation(message="Where is my order?")
    conversation_id = conv["conversationId"]
    assert (await chat.describe(conversation_id, {"orderNumberStr": "A1"})).status_code == 200
    described = await chat.request(
        "PATCH", "/customers/current", json={"custom": {"planStr": "pro"}}
    )
    assert described.status_code == 200, described.text
    for typing in (True, False):
        sent = await chat.request(
            "POST", f"/conversations/{conversation_id}/typing", json={"typing": typing}
        )
        assert sent.status_code == 204, sent.text
    typing_reply = await admin.post(
        f"/v1/conversations/{conversation_id}/typing", json={"typing": True}
    )
    assert typing_reply.status_code == 204, typing_reply.text
    reply = await admin.post(f"/v1/conversations/{conversation_id}/messages", json={"body": "Hi"})
    assert reply.status_code == 201, reply.text
    annotated = await admin.patch(
        f"/v1/messages/{reply.json()['data']['id']}", json={"custom": {"intentStr": "greeting"}}
    )
    assert annotated.status_code == 200, annotated.text  # message.updated, for agents only
    note = await admin.post(f"/v1/conversations/{conversation_id}/notes", json={"body": "VIP"})
    assert note.status_code == 201, note.text  # note.created, for agents only
    rule = await admin.post(
        "/v1/routing/rules",
        json={
            "name": "Tag the rest",
            "criteria": {"and": [{"conversation_custom_orderNumberStr": {"equals": "none"}}]},
            "actions": [{"type": "addTags", "tags": ["rest"]}],
        },
    )
    assert rule.status_code == 201, rule.text  # routing_rule.changed
    # The org's teams, tags and users: created, changed, deleted.
    for path, made_with, changed in (
        ("/v1/teams", {"name": "billing"}, {"name": "payments"}),
        ("/v1/tags", {"name": "vip"}, {"color": "#00ff00"}),
        (
            "/v1/users",
            {
                "email": f"grace-{uuid.uuid4().hex}@example.com",
                "password": "long enough pw",
                "name": "Grace",
            },
            {"role": "admin"},
        ),
    ):
        made = await admin.post(path, json=made_with)
        assert made.status_code == 201, made.text
        object_path = f"{path}/{made.json()['data']['id']}"
        assert (await admin.patch(object_path, json=changed)).status_code == 200
        assert (await admin.request("DELETE", object_path)).status_code == 204
    patched = await admin.patch(
        f"/v1/conversations/{conversation_id}",
        json={"status": "done", "custom": {"orderNumberStr": None}},
    )
    assert patched.status_code == 200, patched.text
    token = jwt.encode(
        {"externalId": "ada-1", "iat": int(time.time())}, setup.org.jwt_secret, algorithm="HS256"
    )
    second = await start_chat(chat.http, setup.tracking_key.secret)
    await second.create_conversation(message="me again")
    login = await second.request("POST", "/login", json={"jwtToken": token})
    assert login.status_code == 200, login.text
    assert (await second.request("POST", "/logout")).status_code == 200  # credential.revoked
    customer_id = created.json()["data"]["id"]
    other = await admin.post(f"/v1/customers/{customer_id}/conversations", json={"name": "x"})
    other_id = other.json()["data"]["id"]
    assert (await admin.request("DELETE", f"/v1/conversations/{other_id}")).status_code == 204
    assert (await admin.request("DELETE", f"/v1/customers/{customer_id}")).status_code == 204
    receiver = Receiver()
    receiver.stop()  # down: the webhook fails through its schedule and is disabled
    hook = await admin.post(
        "/v1/outbound-webhooks",
        json={"name": "down", "url": receiver.url, "events": ["kustomer.conversation.update"]},
    )
    assert hook.status_code == 201, hook.text  # outbound_webhook.changed
    assert (await admin.post(f"/v1/outbound-webhooks/{hook.json()['data']['id']}/test")).is_success
    await eventually(
        lambda: any(e.type == ev.OUTBOUND_WEBHOOK_DISABLED for e in published), "the disabling"
    )

    seen: dict[str, int] = {}
    for event in published:
        schema = ev.PAYLOADS[event.type]
        TypeAdapter(schema).validate_python(event.payload)
        seen[event.type] = seen.get(event.type, 0) + 1
    assert set(seen) == set(ev.CATALOGUE), f"not exercised: {set(ev.CATALOGUE) - set(seen)}"
    # Teams, tags and users go to agents' sockets, never to a chat session's (not
    # even the session of a customer the write happened to name); no user event
    # holds a password or its hash.
    agent = Connection(setup.org.id, None)
    session = Connection(setup.org.id, customer_id)
    for event in published:
        if event.type in ev.ORG_OBJECTS:
            assert agent.admits(event)
            assert not session.admits(replace(event, customer_id=customer_id))
            text = str(event.payload).lower()
            assert "password" not in text and "hash" not in text and "argon" not in text
    # Stored events are the published ones (typing excepted), payloads identical --
    # but for the deleted conversation's and customer's, kept scrubbed of personal data.
    log = await services.db.read(lambda tx: event_store.events_after(tx, setup.org.id, 0, 10_000))
    stored = [e for e in published if e.type not in ev.EPHEMERAL]
    assert [(e.id, e.type) for e in stored] == [(e.id, e.type) for e in log]
    for published_event, kept in zip(stored, log, strict=True):
        TypeAdapter(ev.PAYLOADS[kept.type]).validate_python(kept.payload)
        erased = kept.conversation_id == other_id or kept.customer_id == customer_id
        assert kept.payload == (
            scrubbed(published_event.type, published_event.payload)
            if erased
            else published_event.payload
        )


def test_the_docs_describe_every_event_type() -> None:
    text = DOCS.read_text()
    missing = [
        t for t in ev.CATALOGUE if f"`{t}`" not in text and t.split(".")[0] + ".*" not in text
    ]
    assert not missing, f"docs/events.md does not describe {missing}"
    assert set(ev.PAYLOADS) == set(ev.CATALOGUE)
