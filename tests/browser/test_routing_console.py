"""Teams, assignment and routing rules in the agent console, in real Chromium against
a real server (SQLite): a chat described as a billing question arrives in the
console already in Billing's view, assigned round-robin to Billing's next
available agent, live, with the history naming the rule; a later describe
re-routes it; two agents see the views' counts move live; an away agent is
skipped and a team with nobody available keeps the conversation in its queue;
the Teams and Routing rules admin pages (the server's refusal on its field),
admins only, another org's ids 404.

The console is driven as agents use it (labels and roles); what it did is checked
on the server through the REST API with the admin key."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from support import KlatchProcess, cli, prepare

LIVE = 10_000  # ms: what a page gets to show something pushed by the server
PASSWORD = "secret-pass-1"
ADMIN = "ann@example.com"
BOB, CID, DAN = "bob@example.com", "cid@example.com", "dan@example.com"
NAMES = {ADMIN: "Ann Admin", BOB: "Bob Agent", CID: "Cid Agent", DAN: "Dan Agent"}


# ------------------------------------------------------------------ server


@dataclass
class Served:
    server: KlatchProcess
    keys: dict[str, str]
    other: dict[str, str]  # a second org's keys
    users: dict[str, str]  # email -> id
    teams: dict[str, str]  # name -> id
    rules: dict[str, str] = field(default_factory=dict)  # name -> id

    def rest(self, keys: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {(keys or self.keys)['adminKey']}"},
            timeout=10,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server: agents Bob and Cid in Billing (in that order), Dan in Technical,
    and the rules "Billing questions" and "Technical questions" on issueTypeStr."""
    root = tmp_path_factory.mktemp("routing")
    env, keys = prepare(root)
    allowed = [a for value in ("billing", "technical", "other") for a in ("--allowed", value)]
    cli(env, root, "attributes", "define", "conversation", "issueTypeStr", *allowed)
    for email, name in NAMES.items():
        role = "admin" if email == ADMIN else "agent"
        cli(env, root, "users", "create", email, "--password", PASSWORD, "--role", role,
            "--name", name)  # fmt: skip
    users = {u["email"]: u["id"] for u in json.loads(cli(env, root, "users", "list", "--json"))}
    teams = {}
    for team, members in (("Billing", (BOB, CID)), ("Technical", (DAN,))):
        made = cli(
            env, root, "teams", "create", team, *(f"--member={m}" for m in members), "--json"
        )
        teams[team] = json.loads(made)["id"]
    other = json.loads(cli(env, root, "init", "--add-org", "--org-name", "Other shop", "--json"))
    with KlatchProcess(env, root, root / "server.log") as server:
        served = Served(server, keys, other, users, teams)
        with served.rest() as rest:
            for team, value in (("Billing", "billing"), ("Technical", "technical")):
                served.rules[f"{team} questions"] = rule(
                    rest, f"{team} questions", value, teams[team]
                )
        yield served
        log = server.output
    assert "Traceback" not in log, log[-4000:]


def rule(rest: httpx.Client, name: str, value: str, team: str) -> str:
    body = {
        "name": name,
        "criteria": {"and": [{"conversation_custom_issueTypeStr": {"equals": value}}]},
        "actions": [{"type": "assignTeam", "team": team, "roundRobin": True}],
    }
    response = rest.post("/v1/routing/rules", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def assignment(served: Served, conversation_id: str) -> tuple[list[str], list[str]]:
    """(assignedUsers as emails, assignedTeams as names), as the REST API has them."""
    with served.rest() as rest:
        response = rest.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    attrs = response.json()["data"]["attributes"]
    emails = {v: k for k, v in served.users.items()}
    teams = {v: k for k, v in served.teams.items()}
    return [emails[u] for u in attrs["assignedUsers"]], [teams[t] for t in attrs["assignedTeams"]]


def availability(served: Served, email: str) -> str:
    with served.rest() as rest:
        response = rest.get(f"/v1/users/{served.users[email]}/availability")
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["attributes"]["availability"])


class Visitor:
    """A chat session through the client API, as the SDK drives it."""

    def __init__(self, served: Served) -> None:
        self.http = httpx.Client(base_url=served.server.url, timeout=10)
        auth = {"Authorization": f"Bearer {served.keys['trackingKey']}"}
        session = self.http.post("/c/v1/sessions", headers=auth)
        assert session.status_code in (200, 201), session.text
        self.headers = {**auth, "X-Klatch-Session": session.json()["sessionToken"]}

    def start(self, message: str) -> str:
        response = self.http.post(
            "/c/v1/conversations", headers=self.headers, json={"message": message}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["conversationId"])

    def describe(self, conversation_id: str, custom: dict[str, Any]) -> None:
        response = self.http.patch(
            f"/c/v1/conversations/{conversation_id}", headers=self.headers, json={"custom": custom}
        )
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def visitors(served: Served) -> Iterator[list[Visitor]]:
    made: list[Visitor] = []
    yield made
    for visitor in made:
        visitor.close()


