"""``/v1/metadata/{klass}`` in Kustomer's shape as integration scripts use it: tree
attributes nested with ``displayName`` and ``lastNodeRequired`` (stored, enforced,
answered as they were put), the message klass, the klasses Klatch holds no records
of, and docs/api.md's example being exactly what the server answers. Real SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest, error_codes

API_MD = Path(__file__).parents[2] / "docs" / "api.md"
TREE = {
    "children": [
        {
            "id": "shipping",
            "displayName": "Shipping",
            "children": [
                {"id": "delayed", "displayName": "Delayed"},
                {"id": "lost", "displayName": "Lost"},
            ],
        },
        {"id": "billing", "displayName": "Billing"},
    ]
}


async def put(rest: Rest, klass: str, properties: dict[str, Any]) -> Any:
    return await rest.put(f"/v1/metadata/{klass}", json={"properties": properties})


async def properties(rest: Rest, klass: str) -> dict[str, Any]:
    response = await rest.get(f"/v1/metadata/{klass}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["data"]["attributes"]["properties"]
    return found


async def write(rest: Rest, conversation_id: str, value: Any) -> Any:
    return await rest.patch(
        f"/v1/conversations/{conversation_id}", json={"custom": {"contactReasonTree": value}}
    )


async def a_conversation(rest: Rest) -> str:
    customer = await rest.post("/v1/customers", json={"name": "Tree"})
    conv = await rest.post(f"/v1/customers/{customer.json()['data']['id']}/conversations", json={})
    assert conv.status_code == 201, conv.text
    return str(conv.json()["data"]["id"])


async def test_a_tree_put_in_kustomers_nested_shape_is_answered_in_it_and_enforced(
    admin: Rest,
) -> None:
    response = await put(
        admin, "conversation", {"contactReasonTree": {"tree": TREE, "lastNodeRequired": True}}
    )
    assert response.status_code == 200, response.text
    answered = response.json()["data"]["attributes"]["properties"]["contactReasonTree"]
    assert answered["type"] == "tree"
    assert answered["tree"] == TREE
    assert answered["lastNodeRequired"] is True
    assert (await properties(admin, "conversation"))["contactReasonTree"] == answered

    conv = await a_conversation(admin)
    inner = await write(admin, conv, "shipping")  # a node with children
    assert inner.status_code == 400, inner.text
    assert error_codes(inner) == ["value_not_allowed"]
    assert "last node" in inner.json()["errors"][0]["detail"]
    assert error_codes(await write(admin, conv, "shipping.stolen")) == ["value_not_allowed"]
    leaf = await write(admin, conv, "shipping.delayed")
    assert leaf.status_code == 200, leaf.text
    assert leaf.json()["data"]["attributes"]["custom"]["contactReasonTree"] == "shipping.delayed"
    assert (await write(admin, conv, "billing")).status_code == 200


async def test_lifting_last_node_required_keeps_the_tree_and_its_display_names(
    admin: Rest,
) -> None:
    assert (
        await put(
            admin, "conversation", {"contactReasonTree": {"tree": TREE, "lastNodeRequired": True}}
        )
    ).status_code == 200
    changed = await put(admin, "conversation", {"contactReasonTree": {"lastNodeRequired": False}})
    assert changed.status_code == 200, changed.text
    now = changed.json()["data"]["attributes"]["properties"]["contactReasonTree"]
    assert now["tree"] == TREE and now["lastNodeRequired"] is False
    conv = await a_conversation(admin)
    assert (await write(admin, conv, "shipping")).status_code == 200


async def test_a_tree_given_as_paths_is_answered_nested_with_default_display_names(
    admin: Rest,
) -> None:
    response = await put(admin, "conversation", {"reasonTree": {"tree": ["a.b", "c"]}})
    assert response.status_code == 200, response.text
    reason = (await properties(admin, "conversation"))["reasonTree"]
    assert reason["tree"] == {
        "children": [
            {"id": "a", "displayName": "a", "children": [{"id": "b", "displayName": "b"}]},
            {"id": "c", "displayName": "c"},
        ]
    }
    assert reason["lastNodeRequired"] is False


async def test_bad_tree_metadata_is_refused_and_stores_nothing(admin: Rest) -> None:
    bad: list[dict[str, Any]] = [
        {"tree": TREE, "lastNodeRequired": "yes"},
        {"lastNodeRequired": True},  # without a tree
        {"tree": {"children": [{"id": "a.b"}]}},  # an id is one segment
        {"tree": {"children": [{"id": "a", "displayName": ""}]}},
        {"tree": {"children": [7]}},
    ]
    for spec in bad:
        response = await put(admin, "conversation", {"fineStr": {}, "contactReasonTree": spec})
        assert response.status_code == 400, (spec, response.text)
        assert error_codes(response) == ["invalid_metadata"], spec
    assert await properties(admin, "conversation") == {}


async def test_the_api_md_metadata_example_is_what_the_server_answers(admin: Rest) -> None:
    text = API_MD.read_text()
    after = text.index("Metadata follows Kustomer's shape")
    block = re.search(r"```json\n(.*?)```", text[after:], re.S)
    assert block is not None
    documented = json.loads(block.group(1))
    props = documented["data"]["attributes"]["properties"]
    stamps = ("createdAt", "updatedAt", "type")
    body = {name: {k: v for k, v in p.items() if k not in stamps} for name, p in props.items()}
    assert (await put(admin, "conversation", body)).status_code == 200

    answered = (await admin.get("/v1/metadata/conversation")).json()
    for p in answered["data"]["attributes"]["properties"].values():
        assert p.pop("createdAt").endswith("Z") and p.pop("updatedAt").endswith("Z")
    for p in props.values():
        del p["createdAt"], p["updatedAt"]
    assert answered == documented


async def test_the_message_klass_holds_definitions_and_company_and_user_answer_none(
    services: Services, setup: Setup, admin: Rest
) -> None:
    assert await properties(admin, "message") == {}
    response = await put(admin, "message", {"sentimentScoreNum": {"displayName": "Sentiment"}})
    assert response.status_code == 200, response.text
    assert (await properties(admin, "message"))["sentimentScoreNum"]["type"] == "number"
    assert await properties(admin, "conversation") == {}  # klasses are separate

    for klass in ("company", "user"):
        document = (await admin.get(f"/v1/metadata/{klass}")).json()
        assert document["data"]["id"] == klass
        assert document["data"]["attributes"]["properties"] == {}
        refused = await put(admin, klass, {"fooStr": {}})
        assert refused.status_code == 400, refused.text
        assert error_codes(refused) == ["unknown_klass"]
    assert error_codes(await admin.get("/v1/metadata/spaceship")) == ["unknown_klass"]
