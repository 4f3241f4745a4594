"""The agents' tools of the console in real Chromium against a real server, on
SQLite and on PostgreSQL: internal notes (never sent to the customer's widget or
socket), tags and the inbox's tag filter, the customer page, shortcuts filled in
as text, the inbox's search criteria (shareable as a URL), the Tags admin page, a
disabled agent logged out, and who may open each admin page.

The console is driven as an agent uses it (labels and roles); what it did is
checked on the server through the REST API with the org's admin key."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Dialog, Locator, Page, expect

from support import (
    POSTGRES_URL,
    KlatchProcess,
    PageServer,
    cli,
    fresh_postgres_database,
    need_service,
    prepare,
)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10_000  # ms: what a page gets to show something pushed by the server
PASSWORD = "secret-pass-1"
ADMIN_EMAIL = "ann@example.com"
AGENT_EMAIL = "bob@example.com"
AGENT_NAME = "Bob Agent"
LEAVER_EMAIL = "dan@example.com"  # only the disabling test logs in as this agent
XSS = "<img src=x onerror=alert(1)>"


# ------------------------------------------------------------------ server


@dataclass
class Served:
    server: KlatchProcess
    keys: dict[str, str]  # org A: the console users' org
    other: dict[str, str]  # org B
    env: dict[str, str]
    root: Path

    def rest(self, keys: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {(keys or self.keys)['adminKey']}"},
            timeout=10,
        )


USERS = (
    (ADMIN_EMAIL, "admin", "Ann Admin"),
    (AGENT_EMAIL, "agent", AGENT_NAME),
    (LEAVER_EMAIL, "agent", "Dan Leaver"),
)
PROPERTIES = {
    "conversation": {
        "priorityNum": {"displayName": "Priority"},
        "vipBool": {"displayName": "VIP"},
        "deliveryAt": {"displayName": "Delivery"},
    },
    "customer": {"tierStr": {"displayName": "Tier"}, "creditsNum": {"displayName": "Credits"}},
}


def _populate(served: Served) -> None:
    """Org A's attributes and console users, through the REST API."""
    with served.rest() as rest:
        for klass, properties in PROPERTIES.items():
            done = rest.put(f"/v1/metadata/{klass}", json={"properties": properties})
            assert done.status_code == 200, done.text
        for email, role, name in USERS:
            user = {"email": email, "password": PASSWORD, "role": role, "name": name}
            made = rest.post("/v1/users", json=user)
            assert made.status_code == 201, made.text


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server per backend for the module; every test makes conversations,
    customers, tags and shortcuts of its own names."""
    root = tmp_path_factory.mktemp(f"tools-{request.param}")
    with _database(request.param) as extra_env:
        # Webhooks may reach 127.0.0.1 (org B's subscription in the permissions test).
        private = {"KLATCH_WEBHOOK_ALLOW_PRIVATE": "1", "KLATCH_WEBHOOK_ALLOW_HTTP": "1"}
        env, keys = prepare(root, **extra_env, **private)
        other = json.loads(cli(env, root, "init", "--add-org", "--org-name", "Other", "--json"))
        with KlatchProcess(env, root, root / "server.log") as server:
            made = Served(server, keys, other, env, root)
            _populate(made)
            yield made
            print("---- server log (tail) ----\n" + server.output[-4000:])


class _database:
    """The server's database: SQLite in the data dir, or a fresh PostgreSQL one."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._fresh: Any = None

    def __enter__(self) -> dict[str, str]:
        if self.backend == "sqlite":
            return {}
        url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
        self._fresh = fresh_postgres_database(url, "tools")
        return {"KLATCH_DATABASE_URL": self._fresh.__enter__()}

    def __exit__(self, *exc: object) -> None:
        if self._fresh is not None:
            self._fresh.__exit__(None, None, None)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ server side


class Customer:
    """A chat session through the client API, as the SDK makes one."""

    def __init__(self, served: Served, keys: dict[str, str] | None = None) -> None:
        self.http = httpx.Client(base_url=served.server.url, timeout=10)
        auth = {"Authorization": f"Bearer {(keys or served.keys)['trackingKey']}"}
        session = self.http.post("/c/v1/sessions", headers=auth)
        assert session.status_code in (200, 201), session.text
        self.customer_id = str(session.json()["customerId"])
        self.headers = {**auth, "X-Klatch-Session": session.json()["sessionToken"]}

    def start(self, message: str, custom: dict[str, Any] | None = None) -> str:
        response = self.http.post(
            "/c/v1/conversations",
            headers=self.headers,
            json={"message": message, "custom": custom or {}},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["conversationId"])

    def close(self) -> None:
        self.http.close()