def chat(served: Served, visitors: list[Visitor], message: str, issue: str | None = None) -> str:
    """A visitor's conversation, created then described (as a page does); the
    visitor is ``visitors[-1]``."""
    visitors.append(Visitor(served))
    conversation_id = visitors[-1].start(message)
    if issue is not None:
        visitors[-1].describe(conversation_id, {"issueTypeStr": issue})
    return conversation_id


# ------------------------------------------------------------------ console


class Consoles:
    """A browser context per agent, logged in through the login form."""

    def __init__(self, browser: Browser, served: Served) -> None:
        self.browser = browser
        self.served = served
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def agent(self, email: str, path: str = "/console/inbox") -> Page:
        context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(LIVE)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        await page.goto(f"{self.served.server.url}{path}")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("button", name="Log out")).to_be_visible()
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def consoles(browser: Browser, served: Served) -> AsyncIterator[Consoles]:
    opened = Consoles(browser, served)
    yield opened
    errors = opened.errors
    await opened.close()
    assert not errors, f"uncaught errors on a page: {errors}"


def row(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'#inbox-rows tr[data-conversation-id="{conversation_id}"]')


def count(page: Page, view: str) -> Locator:
    return page.locator(f'#inbox-views a[data-view="{view}"] .count')


async def counts(page: Page, *views: str) -> list[int]:
    return [int(await count(page, v).inner_text()) for v in views]


def team_view(served: Served, team: str) -> str:
    return f"team:{served.teams[team]}"


def history(page: Page) -> Locator:
    return page.locator("#history li")


# ------------------------------------------------------------------ tests


async def test_a_billing_chat_arrives_routed_live_and_a_describe_reroutes_it(
    consoles: Consoles, served: Served, visitors: list[Visitor], artifacts_dir: Path
) -> None:
    billing = team_view(served, "Billing")
    bob = await consoles.agent(BOB, f"/console/inbox?view={billing}")
    await expect(bob).to_have_url(re.compile(rf"/console/inbox\?view={billing}$"))
    await expect(bob.get_by_role("link", name=re.compile(r"^Billing"))).to_have_attribute(
        "aria-current", "page"
    )
    await bob.evaluate("window.notReloaded = true")

    conversation_id = chat(served, visitors, "My invoice is wrong", issue="billing")
    # Billing's first turn: Bob (its first member), in the same write as the describe.
    assert assignment(served, conversation_id) == ([BOB], ["Billing"])
    arrived = row(bob, conversation_id)
    await expect(arrived).to_contain_text("My invoice is wrong", timeout=LIVE)
    assert await bob.evaluate("window.notReloaded") is True

    await arrived.get_by_role("link").click()
    panel = bob.locator("#assignment")
    await expect(panel.locator("#assigned-users")).to_have_text("Bob Agent")
    await expect(panel.locator("#assigned-teams")).to_have_text("Billing")
    by_rule = history(bob).filter(has_text="Routing rule “Billing questions”")
    await expect(by_rule.filter(has_text="Assigned teams")).to_contain_text("Billing")
    await expect(by_rule.filter(has_text="Assigned agents")).to_contain_text("Bob Agent")
    await expect(history(bob).filter(has_text="Customer (chat)")).to_contain_text("billing")
    await bob.screenshot(path=artifacts_dir / "routing-console-routed.png", full_page=True)

    # The page describes it again: the rules send it to Technical, live on Bob's page.
    visitors[-1].describe(conversation_id, {"issueTypeStr": "technical"})
    assert assignment(served, conversation_id) == ([DAN], ["Technical"])
    await expect(panel.locator("#assigned-teams")).to_have_text("Technical", timeout=LIVE)
    await expect(panel.locator("#assigned-users")).to_have_text("Dan Agent")
    technical = history(bob).filter(has_text="Routing rule “Technical questions”")
    await expect(technical.filter(has_text="Assigned agents")).to_contain_text("Dan Agent")
    # An unrelated describe changes nobody's assignment.
    visitors[-1].describe(conversation_id, {"orderNumberStr": "A-1"})
    assert assignment(served, conversation_id) == ([DAN], ["Technical"])


