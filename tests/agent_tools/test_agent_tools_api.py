"""Notes, tags and shortcuts through the REST and chat APIs on real SQLite and
PostgreSQL: a note never reaches the customer, tags are Kustomer-shaped and
searchable, shortcut bodies are checked when saved."""

from __future__ import annotations

from typing import Any

from klatch.domain import events as ev
from klatch.domain.models import Event
from klatch.domain.shortcuts import fill
from klatch.realtime.hub import Connection
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Chat, Rest, error_codes


async def _conversation(chat: Chat) -> str:
    return str((await chat.create_conversation(message="Where is my order?"))["conversationId"])


async def test_a_note_is_for_agents_and_never_reaches_the_customer(
    services: Services, setup: Setup, chat: Chat, admin: Rest
) -> None:
    published: list[Event] = []
    services.bus.subscribe(published.extend)
    conversation_id = await _conversation(chat)
    created = await admin.post(
        f"/v1/conversations/{conversation_id}/notes", json={"body": "VIP: refund approved"}
    )
    assert created.status_code == 201, created.text
    note = created.json()["data"]
    assert note["type"] == "note"
    assert note["attributes"]["body"] == "VIP: refund approved"
    assert note["attributes"]["createdBy"]["displayName"] == "Admin"
    listed = await admin.get(f"/v1/conversations/{conversation_id}/notes")
    assert [n["id"] for n in listed.json()["data"]] == [note["id"]]

    # Nothing the customer can read holds it.
    for path in (f"/conversations/{conversation_id}", f"/conversations/{conversation_id}/messages"):
        answer = await chat.request("GET", path)
        assert answer.status_code == 200, answer.text
        assert "refund approved" not in answer.text
    assert (await chat.request("GET", "/conversations")).text.count("refund approved") == 0
    # The event is agents-only: an agent's socket admits it, a chat session's never.
    (event,) = [e for e in published if e.type == ev.NOTE_CREATED]
    assert Connection(setup.org.id, None).admits(event)
    assert not Connection(setup.org.id, chat.data["customerId"]).admits(event)
    # The conversation's message count and preview do not move.
    conv = (await admin.get(f"/v1/conversations/{conversation_id}")).json()["data"]
    assert conv["attributes"]["messageCount"] == 1


async def test_a_note_is_refused_clearly(chat: Chat, admin: Rest) -> None:
    conversation_id = await _conversation(chat)
    empty = await admin.post(f"/v1/conversations/{conversation_id}/notes", json={"body": "  "})
    assert empty.status_code == 400
    assert error_codes(empty) == ["invalid_note"]
    missing = await admin.post("/v1/conversations/" + "0" * 24 + "/notes", json={"body": "x"})
    assert missing.status_code == 404
    # The chat client API has no notes at all.
    sdk = await chat.request("POST", f"/conversations/{conversation_id}/notes", json={"body": "x"})
    assert sdk.status_code in (404, 405)