def start_conversation(
    served: Served, message: str, custom: dict[str, Any] | None = None, name: str | None = None
) -> tuple[str, str]:
    """A new customer's conversation: (conversation id, customer id)."""
    customer = Customer(served)
    try:
        conversation_id = customer.start(message, custom)
    finally:
        customer.close()
    if name is not None:
        with served.rest() as rest:
            named = rest.patch(f"/v1/customers/{customer.customer_id}", json={"name": name})
            assert named.status_code == 200, named.text
    return conversation_id, customer.customer_id


def conversation(rest: httpx.Client, conversation_id: str) -> dict[str, Any]:
    response = rest.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["attributes"])


def tag_names(rest: httpx.Client, conversation_id: str) -> list[str]:
    tags = rest.get("/v1/tags", params={"pageSize": 100}).json()["data"]
    names = {t["id"]: t["attributes"]["name"] for t in tags}
    return [names[t] for t in conversation(rest, conversation_id)["tags"]]


def messages(rest: httpx.Client, conversation_id: str) -> list[str]:
    response = rest.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    return [m["attributes"]["body"] for m in response.json()["data"]]


# ------------------------------------------------------------------ browsers


@dataclass
class Watched:
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
        page.set_default_timeout(TIMEOUT)
        watched = Watched(page)

        async def on_dialog(dialog: Dialog) -> None:
            watched.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.accept() if dialog.type == "confirm" else await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))
        page.on("console", lambda m: print("console:", m.type, m.text))
        self.watched.append(watched)
        return watched

    async def agent(self, email: str = AGENT_EMAIL) -> Page:
        """A console user logged in through the login form, on the inbox."""
        page = (await self.page()).page
        await page.goto(f"{self.served.server.url}/console/inbox")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def browsers(browser: Browser, served: Served) -> AsyncIterator[Browsers]:
    opened = Browsers(browser, served)
    yield opened
    errors = [e for w in opened.watched for e in w.errors]
    dialogs = [d for w in opened.watched for d in w.dialogs if d.startswith("alert")]
    await opened.close()
    assert not errors, f"uncaught errors on a page: {errors}"
    assert not dialogs, f"a page opened an alert (markup ran): {dialogs}"


def inbox_rows(page: Page) -> Locator:
    return page.locator("#inbox-rows tr[data-conversation-id]")


def history_entries(page: Page, display_name: str) -> Locator:
    return page.locator("#history li").filter(
        has=page.locator("strong", has_text=re.compile(rf"^{re.escape(display_name)}$"))
    )


def shop_page(served: Served) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,"></head><body><h1>Corner Shop</h1>
<script>
  window.addEventListener('kustomerLoaded', function () {{
    Kustomer.addListener('onConversationCreate', function (c) {{
      window.created = c.conversationId;
    }});
    Kustomer.start({{}}, function (r, e) {{ window.started = e ? 'failed' : true; }});
  }});
</script>
<script src="{served.server.url}/chat-web/widget.js"
        data-kustomer-api-key="{served.keys["trackingKey"]}"></script>
