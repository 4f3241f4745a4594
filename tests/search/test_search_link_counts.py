"""Searches by assignee and by tag count what they find, however the count is read:
from the assignment or tag rows alone (one equality), through them (an equality
among other criteria, several ids), or conversation by conversation (not, exists);
a deleted conversation's rows are gone with it."""

from __future__ import annotations

from typing import Any

from klatch.domain.models import UserRole
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest


async def _search(admin: Rest, *criteria: dict[str, Any], **params: Any) -> dict[str, Any]:
    body = {"queryContext": "conversation", "and": list(criteria)}
    response = await admin.post("/v1/customers/search", json=body, params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _ids(admin: Rest, *criteria: dict[str, Any]) -> set[str]:
    found = await _search(admin, *criteria, pageSize=500)
    assert found["meta"]["total"] == len(found["data"]), found["meta"]
    return {d["id"] for d in found["data"]}


async def test_assignee_and_tag_searches_count_what_they_find(
    services: Services, setup: Setup, admin: Rest
) -> None:
    ann, bob = [
        (
            await services.orgs.create_user(
                setup.org.id, f"{n}.{setup.org.id}@example.com", "password1", role=UserRole.AGENT
            )
        ).id
        for n in ("ann", "bob")
    ]
    vip = (await admin.post("/v1/tags", json={"name": "vip"})).json()["data"]["id"]
    customer = (await admin.post("/v1/customers", json={"name": "Ada"})).json()["data"]["id"]
    made: dict[str, dict[str, Any]] = {}
    plan = [([ann], [vip], "open"), ([ann, bob], [], "open"), ([bob], [vip], "done"),
            ([ann], [], "done"), ([], [vip], "open"), ([], [], "open")]  # fmt: skip
    for users, tags, status in plan:
        created = await admin.post(
            f"/v1/customers/{customer}/conversations", json={"name": "c", "status": status}
        )
        cid = created.json()["data"]["id"]
        patched = await admin.patch(
            f"/v1/conversations/{cid}", json={"assignedUsers": users, "tags": tags}
        )
        assert patched.status_code == 200, patched.text
        made[cid] = {"users": users, "tags": tags, "status": status}

    def where(test: Any) -> set[str]:
        return {cid for cid, c in made.items() if test(c)}

    user = "conversation_assigned_users"
    cases = [
        ([{user: {"equals": ann}}], where(lambda c: ann in c["users"])),
        ([{"conversation_tags": {"equals": vip}}], where(lambda c: vip in c["tags"])),
        (
            [{user: {"equals": ann}}, {"conversation_status": {"equals": "open"}}],
            where(lambda c: ann in c["users"] and c["status"] == "open"),
        ),
        ([{user: {"equals": [ann, bob]}}], where(lambda c: bool(c["users"]))),
        ([{"not": {user: {"equals": ann}}}], where(lambda c: ann not in c["users"])),
        ([{user: {"exists": False}}], where(lambda c: not c["users"])),
    ]
    for criteria, expected in cases:
        assert await _ids(admin, *criteria) == expected, criteria

    # Counted to a cap from the rows alone: a lower bound, and the walk still ends.
    services.search.count_cap = 1
    capped = await _search(admin, {user: {"equals": ann}}, pageSize=1)
    assert (capped["meta"]["total"], capped["meta"]["totalRelation"]) == (2, "gte")
    services.search.count_cap = 10_000

    gone = next(iter(where(lambda c: ann in c["users"] and vip in c["tags"])))
    assert (await admin.delete(f"/v1/conversations/{gone}")).status_code in (200, 204)
    del made[gone]
    assert await _ids(admin, {user: {"equals": ann}}) == where(lambda c: ann in c["users"])
    tagged = where(lambda c: vip in c["tags"])
    assert await _ids(admin, {"conversation_tags": {"equals": vip}}) == tagged
