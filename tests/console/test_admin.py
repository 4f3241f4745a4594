"""The console's admin pages (``/console/admin/...``) against a real server:
attribute definitions, API keys, console users and the brands' chat settings.

Forms are submitted the way a browser submits them: the page is loaded, the form
found by its action, its fields (hidden CSRF token included) sent with the
admin's changes. What a write did is checked on the server, through the REST API
with the admin key or through the CLI, never by reading it back from the page
that made it. The pages are only read for what an admin is told: the notice
(``role="status"``) after a write, the error (``role="alert"``) of a refused one.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Dialog, expect

from support import KlatchProcess, cli, prepare

PASSWORD = "secret-pass-1"
ADMIN_EMAIL = "ann@example.com"
AGENT_EMAIL = "bob@example.com"
XSS = "<img src=x onerror=alert(1)>"


# ------------------------------------------------------------------ server


@dataclass
class Served:
    server: KlatchProcess
    keys: dict[str, str]
    env: dict[str, str]
    root: Path

    def cli_json(self, *args: str) -> Any:
        return json.loads(cli(self.env, self.root, *args, "--json"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server (SQLite) for the module. Tests work on attributes, keys and users
    of their own names; only the brand tests change the (one) brand's settings, and
    each sets every setting it checks."""
    root = tmp_path_factory.mktemp("admin")
    env, keys = prepare(root)
    for email, role in ((ADMIN_EMAIL, "admin"), (AGENT_EMAIL, "agent")):
        cli(env, root, "users", "create", email, "--password", PASSWORD, "--role", role)
    with KlatchProcess(env, root, root / "server.log") as server:
        yield Served(server, keys, env, root)
        log = server.output
    assert "Traceback" not in log, log[-4000:]


@pytest.fixture(scope="module")
def rest(served: Served) -> Iterator[httpx.Client]:
    """The REST API with the org's admin key (from ``klatch init``)."""
    with httpx.Client(
        base_url=served.server.url,
        headers={"Authorization": f"Bearer {served.keys['adminKey']}"},
        timeout=10,
    ) as client:
        yield client


# ------------------------------------------------------------------ stored state