</body></html>"""


# ------------------------------------------------------------------ notes


async def test_a_note_shows_in_the_thread_and_never_reaches_the_customer(
    browsers: Browsers, served: Served, artifacts_dir: Path
) -> None:
    secret = "Refund approved by finance; send a replacement today."
    site = PageServer()
    try:
        # The customer chats in the widget; every frame its page receives is kept.
        site.pages["/shop.html"] = shop_page(served)
        shop = (await browsers.page()).page
        frames: list[str] = []
        shop.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))),
        )
        await shop.goto(site.url("/shop.html"))
        await shop.wait_for_function("window.started !== undefined", timeout=15_000)
        widget = shop.frame_locator("#kustomer-ui-sdk-iframe")
        await widget.get_by_role("button", name="Open chat", exact=True).click()
        composer = widget.get_by_label("Message", exact=True)
        await expect(composer).to_be_enabled()
        await composer.fill("My parcel is late")
        await composer.press("Enter")
        handle = await shop.wait_for_function("window.created", timeout=TIMEOUT)
        conversation_id = await handle.json_value()

        console = await browsers.agent()
        await console.goto(f"{served.server.url}/console/conversations/{conversation_id}")
        await console.get_by_text("Internal note").first.click()  # opens the composer
        note_box = console.get_by_role("textbox", name="Internal note")
        await note_box.fill(secret)
        await console.get_by_role("button", name="Add note").click()
        note = console.locator("#messages .note")
        await expect(note).to_have_count(1)
        await expect(note).to_contain_text("Internal note")
        await expect(note.locator(".author")).to_have_text(AGENT_NAME)
        await expect(note.locator("time")).to_have_text(
            re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
        )
        await expect(note.locator(".body")).to_have_text(secret)
        await expect(note_box).to_have_value("")
        await console.screenshot(path=artifacts_dir / "console-thread-with-note.png")

        # A reply after the note reaches the widget: every frame sent before it has
        # arrived too, and none of them (nor the widget) carries the note.
        await console.get_by_label("Reply").fill("We are on it.")
        await console.get_by_role("button", name="Send reply").click()
        await expect(widget.get_by_text("We are on it.")).to_be_visible(timeout=TIMEOUT)
        assert any("We are on it." in f for f in frames), frames
        assert not [f for f in frames if secret in f]
        assert not [f for f in frames if "note.created" in f]
        await expect(widget.locator("body")).not_to_contain_text(secret)
        await _readme_picture(served, console, conversation_id, artifacts_dir)
        # After a reload, the thread as the widget reads it holds no note either.
        await shop.reload()
        await shop.wait_for_function("window.started !== undefined", timeout=15_000)
        with served.rest() as rest:
            notes = rest.get(f"/v1/conversations/{conversation_id}/notes").json()["data"]
            assert [n["attributes"]["body"] for n in notes] == [secret]
            assert notes[0]["attributes"]["createdBy"]["displayName"] == AGENT_NAME
            assert secret not in messages(rest, conversation_id)
    finally:
        site.close()


async def _readme_picture(
    served: Served, console: Page, conversation_id: str, artifacts_dir: Path
) -> None:
    """The README's console picture: this conversation as a real one looks (a named
    customer, a tag, attributes and their history, a note in the thread)."""
    with served.rest() as rest:
        data = rest.get(f"/v1/conversations/{conversation_id}").json()["data"]
        customer_id = data["relationships"]["customer"]["data"]["id"]
        rest.patch(f"/v1/customers/{customer_id}", json={"name": "Maria Lopez"})
        rest.patch(
            f"/v1/conversations/{conversation_id}",
            json={
                "custom": {"orderNumberStr": "A-10293", "priorityNum": 2, "vipBool": True},
                "tags": [
                    rest.post("/v1/tags", json={"name": "late delivery"}).json()["data"]["id"]
                ],
            },
        )
    await console.reload()
    await expect(console.locator("#tags .tag-name")).to_have_count(1)
    # An open conversation has the reply box, not the Reopen one (both showed).
    await expect(console.get_by_role("button", name="Send reply")).to_be_visible()
    await expect(console.get_by_role("button", name="Reopen")).to_have_count(0)
    await console.evaluate("window.scrollTo(0, 0)")
    await console.screenshot(path=artifacts_dir / "console-conversation-tools.png")
    if os.environ.get("KLATCH_UPDATE_DOCS_IMAGES") == "1":
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(
            artifacts_dir / "console-conversation-tools.png", ROOT / "docs/img/console.png"
        )


# ------------------------------------------------------------------ tags


async def test_an_agent_adds_and_removes_tags_and_filters_the_inbox_by_one(
    browsers: Browsers, served: Served
) -> None:
    existing, new = unique("vip"), unique("refund")
    with served.rest() as rest:
        assert rest.post("/v1/tags", json={"name": existing}).status_code == 201
    tagged, _ = start_conversation(served, "Tag me")
    other, _ = start_conversation(served, "Not me")

    page = await browsers.agent()
    await page.goto(f"{served.server.url}/console/conversations/{tagged}")
    tag_input = page.get_by_label("Add a tag")
    # The autocomplete offers the org's tags.
    options = page.locator("#tag-options option")
    assert existing in await options.evaluate_all("els => els.map(e => e.value)")
    await tag_input.fill(existing)
    await page.get_by_role("button", name="Add", exact=True).click()
    tags = page.get_by_role("list", name="Tags of this conversation")
    await expect(tags.locator(".tag-name")).to_have_text([existing])
    await expect(tag_input).to_be_focused()
    await tag_input.fill(new)  # a new name creates the tag
    await tag_input.press("Enter")
    await expect(tags.locator(".tag-name")).to_have_text([existing, new])
    with served.rest() as rest:
        assert tag_names(rest, tagged) == [existing, new]

    await page.get_by_role("button", name=f"Remove tag {existing}").click()
    await expect(tags.locator(".tag-name")).to_have_text([new])
    with served.rest() as rest:
        assert tag_names(rest, tagged) == [new]
        assert tag_names(rest, other) == []

    # The inbox by tag: only the tagged conversation.
    await page.get_by_role("link", name="Inbox", exact=True).click()
    await expect(page.locator(f'tr[data-conversation-id="{other}"]')).to_be_visible()
    await page.locator("#filter-tag").select_option(label=new)
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"/console/inbox\?.*tag="))
    await expect(inbox_rows(page)).to_have_count(1)
    await expect(inbox_rows(page)).to_have_attribute("data-conversation-id", tagged)


# ------------------------------------------------------------------ the customer page


async def test_the_customer_page_edits_a_customer_attribute_and_shows_its_history(
    browsers: Browsers, served: Served, artifacts_dir: Path
) -> None:
    name = unique("Grace")
    first, customer_id = start_conversation(served, "First question", name=name)
    page = await browsers.agent()
    await page.goto(f"{served.server.url}/console/conversations/{first}")
    await page.get_by_role("link", name=name).first.click()
    await expect(page).to_have_url(re.compile(rf"/console/customers/{customer_id}$"))
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await expect(page.locator(".facts")).to_contain_text("Anonymous (not verified)")
    conversations = page.locator(
        "section", has=page.get_by_role("heading", name=re.compile("^Conversations"))
    )
    await expect(conversations.get_by_role("link", name="First question")).to_be_visible()

    tier = page.get_by_role("textbox", name=re.compile(r"^Tier\b"))
    credits = page.get_by_role("textbox", name=re.compile(r"^Credits\b"))
    await credits.fill("lots")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#attr-creditsNum-error")).to_have_text("Credits must be a number")
    with served.rest() as rest:
        stored = rest.get(f"/v1/customers/{customer_id}").json()["data"]["attributes"]["custom"]
        assert stored == {}

    await tier.fill("gold <b>x</b>")
    await credits.fill("12")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#attributes-saved")).to_have_text("Saved.")
    with served.rest() as rest:
        stored = rest.get(f"/v1/customers/{customer_id}").json()["data"]["attributes"]["custom"]
        assert stored == {"tierStr": "gold <b>x</b>", "creditsNum": 12}
    # The history, live: who set what.
    entry = history_entries(page, "Tier")
    await expect(entry).to_have_count(1)
    await expect(entry.locator(".who")).to_have_text(AGENT_NAME)
    await expect(entry.locator(".after")).to_have_text("gold <b>x</b>")
    await expect(history_entries(page, "Credits").locator(".after")).to_have_text("12")
    await expect(page.locator("#main b")).to_have_count(0)
    await page.screenshot(path=artifacts_dir / "console-customer-page.png", full_page=True)
    await page.reload()
    await expect(tier).to_have_value("gold <b>x</b>")
    await expect(history_entries(page, "Tier")).to_have_count(1)


# ------------------------------------------------------------------ shortcuts


async def test_a_shortcut_is_filled_from_live_values_and_inserted_as_text(
    browsers: Browsers, served: Served, artifacts_dir: Path
) -> None:
    order = XSS  # an HTML-looking value: it must arrive as these characters
    name = "<b>x</b>"
    conversation_id, _ = start_conversation(
        served, "Where is it?", {"orderNumberStr": order}, name=name
    )
    hello, ask = unique("hello"), unique("ask")
    admin = await browsers.agent(ADMIN_EMAIL)
    await admin.get_by_role("link", name="Shortcuts").click()
    for shortcut, body in (
        (
            hello,
            "Hi {{customer.name}}, order {{conversation.custom.orderNumberStr}} ships. "
            "-- {{agent.name}}",
        ),
        (ask, "Your tier is {{customer.custom.tierStr}}, right?"),
    ):
        await admin.get_by_label("Name", exact=True).fill(shortcut)
        await admin.get_by_label("Body", exact=True).fill(body)
        await admin.get_by_role("button", name="Create shortcut").click()
        await expect(admin.locator("tr[data-shortcut]", has_text=f"/{shortcut}")).to_be_visible()

    page = await browsers.agent()
    await page.goto(f"{served.server.url}/console/conversations/{conversation_id}")
    reply = page.get_by_label("Reply")
    # The picker: every shortcut, filled in for this conversation.
    await page.get_by_role("button", name="Shortcuts").click()
    picker = page.get_by_role("listbox", name="Shortcuts")
    await expect(picker.get_by_role("option", name=f"/{hello}")).to_be_visible()
    await page.screenshot(path=artifacts_dir / "console-shortcut-picker.png")
    await page.keyboard.press("Escape")
    await expect(picker).to_be_hidden()

    # "/name" typed in the reply box, then Enter.
    await reply.press_sequentially(f"/{hello[:8]}")
    option = picker.get_by_role("option", name=f"/{hello}")
    await expect(option).to_be_visible()
    await expect(option).to_have_attribute("aria-selected", "true")
    await reply.press("Enter")
    expected = f"Hi {name}, order {order} ships. -- {AGENT_NAME}"
    await expect(reply).to_have_value(expected)
    await expect(picker).to_be_hidden()
    await expect(page.locator("#reply-form b, #reply-form img")).to_have_count(0)
    await page.get_by_role("button", name="Send reply").click()
    await expect(reply).to_have_value("")
    with served.rest() as rest:
        assert messages(rest, conversation_id)[-1] == expected

    # A variable without a value stays, selected, for the agent to fill.
    await reply.press_sequentially(f"/{ask}")
    await expect(picker.get_by_role("option", name=f"/{ask}")).to_be_visible()
    await reply.press("Tab")
    await expect(reply).to_have_value("Your tier is {{customer.custom.tierStr}}, right?")
    await expect(page.locator("#shortcut-missing")).to_have_text("Fill in: customer.custom.tierStr")
    selected = await reply.evaluate("b => b.value.slice(b.selectionStart, b.selectionEnd)")
    assert selected == "{{customer.custom.tierStr}}"
    await page.keyboard.type("gold")
    await expect(reply).to_have_value("Your tier is gold, right?")


# ------------------------------------------------------------------ user lifecycle


async def test_a_disabled_agents_open_console_is_logged_out_at_once(
    browsers: Browsers, served: Served
) -> None:
    leaver = await browsers.agent(LEAVER_EMAIL)
    await leaver.evaluate("window.notReloaded = true")
    admin = await browsers.agent(ADMIN_EMAIL)
    await admin.get_by_role("link", name="Users").click()
    row = admin.locator("tr", has_text=LEAVER_EMAIL)
    await row.get_by_text("Manage").click()
    await row.get_by_role("button", name="Disable").click()
    await expect(admin.locator("tr", has_text=LEAVER_EMAIL)).to_contain_text("(disabled)")

    # The open inbox goes to the login form by itself (its socket was closed), and
    # the old session opens nothing any more.
    await expect(leaver).to_have_url(re.compile(r"/console/login\?next="), timeout=TIMEOUT)
    await leaver.goto(f"{served.server.url}/console/inbox")
    await expect(leaver).to_have_url(re.compile(r"/console/login\?next="))
    await leaver.get_by_label("Email").fill(LEAVER_EMAIL)
    await leaver.get_by_label("Password").fill(PASSWORD)
    await leaver.get_by_role("button", name="Log in").click()
    await expect(leaver.get_by_role("heading", name="Inbox")).to_have_count(0)

    # Enabled again, they log in.
    await admin.locator("tr", has_text=LEAVER_EMAIL).get_by_text("Manage").click()
    await admin.locator("tr", has_text=LEAVER_EMAIL).get_by_role("button", name="Enable").click()
    await expect(admin.locator("tr", has_text=LEAVER_EMAIL)).not_to_contain_text("(disabled)")
    await leaver.get_by_label("Email").fill(LEAVER_EMAIL)
    await leaver.get_by_label("Password").fill(PASSWORD)
    await leaver.get_by_role("button", name="Log in").click()
    await expect(leaver.get_by_role("heading", name="Inbox")).to_be_visible()


# ------------------------------------------------------------------ permissions


def _console_login(served: Served, email: str) -> tuple[httpx.Client, str]:
    """A console session over plain HTTP: the client (cookie jar) and its CSRF token."""
    http = httpx.Client(base_url=served.server.url, timeout=10)
    form = http.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    data = {"csrf": token.group(1), "email": email, "password": PASSWORD, "next": "/"}
    assert http.post("/console/login", data=data).status_code == 303
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', http.get("/console/inbox").text)
    assert meta
    return http, meta.group(1)


def _admin_pages() -> list[str]:
    """Every admin page without an id in its address, as the console routes them."""
    from starlette.routing import Route

    from klatch.console import admin

    return [
        "/console" + r.path
        for r in admin.routes()
        if isinstance(r, Route) and "GET" in (r.methods or ()) and "{" not in r.path
    ]


def _other_orgs_things(served: Served) -> dict[str, str]:
    """Ids of org B's user, key, shortcut, tag, customer and conversation."""
    with served.rest(served.other) as rest:
        user = rest.post(
            "/v1/users",
            json={"email": f"{unique('eve')}@example.com", "password": PASSWORD, "name": "Eve"},
        )
        shortcut = rest.post("/v1/shortcuts", json={"name": unique("b"), "body": "Theirs"})
        tag = rest.post("/v1/tags", json={"name": unique("theirs")})
        keys = rest.get("/v1/keys")
        hook = rest.post(
            "/v1/outbound-webhooks",
            json={
                "name": "Theirs",
                "url": "http://127.0.0.1:9/hook",
                "events": ["kustomer.note.create"],
            },
        )
        for made in (user, shortcut, tag, keys, hook):
            assert made.status_code in (200, 201), made.text
    customer = Customer(served, served.other)
    conversation_id = customer.start("A secret of the other shop")
    customer.close()
    return {
        "user": user.json()["data"]["id"],
        "key": keys.json()["data"][0]["id"],
        "shortcut": shortcut.json()["data"]["id"],
        "tag": tag.json()["data"]["id"],
        "webhook": hook.json()["data"]["id"],
        "customer": customer.customer_id,
        "conversation": conversation_id,
    }