async def test_two_agents_see_the_views_counts_move_live(
    consoles: Consoles, served: Served, visitors: list[Visitor]
) -> None:
    billing = team_view(served, "Billing")
    views = ("mine", "unassigned", billing)
    bob = await consoles.agent(BOB)
    cid = await consoles.agent(CID)
    mine_bob, unassigned, in_billing = await counts(bob, *views)
    mine_cid = (await counts(cid, "mine"))[0]
    assert await counts(cid, "unassigned", billing) == [unassigned, in_billing]

    conversation_id = chat(served, visitors, "A question, no topic yet")
    for page in (bob, cid):  # nobody's: Unassigned grows on both pages, live
        await expect(count(page, "unassigned")).to_have_text(str(unassigned + 1), timeout=LIVE)
        await expect(row(page, conversation_id)).to_be_visible()

    # Bob, on the conversation's page (another tab), gives it to Billing, then takes it.
    tab = await bob.context.new_page()
    await tab.goto(f"{served.server.url}/console/conversations/{conversation_id}")
    await tab.get_by_label("Team").select_option(label="Billing")
    await tab.get_by_role("button", name="Assign team").click()
    await expect(tab.locator("#assigned-teams")).to_have_text("Billing")
    assert assignment(served, conversation_id) == ([], ["Billing"])
    await expect(count(cid, billing)).to_have_text(str(in_billing + 1), timeout=LIVE)
    await expect(count(cid, "unassigned")).to_have_text(str(unassigned + 1))

    await tab.get_by_role("button", name="Assign to me").click()
    await expect(tab.locator("#assigned-users")).to_have_text("Bob Agent")
    assert assignment(served, conversation_id) == ([BOB], ["Billing"])
    await expect(count(bob, "mine")).to_have_text(str(mine_bob + 1), timeout=LIVE)
    for page in (bob, cid):
        await expect(count(page, "unassigned")).to_have_text(str(unassigned), timeout=LIVE)
    await expect(count(cid, "mine")).to_have_text(str(mine_cid))

    # To another agent: it leaves Bob's Mine for Cid's.
    await tab.get_by_label("Agent", exact=True).select_option(label="Cid Agent")
    await tab.get_by_role("button", name="Assign agent").click()
    await expect(tab.locator("#assigned-users")).to_have_text("Cid Agent")
    await expect(count(cid, "mine")).to_have_text(str(mine_cid + 1), timeout=LIVE)
    await expect(count(bob, "mine")).to_have_text(str(mine_bob), timeout=LIVE)
    await cid.get_by_role("link", name=re.compile(r"^Mine")).click()
    await expect(row(cid, conversation_id)).to_be_visible()

    # Unassign: back in Unassigned, out of Billing.
    await tab.get_by_role("button", name="Unassign").click()
    await expect(tab.locator("#assigned-users")).to_have_text("Unassigned")
    assert assignment(served, conversation_id) == ([], [])
    await expect(count(bob, billing)).to_have_text(str(in_billing), timeout=LIVE)
    await expect(row(cid, conversation_id)).to_have_count(0, timeout=LIVE)


async def test_away_agents_are_skipped_and_a_team_without_anyone_keeps_its_queue(
    consoles: Consoles, served: Served, visitors: list[Visitor]
) -> None:
    bob = await consoles.agent(BOB)
    cid = await consoles.agent(CID)
    try:
        await bob.get_by_role("button", name="Set away").click()
        await expect(bob.locator("#availability-state")).to_have_text("Away")
        assert availability(served, BOB) == "away"
        for n in range(2):  # Cid, twice: Bob is skipped
            conversation_id = chat(served, visitors, f"Refund {n}", issue="billing")
            assert assignment(served, conversation_id) == ([CID], ["Billing"])

        await cid.get_by_role("button", name="Set away").click()
        await expect(cid.locator("#availability-state")).to_have_text("Away")
        billing = team_view(served, "Billing")
        await cid.goto(f"{served.server.url}/console/inbox?view={billing}")
        queued = chat(served, visitors, "Nobody is here?", issue="billing")
        assert assignment(served, queued) == ([], ["Billing"])
        await expect(row(cid, queued)).to_contain_text("Nobody is here?", timeout=LIVE)
        await cid.get_by_role("link", name=re.compile(r"^Unassigned")).click()
        await expect(row(cid, queued)).to_be_visible()
    finally:
        with served.rest() as rest:
            for email in (BOB, CID):
                user = served.users[email]
                body = {"availability": "available"}
                assert rest.put(f"/v1/users/{user}/availability", json=body).status_code == 200


