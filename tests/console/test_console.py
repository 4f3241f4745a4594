"""The agent console (``/console``) in real Chromium against a real server: an
agent logs in, sees a chat started in the widget arrive live, reads and edits the
conversation's attributes, filters the inbox and replies; values are shown as text,
never as markup; one org's agents cannot reach another org's conversations; and
the session rules hold (CSRF on writes, logout, lockout after failed logins,
admins-only pages).

The console is driven as an agent uses it (labels and roles); what it should have
done is checked on the server through the REST API with the admin key."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Dialog,
    Locator,
    Page,
    WebSocketRoute,
    expect,
)

from support import KlatchProcess, PageServer, cli, eventually, prepare

ROOT = Path(__file__).resolve().parents[2]
REALTIME_TIMEOUT = 10_000  # ms: what a page gets to show something pushed by the server
PASSWORD = "secret-pass-1"
ADMIN_EMAIL = "ann@example.com"
AGENT_EMAIL = "bob@example.com"
AGENT_NAME = "Bob Agent"
LOCKOUT_EMAIL = "cat@example.com"  # only the lockout test logs in as this agent
XSS = "<img src=x onerror=alert(1)>"


# ------------------------------------------------------------------ server


@dataclass
class Served:
    server: KlatchProcess
    keys: dict[str, str]  # org A (prepare's org): the console users' org
    other: dict[str, str]  # org B, from a second `klatch init`

    def rest(self, keys: dict[str, str] | None = None) -> httpx.Client:
        """The REST API as an integration calls it, with an org's admin key."""
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {(keys or self.keys)['adminKey']}"},
            timeout=10,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the module (its set-up is a handful of CLI runs). Every test
    makes its own conversations with values of its own, so tests do not see each
    other's; only the lockout test logs in as LOCKOUT_EMAIL."""
    root = tmp_path_factory.mktemp("console")
    env, keys = prepare(root)
    cli(env, root, "attributes", "define", "conversation", "priorityNum", "--read-only")
    for email, role, name in (
        (ADMIN_EMAIL, "admin", "Ann Admin"),
        (AGENT_EMAIL, "agent", AGENT_NAME),
        (LOCKOUT_EMAIL, "agent", "Cat Agent"),
    ):
        user = ["users", "create", email, "--password", PASSWORD, "--role", role, "--name", name]
        cli(env, root, *user)
    # A second org in the same data dir. Last: with two orgs the CLI needs --org.
    other = json.loads(cli(env, root, "init", "--add-org", "--org-name", "Other shop", "--json"))
    assert other["orgId"] != keys["orgId"]
    cli(env, root, "attributes", "define", "conversation", "orderNumberStr", "--org", "Other shop")
    with KlatchProcess(env, root, root / "server.log") as server:
        yield Served(server, keys, other)
        print("---- server log (tail) ----\n" + server.output[-4000:])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ server-side checks


def conversation(rest: httpx.Client, conversation_id: str) -> dict[str, Any]:
    response = rest.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def custom(rest: httpx.Client, conversation_id: str) -> dict[str, Any]:
    return dict(conversation(rest, conversation_id)["attributes"]["custom"])


def messages(rest: httpx.Client, conversation_id: str) -> list[tuple[str, str, str | None]]:
    """(direction, body, sender's display name) of every message, oldest first."""
    response = rest.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    return [
        (
            m["attributes"]["direction"],
            m["attributes"]["body"],
            m["attributes"]["sentBy"]["displayName"],
        )
        for m in response.json()["data"]
    ]


class Customer:
    """A chat session through the client API (what the SDK does), for conversations
    a test needs without driving the widget."""

    def __init__(self, served: Served, keys: dict[str, str] | None = None) -> None:
        self.http = httpx.Client(base_url=served.server.url, timeout=10)
        tracking = (keys or served.keys)["trackingKey"]
        auth = {"Authorization": f"Bearer {tracking}"}
        session = self.http.post("/c/v1/sessions", headers=auth)
        assert session.status_code in (200, 201), session.text
        self.headers = {**auth, "X-Klatch-Session": session.json()["sessionToken"]}

    def start(self, message: str, custom: dict[str, Any]) -> str:
        response = self.http.post(
            "/c/v1/conversations", headers=self.headers, json={"message": message, "custom": custom}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["conversationId"])

    def say(self, conversation_id: str, body: str) -> None:
        response = self.http.post(
            f"/c/v1/conversations/{conversation_id}/messages",
            headers=self.headers,
            json={"body": body},
        )
        assert response.status_code == 201, response.text

    def close(self) -> None:
        self.http.close()