async def test_admin_pages_are_for_admins_and_another_orgs_things_are_not_found(
    served: Served,
) -> None:
    pages = _admin_pages()
    assert {"/console/admin/shortcuts", "/console/admin/users", "/console/admin/tags"} <= set(pages)
    agent, agent_csrf = _console_login(served, AGENT_EMAIL)
    admin, csrf = _console_login(served, ADMIN_EMAIL)
    try:
        for path in pages:
            refused = agent.get(path)
            assert refused.status_code == 403, (path, refused.text)
            assert "Admins only" in refused.text
            allowed = admin.get(path)
            assert allowed.status_code in (200, 303), (path, allowed.text)
        for path in ("/console/admin/shortcuts", "/console/admin/tags", "/console/admin/users"):
            write = agent.post(path, data={"csrf": agent_csrf, "name": "x", "email": "x@x.io"})
            assert write.status_code == 403, (path, write.text)
        macros = admin.get("/console/admin/macros")
        assert macros.status_code == 303
        assert macros.headers["location"] == "/console/admin/shortcuts"

        theirs = _other_orgs_things(served)
        writes = {
            f"/console/admin/users/{theirs['user']}/disable": {},
            f"/console/admin/users/{theirs['user']}/delete": {},
            f"/console/admin/users/{theirs['user']}/edit": {
                "display_name": "Mine",
                "role": "agent",
            },
            f"/console/admin/keys/{theirs['key']}/revoke": {},
            f"/console/admin/shortcuts/{theirs['shortcut']}/delete": {},
            f"/console/admin/tags/{theirs['tag']}": {"name": "mine", "color": "#000000"},
            f"/console/admin/tags/{theirs['tag']}/delete": {},
            f"/console/admin/webhooks/{theirs['webhook']}/delete": {},
            f"/console/admin/webhooks/{theirs['webhook']}/disable": {},
            f"/console/customers/{theirs['customer']}/attributes": {"custom.tierStr": "x"},
            f"/console/conversations/{theirs['conversation']}/notes": {"body": "mine"},
            f"/console/conversations/{theirs['conversation']}/tags": {"add": "mine"},
        }
        for path, form in writes.items():
            response = admin.post(path, data={"csrf": csrf, **form})
            assert response.status_code == 404, (path, response.status_code, response.text)
        for path in (
            f"/console/customers/{theirs['customer']}",
            f"/console/conversations/{theirs['conversation']}/shortcuts",
            f"/console/admin/webhooks/{theirs['webhook']}",
        ):
            response = admin.get(path)
            assert response.status_code == 404, (path, response.text)
            assert "secret" not in response.text
    finally:
        agent.close()
        admin.close()
    # Nothing of org B changed.
    with served.rest(served.other) as rest:
        user = rest.get(f"/v1/users/{theirs['user']}").json()["data"]["attributes"]
        assert user["displayName"] == "Eve" and not user.get("disabled")
        assert rest.get(f"/v1/shortcuts/{theirs['shortcut']}").status_code == 200
        tag = rest.get(f"/v1/tags/{theirs['tag']}").json()["data"]["attributes"]
        assert tag["name"].startswith("theirs-")
        hook = rest.get(f"/v1/outbound-webhooks/{theirs['webhook']}").json()["data"]
        assert hook["attributes"]["enabled"] is True
        notes = rest.get(f"/v1/conversations/{theirs['conversation']}/notes").json()["data"]
        assert notes == []
        conv = rest.get(f"/v1/conversations/{theirs['conversation']}").json()["data"]
        assert conv["attributes"]["tags"] == []
        key = rest.get("/v1/keys").json()["data"][0]
        assert key["id"] == theirs["key"] and not key["attributes"].get("revokedAt")


