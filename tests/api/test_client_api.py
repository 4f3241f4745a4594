"""The chat client API (``/c/v1``) over HTTP, as the browser SDKs call it.

Every test runs against real SQLite and real PostgreSQL (the ``database_url``
fixture parametrises them). Data is set up through the real services; what a
request stored is checked by reading it back through the API, and the event
log through the REST events endpoint an integration uses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage.db import Tx
from klatch.storage.events import last_event_id
from support import Chat, Rest, error_codes, start_chat

# ---------------------------------------------------------------- helpers


async def define(services: Services, setup: Setup, name: str, **options: Any) -> None:
    klass = options.pop("klass", "conversation")
    await services.attributes.define(setup.org.id, klass, name, **options)


async def custom_of(chat: Chat, conversation_id: str) -> dict[str, Any]:
    response = await chat.request("GET", f"/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["custom"])


async def messages_of(chat: Chat, conversation_id: str) -> list[dict[str, Any]]:
    response = await chat.request("GET", f"/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


async def conversation_ids(chat: Chat) -> set[str]:
    response = await chat.request("GET", "/conversations")
    assert response.status_code == 200, response.text
    return {c["conversationId"] for c in response.json()["conversations"]}


async def updated_events(admin: Rest, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation.updated entries of the event log, oldest first."""
    response = await admin.get(f"/v1/conversations/{conversation_id}/events")
    assert response.status_code == 200, response.text
    return [
        e["attributes"]
        for e in response.json()["data"]
        if e["attributes"]["name"] == "conversation.updated"
    ]


async def current_customer(chat: Chat) -> dict[str, Any]:
    response = await chat.request("GET", "/customers/current")
    assert response.status_code == 200, response.text
    return dict(response.json())


def fake_id() -> str:
    return secrets.token_hex(12)  # the shape of a real id, belonging to nobody


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes) -> str:
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return ".".join([*(b64(p) for p in parts), b64(signature)])


async def org_secret(services: Services, setup: Setup) -> str:
    return await services.chat.org_secret(setup.org.id)


async def login(chat: Chat, token: str) -> httpx.Response:
    return await chat.request("POST", "/login", json={"jwtToken": token})


def hs256(secret: str, **claims: Any) -> str:
    return jwt.encode({"iat": int(time.time()), **claims}, secret, algorithm="HS256")


# ---------------------------------------------------------------- sessions and settings


async def test_a_session_starts_with_the_tracking_key(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    headers = {"Authorization": f"Bearer {setup.tracking_key.secret}"}
    response = await http.post("/c/v1/sessions", headers=headers)
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["sessionToken"]
    assert started["orgId"] == setup.org.id
    assert started["brandId"] == setup.brand.id
    assert started["resumed"] is False
    assert started["availability"] == "online"

    again = await http.post(
        "/c/v1/sessions", headers={**headers, "X-Klatch-Session": started["sessionToken"]}
    )
    assert again.status_code == 200, again.text
    assert again.json()["resumed"] is True
    assert again.json()["customerId"] == started["customerId"]


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [(None, 401, "invalid_api_key"), ("kt_nope", 401, "invalid_api_key"), ("admin", 403, None)],
)
async def test_a_session_needs_a_tracking_key(
    http: httpx.AsyncClient, setup: Setup, key: str | None, status: int, code: str | None
) -> None:
    secret = setup.admin_key.secret if key == "admin" else key
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    response = await http.post("/c/v1/sessions", headers=headers)
    assert response.status_code == status, response.text
    if code:
        assert error_codes(response) == [code]