# ------------------------------------------------------------------ console over HTTP


def csrf_in(html: str, pattern: str) -> str:
    found = re.search(pattern, html)
    assert found, f"no CSRF token in the page:\n{html[:2000]}"
    return found.group(1)


class ConsoleHttp:
    """The console as a plain HTTP client (cookie jar included) sees it."""

    def __init__(self, served: Served) -> None:
        self.http = httpx.Client(base_url=served.server.url, timeout=10)

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        form = self.http.get("/console/login")
        assert form.status_code == 200, form.text
        token = csrf_in(form.text, r'name="csrf" value="([^"]+)"')
        return self.http.post(
            "/console/login",
            data={"csrf": token, "email": email, "password": password, "next": "/console/inbox"},
        )

    def logged_in(self, email: str) -> ConsoleHttp:
        response = self.login(email)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/console/inbox"
        return self

    def csrf(self) -> str:
        """The session's CSRF token, as every console page carries it."""
        inbox = self.http.get("/console/inbox")
        assert inbox.status_code == 200, inbox.text
        return csrf_in(inbox.text, r'<meta name="csrf-token" content="([^"]+)"')

    @property
    def session_cookie(self) -> str:
        token = self.http.cookies.get("klatch_console")
        assert token, "no session cookie"
        return str(token)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def console_http(served: Served) -> Iterator[Callable[[], ConsoleHttp]]:
    made: list[ConsoleHttp] = []

    def make() -> ConsoleHttp:
        made.append(ConsoleHttp(served))
        return made[-1]

    yield make
    for client in made:
        client.close()


# ------------------------------------------------------------------ console in Chromium


@dataclass
class Watched:
    """A console page, with whatever dialogs it opened and errors it threw."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Browsers:
    """Fresh browser contexts (one per person), closed at the end of the test."""

    def __init__(self, browser: Browser, served: Served) -> None:
        self.browser = browser
        self.served = served
        self.contexts: list[BrowserContext] = []
        self.watched: list[Watched] = []

    async def page(self) -> Watched:
        context = await self.browser.new_context(viewport={"width": 1280, "height": 800})
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(REALTIME_TIMEOUT)
        watched = Watched(page)

        async def on_dialog(dialog: Dialog) -> None:
            watched.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))
        page.on("console", lambda m: print("console:", m.type, m.text))
        page.on("response", lambda r: print("HTTP", r.status, r.url) if r.status >= 400 else None)
        self.watched.append(watched)
        return watched

    async def agent(self, email: str = AGENT_EMAIL) -> Watched:
        """A console user logged in through the login form, on the inbox."""
        watched = await self.page()
        page = watched.page
        await page.goto(f"{self.served.server.url}/console/inbox")
        await expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Finbox$"))
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{self.served.server.url}/console/inbox")
        await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
        return watched

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def browsers(browser: Browser, served: Served) -> AsyncIterator[Browsers]:
    opened = Browsers(browser, served)
    yield opened
    errors = [e for w in opened.watched for e in w.errors]
    await opened.close()
    assert not errors, f"uncaught errors on a page: {errors}"


def inbox_rows(page: Page) -> Locator:
    return page.locator("#inbox-rows tr[data-conversation-id]")


def inbox_row(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'#inbox-rows tr[data-conversation-id="{conversation_id}"]')


def attribute_input(page: Page, display_name: str) -> Locator:
    """The editor of an attribute, found by its label (display name, then the system
    name in small print)."""
    return page.get_by_role("textbox", name=re.compile(rf"^{re.escape(display_name)}\b"))


def history_entries(page: Page, display_name: str) -> Locator:
    return page.locator("#history li").filter(
        has=page.locator("strong", has_text=re.compile(rf"^{re.escape(display_name)}$"))
    )


async def filter_inbox(page: Page, option: str, value: str) -> None:
    await page.get_by_label("Attribute").select_option(label=option)
    await page.get_by_label("Value", exact=True).fill(value)
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"/console/inbox\?.*attribute=orderNumberStr"))


# The customer's site: Kustomer's snippet, describing each new conversation with
# its order number as the documented onConversationCreate example does.
def shop_page(served: Served, order: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif; margin: 2rem">
<h1>Corner Shop</h1>
<script>
  window.described = null;
  window.addEventListener('kustomerLoaded', function () {{
    Kustomer.addListener('onConversationCreate', function (conversation) {{
      Kustomer.describeConversation({{
        conversationId: conversation.conversationId,
        customAttributes: {{orderNumberStr: {json.dumps(order)}}}
      }}, function (response, error) {{
        window.described = error ? {{error: error.code || String(error)}} : response;
      }});
    }});
    Kustomer.start({{}}, function (response, error) {{
      window.started = error ? 'failed: ' + (error.code || error) : true;
    }});
  }});
</script>
<script src="{served.server.url}/chat-web/widget.js"
        data-kustomer-api-key="{served.keys["trackingKey"]}"></script>
</body></html>"""


