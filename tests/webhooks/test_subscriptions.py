"""``/v1/outbound-webhooks`` as an integration calls it: Kustomer's shapes, clear
400s naming the field and rule (nothing stored), the per-org limit, org scoping,
and ``klatch webhooks``. Both backends."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from klatch.domain.webhooks import MAX_EVENTS
from klatch.services import Services
from support import Rest, cli, error_codes, prepare

URL = "http://127.0.0.1:9/hook"  # nothing listens: nothing here is delivered
UPDATE = "kustomer.conversation.update"


def body(**changes: Any) -> dict[str, Any]:
    return {"name": "CRM", "url": URL, "events": [UPDATE], **changes}


async def test_create_read_change_and_delete_a_webhook(admin: Rest) -> None:
    events = await admin.get("/v1/outbound-webhooks/events")
    assert events.json() == {
        "events": [
            "kustomer.conversation.create",
            UPDATE,
            "kustomer.customer.create",
            "kustomer.customer.update",
            "kustomer.message.create",
            "kustomer.message.update",
            "kustomer.note.create",
            "kustomer.team.create",
            "kustomer.team.update",
            "kustomer.tag.create",
            "kustomer.tag.update",
            "kustomer.user.create",
            "kustomer.user.update",
        ]
    }
    created = await admin.post(
        "/v1/outbound-webhooks", json=body(headers=[{"name": "Authorization", "value": "x y"}])
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["type"] == "outboundWebhook" and len(data["id"]) == 24
    attributes = data["attributes"]
    assert len(attributes["token"]) == 64 and attributes["enabled"] is True
    assert attributes["headers"] == [{"name": "Authorization", "value": "x y"}]
    hook_url = f"/v1/outbound-webhooks/{data['id']}"
    assert (await admin.get(hook_url)).json()["data"] == data

    patched = await admin.patch(hook_url, json={"name": "CRM 2", "events": [UPDATE, UPDATE]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["attributes"]["name"] == "CRM 2"
    assert patched.json()["data"]["attributes"]["events"] == [UPDATE]
    assert patched.json()["data"]["attributes"]["token"] == attributes["token"]

    listed = (await admin.get("/v1/outbound-webhooks?pageSize=1")).json()
    assert [h["id"] for h in listed["data"]] == [data["id"]]
    assert listed["meta"]["total"] == 1 and listed["links"]["next"] is None

    assert (await admin.delete(hook_url)).status_code == 204
    gone = await admin.get(hook_url)
    assert gone.status_code == 404 and error_codes(gone) == ["webhook_not_found"]
    assert (await admin.get(f"{hook_url}/transactions")).status_code == 404
    assert (await admin.delete(hook_url)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"name": ""}, "/name"),
        ({"name": "x" * 256}, "/name"),
        ({"events": []}, "/events"),
        ({"events": ["kustomer.conversation.delete"]}, "/events/0"),
        ({"events": [UPDATE] * (MAX_EVENTS + 1)}, "/events"),
        ({"url": "not a url"}, "/url"),
        ({"url": "https://" + "a" * 2050}, "/url"),
        (
            {"headers": [{"name": "X-Kustomer-Webhook-Signature", "value": "forged"}]},
            "/headers/0/name",
        ),
        ({"headers": [{"name": "Content-Type", "value": "text/plain"}]}, "/headers/0/name"),
        ({"headers": [{"name": "Bad Name", "value": "v"}]}, "/headers/0/name"),
        ({"headers": [{"name": "X-A", "value": "one\r\nX-B: two"}]}, "/headers/0/value"),
        ({"headers": [{"name": "X-A"}]}, "/headers/0/value"),
        ({"enabled": "yes"}, "/enabled"),
        ({"token": "mine"}, "/token"),
    ],
)
async def test_a_bad_webhook_is_refused_naming_the_field_and_nothing_is_stored(
    admin: Rest, changes: dict[str, Any], pointer: str
) -> None:
    response = await admin.post("/v1/outbound-webhooks", json=body(**changes))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"]["pointer"] == pointer, response.text
    assert (await admin.get("/v1/outbound-webhooks")).json()["data"] == []


async def test_a_patch_is_checked_like_a_create(admin: Rest) -> None:
    hook = (await admin.post("/v1/outbound-webhooks", json=body())).json()["data"]
    hook_url = f"/v1/outbound-webhooks/{hook['id']}"
    for change, pointer in (
        ({"events": ["nope"]}, "/events/0"),
        ({"enabled": None}, "/enabled"),
        ({"url": "ftp://x"}, "/url"),
    ):
        refused = await admin.patch(hook_url, json=change)
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"][0]["source"]["pointer"] == pointer
    assert (await admin.get(hook_url)).json()["data"] == hook


async def test_an_org_has_at_most_the_limit_and_sees_only_its_own(
    services: Services, http: httpx.AsyncClient, admin: Rest
) -> None:
    for n in range(services.settings.webhook_limit):
        assert (
            await admin.post("/v1/outbound-webhooks", json=body(name=f"h{n}"))
        ).status_code == 201
    over = await admin.post("/v1/outbound-webhooks", json=body(name="one too many"))
    assert over.status_code == 409 and error_codes(over) == ["limit_reached"]

    other = await services.orgs.create_org(f"Another org {uuid.uuid4().hex[:12]}")
    theirs = Rest(http, other.admin_key.secret)
    assert (await theirs.get("/v1/outbound-webhooks")).json()["data"] == []
    mine = (await admin.get("/v1/outbound-webhooks")).json()["data"][0]["id"]
    assert (await theirs.get(f"/v1/outbound-webhooks/{mine}")).status_code == 404
    assert (await theirs.delete(f"/v1/outbound-webhooks/{mine}")).status_code == 404
    assert (await theirs.post(f"/v1/outbound-webhooks/{mine}/test")).status_code == 404


def test_klatch_webhooks_create_list_delete(tmp_path: Path) -> None:
    env, _ = prepare(tmp_path, KLATCH_WEBHOOK_ALLOW_HTTP="1", KLATCH_WEBHOOK_ALLOW_PRIVATE="1")
    made = json.loads(
        cli(
            env,
            tmp_path,
            "webhooks",
            "create",
            "CRM",
            URL,
            "-e",
            UPDATE,
            "-H",
            "X-Shop: n",
            "--json",
        )
    )["data"]
    assert made["attributes"]["events"] == [UPDATE]
    assert made["attributes"]["headers"] == [{"name": "X-Shop", "value": "n"}]
    listed = json.loads(cli(env, tmp_path, "webhooks", "list", "--json"))["data"]
    assert [h["id"] for h in listed] == [made["id"]]
    assert made["id"] in cli(env, tmp_path, "webhooks", "list")
    cli(env, tmp_path, "webhooks", "delete", made["id"])
    assert json.loads(cli(env, tmp_path, "webhooks", "list", "--json"))["data"] == []
