"""A message and its custom attributes over REST, as Kustomer's: ``GET`` and
``PATCH /v1/messages/{id}`` (``custom`` merged, checked against the org's message
klass), ``custom`` on ``POST /v1/conversations/{id}/messages``; the writes are
found by ``message_custom_<name>`` in search, announced as ``message.updated`` to
agents' sockets and as ``kustomer.message.update`` to outbound webhooks. Real
SQLite and PostgreSQL, through the ASGI app."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from klatch.config import Settings
from klatch.domain import events as ev
from klatch.domain.models import Event, Role
from klatch.realtime.hub import Connection
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage import events as event_store
from support import (
    Chat,
    KlatchProcess,
    Receiver,
    Rest,
    error_codes,
    eventually,
    make_settings,
    prepare,
)

SEARCH = "/v1/customers/search"
API_MD = Path(__file__).parents[2] / "docs" / "api.md"
IDS_AND_TIMES = ("id", "createdAt", "updatedAt")
UPDATE = "kustomer.message.update"


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """Webhooks may reach the test's local receiver."""
    return make_settings(
        tmp_path,
        database_url,
        webhook_allow_http=True,
        webhook_allow_private=True,
        webhook_retry_schedule=(0.2,),
        webhook_poll_seconds=0.2,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    try:
        yield started
    finally:
        started.stop()


async def _define(services: Services, setup: Setup, *names: str, **options: Any) -> None:
    for name in names:
        await services.attributes.define(setup.org.id, "message", name, **options)


async def _message(admin: Rest, chat: Chat, **body: Any) -> dict[str, Any]:
    """An agent's reply in a new conversation: the created resource."""
    conv = await chat.create_conversation(message="Where is my order?")
    sent = await admin.post(
        f"/v1/conversations/{conv['conversationId']}/messages", json={"body": "On its way", **body}
    )
    assert sent.status_code == 201, sent.text
    data: dict[str, Any] = sent.json()["data"]
    return data


async def _get(admin: Rest, message_id: str) -> dict[str, Any]:
    got = await admin.get(f"/v1/messages/{message_id}")
    assert got.status_code == 200, got.text
    data: dict[str, Any] = got.json()["data"]
    return data


async def test_a_message_created_with_custom_is_read_back_as_the_list_shows_it(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await _define(services, setup, "intentStr", "scoreNum")
    created = await _message(admin, chat, custom={"intentStr": "tracking", "scoreNum": 0.9})
    assert created["attributes"]["custom"] == {"intentStr": "tracking", "scoreNum": 0.9}
    assert created["links"]["self"] == f"/v1/messages/{created['id']}"

    got = await _get(admin, created["id"])
    assert got == created
    conv_id = created["relationships"]["conversation"]["data"]["id"]
    listed = (await admin.get(f"/v1/conversations/{conv_id}/messages")).json()["data"]
    assert listed[-1] == got
    assert got["attributes"]["updatedAt"] == got["attributes"]["createdAt"]


async def test_a_bad_value_on_creation_stores_no_message(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await _define(services, setup, "scoreNum")
    conv = await chat.create_conversation(message="Hi")
    path = f"/v1/conversations/{conv['conversationId']}/messages"
    refused = await admin.post(path, json={"body": "x", "custom": {"scoreNum": "high"}})
    assert refused.status_code == 400, refused.text
    error = refused.json()["errors"][0]
    assert error["code"] == "type_mismatch" and error["source"]["pointer"] == "/custom/scoreNum"
    assert "scoreNum" in error["detail"]
    unknown = await admin.post(path, json={"body": "x", "custom": {"ghostStr": "boo"}})
    assert unknown.status_code == 400 and error_codes(unknown) == ["unknown_attribute"]
    assert "'ghostStr' is not defined on the message klass" in unknown.json()["errors"][0]["detail"]
    listed = (await admin.get(path)).json()["data"]
    assert [m["attributes"]["body"] for m in listed] == ["Hi"]


async def test_patch_merges_keys_and_null_clears_one(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await _define(services, setup, "intentStr", "scoreNum", "reviewedBool")
    created = await _message(admin, chat, custom={"intentStr": "tracking", "scoreNum": 1})
    path = f"/v1/messages/{created['id']}"
    await asyncio.sleep(0.002)  # a later millisecond than the creation

    patched = await admin.patch(path, json={"custom": {"scoreNum": 2, "reviewedBool": True}})
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert data["attributes"]["custom"] == {
        "intentStr": "tracking",
        "scoreNum": 2,
        "reviewedBool": True,
    }
    assert data["attributes"]["updatedAt"] > data["attributes"]["createdAt"]
    assert await _get(admin, created["id"]) == data

    cleared = await admin.patch(path, json={"custom": {"intentStr": None}})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["data"]["attributes"]["custom"] == {"scoreNum": 2, "reviewedBool": True}
    assert (await _get(admin, created["id"]))["attributes"]["custom"] == {
        "scoreNum": 2,
        "reviewedBool": True,
    }


async def test_a_mixed_patch_stores_nothing_and_names_the_attribute_and_klass(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await _define(services, setup, "intentStr", "scoreNum")
    created = await _message(admin, chat, custom={"intentStr": "tracking"})
    path = f"/v1/messages/{created['id']}"

    refused = await admin.patch(path, json={"custom": {"intentStr": "refund", "scoreNum": "hi"}})
    assert refused.status_code == 400, refused.text
    (error,) = refused.json()["errors"]
    assert error["code"] == "type_mismatch"
    assert error["source"]["pointer"] == "/custom/scoreNum"
    assert "scoreNum" in error["detail"]
    unknown = await admin.patch(path, json={"custom": {"intentStr": "x", "ghostStr": "boo"}})
    assert unknown.status_code == 400 and error_codes(unknown) == ["unknown_attribute"]
    assert "'ghostStr' is not defined on the message klass" in unknown.json()["errors"][0]["detail"]
    assert unknown.json()["errors"][0]["source"]["pointer"] == "/custom/ghostStr"
    for body in ({"custom": "x"}, {"body": "rewritten"}):
        bad = await admin.patch(path, json=body)
        assert bad.status_code == 400, bad.text
    assert await _get(admin, created["id"]) == created  # nothing changed, not even updatedAt


async def test_another_orgs_message_or_a_missing_one_is_the_same_404(
    services: Services, setup: Setup, admin: Rest, chat: Chat, http: httpx.AsyncClient
) -> None:
    await _define(services, setup, "intentStr")
    created = await _message(admin, chat, custom={"intentStr": "tracking"})
    other = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:8]}")
    await services.attributes.define(other.org.id, "message", "intentStr")
    stranger = Rest(http, other.admin_key.secret)
    for path in (f"/v1/messages/{created['id']}", f"/v1/messages/{'0' * 24}"):
        for answer in (
            await stranger.get(path),
            await stranger.patch(path, json={"custom": {"intentStr": "stolen"}}),
        ):
            assert answer.status_code == 404, answer.text
            assert error_codes(answer) == ["message_not_found"]
    assert (await _get(admin, created["id"]))["attributes"]["custom"] == {"intentStr": "tracking"}


async def test_a_tracking_key_is_forbidden_a_session_token_unknown_an_agent_key_may(
    services: Services, setup: Setup, admin: Rest, chat: Chat, http: httpx.AsyncClient
) -> None:
    await _define(services, setup, "intentStr")
    created = await _message(admin, chat)
    path = f"/v1/messages/{created['id']}"
    # As every other REST read and write: a tracking key is refused its role (403); a
    # chat session token or an unknown key is no API key (401).
    for secret, status in ((setup.tracking_key.secret, 403), (chat.token, 401), ("nope", 401)):
        caller = Rest(http, secret)
        assert (await caller.get(path)).status_code == status
        patched = await caller.patch(path, json={"custom": {"intentStr": "x"}})
        assert patched.status_code == status, patched.text
    assert (await _get(admin, created["id"]))["attributes"]["custom"] == {}
    agent_key = await services.orgs.create_key(setup.org.id, role=Role.USER, name="agent")
    agent = Rest(http, agent_key.secret)
    patched = await agent.patch(path, json={"custom": {"intentStr": "x"}})
    assert patched.status_code == 200, patched.text
    assert (await agent.get(path)).json()["data"]["attributes"]["custom"] == {"intentStr": "x"}


async def test_concurrent_patches_of_one_message_keep_every_key(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    names = [f"key{i}Str" for i in range(20)]
    await _define(services, setup, *names)
    created = await _message(admin, chat)
    path = f"/v1/messages/{created['id']}"
    answers = await asyncio.gather(
        *(admin.patch(path, json={"custom": {name: "v"}}) for name in names)
    )
    assert [a.status_code for a in answers] == [200] * len(names)
    assert sorted((await _get(admin, created["id"]))["attributes"]["custom"]) == sorted(names)


async def test_search_finds_and_sorts_messages_by_what_patch_wrote(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await _define(services, setup, "scoreNum", "intentStr")
    low, high, untouched = [await _message(admin, chat) for _ in range(3)]
    for message, score in ((low, 1), (high, 5)):
        patched = await admin.patch(
            f"/v1/messages/{message['id']}", json={"custom": {"scoreNum": score}}
        )
        assert patched.status_code == 200, patched.text

    async def found(*criteria: dict[str, Any], **body: Any) -> list[dict[str, Any]]:
        answer = await admin.post(
            SEARCH, json={"queryContext": "message", "and": list(criteria), **body}
        )
        assert answer.status_code == 200, answer.text
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    by_score = await found({"message_custom_scoreNum": {"gte": 2}})
    assert [m["id"] for m in by_score] == [high["id"]]
    assert by_score[0] == await _get(admin, high["id"])
    ordered = await found(
        {"message_custom_scoreNum": {"gte": 0}}, sort=[{"message_custom_scoreNum": "desc"}]
    )
    assert [m["id"] for m in ordered] == [high["id"], low["id"]]
    # A sync tool re-queries from the last record's updatedAt: the patched ones are after.
    since = (await _get(admin, high["id"]))["attributes"]["updatedAt"]
    newer = await found(
        {"message_updated_at": {"gte": since}}, sort=[{"message_updated_at": "asc"}]
    )
    assert [m["id"] for m in newer] == [high["id"]]
    cleared = await admin.patch(f"/v1/messages/{high['id']}", json={"custom": {"scoreNum": None}})
    assert cleared.status_code == 200, cleared.text
    assert [m["id"] for m in await found({"message_custom_scoreNum": {"gte": 2}})] == []
    assert untouched["id"] not in [m["id"] for m in ordered]


async def test_a_patch_is_announced_to_agents_and_to_webhooks(
    services: Services, setup: Setup, admin: Rest, chat: Chat, receiver: Receiver
) -> None:
    await _define(services, setup, "intentStr")
    made = await admin.post(
        "/v1/outbound-webhooks", json={"name": "CRM", "url": receiver.url, "events": [UPDATE]}
    )
    assert made.status_code == 201, made.text
    published: list[Event] = []
    services.bus.subscribe(published.extend)
    created = await _message(admin, chat, custom={"intentStr": "tracking"})
    path = f"/v1/messages/{created['id']}"
    patched = await admin.patch(path, json={"custom": {"intentStr": "refund"}})
    assert patched.status_code == 200, patched.text
    unchanged = await admin.patch(path, json={"custom": {"intentStr": "refund"}})
    assert unchanged.status_code == 200

    (event,) = [e for e in published if e.type == ev.MESSAGE_UPDATED]  # none for no change
    assert event.payload["messageId"] == created["id"]
    assert event.payload["changes"] == {
        "custom": {"intentStr": {"before": "tracking", "after": "refund"}}
    }
    assert event.payload["custom"] == {"intentStr": "refund"}
    customer_id = created["relationships"]["customer"]["data"]["id"]
    assert event.customer_id == customer_id
    assert Connection(setup.org.id, None).admits(event)  # an agent's socket
    assert not Connection(setup.org.id, customer_id).admits(event)  # not the widget's

    (envelope,) = await eventually(lambda: receiver.envelopes(UPDATE), "the message webhook")
    assert envelope["dataId"] == created["id"]
    assert envelope["data"] == patched.json()["data"]
    assert envelope["changes"]["attributes"] == {
        "custom.intentStr": {"op": "replace", "before": "tracking", "after": "refund"}
    }
    assert envelope["meta"] == {"customChanged": True}
    assert envelope["client"] == "api"


async def test_the_new_operations_are_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    operations = document["paths"]["/v1/messages/{message_id}"]
    assert set(operations) == {"get", "patch"}
    for method, operation in operations.items():
        declared = set(operation["responses"])
        assert {"200", "400", "401", "403", "404"} <= declared, (method, declared)
        assert "422" not in declared
    body = operations["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/MessageUpdate"}
    created = document["components"]["schemas"]["MessageCreate"]["properties"]
    assert "custom" in created


async def test_the_api_md_message_example_is_what_the_server_answers(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    text = API_MD.read_text()
    after = text.index("### Message custom attributes")
    block = re.search(r"```json\n(.*?)```", text[after:], re.S)
    assert block is not None
    documented = json.loads(block.group(1))
    defined = await admin.put(
        "/v1/metadata/message", json={"properties": {"intentStr": {}, "sentimentNum": {}}}
    )
    assert defined.status_code == 200, defined.text
    conv = await chat.create_conversation(message="I want my money back")
    listed = await admin.get(f"/v1/conversations/{conv['conversationId']}/messages")
    message_id = listed.json()["data"][0]["id"]
    patched = await admin.patch(
        f"/v1/messages/{message_id}",
        json={"custom": {"intentStr": "refund", "sentimentNum": -0.4}},
    )
    assert patched.status_code == 200, patched.text
    answered = patched.json()

    def shape(document: Any) -> Any:
        """The document with ids and times as placeholders: what the example can fix."""
        if isinstance(document, dict):
            return {k: "…" if k in IDS_AND_TIMES else shape(v) for k, v in document.items()}
        if isinstance(document, str) and document.startswith("/v1/"):
            return document.rsplit("/", 1)[0]
        return document

    assert shape(answered) == shape(documented)


async def test_deleting_the_conversation_scrubs_its_messages_custom_from_the_log(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await _define(services, setup, "intentStr")
    created = await _message(admin, chat, custom={"intentStr": "tracking"})
    patched = await admin.patch(
        f"/v1/messages/{created['id']}", json={"custom": {"intentStr": "refund"}}
    )
    assert patched.status_code == 200, patched.text
    conv_id = created["relationships"]["conversation"]["data"]["id"]
    assert (await admin.delete(f"/v1/conversations/{conv_id}")).status_code == 204

    assert (await admin.get(f"/v1/messages/{created['id']}")).status_code == 404
    log = await services.db.read(lambda tx: event_store.events_after(tx, setup.org.id, 0, 1000))
    (kept,) = [e for e in log if e.type == ev.MESSAGE_UPDATED]
    assert kept.payload["messageId"] == created["id"]  # that it changed, and what
    assert kept.payload["changes"] == {"custom": {"intentStr": {"before": None, "after": None}}}
    assert kept.payload["custom"] == {}
    assert "refund" not in str(kept.payload) and "tracking" not in str(kept.payload)


async def test_an_agents_socket_hears_the_change_and_the_customers_does_not(
    tmp_path: Path,
) -> None:
    env, keys = prepare(tmp_path)
    admin = {"Authorization": f"Bearer {keys['adminKey']}"}
    tracking = {"Authorization": f"Bearer {keys['trackingKey']}"}
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            defined = await http.put(
                "/v1/metadata/message", json={"properties": {"intentStr": {}}}, headers=admin
            )
            assert defined.status_code == 200, defined.text
            token = (await http.post("/c/v1/sessions", headers=tracking)).json()["sessionToken"]
            session = {**tracking, "X-Klatch-Session": token}
            conv = await http.post("/c/v1/conversations", json={"message": "hi"}, headers=session)
            conv_id = conv.json()["conversationId"]
            listed = await http.get(f"/v1/conversations/{conv_id}/messages", headers=admin)
            message_id = listed.json()["data"][0]["id"]
            chat_url = f"{server.ws_url}/c/v1/realtime?key={keys['trackingKey']}&session={token}"
            async with (
                websockets.connect(chat_url) as chat,
                websockets.connect(
                    f"{server.ws_url}/v1/realtime", additional_headers=admin
                ) as agent,
            ):
                assert (await _frame(chat))["op"] == (await _frame(agent))["op"] == "hello"
                patched = await http.patch(
                    f"/v1/messages/{message_id}",
                    json={"custom": {"intentStr": "greeting"}},
                    headers=admin,
                )
                assert patched.status_code == 200, patched.text
                heard = await _frame(agent)
                assert heard["op"] == "event" and heard["type"] == ev.MESSAGE_UPDATED
                assert heard["data"]["messageId"] == message_id
                assert heard["data"]["custom"] == {"intentStr": "greeting"}
                # What the customer hears next is the reply sent after it, not the change.
                await http.post(
                    f"/v1/conversations/{conv_id}/messages", json={"body": "Hi!"}, headers=admin
                )
                after = await _frame(chat)
                assert after["op"] == "event" and after["type"] == ev.MESSAGE_CREATED


async def _frame(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 5)))