async def test_requests_without_a_valid_session_token_are_refused(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    key = {"Authorization": f"Bearer {setup.tracking_key.secret}"}
    for headers in (key, {**key, "X-Klatch-Session": "ks_forged"}):
        response = await http.get("/c/v1/conversations", headers=headers)
        assert response.status_code == 401
        assert error_codes(response) == ["invalid_session"]


@pytest.mark.parametrize("session", ["none", "forged", "logged_out"])
async def test_describe_needs_a_live_session(
    services: Services, http: httpx.AsyncClient, setup: Setup, chat: Chat, session: str
) -> None:
    await define(services, setup, "orderNumberStr")
    conversation_id = (await chat.create_conversation())["conversationId"]
    if session == "logged_out":
        stale = await start_chat(http, setup.tracking_key.secret)
        assert (await stale.request("POST", "/logout")).status_code == 200
        headers = {"X-Klatch-Session": stale.token}
    else:
        headers = {"X-Klatch-Session": "ks_forged"} if session == "forged" else {}
    response = await http.patch(
        f"/c/v1/conversations/{conversation_id}",
        json={"custom": {"orderNumberStr": "HACK"}},
        headers={"Authorization": f"Bearer {setup.tracking_key.secret}", **headers},
    )
    assert response.status_code == 401, response.text
    assert error_codes(response) == ["invalid_session"]
    assert await custom_of(chat, conversation_id) == {}


async def test_describe_without_a_session_is_told_about_the_session_first(
    http: httpx.AsyncClient, setup: Setup, chat: Chat
) -> None:
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await http.patch(
        f"/c/v1/conversations/{conversation_id}",
        json={"custom": {"ghostStr": "x"}},
        headers={"Authorization": f"Bearer {setup.tracking_key.secret}"},
    )
    assert error_codes(response) == ["invalid_session"]


async def test_settings_of_the_brand(http: httpx.AsyncClient, setup: Setup) -> None:
    response = await http.get(
        "/c/v1/settings", headers={"Authorization": f"Bearer {setup.tracking_key.secret}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["brandId"] == setup.brand.id
    assert body["availability"] == "online"
    assert body["settings"]["greeting"]


# ---------------------------------------------------------------- conversations and messages


async def test_create_a_conversation_with_a_title_and_a_first_message(chat: Chat) -> None:
    created = await chat.create_conversation(title="Order 42", message="Where is my order?")
    conversation_id = created["conversationId"]
    assert created["title"] == "Order 42"
    assert created["ended"] is False
    assert created["message"]["body"] == "Where is my order?"
    assert created["message"]["direction"] == "in"

    assert await conversation_ids(chat) == {conversation_id}
    [message] = await messages_of(chat, conversation_id)
    assert message["body"] == "Where is my order?"
    assert message["messageId"] == created["message"]["messageId"]


async def test_messages_are_listed_in_the_order_they_were_sent(chat: Chat) -> None:
    conversation_id = (await chat.create_conversation(message="one"))["conversationId"]
    for body in ("two", "three"):
        response = await chat.request(
            "POST", f"/conversations/{conversation_id}/messages", json={"body": body}
        )
        assert response.status_code == 201, response.text
        assert response.json()["direction"] == "in"
    assert [m["body"] for m in await messages_of(chat, conversation_id)] == ["one", "two", "three"]


async def test_a_session_lists_all_and_only_its_conversations(
    http: httpx.AsyncClient, setup: Setup, chat: Chat
) -> None:
    mine = {(await chat.create_conversation(title=f"c{i}"))["conversationId"] for i in range(3)}
    other = await start_chat(http, setup.tracking_key.secret)
    await other.create_conversation(title="not yours")
    assert await conversation_ids(chat) == mine


async def test_conversations_and_messages_are_paged(chat: Chat) -> None:
    ids = [(await chat.create_conversation(message=f"m{i}"))["conversationId"] for i in range(3)]
    for body in ("m0 again", "m0 once more"):
        await chat.request("POST", f"/conversations/{ids[0]}/messages", json={"body": body})

    first = (await chat.request("GET", "/conversations?pageSize=2")).json()
    second = (await chat.request("GET", "/conversations?pageSize=2&page=2")).json()
    assert first["pages"]["next"] == 2 and second["pages"]["next"] is None
    seen = [c["conversationId"] for c in first["conversations"] + second["conversations"]]
    assert sorted(seen) == sorted(ids)

    path = f"/conversations/{ids[0]}/messages"
    pages = [(await chat.request("GET", f"{path}?pageSize=2&page={n}")).json() for n in (1, 2)]
    assert [m["body"] for p in pages for m in p["messages"]] == ["m0", "m0 again", "m0 once more"]
    beyond = await chat.request("GET", f"{path}?pageSize=2&page=1000")
    assert beyond.status_code == 200 and beyond.json()["messages"] == []


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "pageSize=0",
        "pageSize=101",
        "page=two",
        "page=" + "9" * 22,
        f"page={2**63 - 1}",
    ],
)
@pytest.mark.parametrize("path", ["/conversations", "/conversations/{id}/messages"])
async def test_bad_paging_is_a_clear_400(chat: Chat, path: str, query: str) -> None:
    conversation_id = (await chat.create_conversation(message="hi"))["conversationId"]
    response = await chat.request("GET", path.format(id=conversation_id) + "?" + query)
    assert response.status_code == 400, response.text
    assert error_codes(response) == ["invalid_arguments"]


@pytest.mark.parametrize("body", [{"body": ""}, {"body": "   "}, {"body": 5}, {}])
async def test_an_empty_message_is_refused(chat: Chat, body: dict[str, Any]) -> None:
    conversation_id = (await chat.create_conversation(message="hi"))["conversationId"]
    response = await chat.request("POST", f"/conversations/{conversation_id}/messages", json=body)
    assert response.status_code == 400
    assert len(await messages_of(chat, conversation_id)) == 1


async def test_ending_a_conversation_refuses_further_messages(chat: Chat) -> None:
    conversation_id = (await chat.create_conversation(message="hi"))["conversationId"]
    ended = await chat.request("POST", f"/conversations/{conversation_id}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended"] is True
    assert ended.json()["endedAt"]

    response = await chat.request(
        "POST", f"/conversations/{conversation_id}/messages", json={"body": "still there?"}
    )
    assert response.status_code == 409
    assert error_codes(response) == ["conversation_ended"]
    assert [m["body"] for m in await messages_of(chat, conversation_id)] == ["hi"]

    again = await chat.request("POST", f"/conversations/{conversation_id}/end")
    assert again.status_code == 200
    assert again.json()["endedAt"] == ended.json()["endedAt"]


async def test_agent_messages_count_as_unread_until_marked_read(chat: Chat, admin: Rest) -> None:
    conversation_id = (await chat.create_conversation(message="hi"))["conversationId"]
    unread = await chat.request("GET", "/unread")
    assert unread.json()["total"] == 0  # the customer's own message is not unread
    before = unread.json()["lastEventId"]

    for body in ("Hello!", "Let me check."):
        sent = await admin.post(
            f"/v1/conversations/{conversation_id}/messages", json={"body": body}
        )
        assert sent.status_code == 201, sent.text
    unread = await chat.request("GET", "/unread")
    counts = unread.json()
    # Where a socket should start so that nothing after these counts is missed.
    newest = counts.pop("lastEventId")
    assert counts == {"total": 2, "conversations": {conversation_id: 2}}
    assert newest >= before + 2  # each message is an event

    read = await chat.request("POST", f"/conversations/{conversation_id}/read")
    assert read.status_code == 200, read.text
    assert (await chat.request("GET", "/unread")).json()["total"] == 0
    assert [m["direction"] for m in await messages_of(chat, conversation_id)] == [
        "in",
        "out",
        "out",
    ]


# ---------------------------------------------------------------- describeConversation


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("orderNumberStr", "A-1042", "A-1042"),
        ("transcriptTxt", "bot: hi\n" * 2000, "bot: hi\n" * 2000),
        ("totalOrdersNum", 7, 7),
        ("cartValueNum", 129.95, 129.95),
        ("vipBool", False, False),
        ("lastOrderAt", "2026-11-25T14:30:00+05:30", "2026-11-25T09:00:00.000Z"),
        ("receiptUrl", "https://shop.example.com/r/42?x=1", "https://shop.example.com/r/42?x=1"),
    ],
)
async def test_describe_stores_each_type(
    services: Services, setup: Setup, chat: Chat, name: str, value: Any, stored: Any
) -> None:
    await define(services, setup, name)
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await chat.describe(conversation_id, {name: value})
    assert response.status_code == 200, response.text
    assert response.json() == {"conversationId": conversation_id, "custom": {name: stored}}
    assert await custom_of(chat, conversation_id) == {name: stored}


