"""The pre-chat form in real Chromium against a real `klatch demo` server: the demo
brand ships "What is it about?" (issueTypeStr) and "Order number"
(orderNumberStr). A visitor on a shop page answers it and writes a first
message; the conversation arrives with the answers and what the page described
before; a wrong answer shows the server's error on its field and creates nothing;
a page that opts out never sees the form, nor does a KustomerCore page.

Driven as a person uses the widget (labels inside ``#kustomer-ui-sdk-iframe``);
what was stored is checked through the REST API with the demo's admin key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Frame, FrameLocator, Page, expect

from npm_tools import AXE_CORE, npm_package
from support import KlatchProcess, PageServer, clean_env, cli, eventually

WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REALTIME_TIMEOUT = 10_000


@dataclass
class Demo:
    server: KlatchProcess
    info: dict[str, Any]
    site: PageServer

    def rest(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {self.info['adminKey']}"},
            timeout=10,
        )

    def page(self, setup: str, *, core: bool = False) -> str:
        """A shop page (its own origin) with the widget, or core.js alone; ``setup``
        runs once the SDK has loaded."""
        sdk, event = ("core.js", "kustomerCoreLoaded") if core else ("widget.js", "kustomerLoaded")
        path = f"/shop{len(self.site.pages)}.html"
        self.site.pages[path] = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Shop</title><link rel="icon" href="data:,"></head><body><h1>Corner Shop</h1>
<script>
  window.addEventListener('{event}', function () {{
{setup}
  }});
</script>
<script src="{self.server.url}/chat-web/{sdk}"
        data-kustomer-api-key="{self.info["trackingKey"]}"></script>
</body></html>"""
        return self.site.url(path)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {**clean_env(), "KLATCH_DATA_DIR": str(tmp_path / "data")}
    env.update({"KLATCH_RATE_LIMIT_SESSION": "0", "KLATCH_RATE_LIMIT_REST": "0"})
    info = json.loads(cli(env, tmp_path, "demo", "--no-serve", "--json"))
    with KlatchProcess({**env, "KLATCH_DEMO": "1"}, tmp_path, tmp_path / "server.log") as server:
        site = PageServer()
        yield Demo(server, info, site)
        site.close()
        print("---- server log (tail) ----\n" + server.output[-3000:])


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: print("console:", message.type, message.text))
    yield opened
    await context.close()
    assert errors == [], f"uncaught errors on the page: {errors}"


START = """
    Kustomer.start({%s}, function (response, error) {
      window.started = error ? 'failed: ' + error.code : true;
%s
    });"""


async def started(page: Page) -> FrameLocator:
    await page.wait_for_function("window.started !== undefined", timeout=15_000)
    assert await page.evaluate("window.started") is True
    return page.frame_locator("#kustomer-ui-sdk-iframe")


def the_form(widget: FrameLocator) -> Any:
    return widget.get_by_role("form", name="Before you start")


def conversations(rest: httpx.Client) -> list[dict[str, Any]]:
    response = rest.get("/v1/conversations", params={"pageSize": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def set_form(rest: httpx.Client, demo: Demo, questions: list[dict[str, Any]]) -> None:
    response = rest.patch(
        f"/v1/brands/{demo.info['brandId']}", json={"preChatForm": {"questions": questions}}
    )
    assert response.status_code == 200, response.text


def demo_questions(rest: httpx.Client) -> list[dict[str, Any]]:
    response = rest.get("/v1/brands")
    assert response.status_code == 200, response.text
    (brand,) = response.json()["data"]
    return list(brand["attributes"]["settings"]["preChatForm"]["questions"])


async def axe(frame: Frame) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations in the widget's frame."""
    if not await frame.evaluate("typeof window.axe === 'object'"):
        await frame.evaluate((npm_package(AXE_CORE) / "axe.min.js").read_text())
    await frame.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")
    found: list[dict[str, Any]] = await frame.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
                                       resultTypes: ['violations']})
             .then((r) => r.violations.map((v) => ({id: v.id, help: v.help,
               nodes: v.nodes.map((n) => n.target.join(' '))})))""",
        WCAG21_AA,
    )
    return found


async def widget_frame(page: Page) -> Frame:
    handle = await page.wait_for_selector("#kustomer-ui-sdk-iframe", state="attached")
    frame = await handle.content_frame() if handle else None
    assert frame is not None
    return frame


def billing_team(rest: httpx.Client) -> str | None:
    """The demo's Billing team, if the demo has teams and a rule routing to it."""
    teams = rest.get("/v1/teams")
    rules = rest.get("/v1/routing/rules")
    if teams.status_code != 200 or rules.status_code != 200 or not rules.json()["data"]:
        return None
    for team in teams.json()["data"]:
        names = {team["attributes"].get("name"), team["attributes"].get("displayName")}
        if "Billing" in names:
            return str(team["id"])
    return None


# ------------------------------------------------------------------ tests


