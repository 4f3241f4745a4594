"""The REST endpoints Kustomer integrations call besides search, on both backends:
users (and the key's own machine user), lookups by email and externalId, the
conversation's externalId, deleting a conversation, and the one shape of every
``/v1`` list (``meta`` and ``links`` with every key, ``pageSize=0`` the default)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from klatch.domain.models import Role, UserRole
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage import events as event_store
from support import Chat, Rest

LINK_KEYS = {"self", "first", "prev", "next", "last"}
SECRETS = ("token", "password", "passwordHash", "keyHash", "prefix", "secret")


async def other_org(services: Services, http: httpx.AsyncClient) -> Rest:
    setup = await services.orgs.create_org(f"Other org {uuid.uuid4().hex[:12]}")
    return Rest(http, setup.admin_key.secret)


async def customer(admin: Rest, **body: Any) -> dict[str, Any]:
    response = await admin.post("/v1/customers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def conversation(admin: Rest, customer_id: str, **body: Any) -> dict[str, Any]:
    response = await admin.post("/v1/conversations", json={"customer": customer_id, **body})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def assert_list_shape(document: dict[str, Any], *, counted: bool = True) -> None:
    assert isinstance(document["data"], list)
    assert isinstance(document["meta"], dict) and isinstance(document["links"], dict)
    assert set(document["links"]) == LINK_KEYS, document["links"]
    expected = {"page", "pageSize"} | ({"total", "totalPages"} if counted else set())
    assert set(document["meta"]) == expected, document["meta"]


# ---------------------------------------------------------------- users


async def test_users_lists_console_users_and_machine_users_without_secrets(
    services: Services, setup: Setup, admin: Rest
) -> None:
    agent = await services.orgs.create_user(
        setup.org.id,
        f"agent-{uuid.uuid4().hex[:8]}@example.com",
        "password123",
        role=UserRole.AGENT,
        display_name="Agent Ann",
    )
    integration = await services.orgs.create_key(setup.org.id, role=Role.USER, name="sync")
    response = await admin.get("/v1/users")
    assert response.status_code == 200, response.text
    document = response.json()
    assert_list_shape(document)
    users = {u["id"]: u for u in document["data"]}
    # The tracking key is no REST caller: not a user. The admin key and sync key are.
    assert set(users) == {agent.id, setup.admin_key.key.id, integration.key.id}
    ann = users[agent.id]["attributes"]
    assert ann["name"] == "Agent Ann" and ann["email"] == agent.email
    assert ann["roles"] == ["org.user"] and ann["userType"] == "user"
    assert ann["createdAt"].endswith("Z") and ann["updatedAt"] == ann["createdAt"]
    machine = users[integration.key.id]["attributes"]
    assert machine["userType"] == "machine" and machine["roles"] == ["org.user"]
    assert machine["name"] == "sync" and machine["email"] is None
    assert users[setup.admin_key.key.id]["attributes"]["roles"] == ["org.admin"]
    text = response.text
    for secret in (setup.admin_key.secret, integration.secret, setup.tracking_key.secret):
        assert secret not in text and secret[:10] not in text
    for user in document["data"]:
        assert not set(user["attributes"]) & set(SECRETS)
    assert document["meta"]["total"] == 3


async def test_users_page_by_page_and_a_disabled_user_is_marked_deleted(
    services: Services, setup: Setup, admin: Rest
) -> None:
    for n in range(3):
        user = await services.orgs.create_user(
            setup.org.id,
            f"u{n}-{uuid.uuid4().hex[:8]}@example.com",
            "password123",
            role=UserRole.ADMIN,
        )
    await services.orgs.disable_user(setup.org.id, user.id)
    seen: list[str] = []
    url: str | None = "/v1/users?pageSize=2"
    while url is not None:
        document = (await admin.get(url)).json()
        assert_list_shape(document)
        assert document["meta"]["totalPages"] == 2 and document["meta"]["total"] == 4
        assert document["links"]["last"] == "/v1/users?page=2&pageSize=2"
        seen.extend(u["id"] for u in document["data"])
        url = document["links"]["next"]
    assert len(seen) == len(set(seen)) == 4
    disabled = (await admin.get(f"/v1/users/{user.id}")).json()["data"]["attributes"]
    assert disabled["deleted"] is True and disabled["roles"] == ["org.admin"]
    assert disabled["updatedAt"] == disabled["deletedAt"] >= disabled["createdAt"]


async def test_current_user_is_the_keys_machine_user_with_or_without_the_slash(
    services: Services, setup: Setup, http: httpx.AsyncClient
) -> None:
    integration = await services.orgs.create_key(setup.org.id, role=Role.USER, name="bot")
    for key, role in ((integration, "org.user"), (setup.admin_key, "org.admin")):
        rest = Rest(http, key.secret)
        for path in ("/v1/users/current", "/v1/users/current/"):
            response = await rest.get(path)
            assert response.status_code == 200, (path, response.text)  # no redirect
            data = response.json()["data"]
            assert data["type"] == "user" and data["id"] == key.key.id
            assert data["attributes"]["roles"] == [role]
            assert data["attributes"]["userType"] == "machine"
        by_id = (await rest.get(f"/v1/users/{key.key.id}")).json()["data"]
        assert by_id == data
    tracking = Rest(http, setup.tracking_key.secret)
    assert (await tracking.get("/v1/users/current/")).status_code == 403
    assert (await Rest(http, "ka_nope").get("/v1/users/current")).status_code == 401


async def test_a_user_of_another_org_or_no_user_is_404(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    theirs = await other_org(services, http)
    their_id = (await theirs.get("/v1/users/current")).json()["data"]["id"]
    for user_id in (their_id, setup.tracking_key.key.id, "0" * 24, "current2"):
        response = await admin.get(f"/v1/users/{user_id}")
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["code"] == "user_not_found"
    assert their_id not in (await admin.get("/v1/users")).text


# ---------------------------------------------------------------- lookups


async def test_customers_are_found_by_email_and_by_external_id(
    services: Services, admin: Rest, http: httpx.AsyncClient
) -> None:
    ada = await customer(admin, name="Ada", email="Ada@Example.com", externalId="crm-1")
    plain = await customer(admin, name="Bob")
    for path in (
        "/v1/customers/email=ada@example.com",
        "/v1/customers/email=ADA@EXAMPLE.COM",
        "/v1/customers/email=ada%40example.com",
        "/v1/customers/externalId=crm-1",
    ):
        response = await admin.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["data"] == ada
    assert (await admin.get(f"/v1/customers/{plain['id']}")).json()["data"] == plain
    for path in ("/v1/customers/email=nobody@example.com", "/v1/customers/externalId=crm-2"):
        response = await admin.get(path)
        assert response.status_code == 404, response.text
        error = response.json()["errors"][0]
        assert error["code"] == "customer_not_found" and "this" in error["detail"]
    theirs = await other_org(services, http)
    assert (await theirs.get("/v1/customers/externalId=crm-1")).status_code == 404
    assert (await theirs.get("/v1/customers/email=ada@example.com")).status_code == 404


async def test_a_conversations_external_id_is_set_looked_up_changed_and_cleared(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    owner = await customer(admin, name="Ada")
    conv = await conversation(admin, owner["id"], externalId="ticket-7")
    assert conv["attributes"]["externalId"] == "ticket-7"
    found = await admin.get("/v1/conversations/externalId=ticket-7")
    assert found.status_code == 200, found.text
    assert found.json()["data"]["id"] == conv["id"]
    # Unique per org: a second conversation may not take it, at creation or by PATCH.
    taken = await admin.post(
        f"/v1/customers/{owner['id']}/conversations", json={"externalId": "ticket-7"}
    )
    assert taken.status_code == 409, taken.text
    assert taken.json()["errors"][0]["source"]["pointer"] == "/externalId"
    second = await conversation(admin, owner["id"])
    clash = await admin.patch(
        f"/v1/conversations/{second['id']}", json={"externalId": "ticket-7", "name": "x"}
    )
    assert clash.status_code == 409, clash.text
    unchanged = (await admin.get(f"/v1/conversations/{second['id']}")).json()["data"]
    assert unchanged["attributes"]["name"] is None  # nothing of the PATCH stored
    # Another org may use the same external id.
    theirs = await other_org(services, http)
    their_customer = (await theirs.post("/v1/customers", json={})).json()["data"]["id"]
    mine_too = await theirs.post(
        "/v1/conversations", json={"customer": their_customer, "externalId": "ticket-7"}
    )
    assert mine_too.status_code == 201, mine_too.text
    assert (await admin.get("/v1/conversations/externalId=ticket-7")).json()["data"]["id"] == (
        conv["id"]
    )
    # Changed, then cleared; each change is an event with its before and after.
    moved = await admin.patch(f"/v1/conversations/{conv['id']}", json={"externalId": "t-8"})
    assert moved.status_code == 200 and moved.json()["data"]["attributes"]["externalId"] == "t-8"
    assert (await admin.get("/v1/conversations/externalId=ticket-7")).status_code == 404
    cleared = await admin.put(f"/v1/conversations/{conv['id']}", json={"externalId": None})
    assert cleared.json()["data"]["attributes"]["externalId"] is None
    assert (await admin.get("/v1/conversations/externalId=t-8")).status_code == 404
    log = await services.db.read(lambda tx: event_store.events_after(tx, setup.org.id, 0))
    changes = [
        e.payload["changes"].get("externalId")
        for e in log
        if e.conversation_id == conv["id"] and e.type == "conversation.updated"
    ]
    assert changes == [
        {"before": "ticket-7", "after": "t-8"},
        {"before": "t-8", "after": None},
    ]


async def test_a_bad_external_id_is_a_400_naming_it(admin: Rest) -> None:
    owner = await customer(admin)
    for bad in ("", "x" * 257, 42):
        response = await admin.post(
            "/v1/conversations", json={"customer": owner["id"], "externalId": bad}
        )
        assert response.status_code == 400, response.text
        assert "externalId" in response.text
    listed = (await admin.get(f"/v1/customers/{owner['id']}/conversations")).json()
    assert listed["data"] == []


# ---------------------------------------------------------------- deleting a conversation


async def test_deleting_a_conversation_deletes_it_and_its_messages_and_scrubs_its_events(
    services: Services, setup: Setup, admin: Rest, chat: Chat, http: httpx.AsyncClient
) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    created = await chat.create_conversation(message="my card is 4111 1111")
    conv_id = created["conversationId"]
    assert (await chat.describe(conv_id, {"orderNumberStr": "SECRET-42"})).status_code == 200
    kept = await chat.create_conversation(message="keep me")
    theirs = await other_org(services, http)
    assert (await theirs.request("DELETE", f"/v1/conversations/{conv_id}")).status_code == 404

    response = await admin.request("DELETE", f"/v1/conversations/{conv_id}")
    assert response.status_code == 204, response.text
    assert (await admin.get(f"/v1/conversations/{conv_id}")).status_code == 404
    assert (await admin.get(f"/v1/conversations/{conv_id}/messages")).status_code == 404
    assert (await chat.request("GET", f"/conversations/{conv_id}")).status_code == 404
    again = await admin.request("DELETE", f"/v1/conversations/{conv_id}")
    assert again.status_code == 404
    still = await admin.get(f"/v1/conversations/{kept['conversationId']}/messages")
    assert [m["attributes"]["body"] for m in still.json()["data"]] == ["keep me"]

    log = await services.db.read(lambda tx: event_store.events_after(tx, setup.org.id, 0))
    about = [e for e in log if e.conversation_id == conv_id]
    assert [e.type for e in about][-1] == "conversation.deleted"
    assert about[-1].payload == {"conversationId": conv_id, "customerId": chat.data["customerId"]}
    text = str([e.payload for e in about])
    assert "4111" not in text and "SECRET-42" not in text
    described = next(e for e in about if e.type == "conversation.updated")
    assert described.payload["changes"] == {
        "custom": {"orderNumberStr": {"before": None, "after": None}}
    }
    assert "keep me" in str([e.payload for e in log])  # the other conversation's events stay


async def test_a_tracking_key_may_not_delete(
    setup: Setup, http: httpx.AsyncClient, chat: Chat
) -> None:
    conv = await chat.create_conversation()
    tracking = Rest(http, setup.tracking_key.secret)
    for path in (
        f"/v1/conversations/{conv['conversationId']}",
        f"/v1/customers/{chat.data['customerId']}",
    ):
        assert (await tracking.request("DELETE", path)).status_code == 403


# ---------------------------------------------------------------- the shape of every list


async def test_every_list_has_meta_and_links_with_every_key_and_page_size_0_is_the_default(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    created = await chat.create_conversation(message="hello")
    conv_id = created["conversationId"]
    customer_id = chat.data["customerId"]
    paged = (
        "/v1/customers",
        "/v1/conversations",
        f"/v1/customers/{customer_id}/conversations",
        f"/v1/conversations/{conv_id}/messages",
        "/v1/users",
    )
    for path in paged:
        document = (await admin.get(path, params={"pageSize": 0})).json()
        assert_list_shape(document)
        assert document["meta"]["pageSize"] == 100 and document["meta"]["page"] == 1
        assert document["links"]["first"] == f"{path}?page=1&pageSize=100"
        assert document["links"]["self"] == document["links"]["first"]
        assert document["links"]["last"] == document["links"]["first"]
        assert document["links"]["prev"] is None and document["links"]["next"] is None
        beyond = (await admin.get(path, params={"page": 5, "pageSize": 1})).json()
        assert_list_shape(beyond)
        assert beyond["data"] == [] and beyond["links"]["next"] is None
        assert beyond["links"]["prev"] == f"{path}?page=4&pageSize=1"
    for path in ("/v1/keys", "/v1/brands", f"/v1/conversations/{conv_id}/events"):
        document = (await admin.get(path)).json()
        assert_list_shape(document)
        assert document["meta"]["total"] == len(document["data"])
        assert document["links"]["next"] is None and document["links"]["last"] is not None
    messages = (await admin.get(f"/v1/conversations/{conv_id}/messages")).json()
    assert messages["meta"]["total"] == 1
    negative = await admin.get("/v1/customers", params={"pageSize": -1})
    assert negative.status_code == 400
    assert (await admin.get("/v1/customers", params={"pageSize": 101})).status_code == 400


async def test_lookup_paths_are_not_taken_for_ids(admin: Rest) -> None:
    """``/v1/customers/{id}`` would read "email=…" as an id: the lookups come first, and
    an id that merely starts like one is still an id."""
    response = await admin.get("/v1/customers/email=x@example.com")
    assert response.json()["errors"][0]["detail"] == "No customer has this email"
    response = await admin.get("/v1/customers/emailx")
    assert response.json()["errors"][0]["detail"] == "No customer with id 'emailx'"
    response = await admin.get("/v1/conversations/externalId=x")
    assert response.json()["errors"][0]["detail"] == "No conversation has this externalId"