async def test_describe_an_attribute_with_an_explicit_type(
    services: Services, setup: Setup, chat: Chat
) -> None:
    await define(services, setup, "some_custom_attribute", type_="num")
    conversation_id = (await chat.create_conversation())["conversationId"]
    ok = await chat.describe(conversation_id, {"some_custom_attribute": 3})
    assert ok.status_code == 200, ok.text
    bad = await chat.describe(conversation_id, {"some_custom_attribute": "3"})
    assert error_codes(bad) == ["type_mismatch"]
    assert await custom_of(chat, conversation_id) == {"some_custom_attribute": 3}


async def test_describe_merges_keys_and_null_clears_one(
    services: Services, setup: Setup, chat: Chat
) -> None:
    for name in ("orderNumberStr", "planStr", "vipBool"):
        await define(services, setup, name)
    conversation_id = (await chat.create_conversation())["conversationId"]
    await chat.describe(conversation_id, {"orderNumberStr": "A1", "planStr": "pro"})

    response = await chat.describe(conversation_id, {"vipBool": True, "planStr": None})
    assert response.status_code == 200, response.text
    expected = {"orderNumberStr": "A1", "vipBool": True}
    assert response.json()["custom"] == expected
    assert await custom_of(chat, conversation_id) == expected

    cleared_again = await chat.describe(conversation_id, {"planStr": None})
    assert cleared_again.status_code == 200
    assert await custom_of(chat, conversation_id) == expected


async def test_create_with_custom_attributes(services: Services, setup: Setup, chat: Chat) -> None:
    await define(services, setup, "orderNumberStr")
    created = await chat.create_conversation(customAttributes={"orderNumberStr": "A1"})
    assert await custom_of(chat, created["conversationId"]) == {"orderNumberStr": "A1"}


async def test_create_with_an_undefined_attribute_creates_nothing(chat: Chat) -> None:
    response = await chat.request(
        "POST", "/conversations", json={"message": "hi", "customAttributes": {"ghostStr": "x"}}
    )
    assert response.status_code == 400
    assert error_codes(response) == ["unknown_attribute"]
    assert await conversation_ids(chat) == set()


async def test_an_undefined_attribute_is_named_and_never_stored(chat: Chat, admin: Rest) -> None:
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await chat.describe(conversation_id, {"couponCodeStr": "SAVE10"})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["status"] == "400"
    assert error["code"] == "unknown_attribute"
    assert "couponCodeStr" in error["detail"]
    assert "conversation" in error["detail"]  # the klass it is missing from
    assert error["source"]["pointer"] == "/custom/couponCodeStr"
    assert await custom_of(chat, conversation_id) == {}
    assert await updated_events(admin, conversation_id) == []


async def test_an_attribute_of_another_klass_is_unknown_on_conversations(
    services: Services, setup: Setup, chat: Chat
) -> None:
    await define(services, setup, "loyaltyTierStr", klass="customer")
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await chat.describe(conversation_id, {"loyaltyTierStr": "gold"})
    assert error_codes(response) == ["unknown_attribute"]