async def test_admins_manage_teams_and_rules_and_see_the_servers_refusal_on_its_field(
    consoles: Consoles, served: Served, visitors: list[Visitor], artifacts_dir: Path
) -> None:
    ann = await consoles.agent(ADMIN)
    name = f"Returns-{uuid.uuid4().hex[:6]}"
    await ann.get_by_role("link", name="Teams", exact=True).click()
    create = ann.locator("form", has=ann.get_by_role("button", name="Create team"))
    await create.get_by_label("Name", exact=True).fill(name)
    await create.get_by_label("Dan Agent").check()
    await create.get_by_role("button", name="Create team").click()
    await expect(ann.get_by_role("status")).to_have_text("Created the team.")
    await ann.get_by_label("Ann Admin").check()
    await ann.get_by_role("button", name="Save").click()
    await expect(ann.get_by_role("status")).to_have_text("Saved.")
    with served.rest() as rest:
        teams = {t["attributes"]["name"]: t for t in rest.get("/v1/teams").json()["data"]}
    returns = teams[name]
    served.teams[name] = returns["id"]
    members = returns["attributes"]["members"]
    assert members == [served.users[DAN], served.users[ADMIN]]
    await ann.get_by_role("link", name="← Teams").click()
    await ann.screenshot(path=artifacts_dir / "routing-admin-teams.png", full_page=True)

    # A rule whose criteria the server refuses: its message on the criteria field.
    await ann.get_by_role("link", name="Routing rules").click()
    form = ann.locator("form", has=ann.get_by_role("button", name="Create rule"))
    await form.get_by_label("Name", exact=True).fill("Returns")
    bad = '{"and": [{"conversation_custom_issueTypeStr": {"gt": 3}}]}'
    await form.get_by_label("If (criteria)").fill(bad)
    await form.get_by_label("Assign to team").select_option(label=name)
    await form.get_by_label("Add tags").fill("returns, vip")
    await form.get_by_role("button", name="Create rule").click()
    error = ann.locator("#new-rule-criteria-error")
    await expect(error).to_contain_text("issueTypeStr")
    await expect(error).to_contain_text("gt")
    await expect(ann.locator("#new-rule-criteria")).to_have_value(bad)  # kept as sent
    with served.rest() as rest:
        assert len(rest.get("/v1/routing/rules").json()["data"]) == len(served.rules)

    good = '{"and": [{"conversation_custom_issueTypeStr": {"equals": "other"}}]}'
    await ann.locator("#new-rule-criteria").fill(good)
    await ann.get_by_role("button", name="Create rule").click()
    await expect(ann.get_by_role("status")).to_have_text("Created the rule.")
    await ann.get_by_role("link", name="← Routing rules").click()
    listed = ann.locator("table.rules tbody tr")
    await expect(listed).to_have_count(len(served.rules) + 1)
    await expect(listed.last).to_contain_text("Returns")
    await ann.get_by_role("button", name="Move up Returns").click()
    await expect(ann.get_by_role("status")).to_have_text("Moved.")
    await expect(listed.nth(len(served.rules) - 1)).to_contain_text("Returns")
    await ann.screenshot(path=artifacts_dir / "routing-admin-rules.png", full_page=True)

    conversation_id = chat(served, visitors, "I want to return it", issue="other")
    assert assignment(served, conversation_id) == ([DAN], [name])
    with served.rest() as rest:
        tags = {t["id"]: t["attributes"]["name"] for t in rest.get("/v1/tags").json()["data"]}
        found = rest.get(f"/v1/conversations/{conversation_id}").json()["data"]["attributes"]
        assert sorted(tags[t] for t in found["tags"]) == ["returns", "vip"]

    await ann.get_by_role("button", name="Disable Returns").click()
    await expect(ann.get_by_role("status")).to_contain_text("Disabled")
    conversation_id = chat(served, visitors, "Another return", issue="other")
    assert assignment(served, conversation_id) == ([], [])
    ann.once("dialog", lambda dialog: dialog.accept())
    await ann.get_by_role("button", name="Delete Returns").click()
    await expect(ann.get_by_role("status")).to_have_text("Deleted the rule.")
    await expect(listed).to_have_count(len(served.rules))


async def test_admin_pages_are_for_admins_and_another_orgs_ids_are_404(
    consoles: Consoles, served: Served
) -> None:
    with served.rest(served.other) as rest:
        team = rest.post("/v1/teams", json={"name": "Theirs"}).json()["data"]["id"]
        body = {
            "name": "Theirs",
            "criteria": {"and": [{"conversation_status": {"equals": "open"}}]},
            "actions": [{"type": "assignTeam", "team": team}],
        }
        made = rest.post("/v1/routing/rules", json=body)
        assert made.status_code == 201, made.text
        their_rule = made.json()["data"]["id"]
    bob = await consoles.agent(BOB)
    for path in ("/console/admin/teams", "/console/admin/rules"):
        response = await bob.goto(f"{served.server.url}{path}")
        assert response is not None and response.status == 403
    ann = await consoles.agent(ADMIN)
    for path in (f"/console/admin/teams/{team}", f"/console/admin/rules/{their_rule}"):
        response = await ann.goto(f"{served.server.url}{path}")
        assert response is not None and response.status == 404
    response = await ann.goto(f"{served.server.url}/console/inbox?view=team:{team}")
    assert response is not None and response.status == 404