def properties(rest: httpx.Client, klass: str) -> dict[str, dict[str, Any]]:
    response = rest.get(f"/v1/metadata/{klass}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["attributes"]["properties"])


def api_keys(rest: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every key by name (the tests give theirs unique names)."""
    response = rest.get("/v1/keys")
    assert response.status_code == 200, response.text
    return {
        k["attributes"]["name"]: {"id": k["id"], **k["attributes"]} for k in response.json()["data"]
    }


def brand_settings(rest: httpx.Client) -> dict[str, Any]:
    response = rest.get("/v1/brands")
    assert response.status_code == 200, response.text
    (brand,) = response.json()["data"]
    return dict(brand["attributes"]["settings"])


def users(served: Served) -> dict[str, dict[str, Any]]:
    return {u["email"]: u for u in served.cli_json("users", "list")}


def snapshot(rest: httpx.Client) -> Any:
    """What the admin pages can change, but users (see ``SNEAKY_USER``)."""
    return (
        properties(rest, "conversation"),
        properties(rest, "customer"),
        api_keys(rest),
        brand_settings(rest),
    )


def new_conversation(rest: httpx.Client, custom: dict[str, Any]) -> str:
    customer = rest.post("/v1/customers", json={"name": "Test customer"})
    assert customer.status_code == 201, customer.text
    conversation = rest.post(
        "/v1/conversations", json={"customer": customer.json()["data"]["id"], "custom": custom}
    )
    assert conversation.status_code == 201, conversation.text
    return str(conversation.json()["data"]["id"])


def stored_custom(rest: httpx.Client, conversation_id: str) -> dict[str, Any]:
    response = rest.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["attributes"]["custom"])


# ------------------------------------------------------------------ pages


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _PageReader(HTMLParser):
    """The forms of a page (with what a browser would submit untouched), the text
    of its status notices and alerts, and the tags of its elements."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.status: list[str] = []
        self.alerts: list[str] = []
        self.tags: list[str] = []
        self._roles: list[tuple[str, str, list[str]]] = []  # (tag, role, text so far)
        self._form: Form | None = None
        self._textarea: str | None = None
        self._textarea_fresh = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if a.get("role") in ("status", "alert"):
            self._roles.append((tag, a["role"], []))
        elif self._roles and self._roles[-1][0] == tag:
            self._roles.append((tag, "", []))  # nested element of the same tag
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is not None:
            self._field(self._form, tag, a)

    def _field(self, form: Form, tag: str, a: dict[str, str]) -> None:
        """What a browser would submit for this element of the form, untouched."""
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields[name] = a.get("value") or "on"
            elif kind not in ("submit", "button", "reset"):
                form.fields[name] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self._textarea_fresh = name, True
            form.fields[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select is not None:
            # The selected option, else the first.
            if self._select not in form.fields or "selected" in a:
                form.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        if self._roles and self._roles[-1][0] == tag:
            _, role, text = self._roles.pop()
            if role:
                target = self.status if role == "status" else self.alerts
                target.append(" ".join("".join(text).split()))

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            if self._textarea_fresh and data.startswith("\n"):
                data = data[1:]  # as in a browser: the newline after <textarea> is not text
            self._textarea_fresh = False
            self._form.fields[self._textarea] += data
        for _, _, text in self._roles:
            text.append(data)


def read_page(html: str) -> _PageReader:
    reader = _PageReader()
    reader.feed(html)
    reader.close()
    return reader


def notice(response: httpx.Response) -> str:
    return " ".join(read_page(response.text).status)


def alert(response: httpx.Response) -> str:
    return " ".join(read_page(response.text).alerts)


class Console:
    """One browser's session in the console, over plain HTTP."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        (form,) = read_page(self.http.get("/console/login").text).forms
        return self.http.post(
            "/console/login", data={**form.fields, "email": email, "password": password}
        )

    def csrf(self) -> str:
        page = self.http.get("/console/inbox")
        match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    def form(self, page: str, action: str) -> Form:
        response = self.http.get(page)
        assert response.status_code == 200, response.text
        found = [f for f in read_page(response.text).forms if f.action == action]
        assert len(found) == 1, f"{page} has {len(found)} forms posting to {action}"
        assert found[0].method == "post"
        return found[0]

    def submit(
        self, page: str, action: str, changes: Mapping[str, str | None] | None = None
    ) -> httpx.Response:
        """Fill the form of ``page`` that posts to ``action`` and send it; a change
        to None unticks a checkbox. Redirects are not followed."""
        fields = dict(self.form(page, action).fields)
        for name, value in (changes or {}).items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        return self.http.post(action, data=fields)

    def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, (response.status_code, alert(response))
        return self.http.get(response.headers["location"])


@pytest.fixture
def console(served: Served) -> Iterator[Callable[[str | None], Console]]:
    """Makes console sessions: logged in as the given email, or anonymous (None)."""
    made: list[Console] = []

    def make(email: str | None) -> Console:
        session = Console(served.server.url)
        made.append(session)
        if email is not None:
            response = session.login(email)
            assert response.status_code == 303, response.text
        return session

    yield make
    for session in made:
        session.http.close()


@pytest.fixture
def admin(console: Callable[[str | None], Console]) -> Console:
    return console(ADMIN_EMAIL)


ATTRIBUTES = "/console/admin/attributes"
KEYS = "/console/admin/keys"
USERS = "/console/admin/users"
BRANDS = "/console/admin/brands"


def brand_action(served: Served) -> str:
    return f"{BRANDS}/{served.keys['brandId']}"


# ------------------------------------------------------------------ access


SNEAKY_USER = ("sneaky@example.com", "long-enough-1")  # refused writes try to create it


def no_sneaky_user(served: Served) -> bool:
    """The user the refused writes tried to create cannot log in (quicker than
    listing users with the CLI)."""
    session = Console(served.server.url)
    try:
        return session.login(*SNEAKY_USER).status_code == 401
    finally:
        session.http.close()


def admin_writes(served: Served, rest: httpx.Client) -> list[tuple[str, dict[str, str]]]:
    """One write of every kind, each one that would work for an admin."""
    rest.put(
        "/v1/metadata/conversation", json={"properties": {"guardedNum": {"displayName": "Guard"}}}
    ).raise_for_status()
    tracking_key = next(k for k in api_keys(rest).values() if k["name"] == "Chat SDK")
    return [
        (ATTRIBUTES, {"klass": "conversation", "name": "sneakyStr", "sdk_writable": "on"}),
        (f"{ATTRIBUTES}/conversation/guardedNum", {"display_name": "Changed"}),
        (f"{ATTRIBUTES}/conversation/guardedNum/delete", {}),
        (KEYS, {"name": "Sneaky key", "role": "org.admin"}),
        (f"{KEYS}/{tracking_key['id']}/revoke", {}),
        (USERS, {"email": SNEAKY_USER[0], "password": SNEAKY_USER[1], "role": "admin"}),
        (
            brand_action(served),
            {"team_name": "Sneaky", "greeting": "x", "primary_color": "#000000",
             "text_color": "#ffffff", "allowed_origins": "", "mode": "offline"},
        ),
    ]  # fmt: skip


def test_agents_and_anonymous_visitors_are_kept_out(
    served: Served, rest: httpx.Client, console: Callable[[str | None], Console]
) -> None:
    writes = admin_writes(served, rest)  # defines guardedNum
    pages = [
        "/console/admin",
        ATTRIBUTES,
        f"{ATTRIBUTES}/conversation/guardedNum/delete",
        KEYS,
        USERS,
        BRANDS,
    ]
    anonymous, agent = console(None), console(AGENT_EMAIL)
    for path in pages:
        away = anonymous.http.get(path)
        assert away.status_code == 303, (path, away.text)
        assert away.headers["location"].startswith("/console/login?next="), path
        refused = agent.http.get(path)
        assert refused.status_code == 403, (path, refused.status_code)
        assert "Admins only" in refused.text

    before = snapshot(rest)
    token = agent.csrf()  # the agent's own, valid token: the role is what is refused
    for path, data in writes:
        assert agent.http.post(path, data={**data, "csrf": token}).status_code == 403, path
        assert anonymous.http.post(path, data=data).status_code in (303, 403), path
    assert snapshot(rest) == before
    assert no_sneaky_user(served)


def test_admin_writes_without_the_csrf_token_change_nothing(
    served: Served, rest: httpx.Client, admin: Console
) -> None:
    writes = admin_writes(served, rest)
    before = snapshot(rest)
    for path, data in writes:
        for token in (None, "", "x" * 43):  # none, empty, not this session's
            form = data if token is None else {**data, "csrf": token}
            refused = admin.http.post(path, data=form)
            assert refused.status_code == 403, (path, token, refused.status_code)
            assert "security token" in refused.text
    assert snapshot(rest) == before
    assert no_sneaky_user(served)

    # The same write with the session's token goes through: the token was missing.
    path, data = writes[0]
    assert admin.http.post(path, data={**data, "csrf": admin.csrf()}).status_code == 303
    assert "sneakyStr" in properties(rest, "conversation")


# ------------------------------------------------------------------ attributes


def test_an_admin_defines_attributes(rest: httpx.Client, admin: Console) -> None:
    defined = admin.submit(
        ATTRIBUTES,
        ATTRIBUTES,
        {
            "klass": "customer",
            "name": "tierStr",
            "display_name": "Tier",
            "allowed": "gold\r\nsilver\r\n\r\n",
            "sdk_writable": None,
        },
    )
    assert "Defined the customer attribute tierStr." in notice(admin.follow(defined))
    tier = properties(rest, "customer")["tierStr"]
    assert tier["type"] == "string"
    assert tier["displayName"] == "Tier"
    assert tier["enumeration"] == ["gold", "silver"]
    assert tier["sdkWritable"] is False
    assert "tierStr" not in properties(rest, "conversation")
    # The definition is in force: only the allowed values can be stored.
    customer = rest.post("/v1/customers", json={"name": "Tiered"}).json()["data"]["id"]
    wrong = rest.patch(f"/v1/customers/{customer}", json={"custom": {"tierStr": "platinum"}})
    assert wrong.status_code == 400, wrong.text
    right = rest.patch(f"/v1/customers/{customer}", json={"custom": {"tierStr": "gold"}})
    assert right.status_code == 200, right.text
    assert right.json()["data"]["attributes"]["custom"]["tierStr"] == "gold"

    # The SDK box is ticked by default; a tree is stored with its ancestors.
    defined = admin.submit(
        ATTRIBUTES,
        ATTRIBUTES,
        {"name": "reasonStr", "display_name": "Reason", "tree": "shipping.delayed\nbilling"},
    )
    assert defined.status_code == 303, alert(defined)
    reason = properties(rest, "conversation")["reasonStr"]
    assert reason["tree"] == {
        "children": [
            {"id": "shipping", "displayName": "shipping",
             "children": [{"id": "delayed", "displayName": "delayed"}]},
            {"id": "billing", "displayName": "billing"},
        ]
    }  # fmt: skip
    assert reason["sdkWritable"] is True
    assert reason["displayName"] == "Reason"

    # A name without a type suffix, with the type chosen.
    defined = admin.submit(ATTRIBUTES, ATTRIBUTES, {"name": "plain_field", "type": "num"})
    assert defined.status_code == 303, alert(defined)
    assert properties(rest, "conversation")["plain_field"]["type"] == "number"


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"name": "fooAttr"}, 400, "has no type suffix"),
        ({"name": "orderNumberStr"}, 409, "already defined"),
        ({"name": "countNum", "type": "str"}, 400, "means type 'num'"),
        ({"name": "countNum", "allowed": "1\n2"}, 400, "only allowed on Str"),
        ({"klass": "ticket", "name": "xStr"}, 400, "Unknown klass"),
        ({"name": "9badStr"}, 400, "is not valid"),
        ({"name": "treeStr", "tree": "a..b"}, 400, "empty segment"),
    ],
    ids=["no-suffix", "duplicate", "type-conflict", "allowed-on-num", "klass", "name", "tree"],
)
def test_a_refused_definition_is_explained_and_defines_nothing(
    rest: httpx.Client,
    admin: Console,
    changes: dict[str, str],
    status: int,
    message: str,
) -> None:
    before = properties(rest, "conversation"), properties(rest, "customer")
    refused = admin.submit(ATTRIBUTES, ATTRIBUTES, changes)
    assert refused.status_code == status, refused.text
    assert message in alert(refused)
    assert not notice(refused)
    # The form comes back with what was typed, to correct it.
    (form,) = [f for f in read_page(refused.text).forms if f.action == ATTRIBUTES]
    assert form.fields["name"] == changes["name"]
    assert (properties(rest, "conversation"), properties(rest, "customer")) == before


def test_an_admin_edits_attributes(rest: httpx.Client, admin: Console) -> None:
    rest.put(
        "/v1/metadata/customer",
        json={"properties": {"planStr": {"displayName": "Plan", "enumeration": ["basic", "pro"],
                                         "sdkWritable": False}}},
    ).raise_for_status()  # fmt: skip
    rest.put(
        "/v1/metadata/conversation",
        json={"properties": {"scoreNum": {"displayName": "Score", "sdkWritable": False}}},
    ).raise_for_status()
    plan = f"{ATTRIBUTES}/customer/planStr"

    saved = admin.submit(
        ATTRIBUTES,
        plan,
        {"display_name": "Plan level", "allowed": "basic\npro\nenterprise", "sdk_writable": "on"},
    )
    assert "Saved the customer attribute planStr." in notice(admin.follow(saved))
    stored = properties(rest, "customer")["planStr"]
    assert stored["displayName"] == "Plan level"
    assert stored["enumeration"] == ["basic", "pro", "enterprise"]
    assert stored["sdkWritable"] is True

    # Unticking the box and emptying the allowed values are changes too.
    saved = admin.submit(ATTRIBUTES, plan, {"allowed": "", "sdk_writable": None})
    assert saved.status_code == 303, alert(saved)
    stored = properties(rest, "customer")["planStr"]
    assert stored["sdkWritable"] is False
    assert "enumeration" not in stored

    # Refused edits say why, in the form, and change nothing.
    before = properties(rest, "customer")["planStr"]
    refused = admin.submit(ATTRIBUTES, plan, {"display_name": "  ", "allowed": "gold"})
    assert refused.status_code == 400, refused.text
    assert "displayName" in alert(refused)
    refused = admin.submit(ATTRIBUTES, plan, {"tree": "a..b"})
    assert refused.status_code == 400, refused.text
    assert "empty segment" in alert(refused)
    assert properties(rest, "customer")["planStr"] == before

    # A Num attribute: display name and SDK box only.
    saved = admin.submit(
        ATTRIBUTES,
        f"{ATTRIBUTES}/conversation/scoreNum",
        {"display_name": "Satisfaction", "sdk_writable": "on"},
    )
    assert saved.status_code == 303, alert(saved)
    score = properties(rest, "conversation")["scoreNum"]
    assert (score["type"], score["displayName"], score["sdkWritable"]) == (
        "number",
        "Satisfaction",
        True,
    )

    # An attribute deleted meanwhile (e.g. in another tab).
    gone = admin.http.post(
        f"{ATTRIBUTES}/conversation/nopeStr", data={"csrf": admin.csrf(), "display_name": "x"}
    )
    assert gone.status_code == 404, gone.text
    assert "not defined" in alert(gone)
    assert "nopeStr" not in properties(rest, "conversation")


def test_an_admin_deletes_an_attribute_through_the_confirmation_page(
    rest: httpx.Client, admin: Console
) -> None:
    rest.put(
        "/v1/metadata/conversation", json={"properties": {"levelNum": {"displayName": "Level"}}}
    ).raise_for_status()
    conversation_id = new_conversation(rest, {"levelNum": 7})
    confirm = f"{ATTRIBUTES}/conversation/levelNum/delete"

    # The attributes page links to the confirmation; opening it deletes nothing.
    links = re.findall(r'href="([^"]+)"', admin.http.get(ATTRIBUTES).text)
    assert confirm in links
    page = admin.http.get(confirm)
    assert page.status_code == 200, page.text
    assert "levelNum" in properties(rest, "conversation")

    deleted = admin.submit(confirm, confirm)
    assert "Deleted the definition of the conversation attribute levelNum" in notice(
        admin.follow(deleted)
    )
    assert "levelNum" not in properties(rest, "conversation")
    # Stored values are kept, but the attribute can no longer be written.
    assert stored_custom(rest, conversation_id)["levelNum"] == 7
    write = rest.patch(f"/v1/conversations/{conversation_id}", json={"custom": {"levelNum": 8}})
    assert write.status_code == 400 and "unknown_attribute" in write.text, write.text
    assert stored_custom(rest, conversation_id)["levelNum"] == 7

    # Deleting again (a second tab, a double submit) is explained.
    again = admin.http.post(confirm, data={"csrf": admin.csrf()})
    assert again.status_code == 404, again.text
    assert "not defined" in alert(again)
    assert admin.http.get(confirm).status_code == 404
    assert admin.http.get(f"{ATTRIBUTES}/ticket/levelNum/delete").status_code == 404


# ------------------------------------------------------------------ API keys


SECRET_RE = re.compile(r"\bk[tua]_[A-Za-z0-9_-]{20,}")


def test_an_admin_creates_and_revokes_api_keys(
    served: Served, rest: httpx.Client, admin: Console
) -> None:
    created = admin.submit(KEYS, KEYS, {"name": "Helpdesk", "role": "org.user"})
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    shown = notice(created)
    assert "will not be shown again" in shown
    secrets = SECRET_RE.findall(shown)
    assert len(secrets) == 1, shown
    secret = secrets[0]
    stored = api_keys(rest)["Helpdesk"]
    assert stored["roles"] == ["org.user"]
    assert stored["revokedAt"] is None
    assert secret.startswith(stored["prefix"])
    with httpx.Client(
        base_url=served.server.url, headers={"Authorization": f"Bearer {secret}"}
    ) as helpdesk:
        assert helpdesk.get("/v1/conversations").status_code == 200
        # Shown once: not on the page afterwards.
        assert secret not in admin.http.get(KEYS).text

        # A tracking key belongs to the default brand and works for the chat API.
        created = admin.submit(KEYS, KEYS, {"name": "Shop widget", "role": "org.tracking"})
        assert created.status_code == 200, created.text
        assert api_keys(rest)["Shop widget"]["brandId"] == served.keys["brandId"]
        (tracking,) = SECRET_RE.findall(notice(created))
        chat = httpx.get(
            f"{served.server.url}/c/v1/settings", headers={"Authorization": f"Bearer {tracking}"}
        )
        assert chat.status_code == 200, chat.text

        before = api_keys(rest)
        for changes, message in (
            ({"name": "  ", "role": "org.user"}, "needs a name"),
            ({"name": "Rooted", "role": "root"}, "Choose a role"),
        ):
            refused = admin.submit(KEYS, KEYS, changes)
            assert refused.status_code == 400, refused.text
            assert message in alert(refused)
            assert not SECRET_RE.search(refused.text)
        assert api_keys(rest) == before

        revoke = f"{KEYS}/{stored['id']}/revoke"
        revoked = admin.submit(KEYS, revoke)
        assert "Revoked the key “Helpdesk”" in notice(admin.follow(revoked))
        assert api_keys(rest)["Helpdesk"]["revokedAt"] is not None
        assert helpdesk.get("/v1/conversations").status_code == 401
        # The revoked key offers no revoke form; posting anyway is explained.
        assert all(f.action != revoke for f in read_page(admin.http.get(KEYS).text).forms)
        again = admin.http.post(revoke, data={"csrf": admin.csrf()})
        assert again.status_code == 404, again.text
        assert "No active key" in alert(again)
    assert api_keys(rest)["Shop widget"]["revokedAt"] is None


async def test_revoking_a_key_in_the_browser_asks_first(
    browser: Browser, served: Served, rest: httpx.Client
) -> None:
    created = rest.post("/v1/keys", json={"name": "Nightly export", "roles": ["org.user"]})
    assert created.status_code == 201, created.text
    secret = created.json()["data"]["attributes"]["token"]
    context = await browser.new_context()
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{served.server.url}/console/login")
        await page.get_by_label("Email").fill(ADMIN_EMAIL)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("link", name="API keys").click()

        questions: list[str] = []
        answers = iter([False, True])  # "Cancel" first, then "OK"

        async def on_dialog(dialog: Dialog) -> None:
            questions.append(dialog.message)
            await (dialog.accept() if next(answers) else dialog.dismiss())

        page.on("dialog", on_dialog)
        posts: list[str] = []  # from here on
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        revoke = page.get_by_role("button", name="Revoke key Nightly export")
        await revoke.click()
        for _ in range(100):
            if questions:
                break
            await asyncio.sleep(0.05)
        assert questions == ["Revoke key Nightly export?"]
        await page.wait_for_load_state()
        assert posts == []  # the form was not sent
        assert page.url == f"{served.server.url}{KEYS}"
        assert api_keys(rest)["Nightly export"]["revokedAt"] is None

        await revoke.click()
        await expect(page.get_by_role("status")).to_contain_text("Revoked the key “Nightly export”")
        assert len(questions) == 2
        assert api_keys(rest)["Nightly export"]["revokedAt"] is not None
        refused = httpx.get(
            f"{served.server.url}/v1/conversations", headers={"Authorization": f"Bearer {secret}"}
        )
        assert refused.status_code == 401
        assert not errors, errors
    finally:
        await context.close()


# ------------------------------------------------------------------ users


def test_an_admin_creates_console_users(
    served: Served, admin: Console, console: Callable[[str | None], Console]
) -> None:
    before = users(served)
    for changes, status, message in (
        ({"email": "carl@example.com", "password": "Sh0rt!x"}, 400, "at least 8 characters"),
        ({"email": "not-an-email", "password": "long-enough-1"}, 400, "is not an email"),
        ({"email": AGENT_EMAIL, "password": "long-enough-1"}, 409, "exists"),
        ({"email": "carl@example.com", "password": "long-enough-1", "role": "owner"}, 400,
         "Choose a role"),
    ):  # fmt: skip
        refused = admin.submit(USERS, USERS, {"display_name": "Carl", **changes})
        assert refused.status_code == status, (changes, refused.text)
        assert message in alert(refused)
        assert changes["password"] not in refused.text  # never sent back
        (form,) = [f for f in read_page(refused.text).forms if f.action == USERS]
        assert form.fields["email"] == changes["email"]
    assert users(served) == before

    created = admin.submit(
        USERS,
        USERS,
        {"email": "Carl@Example.com", "display_name": "Carl", "password": "long-enough-1",
         "role": "admin"},
    )  # fmt: skip
    assert "Created the admin carl@example.com" in notice(admin.follow(created))
    created = admin.submit(
        USERS, USERS, {"email": "dana@example.com", "password": "long-enough-2", "role": "agent"}
    )
    assert created.status_code == 303, alert(created)
    now = users(served)
    assert set(now) - set(before) == {"carl@example.com", "dana@example.com"}
    assert (now["carl@example.com"]["role"], now["carl@example.com"]["name"]) == ("admin", "Carl")
    assert now["dana@example.com"]["role"] == "agent"

    # They can log in, with the rights of their role.
    carl, dana = Console(served.server.url), Console(served.server.url)
    try:
        assert carl.login("carl@example.com", "long-enough-1").status_code == 303
        assert carl.http.get(USERS).status_code == 200
        assert dana.login("dana@example.com", "short").status_code == 401
        assert dana.login("dana@example.com", "long-enough-2").status_code == 303
        assert dana.http.get("/console/inbox").status_code == 200
        assert dana.http.get(USERS).status_code == 403
    finally:
        carl.http.close()
        dana.http.close()


# ------------------------------------------------------------------ brands


def client_settings(served: Served, origin: str | None = None) -> httpx.Response:
    """What the chat SDK of a page at ``origin`` gets from the client API."""
    headers = {"Authorization": f"Bearer {served.keys['trackingKey']}"}
    if origin:
        headers["Origin"] = origin
    return httpx.get(f"{served.server.url}/c/v1/settings", headers=headers)


def test_an_admin_changes_the_chat_settings(
    served: Served, rest: httpx.Client, admin: Console
) -> None:
    action = brand_action(served)
    # Set through the API: opening hours (not on the form) and a 3-digit colour.
    rest.patch(
        f"/v1/brands/{served.keys['brandId']}",
        json={"availability": {"mode": "hours", "hours": {"mon": ["09:00", "17:00"]},
                               "offHoursDisplay": "hidden"},
              "colors": {"primary": "#abc", "text": "#ffffff", "accent": "#123456"}},
    ).raise_for_status()  # fmt: skip

    good: dict[str, str | None] = {
        "team_name": "Acme help",
        "greeting": "Hello <there>\nHow can we help?",
        "text_color": "#000000",
        "allowed_origins": "https://shop.example.com/\nhttp://localhost:8000\n",
        "enabled": "on",
        "mode": "always",
    }
    saved = admin.submit(BRANDS, action, good)
    assert "Saved the chat settings of" in notice(admin.follow(saved))
    settings = brand_settings(rest)
    assert settings["teamName"] == "Acme help"
    assert settings["greeting"] == "Hello <there>\nHow can we help?"
    assert settings["allowedOrigins"] == ["https://shop.example.com", "http://localhost:8000"]
    assert settings["enabled"] is True
    # Hours and the off-hours display are kept, so is the untouched #abc and the
    # colour the form does not show.
    assert settings["availability"] == {
        "mode": "always",
        "hours": {"mon": ["09:00", "17:00"]},
        "offHoursDisplay": "hidden",
    }
    assert settings["colors"] == {"primary": "#abc", "text": "#000000", "accent": "#123456"}

    # The chat SDK sees them, on the allowed pages only.
    chat = client_settings(served, "https://shop.example.com")
    assert chat.status_code == 200, chat.text
    assert chat.json()["settings"]["teamName"] == "Acme help"
    assert chat.json()["settings"]["greeting"] == "Hello <there>\nHow can we help?"
    assert chat.json()["availability"] == "online"
    elsewhere = client_settings(served, "https://elsewhere.example")
    assert elsewhere.status_code == 403 and "origin_not_allowed" in elsewhere.text

    for changes, message in (
        ({"allowed_origins": "not a url"}, "is not an origin"),
        ({"allowed_origins": "https://shop.example.com/cart"}, "is not an origin"),
        ({"primary_color": "red"}, "colors"),
        ({"mode": "sometimes"}, "availability.mode"),
        ({"team_name": "x" * 1100}, "teamName"),
    ):
        refused = admin.submit(BRANDS, action, {"greeting": "Changed", **changes})
        assert refused.status_code == 400, (changes, refused.text)
        assert message in alert(refused)
        assert brand_settings(rest) == settings
    missing = admin.http.post(f"{BRANDS}/nosuchbrand", data={"csrf": admin.csrf(), **good})
    assert missing.status_code == 404, missing.text
    assert "No brand" in alert(missing)

    # Chat switched off, offline, any page again.
    saved = admin.submit(
        BRANDS, action, {"enabled": None, "mode": "offline", "allowed_origins": ""}
    )
    assert saved.status_code == 303, alert(saved)
    settings = brand_settings(rest)
    assert settings["enabled"] is False
    assert settings["availability"]["mode"] == "offline"
    assert settings["allowedOrigins"] == []
    assert settings["teamName"] == "Acme help"  # the rest of the form, as shown
    chat = client_settings(served, "https://anything.example")
    assert chat.status_code == 200, chat.text
    assert chat.json()["availability"] == "disabled"
    assert chat.json()["settings"]["enabled"] is False

    saved = admin.submit(BRANDS, action, {"enabled": "on", "mode": "always"})
    assert saved.status_code == 303, alert(saved)
    assert client_settings(served).json()["availability"] == "online"


# The rules are the domain's (klatch.domain.brands): what one of the REST API and
# the console refuses, the other refuses in the same words, and both take the rest.
BAD_ORIGINS = (
    "not a url",
    "shop.example.com",
    "ftp://shop.example.com",
    "https://shop.example.com/cart",
    "https://shop.example.com?ref=1",
    "https://shop.example.com#chat",
    "https://ann@shop.example.com",
    "https://shop.example.com:99999",
)
BAD_COLORS = ("red", "#12", "#12345", "#1234567", "#ggg", "1f6feb")


def test_the_rest_api_and_the_console_refuse_the_same_origins_and_colours(
    served: Served, rest: httpx.Client, admin: Console
) -> None:
    action = brand_action(served)
    path = f"/v1/brands/{served.keys['brandId']}"
    rest.patch(
        path, json={"allowedOrigins": [], "colors": {"primary": "#1f6feb", "text": "#ffffff"}}
    ).raise_for_status()
    before = brand_settings(rest)
    refusals = [({"allowedOrigins": [o]}, {"allowed_origins": o}) for o in BAD_ORIGINS] + [
        ({"colors": {"primary": c}}, {"primary_color": c}) for c in BAD_COLORS
    ]
    for by_rest, by_form in refusals:
        refused = rest.patch(path, json=by_rest)
        assert refused.status_code == 400, (by_rest, refused.text)
        (error,) = refused.json()["errors"]
        assert error["source"]["pointer"] == "/" + next(iter(by_rest))
        in_console = admin.submit(BRANDS, action, by_form)
        assert in_console.status_code == 400, (by_form, in_console.text)
        assert alert(in_console) == error["detail"]
        assert brand_settings(rest) == before

    for origin, color in (
        ("https://shop.example.com:8443/", "#abcd"),
        ("http://localhost:8000", "#a1b2c3d4"),
        ("https://SHOP.example.com", "#ABC"),
    ):
        # (PATCH replaces the colours; the form keeps the text colour as it was.)
        colors = {"primary": color, "text": "#ffffff"}
        taken = rest.patch(path, json={"allowedOrigins": [origin], "colors": colors})
        assert taken.status_code == 200, (origin, color, taken.text)
        by_rest = brand_settings(rest)
        rest.patch(path, json={"allowedOrigins": [], "colors": {**colors, "primary": "#000000"}})
        saved = admin.submit(BRANDS, action, {"allowed_origins": origin, "primary_color": color})
        assert saved.status_code == 303, alert(saved)
        assert brand_settings(rest) == by_rest
    rest.patch(path, json={"allowedOrigins": []}).raise_for_status()


# ------------------------------------------------------------------ crafted input


def test_crafted_links_and_values_cannot_put_words_or_markup_in_the_pages(
    served: Served, rest: httpx.Client, admin: Console
) -> None:
    # Notices are picked by a code; what a link adds is checked or looked up.
    for path in (
        f"{ATTRIBUTES}?notice=defined&klass=conversation&name=Call+555-0100+now",
        f"{ATTRIBUTES}?notice=defined&klass=conversation&name=%3Cb%3Ex%3C%2Fb%3E",
        f"{ATTRIBUTES}?notice=Your+account+is+locked",
        f"{ATTRIBUTES}?notice=saved&klass=invoice&name=fooStr",
        f"{KEYS}?notice=revoked&id=Call+555-0100",
        f"{USERS}?notice=created&id=Call+555-0100",
        f"{BRANDS}?notice=saved&id=Call+555-0100",
    ):
        page = admin.http.get(path)
        assert page.status_code == 200, path
        assert notice(page) == "", path
        assert "555-0100" not in page.text, path
        assert "Your account is locked" not in page.text, path
        assert "<b>" not in page.text, path

    # Values with markup are stored as typed and shown as text.
    defined = admin.submit(
        ATTRIBUTES, ATTRIBUTES, {"klass": "customer", "name": "noteStr", "display_name": XSS}
    )
    assert defined.status_code == 303, alert(defined)
    assert properties(rest, "customer")["noteStr"]["displayName"] == XSS
    created = admin.submit(KEYS, KEYS, {"name": XSS, "role": "org.user"})
    assert created.status_code == 200, created.text
    assert XSS in api_keys(rest)
    created = admin.submit(
        USERS,
        USERS,
        {"email": "eve@example.com", "display_name": XSS, "password": "long-enough-1"},
    )
    assert created.status_code == 303, alert(created)
    assert users(served)["eve@example.com"]["name"] == XSS
    saved = admin.submit(BRANDS, brand_action(served), {"team_name": XSS, "greeting": XSS})
    assert saved.status_code == 303, alert(saved)
    assert brand_settings(rest)["teamName"] == XSS

    refused = admin.submit(ATTRIBUTES, ATTRIBUTES, {"name": "fooAttr", "display_name": XSS})
    assert refused.status_code == 400
    key_id = api_keys(rest)[XSS]["id"]
    revoked = admin.submit(KEYS, f"{KEYS}/{key_id}/revoke")
    for page in (
        admin.http.get(ATTRIBUTES),
        admin.http.get(f"{ATTRIBUTES}/customer/noteStr/delete"),
        refused,
        admin.follow(revoked),
        admin.http.get(USERS),
        admin.http.get(BRANDS),
    ):
        assert page.status_code in (200, 400), page.url
        assert XSS not in page.text, page.url  # escaped...
        assert "img" not in read_page(page.text).tags, page.url  # ...so never an element


def test_text_that_is_not_text_is_refused_by_the_console_and_stores_nothing(
    rest: httpx.Client, admin: Console
) -> None:
    conversation_id = new_conversation(rest, {})
    page = f"/console/conversations/{conversation_id}"
    reply = admin.submit(page, f"{page}/reply", {"body": "hello\x00there"})
    assert reply.status_code == 400, (reply.status_code, alert(reply))
    messages = rest.get(f"/v1/conversations/{conversation_id}/messages").json()["data"]
    assert messages == []
    crafted = admin.http.get("/console/conversations/%00")
    assert crafted.status_code == 400