async def test_a_read_only_attribute_is_refused_to_the_browser(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    await define(services, setup, "riskScoreNum", sdk_writable=False)
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await chat.describe(conversation_id, {"riskScoreNum": 1})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "attribute_read_only"
    assert error["source"]["pointer"] == "/custom/riskScoreNum"
    assert await custom_of(chat, conversation_id) == {}

    by_agent = await admin.patch(
        f"/v1/conversations/{conversation_id}", json={"custom": {"riskScoreNum": 9}}
    )
    assert by_agent.status_code == 200, by_agent.text
    assert await custom_of(chat, conversation_id) == {"riskScoreNum": 9}
    cleared = await chat.describe(conversation_id, {"riskScoreNum": None})
    assert error_codes(cleared) == ["attribute_read_only"]
    assert await custom_of(chat, conversation_id) == {"riskScoreNum": 9}


@pytest.mark.parametrize(
    ("name", "options", "value", "code"),
    [
        ("noteStr", {}, "x" * 1025, "value_too_long"),
        ("transcriptTxt", {}, "x" * (64 * 1024 + 1), "value_too_long"),
        ("planStr", {"enumeration": ["free", "pro"]}, "gold", "value_not_allowed"),
        ("reasonStr", {"tree": ["shipping.delayed"]}, "shipping.lost", "value_not_allowed"),
        ("vipBool", {}, "true", "type_mismatch"),
        ("totalNum", {}, True, "type_mismatch"),
        ("lastOrderAt", {}, "2026-11-25T14:30:00", "type_mismatch"),
        ("lastOrderAt", {}, "0001-01-01T00:00:00+05:00", "type_mismatch"),
        ("receiptUrl", {}, "javascript:alert(1)", "type_mismatch"),
    ],
)
async def test_a_value_breaking_its_type_is_refused(
    services: Services,
    setup: Setup,
    chat: Chat,
    name: str,
    options: dict[str, Any],
    value: Any,
    code: str,
) -> None:
    await define(services, setup, name, **options)
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await chat.describe(conversation_id, {name: value})
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["code"] == code
    assert name in error["detail"]
    assert error["source"]["pointer"] == f"/custom/{name}"
    assert await custom_of(chat, conversation_id) == {}


async def test_a_tree_path_is_accepted(services: Services, setup: Setup, chat: Chat) -> None:
    await define(services, setup, "reasonStr", tree=["shipping.delayed", "billing"])
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await chat.describe(conversation_id, {"reasonStr": "shipping.delayed"})
    assert response.status_code == 200, response.text
    assert await custom_of(chat, conversation_id) == {"reasonStr": "shipping.delayed"}


async def test_a_mixed_update_stores_nothing_and_names_every_offender(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    for name in ("orderNumberStr", "totalNum", "vipBool"):
        await define(services, setup, name)
    conversation_id = (await chat.create_conversation())["conversationId"]
    await chat.describe(conversation_id, {"orderNumberStr": "A1"})
    events_before = await updated_events(admin, conversation_id)

    response = await chat.describe(
        conversation_id,
        {"orderNumberStr": "B2", "totalNum": 3, "vipBool": "yes", "ghostStr": "boo"},
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {(e["source"]["pointer"], e["code"]) for e in errors} == {
        ("/custom/vipBool", "type_mismatch"),
        ("/custom/ghostStr", "unknown_attribute"),
    }
    assert await custom_of(chat, conversation_id) == {"orderNumberStr": "A1"}
    assert await updated_events(admin, conversation_id) == events_before


async def test_101_keys_are_refused_and_100_accepted(
    services: Services, setup: Setup, chat: Chat
) -> None:
    names = [f"field{i}Num" for i in range(101)]
    await services.attributes.put_properties(
        setup.org.id, "conversation", {n: {"displayName": n} for n in names[:100]}
    )
    await define(services, setup, names[100])
    conversation_id = (await chat.create_conversation())["conversationId"]

    too_many = await chat.describe(conversation_id, {n: 1 for n in names})
    assert too_many.status_code == 400
    assert error_codes(too_many) == ["too_many_attributes"]
    assert await custom_of(chat, conversation_id) == {}

    hundred = {n: i for i, n in enumerate(names[:100])}
    assert (await chat.describe(conversation_id, hundred)).status_code == 200
    assert await custom_of(chat, conversation_id) == hundred


@pytest.mark.parametrize(
    "body",
    [{}, {"custom": None}, {"custom": ["orderNumberStr"]}, {"custom": "x"}, ["custom"]],
)
async def test_describe_needs_an_object_of_custom_attributes(
    services: Services, setup: Setup, chat: Chat, body: Any
) -> None:
    await define(services, setup, "orderNumberStr")
    conversation_id = (await chat.create_conversation())["conversationId"]
    response = await chat.request("PATCH", f"/conversations/{conversation_id}", json=body)
    assert response.status_code == 400, response.text
    assert await custom_of(chat, conversation_id) == {}


async def test_describe_appends_one_event_with_the_changes(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    for name in ("orderNumberStr", "totalNum", "vipBool"):
        await define(services, setup, name)
    conversation_id = (await chat.create_conversation())["conversationId"]
    await chat.describe(conversation_id, {"orderNumberStr": "A1", "totalNum": 1})
    before = await updated_events(admin, conversation_id)

    response = await chat.describe(
        conversation_id, {"orderNumberStr": "A1", "totalNum": 2, "vipBool": True}
    )
    assert response.status_code == 200, response.text
    after = await updated_events(admin, conversation_id)
    assert after[: len(before)] == before
    [event] = after[len(before) :]
    assert event["payload"]["conversationId"] == conversation_id
    assert event["payload"]["changes"]["custom"] == {
        "totalNum": {"before": 1, "after": 2},
        "vipBool": {"before": None, "after": True},
    }
    assert event["payload"]["custom"] == {"orderNumberStr": "A1", "totalNum": 2, "vipBool": True}
    assert event["actor"]["type"] == "customer"

    await chat.describe(conversation_id, {"vipBool": None})
    [cleared] = (await updated_events(admin, conversation_id))[len(after) :]
    assert cleared["payload"]["changes"]["custom"] == {"vipBool": {"before": True, "after": None}}


async def test_describe_writes_only_what_really_changes(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    # A describe that changes nothing stores nothing (no event, updatedAt and the
    # version stay); 1 and 1.0 are different numbers to the event log, as they are
    # to the stored value; a null for a key never set is no change either.
    for name in ("totalNum", "cityStr", "issueTree"):
        options = {"tree": ["shipping.delayed"]} if name == "issueTree" else {}
        await define(services, setup, name, **options)
    conversation_id = (await chat.create_conversation())["conversationId"]
    path = f"/v1/conversations/{conversation_id}"
    first = {"totalNum": 1, "cityStr": "Åre", "issueTree": "shipping.delayed"}
    assert (await chat.describe(conversation_id, first)).status_code == 200
    stamped = (await admin.get(path)).json()["data"]["attributes"]["updatedAt"]
    events = len(await updated_events(admin, conversation_id))

    for same in (first, {"cityStr": "Åre", "totalNum": 1}):
        response = await chat.describe(conversation_id, same)
        assert response.status_code == 200, response.text
        assert response.json()["custom"] == first
    await define(services, setup, "neverSetStr")
    assert (await chat.describe(conversation_id, {"neverSetStr": None})).status_code == 200
    assert len(await updated_events(admin, conversation_id)) == events
    assert (await admin.get(path)).json()["data"]["attributes"]["updatedAt"] == stamped

    changed = await chat.describe(conversation_id, {"totalNum": 1.5})
    assert changed.json()["custom"]["totalNum"] == 1.5
    back = await chat.describe(conversation_id, {"totalNum": 1})
    assert back.json()["custom"]["totalNum"] == 1
    later = await updated_events(admin, conversation_id)
    assert [e["payload"]["changes"]["custom"] for e in later[events:]] == [
        {"totalNum": {"before": 1, "after": 1.5}},
        {"totalNum": {"before": 1.5, "after": 1}},
    ]
    assert await custom_of(chat, conversation_id) == {**first, "totalNum": 1}


async def test_concurrent_describes_of_different_keys_all_survive(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    names = [f"key{i}Str" for i in range(50)]
    await services.attributes.put_properties(
        setup.org.id, "conversation", {n: {"displayName": n} for n in names}
    )
    conversation_id = (await chat.create_conversation())["conversationId"]

    responses = await asyncio.gather(
        *(chat.describe(conversation_id, {n: str(i)}) for i, n in enumerate(names))
    )
    assert [r.status_code for r in responses] == [200] * 50
    assert await custom_of(chat, conversation_id) == {n: str(i) for i, n in enumerate(names)}

    events = await updated_events(admin, conversation_id)
    assert sorted(k for e in events for k in e["payload"]["changes"]["custom"]) == sorted(names)
    versions = [e["payload"]["version"] for e in events]
    assert len(set(versions)) == 50  # no two writes based on the same state


# ---------------------------------------------------------------- one customer's data only


async def same_not_found(chat: Chat, method: str, path: str, target: str, **kwargs: Any) -> None:
    """``path`` with someone else's conversation id answers exactly as with an id
    that does not exist: nothing hints that the conversation is there."""
    missing = fake_id()
    theirs = await chat.request(method, path.format(id=target), **kwargs)
    nobody = await chat.request(method, path.format(id=missing), **kwargs)
    assert theirs.status_code == 404, theirs.text
    assert error_codes(theirs) == ["conversation_not_found"]
    assert nobody.status_code == 404, nobody.text
    assert theirs.text.replace(target, missing) == nobody.text


CROSSINGS = [
    ("GET", "/conversations/{id}", {}),
    ("PATCH", "/conversations/{id}", {"json": {"custom": {"orderNumberStr": "HACK"}}}),
    ("GET", "/conversations/{id}/messages", {}),
    ("POST", "/conversations/{id}/messages", {"json": {"body": "injected"}}),
    ("POST", "/conversations/{id}/end", {}),
    ("POST", "/conversations/{id}/read", {}),
]


@pytest.fixture
async def victim(services: Services, setup: Setup, chat: Chat) -> AsyncIterator[str]:
    """A conversation of ``chat``'s customer with an attribute and a message; after
    the test it must be exactly as it was."""
    await define(services, setup, "orderNumberStr")
    conversation_id = (await chat.create_conversation(message="mine"))["conversationId"]
    await chat.describe(conversation_id, {"orderNumberStr": "A1"})
    yield conversation_id
    assert await custom_of(chat, conversation_id) == {"orderNumberStr": "A1"}
    assert [m["body"] for m in await messages_of(chat, conversation_id)] == ["mine"]
    conversation = (await chat.request("GET", f"/conversations/{conversation_id}")).json()
    assert conversation["ended"] is False


@pytest.mark.parametrize(("method", "path", "kwargs"), CROSSINGS)
async def test_another_session_cannot_reach_a_conversation(
    http: httpx.AsyncClient,
    setup: Setup,
    victim: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    intruder = await start_chat(http, setup.tracking_key.secret)
    await same_not_found(intruder, method, path, target=victim, **kwargs)
    assert victim not in await conversation_ids(intruder)


@pytest.mark.parametrize(("method", "path", "kwargs"), CROSSINGS)
async def test_a_session_of_another_org_cannot_reach_a_conversation(
    services: Services,
    http: httpx.AsyncClient,
    victim: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    other_org = await services.orgs.create_org(f"Other org {fake_id()}")
    await services.attributes.define(other_org.org.id, "conversation", "orderNumberStr")
    intruder = await start_chat(http, other_org.tracking_key.secret)
    await same_not_found(intruder, method, path, target=victim, **kwargs)


async def test_a_session_token_does_not_work_with_another_orgs_key(
    services: Services, http: httpx.AsyncClient, chat: Chat
) -> None:
    conversation_id = (await chat.create_conversation(message="mine"))["conversationId"]
    other_org = await services.orgs.create_org(f"Other org {fake_id()}")
    crossed = Chat(http, other_org.tracking_key.secret, chat.token, {})
    for path in ("/conversations", f"/conversations/{conversation_id}"):
        response = await crossed.request("GET", path)
        assert response.status_code == 401
        assert error_codes(response) == ["invalid_session"]
    response = await crossed.describe(conversation_id, {})
    assert response.status_code == 401
    assert error_codes(response) == ["invalid_session"]


# ---------------------------------------------------------------- describeCustomer


async def test_describe_customer(services: Services, setup: Setup, chat: Chat) -> None:
    await define(services, setup, "loyaltyTierStr", klass="customer")
    await define(services, setup, "lifetimeValueNum", klass="customer")
    response = await chat.request(
        "PATCH",
        "/customers/current",
        json={
            "attributes": {"sharedEmails": ["Ann@Example.com"], "sharedPhones": ["+1 555 0100"]},
            "customAttributes": {"loyaltyTierStr": "gold", "lifetimeValueNum": 120.5},
        },
    )
    assert response.status_code == 200, response.text

    more = await chat.request(
        "PATCH",
        "/customers/current",
        json={
            "attributes": {"sharedEmails": ["ann.work@example.com"]},
            "customAttributes": {"lifetimeValueNum": None},
        },
    )
    assert more.status_code == 200, more.text
    customer = await current_customer(chat)
    assert customer["customerId"] == chat.data["customerId"]
    assert customer["identified"] is False
    assert customer["attributes"]["sharedEmails"] == ["ann@example.com", "ann.work@example.com"]
    assert customer["attributes"]["sharedPhones"] == ["+1 555 0100"]
    assert customer["custom"] == {"loyaltyTierStr": "gold"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"attributes": {"sharedEmails": ["not-an-email"]}}, "invalid_email"),
        ({"attributes": {"sharedPhones": ["call me maybe"]}}, "invalid_phone"),
        ({"attributes": {"sharedEmails": "ann@example.com"}}, "invalid_arguments"),
        ({"customAttributes": {"loyaltyTierStr": 5}}, "type_mismatch"),
        ({"customAttributes": {"orderNumberStr": "A1"}}, "unknown_attribute"),
        (
            {
                "attributes": {"sharedEmails": ["ok@example.com"]},
                "customAttributes": {"ghostStr": "x"},
            },
            "unknown_attribute",
        ),
    ],
)
async def test_describe_customer_refuses_invalid_input_and_changes_nothing(
    services: Services, setup: Setup, chat: Chat, body: dict[str, Any], code: str
) -> None:
    await define(services, setup, "loyaltyTierStr", klass="customer")
    await define(services, setup, "orderNumberStr")  # a conversation attribute
    before = await current_customer(chat)
    response = await chat.request("PATCH", "/customers/current", json=body)
    assert response.status_code == 400, response.text
    assert error_codes(response)[0] == code
    assert await current_customer(chat) == before


# ---------------------------------------------------------------- login and logout


async def test_login_merges_the_anonymous_conversations(
    services: Services, http: httpx.AsyncClient, setup: Setup, chat: Chat
) -> None:
    await define(services, setup, "orderNumberStr")
    first = (await chat.create_conversation(message="before login"))["conversationId"]
    second = (await chat.create_conversation(title="another"))["conversationId"]
    secret = await org_secret(services, setup)

    response = await login(chat, hs256(secret, externalId="user-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["identified"] is True
    assert body["externalId"] == "user-1"
    assert set(body["mergedConversationIds"]) == {first, second}
    assert body["customerId"] != chat.data["customerId"]

    customer = await current_customer(chat)
    assert customer["identified"] is True
    assert customer["customerId"] == body["customerId"]
    assert await conversation_ids(chat) == {first, second}
    assert (await chat.describe(first, {"orderNumberStr": "A1"})).status_code == 200

    # The same person on another device: a new anonymous session, then login.
    device = await start_chat(http, setup.tracking_key.secret)
    third = (await device.create_conversation(message="from my phone"))["conversationId"]
    again = await login(device, hs256(secret, externalId="user-1"))
    assert again.status_code == 200, again.text
    assert again.json()["customerId"] == body["customerId"]
    assert again.json()["mergedConversationIds"] == [third]
    assert await conversation_ids(device) == {first, second, third}
    assert await custom_of(device, first) == {"orderNumberStr": "A1"}
    assert [m["body"] for m in await messages_of(device, first)] == ["before login"]
    assert await conversation_ids(chat) == {first, second, third}


async def test_login_by_email(services: Services, setup: Setup, chat: Chat) -> None:
    secret = await org_secret(services, setup)
    response = await login(chat, hs256(secret, email="Ann@Example.com"))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ann@example.com"
    assert (await current_customer(chat))["identified"] is True


async def test_login_as_someone_else_does_not_hand_over_the_first_customers_conversations(
    services: Services, http: httpx.AsyncClient, setup: Setup, chat: Chat
) -> None:
    secret = await org_secret(services, setup)
    assert (await login(chat, hs256(secret, externalId="alice"))).status_code == 200
    alices = (await chat.create_conversation(message="alice's question"))["conversationId"]

    # A shared computer: Bob logs in without Alice logging out first.
    switched = await login(chat, hs256(secret, externalId="bob"))
    assert switched.status_code == 200, switched.text
    assert switched.json()["mergedConversationIds"] == []
    assert alices not in await conversation_ids(chat)

    alice_again = await start_chat(http, setup.tracking_key.secret)
    assert (await login(alice_again, hs256(secret, externalId="alice"))).status_code == 200
    assert await conversation_ids(alice_again) == {alices}


def _refused_tokens(secret: str, max_age: int) -> dict[str, str]:
    now = int(time.time())
    claims = {"externalId": "user-1", "iat": now}
    return {
        "expired": jwt.encode({**claims, "exp": now - 3600}, secret, algorithm="HS256"),
        "iat_too_old": jwt.encode(
            {**claims, "iat": now - max_age - 300}, secret, algorithm="HS256"
        ),
        "iat_in_the_future": jwt.encode({**claims, "iat": now + 3600}, secret, algorithm="HS256"),
        "iat_missing": jwt.encode({"externalId": "user-1"}, secret, algorithm="HS256"),
        "iat_not_a_number": jwt.encode(
            {"externalId": "user-1", "iat": "now"}, secret, algorithm="HS256"
        ),
        "no_identity": jwt.encode({"iat": now}, secret, algorithm="HS256"),
        "empty_external_id": jwt.encode({**claims, "externalId": ""}, secret, algorithm="HS256"),
        "wrong_key": jwt.encode(claims, secret + "x", algorithm="HS256"),
        "hs512": jwt.encode(claims, secret, algorithm="HS512"),
        "alg_none": unsigned_token({"alg": "none", "typ": "JWT"}, claims, b""),
        "alg_none_capitalised": unsigned_token({"alg": "None", "typ": "JWT"}, claims, b""),
        "rs256": unsigned_token({"alg": "RS256", "typ": "JWT"}, claims, secrets.token_bytes(256)),
        "not_a_jwt": "hello.world",
    }


REFUSED = [
    "expired",
    "iat_too_old",
    "iat_in_the_future",
    "iat_missing",
    "iat_not_a_number",
    "no_identity",
    "empty_external_id",
    "wrong_key",
    "hs512",
    "alg_none",
    "alg_none_capitalised",
    "rs256",
    "not_a_jwt",
]


@pytest.mark.parametrize("kind", REFUSED)
async def test_login_refuses_a_bad_token_and_changes_nothing(
    services: Services, http: httpx.AsyncClient, setup: Setup, chat: Chat, kind: str
) -> None:
    conversation_id = (await chat.create_conversation(message="hi"))["conversationId"]
    secret = await org_secret(services, setup)
    token = _refused_tokens(secret, services.settings.login_max_age_seconds)[kind]

    response = await login(chat, token)
    assert response.status_code == 401, response.text
    assert error_codes(response) == ["invalid_token"]
    customer = await current_customer(chat)
    assert customer["identified"] is False
    assert customer["customerId"] == chat.data["customerId"]
    assert await conversation_ids(chat) == {conversation_id}

    # Nobody became "user-1" by it: a real login as user-1 finds nothing to inherit.
    other = await start_chat(http, setup.tracking_key.secret)
    assert (await login(other, hs256(secret, externalId="user-1"))).status_code == 200
    assert await conversation_ids(other) == set()


async def test_login_accepts_an_iat_within_the_allowed_age(
    services: Services, setup: Setup, chat: Chat
) -> None:
    secret = await org_secret(services, setup)
    max_age = services.settings.login_max_age_seconds
    token = hs256(secret, externalId="user-1", iat=int(time.time()) - max_age + 30)
    response = await login(chat, token)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body", [{}, {"jwtToken": ""}, {"jwtToken": 42}])
async def test_login_needs_a_token(chat: Chat, body: dict[str, Any]) -> None:
    response = await chat.request("POST", "/login", json=body)
    assert response.status_code == 400
    assert (await current_customer(chat))["identified"] is False


async def test_logout_ends_the_session_but_keeps_the_conversations(
    services: Services, http: httpx.AsyncClient, setup: Setup, chat: Chat
) -> None:
    secret = await org_secret(services, setup)
    logged_in = await login(chat, hs256(secret, externalId="user-1"))
    assert logged_in.status_code == 200, logged_in.text
    conversation_id = (await chat.create_conversation(message="hi"))["conversationId"]

    response = await chat.request("POST", "/logout")
    assert response.status_code == 200, response.text
    for path in ("/conversations", f"/conversations/{conversation_id}", "/customers/current"):
        refused = await chat.request("GET", path)
        assert refused.status_code == 401
        assert error_codes(refused) == ["invalid_session"]
    restarted = await http.post("/c/v1/sessions", headers=chat.headers)
    assert restarted.status_code == 201  # a new anonymous session, not the old one
    assert restarted.json()["customerId"] != logged_in.json()["customerId"]

    later = await start_chat(http, setup.tracking_key.secret)
    assert (await login(later, hs256(secret, externalId="user-1"))).status_code == 200
    assert await conversation_ids(later) == {conversation_id}


# ---------------------------------------------------------------- hostile requests


@pytest.fixture
async def described(services: Services, setup: Setup, chat: Chat) -> AsyncIterator[str]:
    """A conversation with one stored attribute; after the test it must be unchanged,
    with no event appended."""
    names = ["orderNumberStr"] + [f"part{i}Txt" for i in range(40)]
    await services.attributes.put_properties(
        setup.org.id, "conversation", {n: {"displayName": n} for n in names}
    )
    conversation_id = (await chat.create_conversation())["conversationId"]
    assert (await chat.describe(conversation_id, {"orderNumberStr": "A1"})).status_code == 200
    events = await services.db.read(lambda tx: _last_event(tx, setup.org.id))
    yield conversation_id
    assert await custom_of(chat, conversation_id) == {"orderNumberStr": "A1"}
    assert await services.db.read(lambda tx: _last_event(tx, setup.org.id)) == events


async def _last_event(tx: Tx, org_id: str) -> int:
    return await last_event_id(tx, org_id)


def _deep(levels: int) -> bytes:
    return b'{"custom": {"orderNumberStr": ' + b"[" * levels + b"]" * levels + b"}}"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"custom": {"orderNumberStr": "B2"', "application/json", 400, "invalid_json"),
        (b"{'custom': {'orderNumberStr': 'B2'}}", "application/json", 400, "invalid_json"),
        (b'{"custom": {"orderNumberStr": NaN}}', "application/json", 400, "invalid_json"),
        (b'{"custom": {"orderNumberStr": "B2"}}', "text/plain", 415, "unsupported_media_type"),
        (
            b'{"custom": {"orderNumberStr": "B2"}}',
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        (b'{"custom": {"orderNumberStr": "B2"}}', None, 415, "unsupported_media_type"),
        (b"", "application/json", 400, "invalid_json"),
        (_deep(10_000), "application/json", 400, "invalid_json"),
        (b"[" * 100_000, "application/json", 400, "invalid_json"),
    ],
    ids=[
        "truncated",
        "single_quotes",
        "nan",
        "text_plain",
        "form",
        "no_content_type",
        "empty",
        "nested_10000_levels",
        "nested_100000_open",
    ],
)
async def test_a_bad_body_gets_a_clear_4xx_and_changes_nothing(
    chat: Chat,
    described: str,
    content: bytes,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await chat.request(
        "PATCH", f"/conversations/{described}", content=content, headers=headers
    )
    assert response.status_code == status, response.text
    assert error_codes(response) == [code]
    assert response.headers["content-type"].startswith("application/json")


def _oversized(max_bytes: int) -> bytes:
    """A describe whose every value is valid but whose body is over the limit."""
    part = "x" * (60 * 1024)
    count = max_bytes // len(part) + 1
    assert count <= 40, "max_body_bytes grew; define more part*Txt attributes"
    body = json.dumps({"custom": {f"part{i}Txt": part for i in range(count)}}).encode()
    assert len(body) > max_bytes
    return body


async def test_a_body_over_the_limit_is_refused_with_413(
    services: Services, chat: Chat, described: str
) -> None:
    content = _oversized(services.settings.max_body_bytes)
    response = await chat.request(
        "PATCH",
        f"/conversations/{described}",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert error_codes(response) == ["payload_too_large"]


async def test_a_streamed_body_over_the_limit_is_refused_with_413(
    services: Services, chat: Chat, described: str
) -> None:
    content = _oversized(services.settings.max_body_bytes)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = await chat.request(
        "PATCH",
        f"/conversations/{described}",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert error_codes(response) == ["payload_too_large"]


async def test_the_same_body_under_the_limit_is_accepted(
    services: Services, setup: Setup, chat: Chat
) -> None:
    """The 413 above is the limit's doing: a body just under it goes through."""
    names = [f"part{i}Txt" for i in range(40)]
    await services.attributes.put_properties(
        setup.org.id, "conversation", {n: {"displayName": n} for n in names}
    )
    conversation_id = (await chat.create_conversation())["conversationId"]
    part = "x" * (60 * 1024)
    count = services.settings.max_body_bytes // len(part) - 1
    custom = {f"part{i}Txt": part for i in range(count)}
    response = await chat.describe(conversation_id, custom)
    assert response.status_code == 200, response.text
    assert await custom_of(chat, conversation_id) == custom
