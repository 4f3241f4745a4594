"""Every REST list says how many records match (docs/api.md promises meta.total)."""

from __future__ import annotations

import httpx

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