async def test_tags_are_kustomer_shaped_and_tag_conversations(chat: Chat, admin: Rest) -> None:
    conversation_id = await _conversation(chat)
    vip = await admin.post("/v1/tags", json={"name": "VIP", "color": "#1F6FEB"})
    assert vip.status_code == 201, vip.text
    vip_id = vip.json()["data"]["id"]
    assert vip.json()["data"]["attributes"]["color"] == "#1f6feb"
    again = await admin.post("/v1/tags", json={"name": "vip"})
    assert again.status_code == 409
    await admin.post("/v1/tags", json={"name": "refund"})
    # Beyond ASCII too (SQLite's lower() folds ASCII only; the fuzzer found a 500 here):
    # the same name twice, differently cased or composed, is one 409, never a 500.
    first = await admin.post("/v1/tags", json={"name": "Åsa"})
    assert first.status_code == 201, first.text
    for same in ("Åsa", "åsa", "A\u030asa", "ÅSA"):
        taken = await admin.post("/v1/tags", json={"name": same})
        assert taken.status_code == 409, (same, taken.text)
    await admin.delete(f"/v1/tags/{first.json()['data']['id']}")
    tags = await admin.get("/v1/tags", params={"pageSize": 1})
    body = tags.json()
    assert body["data"][0]["attributes"]["name"] == "refund"
    assert body["data"][0]["attributes"]["updatedAt"]
    assert body["links"]["next"] is not None
    last = await admin.get(body["links"]["next"])
    assert last.json()["links"]["next"] is None

    patched = await admin.patch(
        f"/v1/conversations/{conversation_id}", json={"tags": [vip_id, "refund"]}
    )
    assert patched.status_code == 200, patched.text
    attrs = patched.json()["data"]["attributes"]
    assert len(attrs["tags"]) == 2 and attrs["tags"][0] == vip_id
    unknown = await admin.patch(f"/v1/conversations/{conversation_id}", json={"tags": ["nope"]})
    assert unknown.status_code == 400
    assert error_codes(unknown) == ["tag_not_found"]
    assert unknown.json()["errors"][0]["source"]["pointer"] == "/tags/0"

    found = await admin.post(
        "/v1/customers/search",
        json={"queryContext": "conversation", "and": [{"conversation_tags": {"equals": vip_id}}]},
    )
    assert found.status_code == 200, found.text
    assert [c["id"] for c in found.json()["data"]] == [conversation_id]

    removed = await admin.request(
        "DELETE", f"/v1/conversations/{conversation_id}/tags", json={"tags": ["VIP"]}
    )
    assert removed.status_code == 200, removed.text
    assert vip_id not in removed.json()["data"]["attributes"]["tags"]
    gone = await admin.delete(f"/v1/tags/{vip_id}")
    assert gone.status_code == 204
    none_left = await admin.post(
        "/v1/customers/search",
        json={"queryContext": "conversation", "and": [{"conversation_tags": {"equals": vip_id}}]},
    )
    assert none_left.json()["data"] == []


async def test_add_tags_tags_inside_another_write(services: Services, chat: Chat) -> None:
    from klatch.domain.models import Actor, ActorType
    from klatch.services.tags import add_tags

    conversation_id = await _conversation(chat)
    org_id = chat.data.get("orgId") or (await services.orgs.list_orgs())[-1].id
    actor = Actor(ActorType.SYSTEM, None, org_id)
    conv = await services.ctx.uow.write(
        actor, lambda unit: add_tags(unit, conversation_id, ["billing", "Billing", "urgent"])
    )
    names = {t.id: t.name for t in await services.tags.all(org_id)}
    assert [names[t] for t in conv.tags] == ["billing", "urgent"]


async def test_shortcuts_check_their_variables(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    made = await admin.post(
        "/v1/shortcuts",
        json={
            "name": "Order",
            "body": "Hi {{customer.name}}, order {{ conversation.custom.orderNumberStr }}. "
            "-- {{agent.name}}",
        },
    )
    assert made.status_code == 201, made.text
    data: dict[str, Any] = made.json()["data"]
    assert data["attributes"]["name"] == "order"
    assert data["attributes"]["variables"] == [
        "customer.name",
        "conversation.custom.orderNumberStr",
        "agent.name",
    ]
    bad = await admin.post(
        "/v1/shortcuts", json={"name": "x", "body": "{{conversation.custom.nopeStr}}"}
    )
    assert bad.status_code == 400
    assert error_codes(bad) == ["unknown_variable"]
    assert "nopeStr" in bad.json()["errors"][0]["detail"]
    listed = await admin.get("/v1/shortcuts")
    assert listed.json()["links"]["next"] is None
    assert listed.json()["data"][0]["attributes"]["updatedAt"]
    agent_key = await services.orgs.create_key(
        setup.org.id,
        role=__import__("klatch.domain.models", fromlist=["Role"]).Role.USER,
        name="Bot",
    )
    agent = Rest(admin.http, agent_key.secret)
    assert (await agent.get("/v1/shortcuts")).status_code == 200
    assert (await agent.post("/v1/shortcuts", json={"name": "y", "body": "z"})).status_code == 403


def test_a_missing_value_stays_visible_and_values_are_text() -> None:
    filled = fill(
        "Hi {{customer.name}}, re {{conversation.custom.orderNumberStr}}",
        {"conversation.custom.orderNumberStr": "<b>A1</b>"},
    )
    assert filled.text == "Hi {{customer.name}}, re <b>A1</b>"
    assert filled.missing == ("customer.name",)
