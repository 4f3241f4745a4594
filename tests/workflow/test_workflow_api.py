"""Teams, availability, assignment and routing rules through the REST and chat APIs,
on real SQLite and PostgreSQL: rules run in the write of the change, name
themselves in the history, skip away agents, never loop, and are checked when
saved."""

from __future__ import annotations

from typing import Any

import httpx

from klatch.domain.events import PAYLOADS
from klatch.domain.models import User, UserRole
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest, error_codes, start_chat


async def _agents(services: Services, setup: Setup, *names: str) -> list[User]:
    return [
        await services.orgs.create_user(
            setup.org.id,
            f"{n}.{setup.org.id}@example.com",
            "password1",
            role=UserRole.AGENT,
            display_name=n,
        )
        for n in names
    ]


async def _define(services: Services, setup: Setup) -> None:
    org = setup.org.id
    await services.attributes.define(
        org, "conversation", "issueTypeStr", enumeration=["billing", "shipping", "other"]
    )
    await services.attributes.define(org, "conversation", "orderNumberStr")
    await services.attributes.define(org, "conversation", "priorityStr")
    await services.attributes.define(org, "customer", "tierStr")


async def _team(admin: Rest, name: str, members: list[str]) -> str:
    r = await admin.post("/v1/teams", json={"name": name, "members": members})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