# ------------------------------------------------------------------ search


async def test_the_inbox_searches_by_any_field_and_the_address_keeps_the_search(
    browsers: Browsers, served: Served
) -> None:
    order = unique("S")
    ids = {}
    with served.rest() as rest:
        for priority in (1, 5, 9):
            conversation_id, _ = start_conversation(
                served, f"P{priority}", {"orderNumberStr": order}
            )
            patched = rest.patch(
                f"/v1/conversations/{conversation_id}", json={"custom": {"priorityNum": priority}}
            )
            assert patched.status_code == 200, patched.text
            ids[priority] = conversation_id

    page = await browsers.agent()
    await page.get_by_text("Search by any field").click()
    await page.get_by_label("Field of criterion 1").select_option(label="Order Number")
    await expect(page.get_by_label("Operator of criterion 1")).to_have_value("equals")
    await page.get_by_label("Value of criterion 1").fill(order)
    await page.get_by_role("button", name="Add criterion").click()
    await page.get_by_label("Field of criterion 2").select_option(label="Priority")
    # A number takes the comparisons; a text field does not.
    operators = page.get_by_label("Operator of criterion 2").locator("option")
    await expect(operators).to_have_text(["is", ">", "≥", "<", "≤", "is set", "is not set"])
    await page.get_by_label("Operator of criterion 2").select_option(label="≥")
    await page.get_by_label("Value of criterion 2").fill("5")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page).to_have_url(re.compile(r"f=conversation_custom_priorityNum&o=gte&v=5"))
    rows = inbox_rows(page)
    await expect(rows).to_have_count(2)
    shown = await rows.evaluate_all("rs => rs.map(r => r.dataset.conversationId)")
    assert shown == [ids[9], ids[5]]  # newest activity first

    # The address is the search: reloaded (or shared), it finds the same.
    address = page.url
    await page.reload()
    await expect(rows).to_have_count(2)
    await expect(page.get_by_label("Value of criterion 2")).to_have_value("5")
    other = await browsers.agent(ADMIN_EMAIL)
    await other.goto(address)
    await expect(inbox_rows(other)).to_have_count(2)

    # A value that does not fit its field says which criterion and why.
    await page.get_by_label("Value of criterion 2").fill("lots")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator("#main > .error")).to_have_text(
        "Criterion 2: Priority takes a number; 'lots' is not one"
    )
    await expect(rows).to_have_count(0)
    await page.get_by_label("Field of criterion 2").select_option(label="Created")
    await page.get_by_label("Operator of criterion 2").select_option(label="on or after")
    await page.get_by_label("Value of criterion 2").fill("tomorrow")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator("#main > .error")).to_contain_text(
        "Criterion 2: 'tomorrow' is not a date for Created"
    )
    await page.get_by_label("Value of criterion 2").fill("2000-01-01")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(rows).to_have_count(3)
    with httpx.Client(base_url=served.server.url) as anonymous:
        # Without a session the address leads to the login form, the search kept in next.
        answer = anonymous.get(address)
        assert answer.status_code == 303 and "priorityNum" in answer.headers["location"]


