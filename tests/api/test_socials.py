"""Customers' social accounts can be set, as Kustomer's SDKs and REST API send them."""

from __future__ import annotations

import httpx

from klatch.services.orgs import Setup


async def test_socials_from_rest_and_describe_customer_are_stored(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    admin = {"Authorization": f"Bearer {setup.admin_key.secret}"}
    created = await http.post(
        "/v1/customers",
        headers=admin,
        json={"name": "Ada", "socials": [{"type": "twitter", "username": "ada"}]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["attributes"]["socials"] == [
        {"type": "twitter", "username": "ada"}
    ]

    started = (
        await http.post(
            "/c/v1/sessions",
            headers=admin | {"Authorization": f"Bearer {setup.tracking_key.secret}"},
        )
    ).json()
    browser = {
        "Authorization": f"Bearer {setup.tracking_key.secret}",
        "X-Klatch-Session": started["sessionToken"],
    }
    described = await http.patch(
        "/c/v1/customers/current",
        headers=browser,
        json={"attributes": {"sharedSocials": [{"type": "instagram", "username": "grace"}]}},
    )
    assert described.status_code == 200, described.text
    assert described.json()["attributes"]["sharedSocials"] == [
        {"type": "instagram", "username": "grace"}
    ]