# ------------------------------------------------------------------ tests


async def test_an_agent_answers_a_chat_started_in_the_widget(
    browsers: Browsers, served: Served, artifacts_dir: Path
) -> None:
    order = unique("A")
    agent = await browsers.agent()
    console = agent.page
    await console.evaluate("window.notReloaded = true")

    # Another conversation, whose order number only starts like ours.
    customer = Customer(served)
    decoy = customer.start("Is the shop open on Sunday?", {"orderNumberStr": order + "-2"})
    customer.close()
    await expect(inbox_row(console, decoy)).to_be_visible(timeout=REALTIME_TIMEOUT)

    # The customer opens the widget on the shop's site and writes.
    site = PageServer()
    try:
        site.pages["/shop.html"] = shop_page(served, order)
        shop = (await browsers.page()).page
        await shop.goto(site.url("/shop.html"))
        await shop.wait_for_function("window.started !== undefined", timeout=15_000)
        assert await shop.evaluate("window.started") is True
        widget = shop.frame_locator("#kustomer-ui-sdk-iframe")
        await widget.get_by_role("button", name="Open chat", exact=True).click()
        composer = widget.get_by_label("Message", exact=True)
        # A customer without conversations gets a new thread (after a moment on
        # the list while the widget asks for their conversations).
        await expect(composer).to_be_visible(timeout=REALTIME_TIMEOUT)
        await expect(composer).to_be_enabled()
        await composer.fill("Where is my teapot?")
        await composer.press("Enter")
        handle = await shop.wait_for_function("window.described", timeout=REALTIME_TIMEOUT)
        described = await handle.json_value()
        assert "error" not in described, described
        conversation_id = described["conversationId"]
        assert described["custom"] == {"orderNumberStr": order}

        # It shows up in the agent's inbox without a reload.
        row = inbox_row(console, conversation_id)
        await expect(row).to_be_visible(timeout=REALTIME_TIMEOUT)
        await expect(row).to_contain_text("Where is my teapot?", timeout=REALTIME_TIMEOUT)
        await expect(row).to_contain_text("Open")
        assert await console.evaluate("window.notReloaded") is True
        await console.screenshot(path=artifacts_dir / "console-inbox.png")

        # Its page: the thread, and the order number in the attribute panel.
        await row.get_by_role("link").click()
        await expect(console).to_have_url(re.compile(rf"/console/conversations/{conversation_id}$"))
        await expect(console.locator("#messages")).to_contain_text("Where is my teapot?")
        order_number = attribute_input(console, "Order Number")
        await expect(order_number).to_have_value(order)
        await expect(order_number).to_have_id("attr-orderNumberStr")
        await expect(history_entries(console, "Order Number")).to_contain_text("Customer (chat)")

        # Filtering the inbox by the order number finds exactly this conversation.
        await console.get_by_role("link", name="Inbox").click()
        await expect(inbox_row(console, decoy)).to_be_visible()
        await filter_inbox(console, "Order Number (orderNumberStr)", order)
        await expect(inbox_rows(console)).to_have_count(1)
        await expect(inbox_rows(console)).to_have_attribute("data-conversation-id", conversation_id)

        # The agent replies; the customer sees it in the widget.
        await inbox_row(console, conversation_id).get_by_role("link").click()
        await console.get_by_label("Reply").fill("It ships today.")
        await console.get_by_role("button", name="Send reply").click()
        await expect(console.get_by_label("Reply")).to_have_value("")
        await expect(console.locator("#messages .message-out")).to_contain_text("It ships today.")
        # An agent's message in the widget's thread (the greeting has no message id).
        shown = widget.locator(".klatch-msg.klatch-out[data-message-id]").filter(
            has_text="It ships today."
        )
        await expect(shown).to_be_visible(timeout=REALTIME_TIMEOUT)
        await expect(shown).to_contain_text(AGENT_NAME)
        with served.rest() as rest:
            assert messages(rest, conversation_id) == [
                ("in", "Where is my teapot?", None),
                ("out", "It ships today.", AGENT_NAME),
            ]
            assert custom(rest, conversation_id) == {"orderNumberStr": order}
        # (docs/img/console.png comes from test_agent_tools_console.py: notes and tags too.)
        await console.screenshot(path=artifacts_dir / "console-conversation.png")
    finally:
        site.close()


