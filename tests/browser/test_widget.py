"""The chat widget (widget.js, ``window.Kustomer``) in real Chromium against a real
server: Kustomer's documented examples, a customer and an agent talking through
it, errors with stable codes, login and logout, reload and server restart, and
the launcher's display and keyboard behaviour.

The widget is driven as a person uses it (ARIA roles and labels inside
``#kustomer-ui-sdk-iframe``); what it should have done is checked on the server
through the REST API with the admin key."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    FrameLocator,
    Locator,
    Page,
    Route,
    ViewportSize,
    WebSocketRoute,
    expect,
)
from playwright.async_api import Error as PlaywrightError

from support import KlatchProcess, PageServer, cli, eventually, prepare

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN_ID = "6b06a46ca718eb9231222a55"
REALTIME_TIMEOUT = 10_000  # ms: what the widget gets to show something pushed by the server


# ------------------------------------------------------------------ server and pages


@dataclass
class Served:
    server: KlatchProcess
    keys: dict[str, str]
    env: dict[str, str]
    cwd: Path

    def rest(self) -> httpx.Client:
        """The REST API as an agent's integration calls it, with the admin key."""
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {self.keys['adminKey']}"},
            timeout=10,
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    env, keys = prepare(tmp_path)
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        yield Served(server, keys, env, tmp_path)
        print("---- server log (tail) ----\n" + server.output[-4000:])


# Test harness, loaded before widget.js: records console output with structure
# (the documented examples report through console.log), listener calls (`seen`),
# and wraps a Kustomer call into a promise that settles when its callback runs.
HARNESS = """
  window.seen = [];
  window.logs = [];
  window.addEventListener('kustomerCoreLoaded', () => { window.coreLoaded = true; });
  window.plain = (value) => {
    if (value instanceof Error) return {isError: true, code: value.code, message: value.message};
    if (value === undefined) return null;
    try { return JSON.parse(JSON.stringify(value)); } catch (e) { return String(value); }
  };
  window.errorView = (error) => (error === undefined || error === null) ? null : {
    isError: error instanceof Error, code: error.code, message: String(error.message),
    status: error.status === undefined ? null : error.status, details: error.details || null
  };
  ['log', 'warn', 'error'].forEach((level) => {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      window.logs.push({level, args: args.map(plain)});
      original(...args);
    };
  });
  window.record = (name) => (response, error) => {
    window.seen.push({name, response: plain(response), error: errorView(error)});
  };
  window.whenCall = (method, args) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve({timedOut: true}), 10000);
    const done = (...results) => {
      clearTimeout(timer);
      resolve({arity: results.length, response: plain(results[0]), error: errorView(results[1])});
    };
    try {
      Kustomer[method](...args, done);
    } catch (thrown) {
      clearTimeout(timer);
      resolve({thrown: String((thrown && thrown.stack) || thrown)});
    }
  });
"""

START = """
    Kustomer.start({}, function (response, error) {
      window.started = error ? 'failed: ' + (error.code || error) : true;
    });"""


def shop_page(served: Served, setup: str) -> str:
    """A shop page with Kustomer's snippet: the kustomerLoaded listener (running
    ``setup``) is added before the widget.js script tag."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif; margin: 2rem">
<h1>Corner Shop</h1>
<p>Order A-1042: a teapot and two cups.</p>
<script>
{HARNESS}
  window.addEventListener('kustomerLoaded', function () {{
    window.kustomerLoaded = true;
{setup}
  }});
</script>
<script src="{served.server.url}/chat-web/widget.js"
        data-kustomer-api-key="{served.keys["trackingKey"]}"></script>
</body></html>"""


class Widget:
    """One page with the widget, and the widget's UI as a person finds it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.page_errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.frame: FrameLocator = page.frame_locator("#kustomer-ui-sdk-iframe")
        f = self.frame
        self.open_launcher = f.get_by_role("button", name="Open chat", exact=True)
        self.close_launcher = f.get_by_role(
            "button", name="Minimize chat", exact=True, expanded=True
        )
        self.launcher = self.open_launcher.or_(self.close_launcher)
        self.panel = f.get_by_role("dialog")
        self.composer = f.get_by_label("Message", exact=True)
        self.send = f.get_by_role("button", name="Send", exact=True)
        self.log = f.get_by_role("log", name="Chat transcript")
        self.typing = f.get_by_role("status").filter(has_text="is typing")
        self.conversations = f.get_by_role("list", name="Conversations")
        self.back = f.get_by_role("button", name="Back to conversations")
        self.new_conversation = f.get_by_role("button", name="New conversation")
        self.badge = f.locator(".klatch-badge")

    def _console(self, message: Any) -> None:
        line = f"{message.type}: {message.text}"
        self.console.append(line)
        print("console:", line)

    def warnings(self) -> list[str]:
        return [line for line in self.console if line.startswith("warning: ")]

    def messages(self, direction: str, text: str) -> Locator:
        """Bubbles in the thread: direction "in" (the customer) or "out" (an agent)."""
        return self.log.locator(f".klatch-msg.klatch-{direction}").filter(has_text=text)

    async def started(self) -> None:
        """Wait for the page's Kustomer.start() callback; fail on a start error."""
        try:
            await self.page.wait_for_function("window.started !== undefined", timeout=15_000)
        except PlaywrightError:
            pytest.fail("Kustomer.start() never called back\n" + "\n".join(self.console))
        assert await self.page.evaluate("window.started") is True

    async def compose(self) -> None:
        """Get to a composer: the widget may open on the list or on a new thread."""
        await expect(self.composer.or_(self.new_conversation)).to_be_visible()
        if not await self.composer.is_visible():
            await self.new_conversation.click()
        await expect(self.composer).to_be_enabled()

    async def logged(self, text: str) -> list[Any]:
        """Wait for the page to console.log/error ``text`` (first argument); its args."""
        try:
            handle = await self.page.wait_for_function(
                """(text) => { const hit = window.logs.find((l) => l.args[0] === text);
                               return hit ? hit.args : null; }""",
                arg=text,
                timeout=REALTIME_TIMEOUT,
            )
        except PlaywrightError:
            logs = await self.page.evaluate("window.logs")
            pytest.fail(f"the page never logged {text!r}; it logged {logs}")
        return list(await handle.json_value())

    async def logs(self, level: str) -> list[list[Any]]:
        return [
            entry["args"]
            for entry in await self.page.evaluate("window.logs")
            if entry["level"] == level
        ]


