"""The SDK origin rule over HTTP (CORS): a brand without allowed origins accepts any
page; once some are set, only those pages may use the client API."""

from __future__ import annotations

import httpx

from klatch.services.orgs import Setup
from support import Chat, Rest, error_codes

SHOP = "https://shop.example"
OTHER = "https://evil.example"


async def test_any_origin_until_the_brand_lists_some(chat: Chat, admin: Rest, setup: Setup) -> None:
    open_response = await chat.request("GET", "/conversations", headers={"Origin": OTHER})
    assert open_response.status_code == 200
    assert open_response.headers["access-control-allow-origin"] == OTHER

    changed = await admin.patch(
        f"/v1/brands/{setup.brand.id}", json={"allowedOrigins": [SHOP + "/"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["attributes"]["settings"]["allowedOrigins"] == [SHOP]

    allowed = await chat.request("GET", "/conversations", headers={"Origin": SHOP})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SHOP

    refused = await chat.request(
        "POST", "/conversations", json={"message": "hi"}, headers={"Origin": OTHER}
    )
    assert refused.status_code == 403
    assert error_codes(refused) == ["origin_not_allowed"]
    # The page may read the refusal, so the SDK reports origin_not_allowed rather
    # than an opaque network error.
    assert refused.headers["access-control-allow-origin"] == OTHER
    # Nothing was created by the refused request.
    listed = await chat.request("GET", "/conversations", headers={"Origin": SHOP})
    assert listed.json()["conversations"] == []


async def test_preflight_names_the_headers_the_sdk_sends(http: httpx.AsyncClient) -> None:
    response = await http.options(
        "/c/v1/conversations",
        headers={"Origin": SHOP, "Access-Control-Request-Method": "PATCH"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    allowed_headers = response.headers["access-control-allow-headers"]
    for header in ("authorization", "content-type", "x-klatch-session"):
        assert header in allowed_headers
    assert "PATCH" in response.headers["access-control-allow-methods"]


async def test_bad_allowed_origins_are_refused(admin: Rest, setup: Setup) -> None:
    response = await admin.patch(
        f"/v1/brands/{setup.brand.id}", json={"allowedOrigins": ["not a url"]}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["pointer"] == "/allowedOrigins"
    brands = await admin.get("/v1/brands")
    assert brands.json()["data"][0]["attributes"]["settings"]["allowedOrigins"] == []