async def test_an_agent_sets_a_read_only_number_and_sees_the_servers_refusal(
    browsers: Browsers, served: Served
) -> None:
    customer = Customer(served)
    conversation_id = customer.start("Please hurry.", {"orderNumberStr": unique("P")})
    customer.close()
    with served.rest() as rest:
        before = custom(rest, conversation_id)
        refused = rest.patch(
            f"/v1/conversations/{conversation_id}", json={"custom": {"priorityNum": "abc"}}
        )
        assert refused.status_code == 400, refused.text
        # The API keeps its code and message; the console words it for an agent.
        assert refused.json()["errors"][0]["code"] == "type_mismatch"
        assert "priorityNum" in refused.json()["errors"][0]["detail"]
        assert custom(rest, conversation_id) == before

    page = (await browsers.agent()).page
    await page.goto(f"{served.server.url}/console/conversations/{conversation_id}")
    priority = attribute_input(page, "Priority")
    save = page.locator("#attributes-save")  # one Save for the whole panel
    error = page.locator("#attr-priorityNum-error")
    await expect(priority).to_have_value("")
    await expect(error).to_have_text("")

    await priority.fill("abc")
    await save.click()
    await expect(error).to_have_text("Priority must be a number")
    await expect(priority).to_have_value("abc")  # the agent's input is kept to correct
    with served.rest() as rest:
        assert custom(rest, conversation_id) == before
    await expect(history_entries(page, "Priority")).to_have_count(0)

    await priority.fill("3")
    await save.click()
    await expect(error).to_have_text("")
    with served.rest() as rest:
        await eventually(
            lambda: custom(rest, conversation_id).get("priorityNum") == 3, "priorityNum == 3"
        )
        stored = custom(rest, conversation_id)
        assert stored == {**before, "priorityNum": 3}
        assert type(stored["priorityNum"]) is int
    entry = history_entries(page, "Priority")
    await expect(entry).to_have_count(1, timeout=REALTIME_TIMEOUT)  # live, without a reload
    await expect(entry.locator(".who")).to_have_text(AGENT_NAME)
    await expect(entry.locator(".before")).to_have_text("(empty)")
    await expect(entry.locator(".after")).to_have_text("3")
    await page.reload()
    await expect(attribute_input(page, "Priority")).to_have_value("3")


