"""Routing rules' tag action, and the rules the router keeps in memory: a rule
created, disabled or deleted applies (or stops) at the next write in this process
and, through the bus, in another process sharing the database; on real SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from klatch.config import Settings
from klatch.domain import events as ev
from klatch.domain.models import Event
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup, system_actor
from support import REDIS_URL, Rest, eventually, need_service, start_chat


def _tags_rule(value: str, tags: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": f"Tag {value}",
        "criteria": {"and": [{"conversation_custom_issueTypeStr": {"equals": value}}]},
        "actions": [{"type": "addTags", "tags": tags}],
        **extra,
    }


async def _define(services: Services, org_id: str) -> None:
    await services.attributes.define(
        org_id, "conversation", "issueTypeStr", enumeration=["billing", "shipping"]
    )
    await services.attributes.define(org_id, "conversation", "noteStr")


async def _tag_names(admin: Rest, conversation_id: str) -> list[str]:
    conv = (await admin.get(f"/v1/conversations/{conversation_id}")).json()["data"]
    names = {t["id"]: t["attributes"]["name"] for t in (await admin.get("/v1/tags")).json()["data"]}
    return [names[t] for t in conv["attributes"]["tags"]]


async def test_add_tags_creates_missing_tags_and_names_the_rule_in_the_history(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    await _define(services, setup.org.id)
    existing = await admin.post("/v1/tags", json={"name": "Billing"})
    assert existing.status_code == 201, existing.text
    r = await admin.post("/v1/routing/rules", json=_tags_rule("billing", ["billing", "Money"]))
    assert r.status_code == 201, r.text
    rule = r.json()["data"]
    assert rule["attributes"]["actions"] == [{"type": "addTags", "tags": ["billing", "Money"]}]
    chat = await start_chat(http, setup.tracking_key.secret)
    conv = await chat.create_conversation(message="refund?", customAttributes={"noteStr": "x"})
    cid = conv["conversationId"]
    assert await _tag_names(admin, cid) == []
    assert (await chat.describe(cid, {"issueTypeStr": "billing"})).status_code == 200
    # The existing tag is found by its name (case folded); the other one is created.
    assert await _tag_names(admin, cid) == ["Billing", "Money"]
    history = (await admin.get(f"/v1/conversations/{cid}/events")).json()["data"]
    payloads = [e["attributes"]["payload"] for e in history]
    routed = [p for p in payloads if "rule" in p]
    assert len(routed) == 1
    assert routed[0]["rule"] == {"id": rule["id"], "name": "Tag billing"}
    assert set(routed[0]["changes"]) == {"tags"}
    # The describe that triggered it is the event just before, by the customer.
    assert payloads.index(routed[0]) == len(payloads) - 1
    assert payloads[-2]["changes"]["custom"]["issueTypeStr"]["after"] == "billing"


async def test_rule_changes_apply_at_the_next_write(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    await _define(services, setup.org.id)
    chat = await start_chat(http, setup.tracking_key.secret)

    async def tagged() -> list[str]:
        conv = await chat.create_conversation(customAttributes={"issueTypeStr": "billing"})
        return await _tag_names(admin, conv["conversationId"])

    assert await tagged() == []  # no rules: and the org's "no rules" is now cached
    rule = (await admin.post("/v1/routing/rules", json=_tags_rule("billing", ["b"]))).json()
    assert await tagged() == ["b"]
    r = await admin.patch(f"/v1/routing/rules/{rule['data']['id']}", json={"enabled": False})
    assert r.status_code == 200, r.text
    assert await tagged() == []
    r = await admin.patch(f"/v1/routing/rules/{rule['data']['id']}", json={"enabled": True})
    assert await tagged() == ["b"]
    assert (await admin.delete(f"/v1/routing/rules/{rule['data']['id']}")).status_code == 204
    assert await tagged() == []


async def test_a_refused_rule_change_leaves_the_rules_as_they_were(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    await _define(services, setup.org.id)
    rule = (await admin.post("/v1/routing/rules", json=_tags_rule("billing", ["b"]))).json()
    bad = {"criteria": {"and": [{"conversation_custom_issueTypeStr": {"equals": 7}}]}}
    r = await admin.patch(f"/v1/routing/rules/{rule['data']['id']}", json=bad)
    assert r.status_code == 400, r.text
    stored = (await admin.get(f"/v1/routing/rules/{rule['data']['id']}")).json()["data"]
    assert stored["attributes"]["criteria"] == _tags_rule("billing", [])["criteria"]
    chat = await start_chat(http, setup.tracking_key.secret)
    conv = await chat.create_conversation(customAttributes={"issueTypeStr": "billing"})
    assert await _tag_names(admin, conv["conversationId"]) == ["b"]


async def test_a_rule_changed_in_another_process_applies_here_through_the_bus(
    settings: Settings,
) -> None:
    bus = need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    shared = settings.model_copy(update={"bus_url": bus})
    async with running(shared) as here, running(shared) as elsewhere:
        # Only the bus can tell this process: its cache would keep rules for an hour.
        here.routing.router.rules.ttl = 3600
        setup = await here.orgs.create_org(f"Rules org {uuid.uuid4().hex[:12]}")
        org = setup.org.id
        await _define(here, org)
        actor = system_actor(org)
        heard: list[Event] = []
        here.bus.subscribe(heard.extend)

        async def tags_here() -> tuple[str, ...]:
            customer = await here.customers.check_create(actor, {"name": "Ada"})
            conv = await here.conversations.check_create_for_customer(
                actor, customer.id, brand_id=None, custom={"issueTypeStr": "billing"}
            )
            return (await here.conversations.get(actor, conv.id)).tags

        assert await tags_here() == ()  # "no rules" cached here
        rule = await elsewhere.routing.create(actor, _tags_rule("billing", ["b"]))
        await eventually(
            lambda: any(e.type == ev.ROUTING_RULE_CHANGED for e in heard), "the rule's change"
        )
        assert len(await tags_here()) == 1
        heard.clear()
        await elsewhere.routing.delete(actor, rule.id)
        await eventually(
            lambda: any(e.type == ev.ROUTING_RULE_CHANGED for e in heard), "the deletion"
        )
        assert await tags_here() == ()