async def test_a_visitors_answers_arrive_with_the_conversation_and_the_pages_attributes(
    demo: Demo, page: Page, artifacts_dir: Path
) -> None:
    # The page describes the next conversation before the visitor opens the chat.
    after_start = """
      Kustomer.describeConversation({ customAttributes: { vipBool: true } },
        function (response, error) { window.described = error ? error.code : response; });"""
    await page.goto(demo.page(START % ("", after_start)))
    widget = await started(page)
    assert await page.evaluate("window.described") == {
        "conversationId": None,
        "custom": {"vipBool": True},
    }
    await widget.get_by_role("button", name="Open chat", exact=True).click()
    form = the_form(widget)
    await expect(form).to_be_visible()
    topic = widget.get_by_label("What is it about?")
    await expect(topic).to_be_focused()  # the form comes first
    await topic.select_option(label="Billing")
    await widget.get_by_label("Order number").fill("KL-555")
    violations = await axe(await widget_frame(page))
    assert violations == [], violations
    await page.screenshot(path=str(artifacts_dir / "prechat-form.png"))
    composer = widget.get_by_label("Message", exact=True)
    await composer.fill("I was charged twice")
    await composer.press("Enter")

    log = widget.get_by_role("log", name="Chat transcript")
    await expect(log.locator(".klatch-in").filter(has_text="I was charged twice")).to_be_visible(
        timeout=REALTIME_TIMEOUT
    )
    await expect(form).to_be_hidden()  # asked once, before the first message
    with demo.rest() as rest:
        (conversation,) = conversations(rest)
        attributes = conversation["attributes"]
        assert attributes["custom"] == {
            "issueTypeStr": "billing",
            "orderNumberStr": "KL-555",
            "vipBool": True,
        }
        assert attributes["preview"] == "I was charged twice"
        team = billing_team(rest)
        if team is not None:  # the demo's routing rule on issueTypeStr
            assert attributes["assignedTeams"] == [team]


async def test_a_wrong_answer_shows_the_servers_error_on_its_field_and_creates_nothing(
    demo: Demo, page: Page, artifacts_dir: Path
) -> None:
    with demo.rest() as rest:
        # A type-less attribute, asked as text; redefined as a number once the page has
        # the form, so the widget's own check (text is fine) lets "three" through.
        defined = rest.put(
            "/v1/metadata/conversation",
            json={"properties": {"itemsCount": {"type": "str", "displayName": "Items"}}},
        )
        assert defined.status_code == 200, defined.text
        question = {"klass": "conversation", "attribute": "itemsCount", "required": True,
                    "label": "How many items?"}  # fmt: skip
        set_form(rest, demo, [*demo_questions(rest), question])

        # Through the API, past any check in the browser: a per-field 400, nothing made.
        session = rest.post(
            "/c/v1/sessions", headers={"Authorization": f"Bearer {demo.info['trackingKey']}"}
        )
        assert session.status_code == 201, session.text
        chat = {
            "Authorization": f"Bearer {demo.info['trackingKey']}",
            "X-Klatch-Session": session.json()["sessionToken"],
        }
        refused = rest.post(
            "/c/v1/conversations",
            headers=chat,
            json={
                "message": "Hi",
                "preChatForm": {"conversation": {"issueTypeStr": 5, "itemsCount": "three"}},
            },
        )
        assert refused.status_code == 400, refused.text
        assert {e["source"]["pointer"]: e["code"] for e in refused.json()["errors"]} == {
            "/preChatForm/conversation/issueTypeStr": "type_mismatch"
        }

        await page.goto(demo.page(START % ("", "")))
        widget = await started(page)
        await widget.get_by_role("button", name="Open chat", exact=True).click()
        items = widget.get_by_label("How many items?")
        composer = widget.get_by_label("Message", exact=True)
        # The widget's own check first: a required question left empty.
        await composer.fill("Hello")
        await composer.press("Enter")
        await expect(items).to_have_attribute("aria-invalid", "true")
        await expect(items).to_have_accessible_description("This question needs an answer.")
        await expect(items).to_be_focused()

        assert rest.delete("/v1/metadata/conversation/properties/itemsCount").status_code == 204
        redefined = rest.put(
            "/v1/metadata/conversation", json={"properties": {"itemsCount": {"type": "num"}}}
        )
        assert redefined.status_code == 200, redefined.text
        await items.fill("three")
        await expect(items).not_to_have_attribute("aria-invalid", "true")  # typing clears it
        await composer.press("Enter")
        await expect(items).to_have_attribute("aria-invalid", "true", timeout=REALTIME_TIMEOUT)
        description = await items.evaluate(
            "(el) => el.ownerDocument.getElementById(el.getAttribute('aria-describedby'))"
            ".textContent"
        )
        assert "itemsCount" in description and "number" in description, description
        await expect(widget.get_by_role("alert")).to_have_text(
            "Not sent: please check the answers above."
        )
        await expect(composer).to_have_value("Hello")  # nothing lost
        violations = await axe(await widget_frame(page))
        assert violations == [], violations
        await page.screenshot(path=str(artifacts_dir / "prechat-form-error.png"))
        assert conversations(rest) == []

        # On a fresh page the form asks for a number, and a number goes through.
        await page.reload()
        widget = await started(page)  # open again, as it was
        await widget.get_by_label("How many items?").fill("3")
        await widget.get_by_label("Message", exact=True).fill("Hello")
        await widget.get_by_label("Message", exact=True).press("Enter")
        found = await eventually(lambda: conversations(rest), "the conversation")
        assert found[0]["attributes"]["custom"] == {"itemsCount": 3}