class Shop:
    """Opens pages of a shop site (its own origin) in fresh browser contexts."""

    def __init__(self, browser: Browser, served: Served) -> None:
        self.browser = browser
        self.served = served
        self.site = PageServer()
        self.contexts: list[BrowserContext] = []
        self.widgets: list[Widget] = []

    async def open(self, setup: str = START, viewport: ViewportSize | None = None) -> Widget:
        path = f"/shop{len(self.site.pages)}.html"
        self.site.pages[path] = shop_page(self.served, setup)
        context = await self.browser.new_context(
            viewport=viewport or ViewportSize(width=1100, height=760)
        )
        self.contexts.append(context)
        page = await context.new_page()
        widget = Widget(page)
        self.widgets.append(widget)
        await page.goto(self.site.url(path))
        await page.wait_for_function("window.kustomerLoaded === true")
        return widget

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        self.site.close()


@pytest.fixture
async def shop(browser: Browser, served: Served) -> AsyncIterator[Shop]:
    shop = Shop(browser, served)
    yield shop
    errors = [error for widget in shop.widgets for error in widget.page_errors]
    await shop.close()
    assert not errors, f"uncaught errors on the page: {errors}"


# ------------------------------------------------------------------ calling Kustomer


async def call(widget: Widget, method: str, *args: Any) -> dict[str, Any]:
    """Kustomer[method](...args, callback), settled when the callback runs."""
    result = await widget.page.evaluate("([m, a]) => whenCall(m, a)", [method, list(args)])
    assert not result.get("timedOut"), f"Kustomer.{method} never called its callback"
    assert "thrown" not in result, f"Kustomer.{method} threw: {result.get('thrown')}"
    return dict(result)


async def ok(widget: Widget, method: str, *args: Any) -> Any:
    result = await call(widget, method, *args)
    assert result["error"] is None, f"Kustomer.{method}{args}: {result['error']}"
    return result["response"]


async def fails(widget: Widget, method: str, *args: Any) -> dict[str, Any]:
    """The error Kustomer[method] called back with: a real Error with a code."""
    result = await call(widget, method, *args)
    error = result["error"]
    assert error is not None, f"Kustomer.{method}{args} did not fail: {result}"
    assert error["isError"] is True, f"Kustomer.{method}: not an Error instance: {error}"
    assert result["response"] is None, result
    return dict(error)


async def wait_seen(widget: Widget, name: str, count: int = 1) -> list[dict[str, Any]]:
    """The first ``count`` recorded calls of listener ``name`` (waits for them)."""
    try:
        handle = await widget.page.wait_for_function(
            """([name, count]) => {
                 const seen = window.seen.filter((s) => s.name === name);
                 return seen.length >= count ? seen : null; }""",
            arg=[name, count],
            timeout=REALTIME_TIMEOUT,
        )
    except PlaywrightError:
        seen = await widget.page.evaluate("window.seen")
        pytest.fail(f"{name} was not called {count} time(s); recorded: {seen}")
    return list(await handle.json_value())


async def count_seen(widget: Widget, name: str) -> int:
    return int(
        await widget.page.evaluate(
            "(name) => window.seen.filter((s) => s.name === name).length", name
        )
    )


def listening(*events: str, before: str = "", start_options: str = "{}") -> str:
    """Page setup: record ``events`` (registered before start), then start."""
    listeners = "\n".join(f"    Kustomer.addListener('{e}', record('{e}'));" for e in events)
    return f"""{before}
{listeners}
    Kustomer.start({start_options}, function (response, error) {{
      window.started = error ? 'failed: ' + (error.code || error) : true;
    }});"""


# ------------------------------------------------------------------ server-side checks


