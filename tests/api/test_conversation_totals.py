"""Every REST list says how many records match (docs/api.md promises meta.total)."""

from __future__ import annotations

from typing import Any

import httpx

from klatch.services import Services
from klatch.services.orgs import Setup


async def test_conversation_lists_carry_the_total_of_what_the_filters_match(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    admin = {"Authorization": f"Bearer {setup.admin_key.secret}"}
    customer = await http.post("/v1/customers", headers=admin, json={"name": "Ada"})
    customer_id = customer.json()["data"]["id"]
    for n in range(5):
        created = await http.post(
            f"/v1/customers/{customer_id}/conversations",
            headers=admin,
            json={"name": f"Order {n}", "status": "done" if n < 2 else "open"},
        )
        assert created.status_code == 201, created.text

    page = (await http.get("/v1/conversations?pageSize=2", headers=admin)).json()
    assert (page["meta"]["total"], page["meta"]["totalPages"], len(page["data"])) == (5, 3, 2)
    done = (await http.get("/v1/conversations?status=done", headers=admin)).json()
    assert done["meta"]["total"] == 2
    mine = await http.get(f"/v1/customers/{customer_id}/conversations", headers=admin)
    assert mine.json()["meta"]["total"] == 5


async def _walk(http: httpx.AsyncClient, admin: dict[str, str], url: str) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    while url:
        response = await http.get(url, headers=admin)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = pages[-1]["links"]["next"]
    return pages


async def test_past_the_count_cap_list_totals_are_what_is_known_and_paging_ends(
    http: httpx.AsyncClient, services: Services, setup: Setup
) -> None:
    """A list of a million is not counted to the end on every first page: past the
    cap (10,000; 3 here) ``total`` is a lower bound with ``totalRelation: gte``,
    ``totalPages`` stays ahead of the page read while there is a next one, and the
    walk along ``links.next`` still reaches every record and ends."""
    admin = {"Authorization": f"Bearer {setup.admin_key.secret}"}
    services.conversations.count_cap = services.customers.count_cap = 3
    made = []
    for n in range(8):
        customer = await http.post("/v1/customers", headers=admin, json={"name": f"C{n}"})
        customer_id = customer.json()["data"]["id"]
        created = await http.post(
            f"/v1/customers/{customer_id}/conversations", headers=admin, json={"name": f"{n}"}
        )
        made.append(created.json()["data"]["id"])

    first = (await http.get("/v1/conversations?pageSize=2", headers=admin)).json()
    assert first["meta"] == {
        "page": 1, "pageSize": 2, "total": 4, "totalPages": 2, "totalRelation": "gte",
    }  # fmt: skip
    pages = await _walk(http, admin, "/v1/conversations?pageSize=2")
    assert [c["id"] for p in pages for c in p["data"]] == made[::-1]  # newest first
    assert [p["meta"]["totalPages"] for p in pages] == [2, 3, 4, 4]
    assert pages[-1]["meta"]["total"] == 8 and "totalRelation" not in pages[-1]["meta"]
    assert pages[-1]["links"]["last"] == pages[-1]["links"]["self"]

    customers = await _walk(http, admin, "/v1/customers?pageSize=3")
    assert sum(len(p["data"]) for p in customers) == 8
    assert customers[0]["meta"]["totalRelation"] == "gte"
    assert customers[-1]["meta"]["total"] == 8 and "totalRelation" not in customers[-1]["meta"]

    services.conversations.count_cap = services.customers.count_cap = 10_000
    exact = (await http.get("/v1/conversations?pageSize=2", headers=admin)).json()
    assert exact["meta"] == {"page": 1, "pageSize": 2, "total": 8, "totalPages": 4}
