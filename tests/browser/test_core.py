"""The headless ``KustomerCore`` (core.js) in real Chromium against a real server:
the flow integrators use, errors with stable codes, and sessions that survive a
reload and a server restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from support import KlatchProcess, PageServer, cli, prepare


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[KlatchProcess, dict[str, str]]]:
    env, keys = prepare(tmp_path)
    cli(env, tmp_path, "attributes", "define", "conversation", "priorityNum", "--read-only")
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        yield server, keys


def shop_page(server: KlatchProcess, key: str) -> str:
    return f"""<!doctype html><html><head><title>Shop</title></head><body>
<h1>Shop</h1>
<script>
  window.seen = [];
  window.whenCall = (method, options) => new Promise((resolve) => {{
    const done = (response, error) => resolve(error
      ? {{error: {{code: error.code, message: error.message, isError: error instanceof Error,
                  details: error.details || null}}}}
      : {{response}});
    if (options === undefined) KustomerCore[method](done); else KustomerCore[method](options, done);
  }});
  window.addEventListener('kustomerCoreLoaded', () => {{ window.coreLoaded = true; }});
</script>
<script src="{server.url}/chat-web/core.js" data-kustomer-api-key="{key}"></script>
</body></html>"""


@pytest.fixture
async def page(browser: Any, served: tuple[KlatchProcess, dict[str, str]]) -> AsyncIterator[Any]:
    server, keys = served
    site = PageServer()  # the shop: its own origin, like a real site
    site.pages["/shop.html"] = shop_page(server, keys["trackingKey"])
    context = await browser.new_context()
    page = await context.new_page()
    page.on("console", lambda m: print("console:", m.type, m.text))
    await page.goto(site.url("/shop.html"))
    await page.wait_for_function("window.coreLoaded === true")
    yield page
    await context.close()
    site.close()


async def call(page: Any, method: str, options: Any = None) -> dict[str, Any]:
    if options is None:
        return dict(await page.evaluate("(m) => whenCall(m)", method))
    return dict(await page.evaluate("([m, o]) => whenCall(m, o)", [method, options]))


async def init(page: Any) -> dict[str, Any]:
    result = await call(page, "init", {})
    assert "error" not in result, result
    response: dict[str, Any] = result["response"]
    return response


async def listen(page: Any, *events: str) -> None:
    await page.evaluate(
        """(events) => events.forEach((name) =>
             KustomerCore.addListener(name, (response, error) =>
               window.seen.push({name, response, error: error ? error.code : null})))""",
        list(events),
    )


async def wait_seen(page: Any, name: str) -> dict[str, Any]:
    handle = await page.wait_for_function(
        "(name) => window.seen.find((s) => s.name === name)", arg=name, timeout=10_000
    )
    return dict(await handle.json_value())


def rest(server: KlatchProcess, keys: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {keys['adminKey']}"}, timeout=10
    )


async def test_the_headless_flow_end_to_end(
    page: Any, served: tuple[KlatchProcess, dict[str, str]]
) -> None:
    server, keys = served
    initialised = await init(page)
    assert initialised["settings"]["brandId"] == keys["brandId"]
    availability = await page.evaluate("KustomerCore.isChatAvailable()")
    assert availability == {"availability": "online"}
    # What widget.js shares with core.js is no part of the API a page sees.
    assert "_internal" not in await page.evaluate("Object.keys(KustomerCore)")
    assert await page.evaluate("Object.isFrozen(KustomerCore._internal)") is True
    await listen(
        page,
        "onConversationCreate",
        "onMessageReceived",
        "onAgentTypingActivity",
        "onConversationEnded",
        "onUnread",
    )

    created = (await call(page, "createConversation", {"title": "Order A-1042"}))["response"]
    conversation_id = created["conversationId"]
    assert created["ended"] is False and created["isInAssistantMode"] is False
    assert (await wait_seen(page, "onConversationCreate"))["response"]["conversationId"] == (
        conversation_id
    )

    sent = (
        await call(page, "sendMessage", {"conversationId": conversation_id, "body": "Where is it?"})
    )["response"]
    assert sent["direction"] == "in" and sent["body"] == "Where is it?"
    described = await call(
        page,
        "describeConversation",
        {"conversationId": conversation_id, "customAttributes": {"orderNumberStr": "A-1042"}},
    )
    assert described["response"] == {
        "conversationId": conversation_id,
        "custom": {"orderNumberStr": "A-1042"},
    }

    with rest(server, keys) as agent:
        stored = agent.get(f"/v1/conversations/{conversation_id}").json()
        assert stored["data"]["attributes"]["custom"] == {"orderNumberStr": "A-1042"}
        agent.post(f"/v1/conversations/{conversation_id}/typing", json={"typing": True})
        typing = await wait_seen(page, "onAgentTypingActivity")
        assert typing["response"]["typing"] is True
        assert typing["response"]["conversationId"] == conversation_id
        agent.post(f"/v1/conversations/{conversation_id}/messages", json={"body": "Today!"})
        received = (await wait_seen(page, "onMessageReceived"))["response"]
        assert received["body"] == "Today!" and received["direction"] == "out"
        assert received["conversationId"] == conversation_id
        assert received["sentBy"]["displayName"] and received["sentBy"]["id"]
        assert received["createdAt"].endswith("Z")
        unread = (await wait_seen(page, "onUnread"))["response"]
        assert unread["total"] == 1 and unread["change"]["conversationId"] == conversation_id
        agent.post(f"/v1/conversations/{conversation_id}/end")
        ended = (await wait_seen(page, "onConversationEnded"))["response"]
        assert ended == {
            "conversationId": conversation_id,
            "createdAt": ended["createdAt"],
            "ended": True,
        }

    messages = (await call(page, "getMessages", {"conversationId": conversation_id}))["response"]
    assert [m["body"] for m in messages["messages"]] == ["Where is it?", "Today!"]
    await call(page, "markRead", {"conversationId": conversation_id})
    assert await page.evaluate("KustomerCore.getUnreadCount()") == {"total": 0, "conversations": {}}
    after_end = await call(page, "sendMessage", {"conversationId": conversation_id, "body": "?"})
    assert after_end["error"]["code"] == "conversation_ended"


async def test_errors_are_errors_with_stable_codes_and_change_nothing(
    page: Any, served: tuple[KlatchProcess, dict[str, str]]
) -> None:
    server, keys = served
    early = await call(
        page,
        "describeConversation",
        {"conversationId": "x", "customAttributes": {"orderNumberStr": "1"}},
    )
    assert early["error"]["code"] == "not_initialized" and early["error"]["isError"]
    await init(page)
    conversation_id = (await call(page, "createConversation", {}))["response"]["conversationId"]

    def describe(custom: Any, conversation: str = conversation_id) -> Any:
        return call(
            page,
            "describeConversation",
            {"conversationId": conversation, "customAttributes": custom},
        )

    undefined = (await describe({"colourStr": "red"}))["error"]
    assert undefined["code"] == "unknown_attribute" and "colourStr" in undefined["message"]
    assert undefined["details"][0]["attribute"] == "colourStr"
    assert (await describe({"orderNumberStr": 5}))["error"]["code"] == "type_mismatch"
    assert (await describe({"priorityNum": 1}))["error"]["code"] == "attribute_read_only"
    mixed = (await describe({"orderNumberStr": "ok", "colourStr": "bad"}))["error"]
    assert mixed["code"] == "unknown_attribute"
    assert (await describe({"orderNumberStr": "x"}, "6b06a46ca718eb9231222a55"))["error"][
        "code"
    ] == "conversation_not_found"
    bad_arguments = [
        await call(page, "describeConversation", {"customAttributes": {}}),
        await call(page, "describeConversation", {"conversationId": conversation_id}),
        await call(page, "sendMessage", {"conversationId": conversation_id, "body": ""}),
        await call(page, "login", {}),
    ]
    assert [b["error"]["code"] for b in bad_arguments] == ["invalid_arguments"] * 4
    with rest(server, keys) as agent:
        stored = agent.get(f"/v1/conversations/{conversation_id}").json()
    assert stored["data"]["attributes"]["custom"] == {}


async def test_login_merges_and_logout_starts_afresh(
    page: Any, served: tuple[KlatchProcess, dict[str, str]]
) -> None:
    server, keys = served
    await init(page)
    await listen(page, "onLogin", "onLogout")
    conversation_id = (await call(page, "createConversation", {}))["response"]["conversationId"]
    token = jwt.encode(
        {"externalId": "user-42", "iat": int(time.time())}, keys["jwtSecret"], algorithm="HS256"
    )
    logged_in = (await call(page, "login", {"jwtToken": token}))["response"]
    assert logged_in["identified"] is True and logged_in["externalId"] == "user-42"
    assert (await wait_seen(page, "onLogin"))["response"]["customerId"] == logged_in["customerId"]
    with rest(server, keys) as agent:
        stored = agent.get(f"/v1/conversations/{conversation_id}").json()
    assert stored["data"]["relationships"]["customer"]["data"]["id"] == logged_in["customerId"]

    await call(page, "logout")
    await wait_seen(page, "onLogout")
    conversations = (await call(page, "getConversations"))["response"]["conversations"]
    assert conversations == []  # a fresh anonymous session
    forged = jwt.encode(
        {"externalId": "user-42", "iat": int(time.time())}, "wrong-secret" * 4, algorithm="HS256"
    )
    assert (await call(page, "login", {"jwtToken": forged}))["error"]["code"] == "invalid_token"


async def test_a_reload_and_a_server_restart_keep_the_conversation(
    page: Any, served: tuple[KlatchProcess, dict[str, str]]
) -> None:
    server, keys = served
    await init(page)
    conversation_id = (await call(page, "createConversation", {}))["response"]["conversationId"]
    await page.reload()
    await page.wait_for_function("window.coreLoaded === true")
    await init(page)
    listed = (await call(page, "getConversations"))["response"]["conversations"]
    assert [c["conversationId"] for c in listed] == [conversation_id]
    await listen(page, "onMessageReceived")

    server.stop()
    with rest(server, keys) as agent:
        server.start()
        agent.post(f"/v1/conversations/{conversation_id}/messages", json={"body": "still here"})
    received = (await wait_seen(page, "onMessageReceived"))["response"]
    assert received["body"] == "still here"