# ------------------------------------------------------------------ tags admin


async def test_an_admin_renames_colours_and_deletes_a_tag(
    browsers: Browsers, served: Served
) -> None:
    name = unique("billing")
    conversation_id, _ = start_conversation(served, "Invoice?")
    with served.rest() as rest:
        made = rest.post("/v1/tags", json={"name": name})
        tag_id = made.json()["data"]["id"]
        rest.patch(f"/v1/conversations/{conversation_id}", json={"tags": [tag_id]})
        taken = rest.post("/v1/tags", json={"name": unique("taken")}).json()["data"]
    page = await browsers.agent(ADMIN_EMAIL)
    await page.get_by_role("link", name="Tags", exact=True).click()
    form = page.get_by_role("form", name=f"Tag {name}")
    await form.get_by_label(f"Name of {name}").fill(taken["attributes"]["name"])
    await form.get_by_role("button", name=f"Save tag {name}").click()
    await expect(page.get_by_role("alert")).to_contain_text("exists")
    await (
        page.get_by_role("form", name=f"Tag {name}")
        .get_by_label(f"Name of {name}")
        .fill(name + "-renamed")
    )
    form = page.get_by_role("form", name=f"Tag {name}")
    await form.get_by_label(f"Colour of {name}").fill("#b42318")
    await form.get_by_label("No colour").uncheck()
    await form.get_by_role("button", name=f"Save tag {name}").click()
    await expect(page.get_by_role("status")).to_have_text(f"Saved the tag “{name}-renamed”.")
    with served.rest() as rest:
        tag = rest.get(f"/v1/tags/{tag_id}").json()["data"]["attributes"]
        assert (tag["name"], tag["color"]) == (name + "-renamed", "#b42318")
    await page.get_by_role("button", name=f"Delete tag {name}-renamed").click()
    await expect(page.get_by_role("status")).to_contain_text("Deleted the tag")
    with served.rest() as rest:
        assert rest.get(f"/v1/tags/{tag_id}").status_code == 404
        assert conversation(rest, conversation_id)["tags"] == []


