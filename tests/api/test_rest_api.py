"""The REST API (``/v1``) as integrations and agents use it, on SQLite and PostgreSQL.

Expectations come from DESIGN.md (roles, org scoping, error codes) and from
Kustomer's REST API (JSON:API documents, ``PATCH`` merges ``custom``,
``PUT ?replace=true`` replaces it, metadata documents, rate-limit headers).
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from klatch.app import create_app
from klatch.config import Settings
from klatch.domain.models import Role
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Chat, Rest, error_codes, make_settings, start_chat

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
MISSING_ID = "0" * 24


# ---------------------------------------------------------------- helpers


async def user_rest(services: Services, http: httpx.AsyncClient, setup: Setup) -> Rest:
    """The REST API with a fresh agent (org.user) key of the setup's org."""
    created = await services.orgs.create_key(setup.org.id, role=Role.USER, name="agent key")
    return Rest(http, created.secret)


async def new_customer(rest: Rest, **body: Any) -> dict[str, Any]:
    response = await rest.post("/v1/customers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def new_conversation(rest: Rest, customer_id: str, **body: Any) -> dict[str, Any]:
    response = await rest.post(f"/v1/customers/{customer_id}/conversations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def follow_pages(rest: Rest, url: str) -> list[list[str]]:
    """Ids on each page, following ``links.next`` until it is null."""
    pages: list[list[str]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await rest.get(next_url)
        assert response.status_code == 200, response.text
        document = response.json()
        pages.append([item["id"] for item in document["data"]])
        next_url = document["links"]["next"]
        assert len(pages) < 50, "links.next never ends"
    return pages


def attribute_errors(response: httpx.Response) -> dict[str, str]:
    """attribute name -> error code, from an attribute validation error."""
    assert response.status_code == 400, response.text
    return {e["meta"]["attribute"]: e["code"] for e in response.json()["errors"]}


async def define(services: Services, setup: Setup, klass: str, name: str, **kw: Any) -> None:
    await services.attributes.define(setup.org.id, klass, name, **kw)


def rest_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path template) of the REST API, as the OpenAPI document lists them."""
    return [
        (method.upper(), path)
        for path, operations in openapi["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    ]


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), MISSING_ID), path)


# ---------------------------------------------------------------- customers


async def test_customer_create_get_and_patch(services: Services, setup: Setup, admin: Rest) -> None:
    await define(services, setup, "customer", "planStr", enumeration=["free", "pro"])
    await define(services, setup, "customer", "seatsNum")

    created = await new_customer(
        admin,
        name="Ada Lovelace",
        externalId="ext-1",
        emails=[{"email": "ada@example.com"}],
        custom={"planStr": "pro", "seatsNum": 3},
    )
    assert created["type"] == "customer"
    assert OBJECT_ID.match(created["id"])
    attributes = created["attributes"]
    assert attributes["name"] == "Ada Lovelace"
    assert attributes["externalId"] == "ext-1"
    assert attributes["email"] == "ada@example.com"
    assert attributes["custom"] == {"planStr": "pro", "seatsNum": 3}
    assert created["links"]["self"] == f"/v1/customers/{created['id']}"

    fetched = await admin.get(f"/v1/customers/{created['id']}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["attributes"] == attributes

    # PATCH: custom merged per key, null clears one, keys not given stay.
    patched = await admin.patch(
        f"/v1/customers/{created['id']}",
        json={"name": "Ada King", "custom": {"seatsNum": None, "planStr": "free"}},
    )
    assert patched.status_code == 200, patched.text
    after = patched.json()["data"]["attributes"]
    assert after["name"] == "Ada King"
    assert after["custom"] == {"planStr": "free"}
    assert after["externalId"] == "ext-1"
    reread = await admin.get(f"/v1/customers/{created['id']}")
    assert reread.json()["data"]["attributes"]["custom"] == {"planStr": "free"}

    missing = await admin.get(f"/v1/customers/{MISSING_ID}")
    assert missing.status_code == 404
    duplicate = await admin.post("/v1/customers", json={"externalId": "ext-1"})
    assert duplicate.status_code == 409
    assert error_codes(duplicate) == ["already_exists"]


async def test_customer_custom_attributes_are_validated_against_the_customer_klass(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "customer", "planStr", enumeration=["free", "pro"])
    await define(services, setup, "conversation", "orderNumberStr")  # other klass

    response = await admin.post(
        "/v1/customers",
        json={
            "name": "Bad",
            "custom": {"planStr": "gold", "orderNumberStr": "A1", "seatsNum": 2},
        },
    )
    assert attribute_errors(response) == {
        "planStr": "value_not_allowed",
        "orderNumberStr": "unknown_attribute",  # defined on conversations, not customers
        "seatsNum": "unknown_attribute",
    }
    listed = await admin.get("/v1/customers")
    assert listed.json()["meta"]["total"] == 0, "an invalid customer must not be created"

    customer = await new_customer(admin, name="Good", custom={"planStr": "pro"})
    response = await admin.patch(
        f"/v1/customers/{customer['id']}", json={"name": "Changed", "custom": {"planStr": 5}}
    )
    assert attribute_errors(response) == {"planStr": "type_mismatch"}
    reread = await admin.get(f"/v1/customers/{customer['id']}")
    assert reread.json()["data"]["attributes"]["name"] == "Good", "nothing stored on error"
    assert reread.json()["data"]["attributes"]["custom"] == {"planStr": "pro"}


async def test_customer_list_pages_with_meta_and_links(setup: Setup, admin: Rest) -> None:
    ids = {(await new_customer(admin, name=f"Customer {i}"))["id"] for i in range(5)}

    response = await admin.get("/v1/customers", params={"pageSize": 2})
    assert response.status_code == 200, response.text
    document = response.json()
    assert len(document["data"]) == 2
    assert all(item["type"] == "customer" for item in document["data"])
    assert document["meta"]["page"] == 1
    assert document["meta"]["pageSize"] == 2
    assert document["meta"]["total"] == 5
    assert document["meta"]["totalPages"] == 3
    assert document["links"]["prev"] is None
    assert document["links"]["first"] is not None

    pages = await follow_pages(admin, "/v1/customers?pageSize=2")
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [i for page in pages for i in page]
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == ids

    last = await admin.get("/v1/customers", params={"page": 3, "pageSize": 2})
    links = last.json()["links"]
    assert links["next"] is None
    assert parse_qs(urlsplit(links["prev"]).query)["page"] == ["2"]

    too_big = await admin.get("/v1/customers", params={"pageSize": 1000})
    assert too_big.status_code == 400


# ---------------------------------------------------------------- conversations


async def test_create_and_get_conversation_of_a_customer(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "conversation", "orderNumberStr")
    customer = await new_customer(admin, name="Grace")

    conv = await new_conversation(
        admin, customer["id"], name="Order question", custom={"orderNumberStr": "A-17"}
    )
    assert conv["type"] == "conversation"
    assert OBJECT_ID.match(conv["id"])
    assert conv["attributes"]["name"] == "Order question"
    assert conv["attributes"]["status"] == "open"
    assert conv["attributes"]["custom"] == {"orderNumberStr": "A-17"}
    assert conv["relationships"]["customer"]["data"] == {"type": "customer", "id": customer["id"]}
    assert conv["links"]["self"] == f"/v1/conversations/{conv['id']}"

    fetched = await admin.get(f"/v1/conversations/{conv['id']}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["id"] == conv["id"]
    assert fetched.json()["data"]["attributes"]["custom"] == {"orderNumberStr": "A-17"}

    # POST /v1/conversations with a customer id does the same.
    other = await admin.post(
        "/v1/conversations", json={"customer": customer["id"], "name": "Second"}
    )
    assert other.status_code == 201, other.text
    listed = await admin.get(f"/v1/customers/{customer['id']}/conversations")
    assert {c["id"] for c in listed.json()["data"]} == {conv["id"], other.json()["data"]["id"]}

    # Invalid custom attributes: no conversation at all.
    bad = await admin.post(
        f"/v1/customers/{customer['id']}/conversations", json={"custom": {"nopeStr": "x"}}
    )
    assert attribute_errors(bad) == {"nopeStr": "unknown_attribute"}
    listed = await admin.get(f"/v1/customers/{customer['id']}/conversations")
    assert len(listed.json()["data"]) == 2

    unknown_customer = await admin.post(f"/v1/customers/{MISSING_ID}/conversations", json={})
    assert unknown_customer.status_code == 404
    assert (await admin.get(f"/v1/conversations/{MISSING_ID}")).status_code == 404


async def test_a_conversation_created_done_has_ended_as_one_ended_later(
    setup: Setup, admin: Rest
) -> None:
    # An import of a closed case: created with status done, it is ended, by whom
    # and when, as a conversation PATCHed to done afterwards is.
    customer = await new_customer(admin, name="Archive")
    created = await admin.post(
        "/v1/conversations", json={"customer": customer["id"], "status": "done"}
    )
    assert created.status_code == 201, created.text
    born_done = created.json()["data"]["attributes"]
    later = await new_conversation(admin, customer["id"])
    patched = await admin.patch(f"/v1/conversations/{later['id']}", json={"status": "done"})
    ended_later = patched.json()["data"]["attributes"]

    assert born_done["status"] == "done" and born_done["ended"] is True
    assert born_done["endedAt"] == born_done["createdAt"]
    assert born_done["endedByType"] == ended_later["endedByType"] is not None
    found = await admin.post(
        "/v1/customers/search",
        json={"queryContext": "conversation", "and": [{"conversation_ended": {"equals": True}}]},
    )
    assert {c["id"] for c in found.json()["data"]} == {created.json()["data"]["id"], later["id"]}


async def test_patch_merges_custom_and_put_replace_true_replaces(
    services: Services, setup: Setup, admin: Rest
) -> None:
    for name in ("orderNumberStr", "priorityNum", "vipBool"):
        await define(services, setup, "conversation", name)
    customer = await new_customer(admin, name="Linus")
    conv = await new_conversation(admin, customer["id"], custom={"orderNumberStr": "A1"})
    path = f"/v1/conversations/{conv['id']}"

    # PATCH merges: keys not given are untouched.
    response = await admin.patch(path, json={"custom": {"priorityNum": 2}})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["attributes"]["custom"] == {
        "orderNumberStr": "A1",
        "priorityNum": 2,
    }
    # Kustomer declares PATCH bodies as application/json-patch+json (a plain object).
    response = await admin.patch(
        path,
        content=b'{"custom": {"vipBool": true}}',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["attributes"]["custom"] == {
        "orderNumberStr": "A1",
        "priorityNum": 2,
        "vipBool": True,
    }
    # null clears one key.
    response = await admin.patch(path, json={"custom": {"vipBool": None}})
    assert response.json()["data"]["attributes"]["custom"] == {
        "orderNumberStr": "A1",
        "priorityNum": 2,
    }

    # PUT without replace is the same update as PATCH (Kustomer: replace defaults to false).
    response = await admin.put(path, json={"custom": {"orderNumberStr": "A2"}})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["attributes"]["custom"] == {
        "orderNumberStr": "A2",
        "priorityNum": 2,
    }

    # PUT ?replace=true: custom is replaced; keys not given are cleared.
    response = await admin.put(
        path, params={"replace": "true"}, json={"custom": {"vipBool": False}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["attributes"]["custom"] == {"vipBool": False}
    reread = await admin.get(path)
    assert reread.json()["data"]["attributes"]["custom"] == {"vipBool": False}

    # status and name travel with PATCH too.
    response = await admin.patch(path, json={"status": "done", "name": "Closed"})
    attributes = response.json()["data"]["attributes"]
    assert (attributes["status"], attributes["name"], attributes["ended"]) == (
        "done",
        "Closed",
        True,
    )


async def test_agent_and_admin_may_set_an_attribute_the_chat_client_may_not(
    services: Services, setup: Setup, http: httpx.AsyncClient, admin: Rest, chat: Chat
) -> None:
    agent = await user_rest(services, http, setup)
    await define(services, setup, "conversation", "priorityNum", sdk_writable=False)
    await define(services, setup, "customer", "tierStr", sdk_writable=False)
    conv = await chat.create_conversation(message="hello")
    conv_id = conv["conversationId"]

    refused = await chat.describe(conv_id, {"priorityNum": 1})
    assert refused.status_code == 400, refused.text
    assert error_codes(refused) == ["attribute_read_only"]

    by_agent = await agent.patch(
        f"/v1/conversations/{conv_id}", json={"custom": {"priorityNum": 4}}
    )
    assert by_agent.status_code == 200, by_agent.text
    assert by_agent.json()["data"]["attributes"]["custom"] == {"priorityNum": 4}
    by_admin = await admin.patch(
        f"/v1/conversations/{conv_id}", json={"custom": {"priorityNum": 5}}
    )
    assert by_admin.status_code == 200, by_admin.text

    seen_by_chat = await chat.request("GET", f"/conversations/{conv_id}")
    assert seen_by_chat.json()["custom"] == {"priorityNum": 5}

    # The same rule on the customer klass.
    refused = await chat.request("PATCH", "/customers/current", json={"custom": {"tierStr": "a"}})
    assert refused.status_code == 400, refused.text
    assert error_codes(refused) == ["attribute_read_only"]
    customer_id = chat.data["customerId"]
    by_agent = await agent.patch(f"/v1/customers/{customer_id}", json={"custom": {"tierStr": "b"}})
    assert by_agent.status_code == 200, by_agent.text
    current = await chat.request("GET", "/customers/current")
    assert current.json()["custom"] == {"tierStr": "b"}


async def test_rest_and_client_api_report_the_same_validation_errors(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await define(services, setup, "conversation", "orderNumberStr")
    await define(services, setup, "conversation", "priorityNum")
    conv = await chat.create_conversation(message="hi")
    conv_id = conv["conversationId"]
    await chat.describe(conv_id, {"orderNumberStr": "kept"})

    cases: list[dict[str, Any]] = [
        {"undefinedThingStr": "x"},
        {"priorityNum": "high"},
        {"orderNumberStr": 12},
        {"orderNumberStr": "x" * 5000},
        {"orderNumberStr": "fine", "priorityNum": True, "ghostNum": 1},
    ]
    for custom in cases:
        via_rest = await admin.patch(f"/v1/conversations/{conv_id}", json={"custom": custom})
        via_chat = await chat.describe(conv_id, custom)
        assert via_rest.status_code == via_chat.status_code == 400, (custom, via_rest.text)
        assert attribute_errors(via_rest) == attribute_errors(via_chat), custom
        assert error_codes(via_rest) == error_codes(via_chat)

    # An undefined attribute is named in the message, not only in meta.
    response = await admin.patch(
        f"/v1/conversations/{conv_id}", json={"custom": {"undefinedThingStr": "x"}}
    )
    (error,) = response.json()["errors"]
    assert error["code"] == "unknown_attribute"
    assert "undefinedThingStr" in error["detail"]
    assert error["status"] == "400"

    errors = attribute_errors(
        await admin.patch(
            f"/v1/conversations/{conv_id}",
            json={"custom": {"orderNumberStr": "fine", "priorityNum": True, "ghostNum": 1}},
        )
    )
    assert errors == {"priorityNum": "type_mismatch", "ghostNum": "unknown_attribute"}

    # All or nothing: the valid value in the rejected writes was not stored.
    reread = await admin.get(f"/v1/conversations/{conv_id}")
    assert reread.json()["data"]["attributes"]["custom"] == {"orderNumberStr": "kept"}


async def test_conversation_list_filters_by_status_customer_and_custom_values(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "conversation", "orderNumberStr")
    await define(services, setup, "conversation", "priorityNum")
    await define(services, setup, "conversation", "vipBool")
    alice = (await new_customer(admin, name="Alice"))["id"]
    bob = (await new_customer(admin, name="Bob"))["id"]

    specs: dict[str, tuple[str, dict[str, Any]]] = {
        "a1": (alice, {"orderNumberStr": "A1", "priorityNum": 1, "vipBool": True}),
        "a2": (alice, {"orderNumberStr": "A2", "priorityNum": 2}),
        "a3": (alice, {"orderNumberStr": "Ä 1 & co", "priorityNum": 2.5}),
        "b1": (bob, {"orderNumberStr": "A1", "priorityNum": 2, "vipBool": False}),
        "b2": (bob, {"orderNumberStr": "2"}),  # the string "2", not the number
        "b3": (bob, {}),
    }
    ids = {
        label: (await new_conversation(admin, customer, name=label, custom=custom))["id"]
        for label, (customer, custom) in specs.items()
    }
    closed = await admin.patch(f"/v1/conversations/{ids['b1']}", json={"status": "done"})
    assert closed.status_code == 200

    # Another org with a matching value must never show up.
    other = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:8]}")
    await services.attributes.define(other.org.id, "conversation", "orderNumberStr")
    other_rest = Rest(admin.http, other.admin_key.secret)
    other_customer = await new_customer(other_rest, name="Mallory")
    await new_conversation(other_rest, other_customer["id"], custom={"orderNumberStr": "A1"})

    async def found(**params: Any) -> set[str]:
        response = await admin.get("/v1/conversations", params=params)
        assert response.status_code == 200, response.text
        names = {item["attributes"]["name"] for item in response.json()["data"]}
        assert len(names) == len(response.json()["data"])
        return names

    assert await found() == set(ids)
    assert await found(**{"custom.orderNumberStr": "A1"}) == {"a1", "b1"}
    assert await found(**{"custom.orderNumberStr": "Ä 1 & co"}) == {"a3"}
    assert await found(**{"custom.orderNumberStr": "2"}) == {"b2"}
    assert await found(**{"custom.orderNumberStr": "nothing"}) == set()
    assert await found(**{"custom.priorityNum": "2"}) == {"a2", "b1"}
    assert await found(**{"custom.priorityNum": "2.0"}) == {"a2", "b1"}
    assert await found(**{"custom.priorityNum": "2.5"}) == {"a3"}
    assert await found(**{"custom.priorityNum": "1"}) == {"a1"}
    assert await found(**{"custom.vipBool": "true"}) == {"a1"}
    assert await found(**{"custom.vipBool": "false"}) == {"b1"}
    assert await found(status="done") == {"b1"}
    assert await found(status="open") == set(ids) - {"b1"}
    assert await found(customer=bob) == {"b1", "b2", "b3"}
    assert await found(customer=alice, **{"custom.priorityNum": "2"}) == {"a2"}
    assert await found(status="open", **{"custom.orderNumberStr": "A1"}) == {"a1"}
    assert await found(**{"custom.orderNumberStr": "A1", "custom.priorityNum": "2"}) == {"b1"}

    undefined = await admin.get("/v1/conversations", params={"custom.ghostStr": "x"})
    assert undefined.status_code == 400
    assert error_codes(undefined) == ["unknown_attribute"]
    assert "ghostStr" in undefined.json()["errors"][0]["detail"]
    not_a_number = await admin.get("/v1/conversations", params={"custom.priorityNum": "high"})
    assert not_a_number.status_code == 400
    assert error_codes(not_a_number) == ["type_mismatch"]
    bad_status = await admin.get("/v1/conversations", params={"status": "snoozing"})
    assert bad_status.status_code == 400


async def test_conversation_list_pages_keep_the_filter(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "conversation", "teamStr")
    customer = (await new_customer(admin, name="Pager"))["id"]
    wanted = set()
    for i in range(7):
        conv = await new_conversation(
            admin, customer, custom={"teamStr": "red" if i % 3 else "blue"}
        )
        if i % 3:
            wanted.add(conv["id"])
    assert len(wanted) == 4

    first = await admin.get("/v1/conversations", params={"custom.teamStr": "red", "pageSize": 3})
    document = first.json()
    assert document["meta"]["page"] == 1 and document["meta"]["pageSize"] == 3
    next_query = parse_qs(urlsplit(document["links"]["next"]).query)
    assert next_query["custom.teamStr"] == ["red"]
    assert next_query["page"] == ["2"]

    pages = await follow_pages(admin, "/v1/conversations?custom.teamStr=red&pageSize=3")
    assert [len(p) for p in pages] == [3, 1]
    assert {i for page in pages for i in page} == wanted

    # Most recently updated first: touching the oldest one moves it to the top.
    all_pages = await follow_pages(admin, "/v1/conversations?pageSize=100")
    oldest = all_pages[0][-1]
    await admin.patch(f"/v1/conversations/{oldest}", json={"name": "touched"})
    top = await admin.get("/v1/conversations", params={"pageSize": 1})
    assert top.json()["data"][0]["id"] == oldest


async def test_agent_message_reaches_the_chat_session(
    setup: Setup, http: httpx.AsyncClient, services: Services, chat: Chat
) -> None:
    agent = await user_rest(services, http, setup)
    conv = await chat.create_conversation(message="Where is my order?")
    conv_id = conv["conversationId"]

    response = await agent.post(
        f"/v1/conversations/{conv_id}/messages", json={"body": "It ships today."}
    )
    assert response.status_code == 201, response.text
    message = response.json()["data"]
    assert message["type"] == "message"
    assert message["attributes"]["direction"] == "out"
    assert message["attributes"]["body"] == "It ships today."
    assert message["relationships"]["conversation"]["data"]["id"] == conv_id

    seen = await chat.request("GET", f"/conversations/{conv_id}/messages")
    assert seen.status_code == 200, seen.text
    bodies = [(m["direction"], m["body"]) for m in seen.json()["messages"]]
    assert bodies == [("in", "Where is my order?"), ("out", "It ships today.")]

    listed = await agent.get(f"/v1/conversations/{conv_id}/messages")
    assert [m["attributes"]["body"] for m in listed.json()["data"]] == [
        "Where is my order?",
        "It ships today.",
    ]
    empty = await agent.post(f"/v1/conversations/{conv_id}/messages", json={"body": "  "})
    assert empty.status_code == 400
    missing = await agent.post(f"/v1/conversations/{MISSING_ID}/messages", json={"body": "x"})
    assert missing.status_code == 404


async def test_definitions_changed_by_another_process_apply_at_once(
    settings: Settings, services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    """`klatch attributes define` (or another replica) changes definitions in the
    database; what this process cached must neither refuse nor admit stale names."""
    await define(services, setup, "conversation", "orderNumberStr")
    await define(services, setup, "conversation", "secretStr", sdk_writable=False)
    conv = await chat.create_conversation(message="hi")
    conv_id = conv["conversationId"]
    # Both APIs have now validated against (and cached) the current definitions.
    assert (await chat.describe(conv_id, {"orderNumberStr": "A1"})).status_code == 200
    assert error_codes(await chat.describe(conv_id, {"secretStr": "x"})) == ["attribute_read_only"]

    async with running(settings) as elsewhere:
        await elsewhere.attributes.define(setup.org.id, "conversation", "lateNum")
        await elsewhere.attributes.update(
            setup.org.id, "conversation", "secretStr", sdk_writable=True
        )
        await elsewhere.attributes.delete(setup.org.id, "conversation", "orderNumberStr")

    path = f"/v1/conversations/{conv_id}"
    added = await admin.patch(path, json={"custom": {"lateNum": 1}})
    assert added.status_code == 200, added.text
    opened = await chat.describe(conv_id, {"secretStr": "now allowed"})
    assert opened.status_code == 200, opened.text
    removed = await admin.patch(path, json={"custom": {"orderNumberStr": "A2"}})
    assert attribute_errors(removed) == {"orderNumberStr": "unknown_attribute"}
    assert (await admin.get(path)).json()["data"]["attributes"]["custom"] == {
        "orderNumberStr": "A1",
        "lateNum": 1,
        "secretStr": "now allowed",
    }


async def test_filter_by_an_attribute_defined_by_another_process(
    settings: Settings, services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "conversation", "orderNumberStr")
    customer = await new_customer(admin, name="Filter")
    await new_conversation(admin, customer["id"], custom={"orderNumberStr": "A1"})
    listed = await admin.get("/v1/conversations", params={"custom.orderNumberStr": "A1"})
    assert len(listed.json()["data"]) == 1  # definitions now cached

    # Another replica defines an attribute and tags a conversation with it.
    async with running(settings) as elsewhere:
        await elsewhere.attributes.define(setup.org.id, "conversation", "teamStr")
        transport = httpx.ASGITransport(app=create_app(settings, elsewhere))
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as http:
            replica = Rest(http, setup.admin_key.secret)
            tagged = await new_conversation(replica, customer["id"], custom={"teamStr": "red"})

    found = await admin.get("/v1/conversations", params={"custom.teamStr": "red"})
    assert found.status_code == 200, found.text
    assert [c["id"] for c in found.json()["data"]] == [tagged["id"]]


# ---------------------------------------------------------------- metadata


async def test_metadata_put_and_get_in_kustomer_shape(
    setup: Setup, http: httpx.AsyncClient, services: Services, admin: Rest
) -> None:
    response = await admin.put(
        "/v1/metadata/conversation",
        json={
            "properties": {
                "orderNumberStr": {"displayName": "Order number"},
                "totalOrdersNum": {},
                "some_custom_attribute": {"type": "string", "sdkWritable": False},
                "issueTypeStr": {"enumeration": ["shipping", "billing"]},
            }
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["type"] == "metadata"
    assert data["id"] == "conversation"
    properties = data["attributes"]["properties"]
    assert set(properties) == {
        "orderNumberStr",
        "totalOrdersNum",
        "some_custom_attribute",
        "issueTypeStr",
    }
    assert properties["orderNumberStr"]["type"] == "string"
    assert properties["orderNumberStr"]["displayName"] == "Order number"
    # Kustomer: displayName defaults to the title-cased name, type from the suffix.
    assert properties["totalOrdersNum"]["type"] == "number"
    assert properties["totalOrdersNum"]["displayName"] == "Total Orders"
    assert properties["some_custom_attribute"]["type"] == "string"
    assert properties["some_custom_attribute"]["sdkWritable"] is False
    assert properties["issueTypeStr"]["enumeration"] == ["shipping", "billing"]

    # An agent key may read metadata; the document is the same.
    agent = await user_rest(services, http, setup)
    fetched = await agent.get("/v1/metadata/conversation")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["attributes"]["properties"] == properties

    # The customer klass is separate.
    customer_doc = await admin.get("/v1/metadata/customer")
    assert customer_doc.json()["data"]["id"] == "customer"
    assert customer_doc.json()["data"]["attributes"]["properties"] == {}

    # The definitions are what writes are checked against.
    customer = await new_customer(admin, name="Meta")
    conv = await new_conversation(admin, customer["id"])
    ok = await admin.patch(
        f"/v1/conversations/{conv['id']}",
        json={"custom": {"totalOrdersNum": 3, "issueTypeStr": "billing"}},
    )
    assert ok.status_code == 200, ok.text
    refused = await admin.patch(
        f"/v1/conversations/{conv['id']}", json={"custom": {"issueTypeStr": "other"}}
    )
    assert attribute_errors(refused) == {"issueTypeStr": "value_not_allowed"}

    # Updating an existing property keeps its type and changes what may change.
    response = await admin.put(
        "/v1/metadata/conversation",
        json={"properties": {"orderNumberStr": {"displayName": "Order #", "sdkWritable": False}}},
    )
    assert response.status_code == 200, response.text
    changed = response.json()["data"]["attributes"]["properties"]["orderNumberStr"]
    assert changed["displayName"] == "Order #"
    assert changed["sdkWritable"] is False
    assert changed["type"] == "string"

    # Only admins change metadata.
    forbidden = await agent.put("/v1/metadata/conversation", json={"properties": {"fooStr": {}}})
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("properties", "code"),
    [
        ({"some_custom_attribute": {}}, "type_required"),
        ({"priorityNum": {"type": "string"}}, "type_conflict"),
        ({"plain": {"type": "colour"}}, "invalid_type"),
        ({"9startsWithDigitStr": {}}, "invalid_name"),
        ({"has-dashStr": {}}, "invalid_name"),
        ({"countNum": {"enumeration": ["1", "2"]}}, "invalid_metadata"),
        ({"labelStr": {"enumeration": []}}, "invalid_metadata"),
        ({"labelStr": {"displayName": ""}}, "invalid_display_name"),
        ({"labelStr": {"sdkWritable": "no"}}, "invalid_arguments"),
        ({"labelStr": {"colour": "red"}}, "invalid_arguments"),
    ],
)
async def test_invalid_metadata_definitions_are_refused_with_a_specific_error(
    admin: Rest, properties: dict[str, Any], code: str
) -> None:
    # One valid property in the same request: all or nothing.
    body = {"properties": {"fineStr": {}, **properties}}
    response = await admin.put("/v1/metadata/conversation", json=body)
    assert response.status_code == 400, response.text
    assert error_codes(response) == [code]
    fetched = await admin.get("/v1/metadata/conversation")
    assert fetched.json()["data"]["attributes"]["properties"] == {}


async def test_metadata_type_cannot_change_and_unknown_klass_is_refused(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "conversation", "some_custom_attribute", type_="str")
    response = await admin.put(
        "/v1/metadata/conversation",
        json={"properties": {"some_custom_attribute": {"type": "number"}}},
    )
    assert response.status_code == 400, response.text
    assert error_codes(response) == ["type_conflict"]
    fetched = await admin.get("/v1/metadata/conversation")
    assert (
        fetched.json()["data"]["attributes"]["properties"]["some_custom_attribute"]["type"]
        == "string"
    )

    for method in ("GET", "PUT"):
        response = await admin.request(
            method, "/v1/metadata/spaceship", json={"properties": {"fooStr": {}}}
        )
        assert response.status_code in (400, 404), response.text
        assert error_codes(response) == ["unknown_klass"]


async def test_delete_property(services: Services, setup: Setup, admin: Rest) -> None:
    await define(services, setup, "conversation", "orderNumberStr")
    await define(services, setup, "conversation", "priorityNum")
    customer = await new_customer(admin, name="Del")
    conv = await new_conversation(admin, customer["id"], custom={"orderNumberStr": "A1"})

    response = await admin.delete("/v1/metadata/conversation/properties/orderNumberStr")
    assert response.status_code == 204, response.text
    properties = (await admin.get("/v1/metadata/conversation")).json()["data"]["attributes"][
        "properties"
    ]
    assert set(properties) == {"priorityNum"}

    # It can no longer be written ...
    response = await admin.patch(
        f"/v1/conversations/{conv['id']}", json={"custom": {"orderNumberStr": "A2"}}
    )
    assert attribute_errors(response) == {"orderNumberStr": "unknown_attribute"}
    # ... and deleting it again, or an attribute never defined, is a 404.
    again = await admin.delete("/v1/metadata/conversation/properties/orderNumberStr")
    assert again.status_code == 404
    assert error_codes(again) == ["attribute_not_found"]


# ---------------------------------------------------------------- keys and access


async def test_keys_endpoints_are_admin_only(
    setup: Setup, http: httpx.AsyncClient, services: Services, admin: Rest
) -> None:
    created = await admin.post("/v1/keys", json={"name": "Zapier", "roles": ["org.user"]})
    assert created.status_code == 201, created.text
    key = created.json()["data"]
    assert key["type"] == "apiKey"
    assert key["attributes"]["roles"] == ["org.user"]
    token = key["attributes"]["token"]
    assert token.startswith(key["attributes"]["prefix"])

    listed = await admin.get("/v1/keys")
    assert listed.status_code == 200, listed.text
    by_id = {k["id"]: k for k in listed.json()["data"]}
    assert {setup.tracking_key.key.id, setup.admin_key.key.id, key["id"]} <= set(by_id)
    assert all("token" not in k["attributes"] for k in by_id.values()), "secrets shown once"

    agent = Rest(http, token)
    assert (await agent.get("/v1/conversations")).status_code == 200
    for method, path, body in [
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", {"name": "escalate", "roles": ["org.admin"]}),
        ("DELETE", f"/v1/keys/{setup.admin_key.key.id}", None),
        ("GET", "/v1/auth/customer/settings", None),
    ]:
        response = await agent.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    assert (await admin.get("/v1/conversations")).status_code == 200, "admin key still valid"

    revoked = await admin.delete(f"/v1/keys/{key['id']}")
    assert revoked.status_code == 204, revoked.text
    refused = await agent.get("/v1/conversations")
    assert refused.status_code == 401
    keys = {k["id"]: k for k in (await admin.get("/v1/keys")).json()["data"]}
    assert keys[key["id"]]["attributes"]["revokedAt"] is not None
    assert (await admin.delete(f"/v1/keys/{key['id']}")).status_code == 404

    # A tracking key created here works on the chat API.
    tracking = await admin.post("/v1/keys", json={"name": "site 2", "roles": ["org.tracking"]})
    assert tracking.status_code == 201, tracking.text
    session = await start_chat(http, tracking.json()["data"]["attributes"]["token"])
    assert session.data["orgId"] == setup.org.id

    bad_role = await admin.post("/v1/keys", json={"name": "x", "roles": ["org.superuser"]})
    assert bad_role.status_code == 400


async def test_tracking_key_is_refused_on_every_rest_route(
    setup: Setup, http: httpx.AsyncClient, admin: Rest, chat: Chat
) -> None:
    conv = await chat.create_conversation(message="hi")
    values = {
        "conversation_id": conv["conversationId"],
        "customer_id": chat.data["customerId"],
        "klass": "conversation",
        "key_id": setup.tracking_key.key.id,
        "name": "anyStr",
    }
    operations = rest_operations((await http.get("/openapi.json")).json())
    assert len(operations) >= 15
    tracking = Rest(http, setup.tracking_key.secret)
    for method, path in operations:
        body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
        response = await tracking.request(method, fill(path, values), json=body)
        assert response.status_code in (401, 403), (method, path, response.text)
        assert response.json()["errors"][0]["code"], (method, path)
    # Nothing was changed by those attempts.
    assert (await admin.get("/v1/keys")).status_code == 200
    listed = {k["id"]: k for k in (await admin.get("/v1/keys")).json()["data"]}
    assert listed[setup.tracking_key.key.id]["attributes"]["revokedAt"] is None


async def test_missing_or_wrong_key_is_401_on_every_rest_route(http: httpx.AsyncClient) -> None:
    operations = rest_operations((await http.get("/openapi.json")).json())
    headers_cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer ka_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ]
    for method, path in operations:
        for headers in headers_cases:
            body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
            response = await http.request(
                method, fill(path, {"klass": "conversation"}), headers=headers, json=body
            )
            assert response.status_code == 401, (method, path, headers, response.text)
            error = response.json()["errors"][0]
            assert error["status"] == "401"
            assert error["code"]


async def test_another_orgs_admin_key_cannot_reach_this_orgs_data(
    services: Services, setup: Setup, http: httpx.AsyncClient, admin: Rest, chat: Chat
) -> None:
    await define(services, setup, "conversation", "orderNumberStr")
    conv = await chat.create_conversation(message="private")
    conv_id = conv["conversationId"]
    await chat.describe(conv_id, {"orderNumberStr": "A1"})
    customer_id = chat.data["customerId"]

    other = await services.orgs.create_org(f"Intruder {uuid.uuid4().hex[:8]}")
    await services.attributes.define(other.org.id, "conversation", "orderNumberStr")
    intruder = Rest(http, other.admin_key.secret)

    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/conversations/{conv_id}", None),
        ("PATCH", f"/v1/conversations/{conv_id}", {"custom": {"orderNumberStr": "X"}}),
        ("PUT", f"/v1/conversations/{conv_id}?replace=true", {"custom": {}}),
        ("GET", f"/v1/conversations/{conv_id}/messages", None),
        ("POST", f"/v1/conversations/{conv_id}/messages", {"body": "hijack"}),
        ("GET", f"/v1/conversations/{conv_id}/events", None),
        ("GET", f"/v1/customers/{customer_id}", None),
        ("PATCH", f"/v1/customers/{customer_id}", {"name": "owned"}),
        ("GET", f"/v1/customers/{customer_id}/conversations", None),
        ("POST", f"/v1/customers/{customer_id}/conversations", {}),
        ("DELETE", f"/v1/keys/{setup.admin_key.key.id}", None),
    ]
    for method, path, body in attempts:
        response = await intruder.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)

    listed = await intruder.get("/v1/conversations")
    assert listed.json()["data"] == []
    assert (await intruder.get("/v1/customers")).json()["meta"]["total"] == 0

    # Nothing changed, and the admin key the intruder tried to revoke still works.
    mine = await admin.get(f"/v1/conversations/{conv_id}")
    assert mine.status_code == 200
    assert mine.json()["data"]["attributes"]["custom"] == {"orderNumberStr": "A1"}
    assert mine.json()["data"]["attributes"]["messageCount"] == 1
    assert (await admin.get(f"/v1/customers/{customer_id}")).json()["data"]["attributes"][
        "name"
    ] is None


# ---------------------------------------------------------------- history


async def test_history_lists_updates_with_old_and_new_values(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await define(services, setup, "conversation", "orderNumberStr")
    await define(services, setup, "conversation", "priorityNum", sdk_writable=False)
    conv = await chat.create_conversation(message="hi")
    conv_id = conv["conversationId"]
    path = f"/v1/conversations/{conv_id}"

    assert (await chat.describe(conv_id, {"orderNumberStr": "A1"})).status_code == 200
    assert (await admin.patch(path, json={"custom": {"orderNumberStr": "A2"}})).status_code == 200
    assert (await admin.patch(path, json={"custom": {"priorityNum": 3}})).status_code == 200
    assert (await admin.patch(path, json={"custom": {"orderNumberStr": None}})).status_code == 200
    assert (await admin.patch(path, json={"status": "done"})).status_code == 200
    # A rejected write and a write that changes nothing leave no trace.
    assert (await admin.patch(path, json={"custom": {"priorityNum": "x"}})).status_code == 400
    assert (await admin.patch(path, json={"custom": {"priorityNum": 3}})).status_code == 200

    response = await admin.get(f"{path}/events")
    assert response.status_code == 200, response.text
    events = response.json()["data"]
    names = [e["attributes"]["name"] for e in events]
    assert names[0] == "conversation.created"
    updates = [e["attributes"] for e in events if e["attributes"]["name"] == "conversation.updated"]
    assert [u["payload"]["changes"] for u in updates] == [
        {"custom": {"orderNumberStr": {"before": None, "after": "A1"}}},
        {"custom": {"orderNumberStr": {"before": "A1", "after": "A2"}}},
        {"custom": {"priorityNum": {"before": None, "after": 3}}},
        {"custom": {"orderNumberStr": {"before": "A2", "after": None}}},
        {"status": {"before": "open", "after": "done"}},
    ]
    assert [u["actor"]["type"] for u in updates] == [
        "customer",
        "api_key",
        "api_key",
        "api_key",
        "api_key",
    ]
    assert updates[1]["actor"]["id"] == setup.admin_key.key.id
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids), "oldest first"


# ---------------------------------------------------------------- rate limits


async def test_rest_rate_limit_headers_count_down_then_429(
    tmp_path: Path, database_url: str | None
) -> None:
    limit = 3
    settings = make_settings(tmp_path, database_url, rate_limit_rest=limit)
    async with running(settings) as services:
        setup = await services.orgs.create_org(f"Limited {uuid.uuid4().hex[:12]}")
        app = create_app(settings, services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://klatch.test") as http:
            for _attempt in range(3):  # a window may roll over mid-run; then try once more
                key = await services.orgs.create_key(setup.org.id, role=Role.USER, name="k")
                rest = Rest(http, key.secret)
                started = time.time()
                responses = [await rest.get("/v1/conversations") for _ in range(limit + 1)]
                resets = {int(r.headers["x-ratelimit-reset"]) for r in responses}
                if len(resets) == 1:
                    break
            else:
                pytest.fail("rate-limit window never stayed put for 4 requests")

            *allowed, refused = responses
            assert [r.status_code for r in allowed] == [200] * limit
            assert [int(r.headers["x-ratelimit-limit"]) for r in allowed] == [limit] * limit
            assert [int(r.headers["x-ratelimit-remaining"]) for r in allowed] == [2, 1, 0]
            (reset,) = resets
            assert started - 1 <= reset <= started + 61, "reset is a UTC epoch second"

            assert refused.status_code == 429
            assert error_codes(refused) == ["rate_limited"]
            retry_after = int(refused.headers["Retry-After"])
            assert 1 <= retry_after <= 60
            assert int(refused.headers["x-ratelimit-remaining"]) == 0

            # Limits are per key: another key is unaffected.
            other = Rest(http, setup.admin_key.secret)
            fresh = await other.get("/v1/conversations")
            assert fresh.status_code == 200
            assert int(fresh.headers["x-ratelimit-remaining"]) == limit - 1


# ---------------------------------------------------------------- documents and ops


async def test_openapi_lists_rest_and_client_paths_and_docs_page(http: httpx.AsyncClient) -> None:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/v1/customers": {"get", "post"},
        "/v1/customers/{customer_id}": {"get", "patch"},
        "/v1/customers/{customer_id}/conversations": {"get", "post"},
        "/v1/conversations": {"get", "post"},
        "/v1/conversations/{conversation_id}": {"get", "patch", "put"},
        "/v1/conversations/{conversation_id}/messages": {"get", "post"},
        "/v1/conversations/{conversation_id}/events": {"get"},
        "/v1/metadata/{klass}": {"get", "put"},
        "/v1/metadata/{klass}/properties/{name}": {"delete"},
        "/v1/keys": {"get", "post"},
        "/v1/keys/{key_id}": {"delete"},
        "/c/v1/sessions": {"post"},
        "/c/v1/conversations": {"get", "post"},
        "/c/v1/conversations/{conversation_id}": {"get", "patch"},
        "/c/v1/conversations/{conversation_id}/messages": {"get", "post"},
        "/c/v1/customers/current": {"get", "patch"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))

    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "/openapi.json" in docs.text


async def test_healthz_and_readyz(http: httpx.AsyncClient, database_url: str | None) -> None:
    health = await http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["database"] == ("sqlite" if database_url is None else "postgresql")
