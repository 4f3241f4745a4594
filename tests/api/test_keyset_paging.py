"""GET /v1/conversations pages by keyset when ``links.next`` is followed: its cursor
holds where the next page starts, so conversations added while a client pages
neither shift the pages (a row seen twice) nor push one out of them (a row never
seen), and a deep page costs what the first does. ``page=N`` alone still reads by
offset, and a cursor made for another request is ignored."""

from __future__ import annotations

from typing import Any

import httpx

from klatch.services.orgs import Setup


class Org:
    def __init__(self, http: httpx.AsyncClient, setup: Setup) -> None:
        self.http = http
        self.auth = {"Authorization": f"Bearer {setup.admin_key.secret}"}
        self.customer = ""

    async def start(self) -> None:
        made = await self.http.post("/v1/customers", headers=self.auth, json={"name": "Ada"})
        assert made.status_code == 201, made.text
        self.customer = made.json()["data"]["id"]

    async def conversation(self, name: str, status: str = "open") -> str:
        made = await self.http.post(
            f"/v1/customers/{self.customer}/conversations",
            headers=self.auth,
            json={"name": name, "status": status},
        )
        assert made.status_code == 201, made.text
        return str(made.json()["data"]["id"])

    async def get(self, url: str) -> dict[str, Any]:
        found = await self.http.get(url, headers=self.auth)
        assert found.status_code == 200, found.text
        page: dict[str, Any] = found.json()
        return page


def ids(page: dict[str, Any]) -> list[str]:
    return [c["id"] for c in page["data"]]


async def test_following_links_next_sees_every_conversation_once_while_new_ones_arrive(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    org = Org(http, setup)
    await org.start()
    before = [await org.conversation(f"Order {n}") for n in range(12)]
    first = await org.get("/v1/conversations?pageSize=5")
    expected = ids(first) + ids(await org.get("/v1/conversations?pageSize=5&page=2"))
    expected += ids(await org.get("/v1/conversations?pageSize=5&page=3"))
    assert sorted(expected) == sorted(before)

    seen, page, added = ids(first), first, 0
    while page["links"]["next"]:
        added += 1
        await org.conversation(f"Arrived while paging {added}")  # on top: shifts offsets
        page = await org.get(page["links"]["next"])
        assert page["meta"]["total"] == 12  # counted once, for the first page
        seen += ids(page)
    assert seen == expected  # none twice, none left out, in the list's order
    assert added == 2

    # By offset the same walk repeats a row each time one arrives: what the cursor avoids.
    shifted = await org.get("/v1/conversations?pageSize=5&page=2")
    assert ids(shifted)[0] in ids(first)


async def test_page_numbers_still_read_by_offset_and_cursors_only_count_for_their_request(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    org = Org(http, setup)
    await org.start()
    for n in range(6):
        await org.conversation(f"Order {n}", status="done" if n % 2 else "open")
    everything = ids(await org.get("/v1/conversations?pageSize=100"))

    second = await org.get("/v1/conversations?pageSize=2&page=2")
    assert ids(second) == everything[2:4]
    assert second["links"]["next"].startswith("/v1/conversations?")
    assert "cursor=" in second["links"]["next"] and "cursor=" not in second["links"]["self"]

    # The unfiltered list's cursor, sent with a filter or for another page: read by offset.
    cursor = httpx.URL(second["links"]["next"]).params["cursor"]
    done = ids(await org.get("/v1/conversations?status=done&pageSize=100"))
    filtered = await org.get(f"/v1/conversations?status=done&pageSize=2&page=2&cursor={cursor}")
    assert ids(filtered) == done[2:4]  # 3 done: page 2 of 2 holds one
    filtered = await org.get(f"/v1/conversations?status=done&pageSize=1&page=3&cursor={cursor}")
    assert ids(filtered) == done[2:3]
    elsewhere = await org.get(f"/v1/conversations?pageSize=2&page=2&cursor={cursor}")
    assert ids(elsewhere) == everything[2:4]
    garbage = await org.get("/v1/conversations?pageSize=2&page=3&cursor=not-a-cursor")
    assert ids(garbage) == everything[4:6]
    followed = await org.get(second["links"]["next"])
    assert ids(followed) == everything[4:6] and followed["links"]["next"] is None


async def test_a_too_long_cursor_is_refused_with_a_400_naming_it(
    http: httpx.AsyncClient, setup: Setup
) -> None:
    org = Org(http, setup)
    found = await http.get("/v1/conversations?cursor=" + "x" * 2000, headers=org.auth)
    assert found.status_code == 400, found.text
    assert "cursor" in found.text