async def test_a_message_sent_before_the_pages_socket_opens_still_shows(
    browsers: Browsers, served: Served
) -> None:
    # The conversation page is read, then its socket opens: a message that comes in
    # between reaches neither. The page knows the newest event it was read at and
    # reads its thread again when the socket opens on a newer one.
    agent = await browsers.agent()
    page = agent.page
    customer = Customer(served)
    release = asyncio.Event()

    async def held_back(ws: WebSocketRoute) -> None:
        await release.wait()
        ws.connect_to_server()

    try:
        conversation_id = customer.start("First question", {})
        await page.route_web_socket(re.compile(r"/v1/realtime"), held_back)
        await page.goto(f"{served.server.url}/console/conversations/{conversation_id}")
        await expect(page.locator("#messages .message-in")).to_have_count(1)
        customer.say(conversation_id, "Sent while the page had no socket")
        release.set()
        messages = page.locator("#messages .message-in")
        await expect(messages).to_have_count(2, timeout=REALTIME_TIMEOUT)
        await expect(messages.last).to_have_text(re.compile("Sent while the page had no socket"))
    finally:
        customer.close()


async def test_values_from_customers_are_shown_as_text_never_as_markup(
    browsers: Browsers, served: Served
) -> None:
    agent = await browsers.agent()
    page = agent.page
    customer = Customer(served)
    body = "<b>bold</b><img src=x onerror=alert(2)>"
    conversation_id = customer.start(body, {"orderNumberStr": XSS})
    try:
        # In the inbox, inserted live (the innerHTML path of console.js).
        row = inbox_row(page, conversation_id)
        await expect(row).to_contain_text(body, timeout=REALTIME_TIMEOUT)
        await filter_inbox(page, "Order Number (orderNumberStr)", XSS)
        await expect(page.get_by_label("Value", exact=True)).to_have_value(XSS)
        await expect(inbox_rows(page)).to_have_count(1)
        await expect(row).to_contain_text(body)
        await expect(page.locator("img, b")).to_have_count(0)

        # On the conversation page: the input's value, the history, the thread.
        await row.get_by_role("link").click()
        await expect(attribute_input(page, "Order Number")).to_have_value(XSS)
        await expect(history_entries(page, "Order Number").locator(".after")).to_have_text(XSS)
        await expect(page.locator("#messages")).to_contain_text(body)
        customer.say(conversation_id, "<script>alert(3)</script><img src=y onerror=alert(4)>")
        await expect(page.locator("#messages .message-in")).to_have_count(
            2, timeout=REALTIME_TIMEOUT
        )
        await expect(page.locator("#messages .message-in").last).to_have_text(
            re.compile(re.escape("<script>alert(3)</script><img src=y onerror=alert(4)>"))
        )
        # (The CSP would also block the inline handlers; no element means no markup.)
        await expect(page.locator("img, b, #messages script")).to_have_count(0)
        assert agent.dialogs == []
        with served.rest() as rest:
            assert custom(rest, conversation_id) == {"orderNumberStr": XSS}
    finally:
        customer.close()


async def test_an_agent_cannot_reach_another_orgs_conversation(
    served: Served, console_http: Callable[[], ConsoleHttp]
) -> None:
    theirs_order = unique("B")
    customer = Customer(served, served.other)
    theirs = customer.start("A secret of the other shop", {"orderNumberStr": theirs_order})
    customer.close()
    with served.rest(served.other) as rest:
        before = (custom(rest, theirs), messages(rest, theirs))

    agent = console_http().logged_in(AGENT_EMAIL)
    csrf = agent.csrf()
    for path in ("", "?partial=messages", "?partial=attributes", "?partial=history"):
        page = agent.http.get(f"/console/conversations/{theirs}{path}")
        assert page.status_code == 404, (path, page.text)
        assert "A secret of the other shop" not in page.text
        assert theirs_order not in page.text
    writes = {
        "reply": {"csrf": csrf, "body": "Hello from the wrong org"},
        "attributes": {"csrf": csrf, "custom.priorityNum": "7", "custom.orderNumberStr": "x"},
        "status": {"csrf": csrf, "status": "done"},
    }
    for action, form in writes.items():
        response = agent.http.post(f"/console/conversations/{theirs}/{action}", data=form)
        assert response.status_code == 404, (action, response.text)
    inbox = agent.http.get("/console/inbox", params={"partial": "rows"})
    assert inbox.status_code == 200 and theirs not in inbox.text
    filtered = agent.http.get(
        "/console/inbox",
        params={"partial": "rows", "attribute": "orderNumberStr", "value": theirs_order},
    )
    assert filtered.status_code == 200 and "data-conversation-id" not in filtered.text
    with served.rest(served.other) as rest:
        assert (custom(rest, theirs), messages(rest, theirs)) == before
        assert conversation(rest, theirs)["attributes"]["status"] == "open"