# ------------------------------------------------------------------ rough edges


async def test_the_attributes_page_is_short_and_inbox_columns_keep_their_width(
    browsers: Browsers, served: Served
) -> None:
    page = await browsers.agent(ADMIN_EMAIL)
    await page.goto(f"{served.server.url}/console/admin/attributes")
    # Six attributes; their edit forms are collapsed (open, it was 2,763 px tall).
    await expect(page.locator("tr[data-attribute]")).to_have_count(6)
    height = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 2000, height
    display = page.get_by_label("Display name of priorityNum")
    await expect(display).to_be_hidden()
    await page.get_by_role("link", name="Edit priorityNum").click()
    await expect(display).to_be_visible()
    await expect(display).to_have_value("Priority")

    conversation_id, _ = start_conversation(served, "A new one with a long message " * 3)
    await page.goto(f"{served.server.url}/console/inbox")
    row = page.locator(f'tr[data-conversation-id="{conversation_id}"]')
    dot = row.locator(".unread-dot")
    await expect(dot).to_be_visible()
    widths = "r => [...r.cells].map(c => Math.round(c.getBoundingClientRect().width))"
    before = await row.evaluate(widths)
    await row.get_by_role("link").click()
    await page.go_back()
    await expect(dot).to_be_hidden()
    assert await row.evaluate(widths) == before

    # A done conversation offers Reopen instead of the reply box, and back.
    await row.get_by_role("link").click()
    await expect(page.get_by_role("button", name="Send reply")).to_be_visible()
    await page.get_by_role("button", name="End conversation").click()
    await expect(page.get_by_role("button", name="Send reply")).to_have_count(0)
    await expect(page.get_by_text("This conversation is done. Reopen it to reply.")).to_be_visible()
    await page.locator("#reopen-box").get_by_role("button", name="Reopen").click()
    await expect(page.get_by_role("button", name="Send reply")).to_be_visible()
    await expect(page.locator("#reopen-box")).to_be_hidden()