async def _rule(admin: Rest, name: str, value: str, team: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "criteria": {"and": [{"conversation_custom_issueTypeStr": {"equals": value}}]},
        "actions": [{"type": "assignTeam", "team": team, "roundRobin": True}],
        **extra,
    }
    r = await admin.post("/v1/routing/rules", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


async def _conversation(admin: Rest, conversation_id: str) -> dict[str, Any]:
    r = await admin.get(f"/v1/conversations/{conversation_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["data"]["attributes"])


async def test_teams_crud_and_availability(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    ann, bob = await _agents(services, setup, "ann", "bob")
    team = await _team(admin, "Billing", [ann.id])
    r = await admin.post("/v1/teams", json={"name": "billing"})
    assert r.status_code == 409 and error_codes(r) == ["already_exists"]
    r = await admin.post("/v1/teams", json={"name": "Ghosts", "members": ["a" * 24]})
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == "/members/0"
    r = await admin.patch(f"/v1/teams/{team}", json={"members": [ann.id, bob.id]})
    assert r.json()["data"]["attributes"]["members"] == [ann.id, bob.id]
    listed = (await admin.get("/v1/teams")).json()
    assert [t["attributes"]["name"] for t in listed["data"]] == ["Billing"]
    assert listed["meta"]["total"] == 1
    r = await admin.put(f"/v1/users/{bob.id}/availability", json={"availability": "away"})
    assert r.json()["data"]["attributes"]["availability"] == "away"
    r = await admin.get(f"/v1/users/{ann.id}/availability")
    assert r.json()["data"]["attributes"]["availability"] == "available"
    r = await admin.put(f"/v1/users/{bob.id}/availability", json={"availability": "busy"})
    assert r.status_code == 400
    other = await services.orgs.create_org(f"Another org for teams {setup.org.id}")
    stranger = Rest(http, other.admin_key.secret)
    assert (await stranger.get(f"/v1/teams/{team}")).status_code == 404
    assert (await admin.delete(f"/v1/teams/{team}")).status_code == 204
    assert (await admin.get(f"/v1/teams/{team}")).status_code == 404


async def test_assignment_by_patch_events_and_search(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    (ann,) = await _agents(services, setup, "ann")
    team = await _team(admin, "Billing", [ann.id])
    chat = await start_chat(http, setup.tracking_key.secret)
    conv = await chat.create_conversation(message="hello")
    cid = conv["conversationId"]
    r = await admin.patch(
        f"/v1/conversations/{cid}", json={"assignedUsers": [ann.id], "assignedTeams": [team]}
    )
    assert r.status_code == 200, r.text
    attrs = r.json()["data"]["attributes"]
    assert attrs["assignedUsers"] == [ann.id] and attrs["assignedTeams"] == [team]
    r = await admin.patch(f"/v1/conversations/{cid}", json={"assignedUsers": ["b" * 24]})
    assert r.status_code == 400 and error_codes(r) == ["user_not_found"]
    assert (await _conversation(admin, cid))["assignedUsers"] == [ann.id]
    history = (await admin.get(f"/v1/conversations/{cid}/events")).json()["data"]
    last = history[-1]["attributes"]["payload"]
    assert last["changes"]["assignedUsers"] == {"before": [], "after": [ann.id]}
    PAYLOADS["conversation.updated"]  # the payload schema knows the fields
    for criteria, found in (
        ({"conversation_assigned_users": {"equals": ann.id}}, [cid]),
        ({"conversation_assigned_teams": {"equals": team}}, [cid]),
        ({"conversation_assigned_users": {"exists": False}}, []),
    ):
        r = await admin.post(
            "/v1/customers/search", json={"queryContext": "conversation", "and": [criteria]}
        )
        assert r.status_code == 200, r.text
        assert [d["id"] for d in r.json()["data"]] == found
    r = await admin.patch(f"/v1/conversations/{cid}", json={"assignedUsers": []})
    assert r.json()["data"]["attributes"]["assignedUsers"] == []
    counts = await services.teams.view_counts(
        _actor(setup), [("mine", ann.id), ("unassigned", None), ("team", team), ("all", None)]
    )
    assert counts == [0, 1, 1, 1]


def _actor(setup: Setup) -> Any:
    from klatch.services.orgs import system_actor

    return system_actor(setup.org.id)


async def test_rules_route_on_create_and_reroute_on_describe(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    await _define(services, setup)
    ann, bob, cid_agent = await _agents(services, setup, "ann", "bob", "cid")
    billing = await _team(admin, "Billing", [ann.id, bob.id])
    shipping = await _team(admin, "Shipping", [cid_agent.id])
    rule = await _rule(admin, "Billing questions", "billing", billing)
    await _rule(admin, "Shipping questions", "shipping", shipping)
    chat = await start_chat(http, setup.tracking_key.secret)
    first = await chat.create_conversation(
        message="my invoice", customAttributes={"issueTypeStr": "billing"}
    )
    attrs = await _conversation(admin, first["conversationId"])
    assert attrs["assignedTeams"] == [billing] and attrs["assignedUsers"] == [ann.id]
    second = await chat.create_conversation(
        message="again", customAttributes={"issueTypeStr": "billing"}
    )
    assert (await _conversation(admin, second["conversationId"]))["assignedUsers"] == [bob.id]
    history = (await admin.get(f"/v1/conversations/{first['conversationId']}/events")).json()
    routed = [
        e["attributes"]["payload"] for e in history["data"] if "rule" in e["attributes"]["payload"]
    ]
    assert routed[0]["rule"] == {"id": rule["id"], "name": "Billing questions"}
    # An unrelated change does not re-route; a change of issueTypeStr does.
    r = await chat.describe(first["conversationId"], {"orderNumberStr": "A1"})
    assert r.status_code == 200
    assert (await _conversation(admin, first["conversationId"]))["assignedUsers"] == [ann.id]
    r = await chat.describe(first["conversationId"], {"issueTypeStr": "shipping"})
    attrs = await _conversation(admin, first["conversationId"])
    assert attrs["assignedTeams"] == [shipping] and attrs["assignedUsers"] == [cid_agent.id]


async def test_round_robin_skips_away_and_waits_in_queue(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    await _define(services, setup)
    ann, bob = await _agents(services, setup, "ann", "bob")
    billing = await _team(admin, "Billing", [ann.id, bob.id])
    await _rule(admin, "Billing", "billing", billing)
    await admin.put(f"/v1/users/{ann.id}/availability", json={"availability": "away"})
    chat = await start_chat(http, setup.tracking_key.secret)
    assigned = []
    for _ in range(2):
        conv = await chat.create_conversation(customAttributes={"issueTypeStr": "billing"})
        assigned.append((await _conversation(admin, conv["conversationId"]))["assignedUsers"])
    assert assigned == [[bob.id], [bob.id]]
    await admin.put(f"/v1/users/{bob.id}/availability", json={"availability": "away"})
    conv = await chat.create_conversation(customAttributes={"issueTypeStr": "billing"})
    attrs = await _conversation(admin, conv["conversationId"])
    assert attrs["assignedUsers"] == [] and attrs["assignedTeams"] == [billing]
    counts = await services.teams.view_counts(
        _actor(setup), [("team", billing), ("unassigned", None)]
    )
    assert counts == [3, 1]


async def test_set_attribute_does_not_loop_and_customer_criteria(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    await _define(services, setup)
    # A rule whose action would make itself (and another rule) match again.
    r = await admin.post(
        "/v1/routing/rules",
        json={
            "name": "Gold customers are urgent",
            "criteria": {"and": [{"customer_custom_tierStr": {"equals": "gold"}}]},
            "actions": [{"type": "setAttribute", "attribute": "priorityStr", "value": "urgent"}],
        },
    )
    assert r.status_code == 201, r.text
    chat = await start_chat(http, setup.tracking_key.secret)
    customer_id = chat.data["customerId"] if "customerId" in chat.data else None
    me = await chat.request("GET", "/customers/current") if customer_id is None else None
    if me is not None and me.status_code == 200:
        customer_id = me.json().get("customerId") or me.json().get("id")
    assert customer_id, chat.data
    r = await admin.patch(f"/v1/customers/{customer_id}", json={"custom": {"tierStr": "gold"}})
    assert r.status_code == 200, r.text
    conv = await chat.create_conversation(message="hi")
    attrs = await _conversation(admin, conv["conversationId"])
    assert attrs["custom"]["priorityStr"] == "urgent"
    history = (await admin.get(f"/v1/conversations/{conv['conversationId']}/events")).json()
    assert len([e for e in history["data"] if "rule" in e["attributes"]["payload"]]) == 1


async def test_rules_are_checked_when_saved(services: Services, setup: Setup, admin: Rest) -> None:
    await _define(services, setup)
    (ann,) = await _agents(services, setup, "ann")
    team = await _team(admin, "Billing", [ann.id])
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"criteria": {"and": [{"conversation_custom_nopeStr": {"equals": "x"}}]}},
            "unknown_field",
            "/criteria/and/0/conversation_custom_nopeStr",
        ),
        (
            {"criteria": {"and": [{"conversation_custom_issueTypeStr": {"gt": 3}}]}},
            "invalid_operator",
            "/criteria/and/0/conversation_custom_issueTypeStr/gt",
        ),
        (
            {"criteria": {"and": [{"conversation_custom_issueTypeStr": {"equals": 3}}]}},
            "invalid_search",
            "/criteria/and/0/conversation_custom_issueTypeStr/equals",
        ),
        ({"actions": [{"type": "addTags", "tags": []}]}, "invalid_tags", "/actions/0/tags"),
        (
            {"actions": [{"type": "addTags", "tags": ["ok", " "]}]},
            "invalid_tag",
            "/actions/0/tags/1",
        ),
        ({"actions": [{"type": "escalate"}]}, "invalid_arguments", "/actions/0/type"),
        (
            {"actions": [{"type": "assignTeam", "team": "c" * 24}]},
            "team_not_found",
            "/actions/0/team",
        ),
        (
            {"actions": [{"type": "setAttribute", "attribute": "nopeStr", "value": 1}]},
            "unknown_attribute",
            "/actions/0/value/nopeStr",
        ),
    ]
    good = {
        "name": "r",
        "criteria": {"and": [{"conversation_custom_issueTypeStr": {"equals": "billing"}}]},
        "actions": [{"type": "assignTeam", "team": team}],
    }
    for change, code, pointer in cases:
        r = await admin.post("/v1/routing/rules", json={**good, **change})
        assert r.status_code == 400, (change, r.text)
        assert error_codes(r) == [code], r.text
        assert r.json()["errors"][0]["source"]["pointer"] == pointer
    assert (await admin.get("/v1/routing/rules")).json()["data"] == []
    first = (await admin.post("/v1/routing/rules", json=good)).json()["data"]
    second = (
        await admin.post("/v1/routing/rules", json={**good, "name": "s", "position": 1})
    ).json()["data"]
    names = [r["attributes"]["name"] for r in (await admin.get("/v1/routing/rules")).json()["data"]]
    assert names == ["s", "r"]
    r = await admin.patch(f"/v1/routing/rules/{first['id']}", json={"position": 1})
    assert r.json()["data"]["attributes"]["position"] == 1
    assert (await admin.delete(f"/v1/routing/rules/{second['id']}")).status_code == 204


async def test_view_counts_stop_past_their_cap(
    services: Services, setup: Setup, http: httpx.AsyncClient
) -> None:
    """The inbox's counts are drawn again on every change: past the cap they only say
    there are more (the console shows "999+"), so a big view is not a full scan."""
    from klatch.console.views import View

    chat = await start_chat(http, setup.tracking_key.secret)
    for n in range(3):
        await chat.create_conversation(message=f"hello {n}")
    views = [("unassigned", None), ("all", None)]
    assert await services.teams.view_counts(_actor(setup), views, status="open") == [3, 3]
    capped = await services.teams.view_counts(_actor(setup), views, status="open", cap=2)
    assert capped == [3, 3]
    capped = await services.teams.view_counts(_actor(setup), views, status="open", cap=1)
    assert capped == [2, 2]
    assert View("all", "All", 1000).shown == "999+"
    assert View("all", "All", 999).shown == "999"