async def test_a_page_that_opts_out_never_sees_the_form(demo: Demo, page: Page) -> None:
    with demo.rest() as rest:
        required = [{**q, "required": True} for q in demo_questions(rest)]
        set_form(rest, demo, required)
    await page.goto(demo.page(START % ("klatch: { preChatForm: false }", "")))
    widget = await started(page)
    await widget.get_by_role("button", name="Open chat", exact=True).click()
    composer = widget.get_by_label("Message", exact=True)
    await expect(composer).to_be_focused()
    await expect(the_form(widget)).to_have_count(0)
    await expect(widget.get_by_label("What is it about?")).to_have_count(0)
    await composer.fill("Just a question")
    await composer.press("Enter")
    with demo.rest() as rest:
        found = await eventually(lambda: conversations(rest), "the conversation")
        assert found[0]["attributes"]["preview"] == "Just a question"
        assert found[0]["attributes"]["custom"] == {}


async def test_kustomer_core_never_shows_the_form(demo: Demo, page: Page) -> None:
    with demo.rest() as rest:
        set_form(rest, demo, [{**q, "required": True} for q in demo_questions(rest)])
    setup = """
    KustomerCore.init({}, function (started, error) {
      if (error) { window.created = 'init failed: ' + error.code; return; }
      window.questions = started.settings.preChatForm.questions.length;
      KustomerCore.createConversation({ message: 'From my own UI' }, function (c, error) {
        window.created = error ? 'failed: ' + error.code : c.conversationId;
      });
    });"""
    await page.goto(demo.page(setup, core=True))
    await page.wait_for_function("window.created !== undefined", timeout=15_000)
    created = await page.evaluate("window.created")
    assert not created.startswith(("failed", "init failed")), created
    assert await page.evaluate("window.questions") == 2  # the data is there for its own UI
    await expect(page.locator("iframe, form")).to_have_count(0)
    with demo.rest() as rest:
        (conversation,) = conversations(rest)
        assert conversation["id"] == created
        assert conversation["attributes"]["custom"] == {}


async def test_an_admin_edits_the_form_on_the_console_brands_page(demo: Demo, page: Page) -> None:
    await page.goto(demo.server.url + "/console")
    await page.get_by_label("Email").fill(demo.info["agentEmail"])
    await page.get_by_label("Password").fill(demo.info["agentPassword"])
    await page.get_by_role("button", name="Log in").click()
    await page.goto(demo.server.url + "/console/admin/brands")
    questions = page.get_by_label("Pre-chat form")
    shown = await questions.input_value()
    assert shown.splitlines() == [
        "conversation.issueTypeStr | What is it about? | optional | "
        "billing=Billing, technical=Technical, other=Other",
        "conversation.orderNumberStr | Order number | optional",
    ]
    with demo.rest() as rest:
        before = demo_questions(rest)

        # An attribute that is not defined: refused, named, nothing changed.
        await questions.fill(shown + "\nconversation.nopeStr | Nope | optional")
        await page.get_by_role("button", name="Save Demo shop").click()
        await expect(page.get_by_role("alert").first).to_contain_text(
            "'nopeStr' is not defined on the conversation klass"
        )
        await expect(page.get_by_label("Pre-chat form")).to_have_value(
            shown + "\nconversation.nopeStr | Nope | optional"
        )  # shown again as sent
        assert demo_questions(rest) == before

        # The topic made required, the order number question dropped.
        topic = shown.splitlines()[0].replace("| optional |", "| required |")
        await page.get_by_label("Pre-chat form").fill(topic)
        await page.get_by_role("button", name="Save Demo shop").click()
        await expect(page.get_by_text("Saved the chat settings of Demo shop.")).to_be_visible()
        (question,) = demo_questions(rest)
        assert (question["attribute"], question["required"]) == ("issueTypeStr", True)

    # The widget asks it so: no "(optional)", and not sent without an answer.
    await page.goto(demo.page(START % ("", "")))
    widget = await started(page)
    await widget.get_by_role("button", name="Open chat", exact=True).click()
    await expect(widget.get_by_label("What is it about?", exact=True)).to_be_visible()
    await expect(widget.get_by_label("Order number")).to_have_count(0)
    await widget.get_by_label("Message", exact=True).fill("Hello")
    await widget.get_by_label("Message", exact=True).press("Enter")
    await expect(widget.get_by_label("What is it about?", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    with demo.rest() as rest:
        assert conversations(rest) == []