async def test_writes_without_the_csrf_token_are_refused(
    served: Served, console_http: Callable[[], ConsoleHttp]
) -> None:
    customer = Customer(served)
    conversation_id = customer.start("Hello?", {"orderNumberStr": unique("C")})
    customer.close()
    with served.rest() as rest:
        before = (custom(rest, conversation_id), messages(rest, conversation_id))

    agent = console_http().logged_in(AGENT_EMAIL)
    base = f"/console/conversations/{conversation_id}"
    for form in (
        {"custom.priorityNum": "4"},  # no token at all
        {"csrf": "", "custom.priorityNum": "4"},
        {"csrf": "x" * 43, "custom.priorityNum": "4"},  # not this session's token
    ):
        refused = agent.http.post(f"{base}/attributes", data=form)
        assert refused.status_code == 403, refused.text
        as_fetch = agent.http.post(
            f"{base}/attributes", data=form, headers={"X-Requested-With": "fetch"}
        )
        assert as_fetch.status_code == 403, as_fetch.text
    assert agent.http.post(f"{base}/reply", data={"body": "no token"}).status_code == 403
    assert agent.http.post(f"{base}/status", data={"status": "done"}).status_code == 403
    with served.rest() as rest:
        assert (custom(rest, conversation_id), messages(rest, conversation_id)) == before
        assert conversation(rest, conversation_id)["attributes"]["status"] == "open"

    # The same write with the token goes through (so the refusals were the token's).
    done = agent.http.post(
        f"{base}/attributes", data={"csrf": agent.csrf(), "custom.priorityNum": "4"}
    )
    assert done.status_code == 303, done.text
    with served.rest() as rest:
        assert custom(rest, conversation_id)["priorityNum"] == 4


async def test_logout_ends_the_session(
    served: Served, console_http: Callable[[], ConsoleHttp]
) -> None:
    agent = console_http().logged_in(AGENT_EMAIL)
    token = agent.session_cookie
    csrf = agent.csrf()
    assert agent.http.post("/console/logout", data={}).status_code == 403  # no CSRF token
    assert agent.http.get("/console/inbox").status_code == 200
    out = agent.http.post("/console/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"

    with httpx.Client(base_url=served.server.url, cookies={"klatch_console": token}) as old:
        inbox = old.get("/console/inbox")
        assert inbox.status_code == 303, inbox.text
        assert inbox.headers["location"] == "/console/login?next=%2Fconsole%2Finbox"
        assert old.get("/console/inbox", params={"partial": "rows"}).status_code == 303


async def test_failed_logins_lock_the_email(
    served: Served, console_http: Callable[[], ConsoleHttp]
) -> None:
    client = console_http()
    # Fewer failures than the limit, then the right password: in (and counting restarts).
    for _ in range(4):
        wrong = client.login(LOCKOUT_EMAIL, "not-the-password")
        assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    assert client.login(LOCKOUT_EMAIL).status_code == 303

    fresh = console_http()
    for _ in range(5):
        wrong = fresh.login(LOCKOUT_EMAIL, "not-the-password")
        assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    locked = fresh.login(LOCKOUT_EMAIL)  # the 6th attempt, with the right password
    assert locked.status_code == 429, locked.text
    assert "Too many failed logins" in locked.text
    assert "klatch_console" not in fresh.http.cookies
    assert fresh.http.get("/console/inbox").status_code == 303
    # Other emails are not affected.
    assert console_http().login(AGENT_EMAIL).status_code == 303


# ------------------------------------------------------------------ admin pages


async def test_admin_pages_are_for_admins_only(
    served: Served, console_http: Callable[[], ConsoleHttp]
) -> None:
    agent = console_http().logged_in(AGENT_EMAIL)
    refused = agent.http.get("/console/admin/attributes")
    assert refused.status_code == 403, refused.text
    admin = console_http().logged_in(ADMIN_EMAIL)
    allowed = admin.http.get("/console/admin/attributes")
    assert allowed.status_code == 200, allowed.text