async def test_an_admin_edits_a_shortcut_and_an_unknown_variable_is_refused(
    browsers: Browsers, served: Served
) -> None:
    name = unique("thanks")
    with served.rest() as rest:
        made = rest.post("/v1/shortcuts", json={"name": name, "body": "Thanks!"})
        assert made.status_code == 201, made.text
        shortcut_id = made.json()["data"]["id"]
    page = await browsers.agent(ADMIN_EMAIL)
    await page.goto(f"{served.server.url}/console/admin/shortcuts")
    await page.get_by_text(f"Edit /{name}").click()
    form = page.get_by_role("form", name=f"Edit /{name}")
    await form.get_by_label("Body").fill("Thanks, {{customer.custom.nopeStr}}!")
    await form.get_by_role("button", name=f"Save /{name}").click()
    error = page.locator(f"#shortcut-{shortcut_id}-error")
    await expect(error).to_contain_text("'nopeStr' is not an attribute of the customer klass")
    with served.rest() as rest:
        body = rest.get(f"/v1/shortcuts/{shortcut_id}").json()["data"]["attributes"]["body"]
        assert body == "Thanks!"
    form = page.get_by_role("form", name=f"Edit /{name}")
    await form.get_by_label("Body").fill("Thanks, {{customer.name}}!")
    await form.get_by_role("button", name=f"Save /{name}").click()
    await expect(page.locator(f'tr[data-shortcut="{shortcut_id}"] td.body')).to_have_text(
        "Thanks, {{customer.name}}!"
    )
    with served.rest() as rest:
        body = rest.get(f"/v1/shortcuts/{shortcut_id}").json()["data"]["attributes"]["body"]
        assert body == "Thanks, {{customer.name}}!"
