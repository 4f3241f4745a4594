"""Concurrent read-merge-writes of one record keep every change, on both backends.

The requests run concurrently through the real app; on PostgreSQL each takes its
own pooled connection, so the transactions really interleave.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from klatch.domain.models import UserRole
from klatch.errors import LoginLocked, Unauthorized
from klatch.services import Services
from klatch.services.orgs import Setup


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _define(http: httpx.AsyncClient, setup: Setup, klass: str, names: list[str]) -> None:
    response = await http.put(
        f"/v1/metadata/{klass}",
        headers=_auth(setup.admin_key.secret),
        json={"properties": {name: {} for name in names}},
    )
    assert response.status_code == 200, response.text


async def _all_ok(requests: list[Any]) -> None:
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * len(responses), [
        r.text for r in responses if r.status_code != 200
    ]


async def test_concurrent_patches_of_one_customer_keep_every_key(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    names = [f"key{i}Str" for i in range(20)]
    await _define(http, setup, "customer", names)
    admin = _auth(setup.admin_key.secret)
    created = await http.post("/v1/customers", headers=admin, json={"name": "Ada"})
    customer_id = created.json()["data"]["id"]

    await _all_ok(
        [
            http.patch(f"/v1/customers/{customer_id}", headers=admin, json={"custom": {n: "v"}})
            for n in names
        ]
    )

    stored = (await http.get(f"/v1/customers/{customer_id}", headers=admin)).json()["data"]
    assert sorted(stored["attributes"]["custom"]) == sorted(names)
    assert stored["attributes"]["rev"] == 1 + len(names)


async def test_describe_customer_racing_rest_patches_loses_nothing(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    from_sdk = [f"sdk{i}Str" for i in range(10)]
    from_api = [f"api{i}Str" for i in range(10)]
    await _define(http, setup, "customer", from_sdk + from_api)
    admin = _auth(setup.admin_key.secret)
    started = await http.post("/c/v1/sessions", headers=_auth(setup.tracking_key.secret))
    session = started.json()
    browser = {**_auth(setup.tracking_key.secret), "X-Klatch-Session": session["sessionToken"]}
    customer_id = session["customerId"]

    requests = []
    for mine, theirs in zip(from_sdk, from_api, strict=True):
        requests.append(
            http.patch(
                "/c/v1/customers/current", headers=browser, json={"customAttributes": {mine: "b"}}
            )
        )
        requests.append(
            http.patch(
                f"/v1/customers/{customer_id}", headers=admin, json={"custom": {theirs: "a"}}
            )
        )
    await _all_ok(requests)

    stored = (await http.get(f"/v1/customers/{customer_id}", headers=admin)).json()["data"]
    assert sorted(stored["attributes"]["custom"]) == sorted(from_sdk + from_api)


async def test_concurrent_brand_setting_changes_all_survive(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    admin = _auth(setup.admin_key.secret)
    path = f"/v1/brands/{setup.brand.id}"
    for round_ in range(5):
        wanted = {
            "teamName": f"Team {round_}",
            "greeting": f"Hello {round_}",
            "colors": {"primary": f"#00000{round_}"},
        }
        await _all_ok(
            [http.patch(path, headers=admin, json={key: value}) for key, value in wanted.items()]
        )
        brands = (await http.get("/v1/brands", headers=admin)).json()["data"]
        settings = next(b for b in brands if b["id"] == setup.brand.id)["attributes"]["settings"]
        assert {key: settings[key] for key in wanted} == wanted, f"round {round_}"


async def test_concurrent_describes_and_patches_of_one_conversation_keep_every_key(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    from_sdk = [f"sdk{i}Str" for i in range(10)]
    from_api = [f"api{i}Str" for i in range(10)]
    await _define(http, setup, "conversation", from_sdk + from_api)
    admin = _auth(setup.admin_key.secret)
    started = (await http.post("/c/v1/sessions", headers=_auth(setup.tracking_key.secret))).json()
    browser = {**_auth(setup.tracking_key.secret), "X-Klatch-Session": started["sessionToken"]}
    created = await http.post("/c/v1/conversations", headers=browser, json={})
    conversation_id = created.json()["conversationId"]

    requests = []
    for mine, theirs in zip(from_sdk, from_api, strict=True):
        requests.append(
            http.patch(
                f"/c/v1/conversations/{conversation_id}",
                headers=browser,
                json={"custom": {mine: "b"}},
            )
        )
        requests.append(
            http.patch(
                f"/v1/conversations/{conversation_id}",
                headers=admin,
                json={"custom": {theirs: "a"}},
            )
        )
    await _all_ok(requests)

    stored = await http.get(f"/v1/conversations/{conversation_id}", headers=admin)
    assert sorted(stored.json()["data"]["attributes"]["custom"]) == sorted(from_sdk + from_api)


async def test_concurrent_definitions_of_one_klass_all_exist(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    admin = _auth(setup.admin_key.secret)
    names = [f"field{i}Str" for i in range(12)]
    await _all_ok(
        [
            http.put("/v1/metadata/conversation", headers=admin, json={"properties": {name: {}}})
            for name in names
        ]
    )
    listed = (await http.get("/v1/metadata/conversation", headers=admin)).json()
    assert set(names) <= set(listed["data"]["attributes"]["properties"])


async def test_concurrent_edits_of_one_definition_keep_every_field(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    admin = _auth(setup.admin_key.secret)
    path = "/v1/metadata/conversation"
    for round_ in range(5):
        name = f"topic{round_}Str"
        await _define(http, setup, "conversation", [name])
        edits = [
            {"displayName": f"Topic {round_}"},
            {"sdkWritable": False},
            {"enumeration": ["billing", "shipping"]},
        ]
        await _all_ok(
            [http.put(path, headers=admin, json={"properties": {name: e}}) for e in edits]
        )
        listed = (await http.get(path, headers=admin)).json()
        stored = listed["data"]["attributes"]["properties"][name]
        assert stored["displayName"] == f"Topic {round_}", f"round {round_}"
        assert stored["sdkWritable"] is False, f"round {round_}"
        assert stored["enumeration"] == ["billing", "shipping"], f"round {round_}"


async def test_concurrent_failed_logins_are_all_counted(
    http: httpx.AsyncClient, setup: Setup, services: Services
) -> None:
    """Parallel wrong passwords must not slip past the lockout by each reading the
    same failure count."""
    await services.orgs.create_user(
        setup.org.id, f"racer-{setup.org.id}@example.com", "right-password", role=UserRole.AGENT
    )
    email = f"racer-{setup.org.id}@example.com"
    attempts = [services.console.login(email, f"wrong-{i}") for i in range(5)]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    assert all(isinstance(o, Unauthorized) for o in outcomes), outcomes
    with pytest.raises(LoginLocked):
        await services.console.login(email, "right-password")