def conversations(agent: httpx.Client) -> list[dict[str, Any]]:
    response = agent.get("/v1/conversations", params={"pageSize": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def conversation(agent: httpx.Client, conversation_id: str) -> dict[str, Any]:
    response = agent.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def custom(agent: httpx.Client, conversation_id: str) -> dict[str, Any]:
    return dict(conversation(agent, conversation_id)["attributes"]["custom"])


def messages(agent: httpx.Client, conversation_id: str) -> list[tuple[str, str]]:
    response = agent.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    return [
        (m["attributes"]["direction"], m["attributes"]["body"]) for m in response.json()["data"]
    ]


def agent_says(agent: httpx.Client, conversation_id: str, body: str) -> dict[str, Any]:
    response = agent.post(f"/v1/conversations/{conversation_id}/messages", json={"body": body})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"]["attributes"])


def customer_of(agent: httpx.Client, conversation_id: str) -> str:
    return str(conversation(agent, conversation_id)["relationships"]["customer"]["data"]["id"])


def login_token(served: Served, external_id: str) -> str:
    claims = {"externalId": external_id, "iat": int(time.time())}
    return jwt.encode(claims, served.keys["jwtSecret"], algorithm="HS256")


# ------------------------------------------------------------------ Kustomer's documented examples
#
# The examples of Kustomer's Web SDK pages (developer.kustomer.com/chat-sdk/
# v2.0-Web/docs/kustomer-*), as written there. Only placeholders are replaced
# (ids; the attribute names are defined on the server instead). The
# createConversation example on Kustomer's page does not parse as printed
# (`function (response, error) => {` and no closing parenthesis); it is run
# with just those two slips fixed.

ADD_LISTENER_EXAMPLE = """
const onOpenHandler = function() {
  console.log('Widget was opened');
}

Kustomer.addListener('onOpen', onOpenHandler);
const onConversationCreateHandler = function(response, error) {
  if (error) {
    console.error(error);
    return;
  }
  Kustomer.describeConversation(
    {
      conversationId: response.conversationId,
      customAttributes: {
        customName: 'SOME_CUSTOM_NAME',
      },
    },
    function(response, error) {
      if (error) {
        console.error(error);
      } else {
        console.log('Successfully described conversation');
      }
    }
  );
};

Kustomer.addListener('onConversationCreate', onConversationCreateHandler);
"""

DESCRIBE_ON_CREATE_EXAMPLE = """
// Describes a conversation when a conversation is created
Kustomer.addListener('onConversationCreate', (res) => {
  Kustomer.describeConversation({
    conversationId: res.conversationId,
    customAttributes: {
      some_custom_attribute: 'some_custom_value'
    }
  });
});
"""

DESCRIBE_EXAMPLE = """
Kustomer.describeConversation({
  conversationId: 'some_conversation_id',
  customAttributes: {
    some_custom_attribute: 'some_custom_value'
  }
});
"""

DESCRIBE_WITH_CALLBACK_EXAMPLE = """
Kustomer.describeConversation({
  conversationId: 'some_conversation_id',
  customAttributes: {
    some_custom_attribute: 'some_custom_value'
  }
}, function (callbackResponse, error) {
  if (!error) {
    console.log('Updated information about the conversation');
  }
});
"""

CREATE_DRAFT_EXAMPLE = """
// Create a conversation. This takes the user to the conversation thread but does not create the conversation in Kustomer.
Kustomer.createConversation()
"""  # noqa: E501

CREATE_WITH_MESSAGE_EXAMPLE = """
// Create a conversation with a callback to run after a conversation has successfully been created in Kustomer.
Kustomer.createConversation({
  assistantId: "SOME_ASSISTANT_ID",
  message: "I need some help"
},
function (response, error) {
  if (error) {
    console.log("handle the error")
  } else {
    console.log("handle the response")
  }
})
"""  # noqa: E501

OPEN_BY_ID_EXAMPLE = """
// Go to a conversation by conversation id
Kustomer.openConversationById({
  conversationId: 'SOME_CONVERSATION_ID'
});
"""

OPEN_BY_ID_WITH_CALLBACK_EXAMPLE = """
// Go to the conversation and run a callback
Kustomer.openConversationById({
  conversationId: 'SOME_CONVERSATION_ID'
}, (response, error) => {
  if (error) {
    console.error(error);
  } else {
    console.log('Successfully opened conversation');
  }
});
"""

GET_OPEN_CONVERSATIONS_EXAMPLE = """
// Grab open conversations after Kustomer.start()
Kustomer.start({}, () => {
  Kustomer.getOpenConversations((conversations, error) => {
    console.log(conversations, error);
  });
});
"""


async def run_example(widget: Widget, source: str) -> None:
    """Run a snippet as a site does: a classic <script> in the page."""
    await widget.page.add_script_tag(content=source)


async def test_kustomers_documented_examples_do_what_the_docs_say(
    shop: Shop, served: Served
) -> None:
    with served.rest() as agent:
        defined = agent.put(
            "/v1/metadata/conversation",
            json={
                "properties": {
                    "some_custom_attribute": {"displayName": "Some attribute", "type": "string"},
                    "customName": {"displayName": "Custom name", "type": "string"},
                }
            },
        )
        assert defined.status_code == 200, defined.text
    brand = served.keys["brandId"]
    widget = await shop.open(
        f"""    Kustomer.start({{ brandId: '{brand}' }}, function () {{ window.started = true; }});
    Kustomer.addListener('onConversationEnded', record('onConversationEnded'));"""
    )
    await widget.started()
    # widget.js brought core.js with it, as Kustomer's does.
    assert await widget.page.evaluate("window.coreLoaded === true && !!window.KustomerCore")
    await run_example(widget, ADD_LISTENER_EXAMPLE)
    await run_example(widget, DESCRIBE_ON_CREATE_EXAMPLE)

    # createConversation() without a message: the thread opens, nothing is created.
    await run_example(widget, CREATE_DRAFT_EXAMPLE)
    await expect(widget.panel).to_be_visible()
    await expect(widget.composer).to_be_visible()
    await widget.logged("Widget was opened")
    with served.rest() as agent:
        assert conversations(agent) == []

        # With a message it is created, and both onConversationCreate examples describe it.
        await run_example(widget, CREATE_WITH_MESSAGE_EXAMPLE)
        await widget.logged("handle the response")
        created = await eventually(lambda: conversations(agent), "the conversation on the server")
        assert len(created) == 1
        conversation_id = created[0]["id"]
        assert messages(agent, conversation_id) == [("in", "I need some help")]
        await expect(widget.messages("in", "I need some help")).to_be_visible()
        await widget.logged("Successfully described conversation")
        expected = {"customName": "SOME_CUSTOM_NAME", "some_custom_attribute": "some_custom_value"}
        await eventually(lambda: custom(agent, conversation_id) == expected, "both descriptions")
        assert await widget.logs("error") == []

        # describeConversation on a known id, without and with a callback.
        def clear() -> None:
            response = agent.patch(
                f"/v1/conversations/{conversation_id}",
                json={"custom": {"some_custom_attribute": None}},
            )
            assert response.status_code == 200, response.text

        for example in (DESCRIBE_EXAMPLE, DESCRIBE_WITH_CALLBACK_EXAMPLE):
            clear()
            await run_example(widget, example.replace("some_conversation_id", conversation_id))
            await eventually(
                lambda: (
                    custom(agent, conversation_id).get("some_custom_attribute")
                    == "some_custom_value"
                ),
                "the described attribute",
            )
        await widget.logged("Updated information about the conversation")

        # openConversationById: opens the widget on that conversation; a bad id
        # calls back with an error and leaves the widget as it was (closed).
        await ok(widget, "close")
        await expect(widget.panel).to_be_hidden()
        await run_example(
            widget, OPEN_BY_ID_EXAMPLE.replace("SOME_CONVERSATION_ID", conversation_id)
        )
        await expect(widget.panel).to_be_visible()
        await expect(widget.messages("in", "I need some help")).to_be_visible()
        await ok(widget, "close")
        await run_example(widget, OPEN_BY_ID_WITH_CALLBACK_EXAMPLE)  # the placeholder id itself
        logged_error = await widget.page.wait_for_function(
            "window.logs.find((l) => l.level === 'error' && l.args[0] && l.args[0].isError)",
            timeout=REALTIME_TIMEOUT,
        )
        assert (await logged_error.json_value())["args"][0]["code"] == "conversation_not_found"
        await expect(widget.panel).to_be_hidden()
        await run_example(
            widget,
            OPEN_BY_ID_WITH_CALLBACK_EXAMPLE.replace("SOME_CONVERSATION_ID", conversation_id),
        )
        await widget.logged("Successfully opened conversation")
        await expect(widget.panel).to_be_visible()
        await expect(widget.messages("in", "I need some help")).to_be_visible()

        # getOpenConversations: the conversations not ended, newest first.
        second = (await ok(widget, "createConversation", {"message": "Second question"}))[
            "conversationId"
        ]
        third = (await ok(widget, "createConversation", {"message": "Third question"}))[
            "conversationId"
        ]
        assert agent.post(f"/v1/conversations/{conversation_id}/end").status_code == 200
        await wait_seen(widget, "onConversationEnded")
        await run_example(widget, GET_OPEN_CONVERSATIONS_EXAMPLE)
        logged = await widget.page.wait_for_function(
            "window.logs.find((l) => l.level === 'log' && Array.isArray(l.args[0]))",
            timeout=REALTIME_TIMEOUT,
        )
        listed, error = (await logged.json_value())["args"]
        assert error is None
        # start() again while started calls back without building a second widget.
        await expect(widget.page.locator("#kustomer-ui-sdk-iframe")).to_have_count(1)
        assert [c["conversationId"] for c in listed] == [third, second]
        assert all(c["ended"] is False and c["createdAt"] for c in listed)
        assert {c["conversationId"] for c in listed} == {
            c["id"] for c in conversations(agent) if not c["attributes"]["ended"]
        }


# ------------------------------------------------------------------ a customer and an agent


async def test_a_customer_and_an_agent_talk_through_the_widget(
    shop: Shop, served: Served, artifacts_dir: Path
) -> None:
    with served.rest() as agent:
        branded = agent.patch(
            f"/v1/brands/{served.keys['brandId']}",
            json={
                "teamName": "Corner Shop",
                "greeting": "Ask us anything about your order.",
                "colors": {"primary": "#c0392b", "text": "#ffffff"},
            },
        )
        assert branded.status_code == 200, branded.text
    # The site's own integration: describe every new conversation with the order.
    describe_new = """
    Kustomer.addListener('onConversationCreate', function (conversation) {
      Kustomer.describeConversation({
        conversationId: conversation.conversationId,
        customAttributes: {orderNumberStr: 'A-1042'}
      }, record('described'));
    });"""
    widget = await shop.open(
        listening(
            "onOpen",
            "onClose",
            "onConversationCreate",
            "onMessageReceived",
            "onConversationEnded",
            "onUnread",
            before=describe_new,
        )
    )
    page = widget.page
    await widget.started()
    assert await page.evaluate("Kustomer.isChatAvailable()") == {"availability": "online"}
    await expect(widget.open_launcher).to_be_visible()
    await expect(widget.badge).to_be_hidden()
    assert await widget.open_launcher.evaluate("e => getComputedStyle(e).backgroundColor") == (
        "rgb(192, 57, 43)"
    )

    # The customer opens the launcher and writes.
    await widget.open_launcher.click()
    panel = widget.frame.get_by_role("dialog", name="Chat with Corner Shop")
    await expect(panel).to_be_visible()
    await expect(panel).to_contain_text("Corner Shop")
    await expect(panel).to_contain_text("Ask us anything about your order.")
    await expect(widget.close_launcher).to_be_visible()
    await wait_seen(widget, "onOpen")
    await widget.compose()
    await widget.composer.fill("Where is my order?")
    await widget.composer.press("Enter")
    await expect(widget.messages("in", "Where is my order?")).to_have_count(1)
    await expect(widget.composer).to_have_value("")
    bubble = widget.messages("in", "Where is my order?")
    assert await bubble.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(192, 57, 43)"

    created = (await wait_seen(widget, "onConversationCreate"))[0]["response"]
    conversation_id = created["conversationId"]
    assert created["ended"] is False and created["createdAt"]
    described = (await wait_seen(widget, "described"))[0]
    assert described["error"] is None
    assert described["response"] == {
        "conversationId": conversation_id,
        "custom": {"orderNumberStr": "A-1042"},
    }
    with served.rest() as agent:
        assert [c["id"] for c in conversations(agent)] == [conversation_id]
        assert custom(agent, conversation_id) == {"orderNumberStr": "A-1042"}
        assert messages(agent, conversation_id) == [("in", "Where is my order?")]

        # Shift+Enter is a new line, Enter sends.
        await widget.composer.fill("It was a teapot.")
        await widget.composer.press("Shift+Enter")
        await widget.composer.press_sequentially("And two cups.")
        await widget.composer.press("Enter")
        await eventually(
            lambda: ("in", "It was a teapot.\nAnd two cups.") in messages(agent, conversation_id),
            "the two-line message on the server",
        )

        # The agent types, then answers.
        typing = agent.post(f"/v1/conversations/{conversation_id}/typing", json={"typing": True})
        assert typing.status_code == 204, typing.text
        await expect(widget.typing).to_be_visible(timeout=REALTIME_TIMEOUT)
        typing_text = (await widget.typing.inner_text()).strip()
        reply = agent_says(agent, conversation_id, "It ships today.")
        agent_name = reply["sentBy"]["displayName"]
        assert agent_name
        assert typing_text == f"{agent_name} is typing…"
        agent.post(f"/v1/conversations/{conversation_id}/typing", json={"typing": False})
        shown = widget.messages("out", "It ships today.")
        await expect(shown).to_be_visible(timeout=REALTIME_TIMEOUT)
        await expect(shown).to_contain_text(agent_name)
        await expect(widget.typing).to_be_hidden(timeout=REALTIME_TIMEOUT)
        received = (await wait_seen(widget, "onMessageReceived"))[0]["response"]
        assert received["direction"] == "out"
        assert received["body"] == "It ships today."
        assert received["conversationId"] == conversation_id
        assert received["sentBy"]["displayName"] == agent_name
        assert received["createdAt"] == reply["createdAt"]
        await page.screenshot(path=artifacts_dir / "widget-thread.png")
        if os.environ.get("KLATCH_UPDATE_DOCS_IMAGES") == "1":
            (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifacts_dir / "widget-thread.png", ROOT / "docs/img/widget.png")

        # Escape closes; a reply while closed shows on the launcher's badge.
        await widget.composer.focus()
        await page.keyboard.press("Escape")
        await expect(panel).to_be_hidden()
        await wait_seen(widget, "onClose")
        await expect(widget.open_launcher).to_be_visible()
        await expect(widget.badge).to_be_hidden()  # the reply above was read in the open thread
        agent_says(agent, conversation_id, "Tracking number ZX-1.")
        await expect(widget.badge).to_have_text("1", timeout=REALTIME_TIMEOUT)
        await expect(widget.badge).to_be_visible()
        assert await page.evaluate("Kustomer.getUnreadCount()") == {
            "total": 1,
            "conversations": {conversation_id: 1},
        }
        unread = (await wait_seen(widget, "onUnread"))[-1]["response"]
        assert unread["total"] == 1
        assert unread["change"] == {"conversationId": conversation_id, "count": 1}

        # Keyboard: Tab reaches the launcher, Enter opens the same conversation.
        await page.get_by_role("heading", name="Corner Shop").click()
        for _ in range(6):
            await page.keyboard.press("Tab")
            try:
                await expect(widget.open_launcher).to_be_focused(timeout=300)
                break
            except AssertionError:
                continue
        await expect(widget.open_launcher).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(panel).to_be_visible()
        await expect(widget.messages("out", "Tracking number ZX-1.")).to_be_visible()

        # The agent ends the conversation.
        assert agent.post(f"/v1/conversations/{conversation_id}/end").status_code == 200
        await expect(panel.get_by_text("This conversation has ended.")).to_be_visible(
            timeout=REALTIME_TIMEOUT
        )
        # One ended state: the notice in place of the composer (hidden, and disabled).
        await expect(widget.composer).to_be_hidden()
        await expect(widget.composer).to_be_disabled()
        ended = (await wait_seen(widget, "onConversationEnded"))[0]["response"]
        assert ended["conversationId"] == conversation_id and ended["ended"] is True
        assert "createdAt" in ended

        # ... and the customer starts a new one from there.
        await widget.frame.get_by_role("button", name="Start a new conversation").click()
        await expect(widget.composer).to_be_enabled()
        await widget.composer.fill("One more thing: gift wrap?")
        await widget.composer.press("Enter")
        second = (await wait_seen(widget, "onConversationCreate", 2))[1]["response"]
        second_id = second["conversationId"]
        assert second_id != conversation_id
        await eventually(
            lambda: custom(agent, second_id) == {"orderNumberStr": "A-1042"},
            "the second conversation described",
        )
        assert messages(agent, second_id) == [("in", "One more thing: gift wrap?")]
        assert conversation(agent, conversation_id)["attributes"]["ended"] is True

    # The list: both conversations, the first one marked ended.
    await widget.back.click()
    await expect(widget.conversations).to_be_visible()
    items = widget.conversations.locator(".klatch-conv")
    await expect(items).to_have_count(2)
    await expect(items.filter(has_text="Ended")).to_have_count(1)
    await expect(items.filter(has_text="gift wrap")).to_have_count(1)
    await expect(widget.new_conversation).to_be_visible()
    await page.screenshot(path=artifacts_dir / "widget-list.png")


# ------------------------------------------------------------------ errors


async def test_errors_are_errors_with_stable_codes_and_change_nothing(
    shop: Shop, served: Served
) -> None:
    widget = await shop.open(setup="")  # the page calls start itself, below
    page = widget.page
    cli(
        served.env, served.cwd, "attributes", "define", "conversation", "priorityNum", "--read-only"
    )

    # Before start: nothing runs, the callback gets not_initialized, the console says why.
    early = await fails(
        widget,
        "describeConversation",
        {"conversationId": UNKNOWN_ID, "customAttributes": {"orderNumberStr": "A-1"}},
    )
    assert early["code"] == "not_initialized"
    assert any(
        "Kustomer.describeConversation was called before Kustomer.start() finished" in w
        for w in widget.warnings()
    ), widget.console
    assert (await fails(widget, "createConversation", {"message": "Too early"}))["code"] == (
        "not_initialized"
    )
    assert await page.evaluate("Kustomer.isChatAvailable()") == {"availability": "none"}
    assert any("Kustomer.isChatAvailable" in w for w in widget.warnings()), widget.console
    assert await page.evaluate("Kustomer.getUnreadCount()") == {"total": 0, "conversations": {}}
    assert any("Kustomer.getUnreadCount" in w for w in widget.warnings()), widget.console

    # start() and open() back to back (Kustomer's troubleshooting example): open
    # runs before start has finished, so it is refused; start warns about an
    # option it does not know.
    both = await page.evaluate(
        """(brandId) => new Promise((resolve) => {
             const out = {};
             Kustomer.start({brandId: brandId, colour: 'red'}, (response, error) => {
               out.start = errorView(error); resolve(out); });
             Kustomer.open((response, error) => { out.open = errorView(error); });
           })""",
        served.keys["brandId"],
    )
    assert both["start"] is None, both
    assert both["open"] and both["open"]["code"] == "not_initialized", both
    assert both["open"]["isError"] is True
    assert any(
        "Kustomer.open was called before Kustomer.start() finished" in w for w in widget.warnings()
    )
    assert any(
        '[Klatch] Kustomer.start: unknown option "colour" ignored' in w for w in widget.warnings()
    ), widget.console
    await expect(widget.open_launcher).to_be_visible()
    await expect(widget.panel).to_be_hidden()

    with served.rest() as agent:
        assert conversations(agent) == []
        mine = (await ok(widget, "createConversation", {"message": "Hello"}))["conversationId"]
        await expect(widget.messages("in", "Hello")).to_be_visible()

        # createConversation with a bad attribute creates nothing.
        refused = await fails(
            widget,
            "createConversation",
            {"message": "Hello again", "customAttributes": {"colourStr": "red"}},
        )
        assert refused["code"] == "unknown_attribute"
        assert [c["id"] for c in conversations(agent)] == [mine]

        def describe(attributes: Any, conversation_id: str = mine) -> Any:
            return fails(
                widget,
                "describeConversation",
                {"conversationId": conversation_id, "customAttributes": attributes},
            )

        undefined = await describe({"colourStr": "red"})
        assert undefined["code"] == "unknown_attribute"
        assert "colourStr" in undefined["message"]
        assert undefined["details"][0]["attribute"] == "colourStr"
        assert undefined["status"] == 400
        wrong_type = await describe({"orderNumberStr": 5})
        assert wrong_type["code"] == "type_mismatch"
        assert wrong_type["details"][0]["attribute"] == "orderNumberStr"
        read_only = await describe({"priorityNum": 1})
        assert read_only["code"] == "attribute_read_only"
        assert read_only["details"][0]["attribute"] == "priorityNum"
        mixed = await describe({"orderNumberStr": "A-1", "colourStr": "red"})
        assert mixed["code"] == "unknown_attribute"

        # Another visitor's conversation is not found, by describe or by open.
        other = httpx.post(
            f"{served.server.url}/c/v1/sessions",
            headers={"Authorization": f"Bearer {served.keys['trackingKey']}"},
        ).json()
        theirs_response = httpx.post(
            f"{served.server.url}/c/v1/conversations",
            headers={
                "Authorization": f"Bearer {served.keys['trackingKey']}",
                "X-Klatch-Session": other["sessionToken"],
            },
            json={"message": "Someone else's question"},
        )
        assert theirs_response.status_code == 201, theirs_response.text
        theirs = theirs_response.json()["conversationId"]
        assert (await describe({"orderNumberStr": "A-1"}, theirs))["code"] == (
            "conversation_not_found"
        )
        not_found = await fails(widget, "openConversationById", {"conversationId": theirs})
        assert not_found["code"] == "conversation_not_found"
        await expect(widget.panel).to_be_visible()  # still on the customer's own thread
        await expect(widget.messages("in", "Hello")).to_be_visible()
        await expect(widget.panel).not_to_contain_text("Someone else's question")

        # Bad arguments: invalid_arguments naming the method and the argument, never thrown.
        missing_id = await fails(
            widget, "describeConversation", {"customAttributes": {"orderNumberStr": "A-1"}}
        )
        assert missing_id["code"] == "invalid_arguments"
        assert "describeConversation" in missing_id["message"]
        assert "conversationId" in missing_id["message"]
        missing_attributes = await fails(widget, "describeConversation", {"conversationId": mine})
        assert missing_attributes["code"] == "invalid_arguments"
        assert "customAttributes" in missing_attributes["message"]
        bad_arguments = [
            await fails(
                widget,
                "describeConversation",
                {"conversationId": mine, "customAttributes": "orderNumberStr=A-1"},
            ),
            await fails(widget, "describeConversation", None),
            await fails(widget, "openConversationById", {"conversationId": 42}),
            await fails(widget, "login", {}),
            await fails(widget, "login", {"jwtToken": 42}),
        ]
        assert [b["code"] for b in bad_arguments] == ["invalid_arguments"] * len(bad_arguments)
        assert (await fails(widget, "openKbArticle", "123"))["code"] == "not_supported"

        # Nothing of that reached the server.
        assert custom(agent, mine) == {}
        assert custom(agent, theirs) == {}
        assert messages(agent, mine) == [("in", "Hello")]
        assert sorted(c["id"] for c in conversations(agent)) == sorted([mine, theirs])


async def test_a_thread_whose_messages_cannot_load_calls_back_with_the_error(
    shop: Shop, served: Served
) -> None:
    widget = await shop.open()
    page = widget.page
    await widget.started()
    first = (await ok(widget, "createConversation", {"message": "First question"}))[
        "conversationId"
    ]
    await ok(widget, "close")

    # A proxy in front of the server fails every message list (a page that is not
    # Klatch's JSON: http_502); everything else goes through.
    message_lists = re.compile(r"/c/v1/conversations/[^/]+/messages\?")

    async def bad_gateway(route: Route) -> None:
        await route.fulfill(status=502, content_type="text/html", body="<h1>Bad Gateway</h1>")

    await page.route(message_lists, bad_gateway)
    # The conversation exists (getConversation succeeds); its messages do not come.
    refused = await fails(widget, "openConversationById", {"conversationId": first})
    assert (refused["code"], refused["status"]) == ("http_502", 502)
    with served.rest() as agent:
        # Created on the server, then its thread cannot load: the callback says so.
        unloaded = await fails(widget, "createConversation", {"message": "Second question"})
        assert (unloaded["code"], unloaded["status"]) == ("http_502", 502)
        assert len(conversations(agent)) == 2
    await ok(widget, "open")
    alert = widget.frame.get_by_role("alert")
    await expect(alert).to_contain_text("Could not load this conversation")

    # The server cannot be reached at all: network_error, no status.
    await page.unroute(message_lists, bad_gateway)
    await page.route(message_lists, lambda route: route.abort("connectionrefused"))
    unreachable = await fails(widget, "openConversationById", {"conversationId": first})
    assert (unreachable["code"], unreachable["status"]) == ("network_error", None)

    # Once the messages load again, the same call opens the thread.
    await page.unroute(message_lists)
    assert await ok(widget, "openConversationById", {"conversationId": first}) is None
    await expect(widget.messages("in", "First question")).to_be_visible()
    await expect(alert).to_be_hidden()  # empty, so not shown


# ------------------------------------------------------------------ login and logout


async def test_login_merges_and_logout_starts_afresh(shop: Shop, served: Served) -> None:
    widget = await shop.open(listening("onLogin", "onLogout"))
    await widget.started()
    before = (await ok(widget, "createConversation", {"message": "Before login"}))["conversationId"]
    logged_in = await ok(widget, "login", {"jwtToken": login_token(served, "user-42")})
    assert logged_in["identified"] is True and logged_in["externalId"] == "user-42"
    customer_id = logged_in["customerId"]
    assert (await wait_seen(widget, "onLogin"))[0]["response"]["customerId"] == customer_id
    with served.rest() as agent:
        assert customer_of(agent, before) == customer_id
        assert agent.get(f"/v1/customers/{customer_id}").json()["data"]["attributes"][
            "externalId"
        ] == ("user-42")
        listed = await ok(widget, "getOpenConversations")
        assert [c["conversationId"] for c in listed] == [before]

        await ok(widget, "logout")
        await wait_seen(widget, "onLogout")
        assert await ok(widget, "getOpenConversations") == []
        await ok(widget, "open")
        await expect(widget.panel).to_be_visible()
        await expect(widget.panel).not_to_contain_text("Before login")
        # A customer without conversations: a new thread, with no way back to an empty list.
        await expect(widget.composer).to_be_visible()
        await expect(widget.back).to_be_hidden()

        # A new, anonymous customer now; the old conversation stays with user-42.
        after = (await ok(widget, "createConversation", {"message": "After logout"}))[
            "conversationId"
        ]
        anonymous = customer_of(agent, after)
        assert anonymous != customer_id
        assert (
            agent.get(f"/v1/customers/{anonymous}").json()["data"]["attributes"]["externalId"]
            is None
        )
        assert customer_of(agent, before) == customer_id

        # Logging in again brings both together.
        again = await ok(widget, "login", {"jwtToken": login_token(served, "user-42")})
        assert again["customerId"] == customer_id
        assert customer_of(agent, after) == customer_id
        listed = await ok(widget, "getOpenConversations")
        assert [c["conversationId"] for c in listed] == [after, before]


# ------------------------------------------------------------------ reload and restart


async def test_a_reload_and_a_server_restart_keep_the_conversation(
    shop: Shop, served: Served
) -> None:
    widget = await shop.open()
    page = widget.page
    await widget.started()
    conversation_id = (await ok(widget, "createConversation", {"message": "Is my parcel lost?"}))[
        "conversationId"
    ]
    await expect(widget.messages("in", "Is my parcel lost?")).to_be_visible()

    with served.rest() as agent:
        # The agent answers while the page is reloading.
        await page.reload(wait_until="commit")
        agent_says(agent, conversation_id, "We found it.")
        await page.wait_for_function("window.kustomerLoaded === true")
        await widget.started()
        await expect(widget.panel).to_be_visible()
        await expect(widget.messages("in", "Is my parcel lost?")).to_be_visible()
        await expect(widget.messages("out", "We found it.")).to_be_visible()

        # The agent answers just after the server restarted.
        served.server.stop()
        served.server.start()
        agent_says(agent, conversation_id, "It is on its way.")
        await expect(widget.messages("out", "It is on its way.")).to_be_visible(timeout=20_000)
        await widget.composer.fill("Thanks!")
        await widget.composer.press("Enter")
        await eventually(
            lambda: messages(agent, conversation_id)[-1] == ("in", "Thanks!"),
            "the customer's message after the restart",
        )
        assert [c["id"] for c in conversations(agent)] == [conversation_id]


async def test_an_answer_between_the_pages_reads_and_its_socket_still_shows(
    shop: Shop, served: Served
) -> None:
    # After a reload the widget reads the thread, then its socket opens: an agent's
    # answer that comes in between reaches neither, unless the socket starts from
    # where the reads were (the unread counts' lastEventId, sent as after=).
    widget = await shop.open()
    page = widget.page
    await widget.started()
    created = await ok(widget, "createConversation", {"message": "Where is my order?"})
    conversation_id = created["conversationId"]
    await expect(widget.messages("in", "Where is my order?")).to_be_visible()

    release = asyncio.Event()

    async def held_back(ws: WebSocketRoute) -> None:
        await release.wait()
        ws.connect_to_server()

    await page.context.route_web_socket(re.compile(r"/c/v1/realtime"), held_back)
    with served.rest() as agent:
        await page.reload()
        await page.wait_for_function("window.kustomerLoaded === true")
        await widget.started()
        await expect(widget.messages("in", "Where is my order?")).to_be_visible()
        agent_says(agent, conversation_id, "Sent while the widget had no socket")
        release.set()
        await expect(widget.messages("out", "Sent while the widget had no socket")).to_be_visible(
            timeout=REALTIME_TIMEOUT
        )
    await expect(widget.messages("out", "Sent while the widget had no socket")).to_have_count(1)


# ------------------------------------------------------------------ launcher


async def test_hidden_launcher_open_close_and_stop(shop: Shop, served: Served) -> None:
    widget = await shop.open(listening("onOpen", "onClose", start_options="{hideChatIcon: true}"))
    page = widget.page
    await widget.started()
    assert await page.evaluate("Kustomer.isChatAvailable()") == {"availability": "online"}

    await ok(widget, "open")
    await expect(widget.panel).to_be_visible()
    await wait_seen(widget, "onOpen")
    await expect(widget.launcher).to_be_hidden()
    await ok(widget, "close")
    await expect(widget.panel).to_be_hidden()
    await wait_seen(widget, "onClose")
    await expect(widget.launcher).to_be_hidden()
    await expect(page.locator("#kustomer-ui-sdk-iframe")).to_have_count(1)

    # A draft with attributes: created, with them, when the customer first writes.
    draft = await ok(widget, "createConversation", {"customAttributes": {"orderNumberStr": "B-7"}})
    assert draft is None
    await expect(widget.panel).to_be_visible()
    with served.rest() as agent:
        assert conversations(agent) == []
        await widget.composer.fill("About order B-7")
        await widget.composer.press("Enter")
        created = await eventually(lambda: conversations(agent), "the drafted conversation")
        assert created[0]["attributes"]["custom"] == {"orderNumberStr": "B-7"}
        assert messages(agent, created[0]["id"]) == [("in", "About order B-7")]
    await expect(widget.messages("in", "About order B-7")).to_be_visible()
    await expect(widget.composer).to_have_value("")
    await ok(widget, "close")

    # stop() removes the widget and its listeners; start() must come again.
    opened = await count_seen(widget, "onOpen")
    await ok(widget, "stop")
    await expect(page.locator("#kustomer-ui-sdk-iframe")).to_have_count(0)
    assert (await fails(widget, "open"))["code"] == "not_initialized"
    await ok(widget, "start", {})
    await expect(widget.open_launcher).to_be_visible()  # no hideChatIcon this time
    await ok(widget, "open")
    await expect(widget.panel).to_be_visible()
    assert await count_seen(widget, "onOpen") == opened


# ------------------------------------------------------------------ one clear state


def said(panel: Locator, text: str) -> Locator:
    """Where ``text`` is shown (visible) in the panel."""
    return panel.get_by_text(text).filter(visible=True)


async def test_the_greeting_is_said_once_and_an_ended_conversation_is_one_clear_state(
    shop: Shop, served: Served
) -> None:
    greeting = "Ask us anything about your order."
    with served.rest() as agent:
        branded = agent.patch(
            f"/v1/brands/{served.keys['brandId']}",
            json={"teamName": "Corner Shop", "greeting": greeting},
        )
        assert branded.status_code == 200, branded.text
    widget = await shop.open()
    await widget.started()
    await widget.open_launcher.click()
    panel = widget.frame.get_by_role("dialog", name="Chat with Corner Shop")

    # A first-time customer: a new thread that greets once, with nowhere to go back to.
    await expect(widget.composer).to_be_visible()
    await expect(said(panel, greeting)).to_have_count(1)
    await expect(widget.back).to_be_hidden()
    await widget.composer.fill("Where is my order?")
    await widget.composer.press("Enter")
    await expect(widget.messages("in", "Where is my order?")).to_be_visible()
    await expect(said(panel, greeting)).to_have_count(1)
    await expect(widget.back).to_be_hidden()  # still the customer's only conversation

    with served.rest() as agent:
        (created,) = conversations(agent)
        conversation_id = created["id"]
        typing = agent.post(f"/v1/conversations/{conversation_id}/typing", json={"typing": True})
        assert typing.status_code == 204, typing.text
        await expect(widget.typing).to_be_visible(timeout=REALTIME_TIMEOUT)

        # The agent ends it while "typing": the line goes, one ended notice stays.
        assert agent.post(f"/v1/conversations/{conversation_id}/end").status_code == 200
    ended = panel.get_by_role("status").filter(has_text="This conversation has ended.")
    await expect(ended).to_be_visible(timeout=REALTIME_TIMEOUT)
    await expect(widget.typing).to_have_count(0)
    await expect(panel.get_by_text("is typing")).to_have_count(0)
    await expect(widget.composer).to_be_hidden()
    await expect(widget.send).to_be_hidden()
    restart = panel.get_by_role("button", name="Start a new conversation")
    await expect(restart).to_be_visible()

    # A new conversation: the composer again, and now a way back to the first one.
    await restart.click()
    await expect(ended).to_be_hidden()
    await expect(widget.composer).to_be_enabled()
    await expect(said(panel, greeting)).to_have_count(1)
    await widget.back.click()
    await expect(widget.conversations).to_be_visible()
    await expect(said(panel, greeting)).to_have_count(1)  # the header says it here
    await expect(widget.conversations.locator(".klatch-conv")).to_have_count(1)


# ------------------------------------------------------------------ phones


PHONE = ViewportSize(width=390, height=844)


async def test_on_a_phone_the_open_widget_is_a_full_screen_chat(
    shop: Shop, served: Served, artifacts_dir: Path
) -> None:
    widget = await shop.open(viewport=PHONE)
    page = widget.page
    await widget.started()
    frame = page.locator("#kustomer-ui-sdk-iframe")
    closed = await frame.bounding_box()
    assert closed is not None and closed["width"] <= 100 and closed["height"] <= 100
    await page.screenshot(path=artifacts_dir / "widget-phone-closed.png")

    await widget.open_launcher.click()
    await expect(widget.composer).to_be_visible()
    await widget.composer.fill("Where is my order?")
    await widget.composer.press("Enter")
    await expect(widget.messages("in", "Where is my order?")).to_be_visible()
    # The whole screen is the chat: the frame and the panel fill it, no launcher over it
    # (measured once the panel's opening animation has finished).
    await widget.panel.evaluate("e => Promise.all(e.getAnimations().map((a) => a.finished))")
    assert await frame.bounding_box() == {"x": 0, "y": 0, **PHONE}
    assert await widget.panel.bounding_box() == {"x": 0, "y": 0, **PHONE}
    await expect(widget.launcher).to_be_hidden()
    send = await widget.send.bounding_box()
    assert send is not None and send["y"] + send["height"] <= PHONE["height"]
    await page.screenshot(path=artifacts_dir / "widget-phone-open.png")

    # The header's close button minimises it back to the launcher.
    await widget.frame.get_by_role("button", name="Close chat").click()
    await expect(widget.panel).to_be_hidden()
    await expect(widget.open_launcher).to_be_visible()
    closed = await frame.bounding_box()
    assert closed is not None and closed["width"] <= 100 and closed["height"] <= 100

    # Turned into a wide window, it is a floating card again.
    await page.set_viewport_size({"width": 1100, "height": 760})
    await widget.open_launcher.click()
    await expect(widget.composer).to_be_visible()
    card = await frame.bounding_box()
    assert card is not None and card["width"] == 420 and card["x"] == 1100 - 420
    await expect(widget.close_launcher).to_be_visible()
