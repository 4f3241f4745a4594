"""``POST /v1/customers/search`` as Kustomer integrations call it: the envelope, paging,
sorting, the sync loop, contexts, roles and orgs. Real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from search_steps import (
    SEARCH,
    api_actor,
    conversations,
    define,
    every_page,
    ids,
    next_params,
    search,
)

from klatch.app import create_app
from klatch.domain.models import Role
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest, error_codes, make_settings, start_chat

LINK_KEYS = {"self", "first", "prev", "next", "last"}


async def test_a_custom_attribute_filter_answers_the_get_resources_in_the_envelope(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "orderNumberStr")
    wanted, _ = await conversations(
        services, setup, [{"orderNumberStr": "A-1001"}, {"orderNumberStr": "A-1002"}]
    )
    body = {
        "queryContext": "conversation",
        "and": [{"conversation_custom_orderNumberStr": {"equals": "A-1001"}}],
        "or": [],
        "fields": [],
    }

    found = await search(admin, body)

    assert ids(found) == [wanted]
    got = (await admin.get(f"/v1/conversations/{wanted}")).json()["data"]
    assert found["data"][0] == got
    assert found["data"][0]["attributes"]["updatedAt"].endswith("Z")
    assert found["meta"] == {"page": 1, "pageSize": 100, "total": 1, "totalPages": 1}
    assert set(found["links"]) == LINK_KEYS
    assert found["links"]["first"] == "/v1/customers/search?page=1&pageSize=100"
    assert found["links"]["next"] is None and found["links"]["prev"] is None
    assert all(r.get("data", {}) is not None for r in got["relationships"].values())


async def test_page_size_zero_is_the_default_and_the_most_is_500(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await conversations(services, setup, [{}])
    body = {"queryContext": "conversation"}
    assert (await search(admin, body, pageSize=0))["meta"]["pageSize"] == 100
    assert (await search(admin, body, pageSize=500))["meta"]["pageSize"] == 500
    too_many = await admin.post(SEARCH, json=body, params={"pageSize": 501})
    assert too_many.status_code == 400
    assert (await search(admin, body, page=0))["meta"]["page"] == 1


async def test_a_page_past_the_end_is_an_empty_page_not_an_error(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await conversations(services, setup, [{}, {}, {}])
    found = await search(admin, {"queryContext": "conversation"}, page=9, pageSize=2)
    assert found["data"] == []
    assert found["meta"] == {"page": 9, "pageSize": 2, "total": 3, "totalPages": 2}
    assert found["links"]["next"] is None
    assert found["links"]["last"] == "/v1/customers/search?page=2&pageSize=2"
    assert found["links"]["prev"] == "/v1/customers/search?page=8&pageSize=2"


async def test_following_links_next_returns_every_record_once_in_order_with_ties_by_id(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "tierNum")
    # Many ties: three values over 17 records, pages of 4 cut through each group.
    made = await conversations(services, setup, [{"tierNum": i % 3} for i in range(17)])
    body = {"queryContext": "conversation", "sort": [{"conversation_custom_tierNum": "asc"}]}

    pages = await every_page(admin, body, pageSize=4)

    seen = [item for page in pages for item in page["data"]]
    assert len(pages) == 5 and pages[-1]["links"]["next"] is None
    assert sorted(i["id"] for i in seen) == sorted(made)
    keys = [(i["attributes"]["custom"]["tierNum"], i["id"]) for i in seen]
    assert keys == sorted(keys)
    # page=N alone (no cursor) gives the same pages
    for n, page in enumerate(pages, start=1):
        assert ids(await search(admin, body, page=n, pageSize=4)) == ids(page)


async def test_a_descending_sort_on_several_keys_pages_without_repeats(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "tierNum")
    await define(services, setup, "regionStr")
    customs = [{"tierNum": i % 2, "regionStr": "eu" if i % 3 else "us"} for i in range(11)]
    customs.append({})  # no values: the smallest
    made = await conversations(services, setup, customs)
    body = {
        "queryContext": "conversation",
        "sort": [
            {"conversation_custom_tierNum": "desc"},
            {"conversation_custom_regionStr": "desc"},
        ],
    }

    seen = [i for page in await every_page(admin, body, pageSize=3) for i in page["data"]]

    assert sorted(i["id"] for i in seen) == sorted(made)
    assert seen[-1]["attributes"]["custom"] == {}
    keys = [
        (
            i["attributes"]["custom"].get("tierNum", -1),
            i["attributes"]["custom"].get("regionStr", ""),
            i["id"],
        )
        for i in seen
    ]
    assert keys == sorted(keys, reverse=True)


async def test_the_updated_at_sync_loop_returns_every_record_and_ends(
    services: Services, setup: Setup, admin: Rest
) -> None:
    """The tap's loop: sort updated_at asc, gte the last updatedAt seen, pageSize, never
    a page number, until links.next is null; upserting by id."""
    made = set(await conversations(services, setup, [{} for _ in range(23)]))
    since = "2000-01-01T00:00:00.000000Z"
    synced: dict[str, str] = {}
    for _ in range(50):
        body = {
            "and": [{"conversation_updated_at": {"gte": since}}],
            "sort": [{"conversation_updated_at": "asc"}],
            "queryContext": "conversation",
        }
        found = await search(admin, body, pageSize=5)
        assert found["data"], "a page must never be empty while records remain"
        synced.update({i["id"]: i["attributes"]["updatedAt"] for i in found["data"]})
        if found["links"]["next"] is None:
            break
        assert found["data"][-1]["attributes"]["updatedAt"] != since or len(found["data"]) < 5
        since = found["data"][-1]["attributes"]["updatedAt"]
    else:
        pytest.fail("the sync loop did not end")
    assert set(synced) == made


async def test_the_sync_loop_over_links_next_sees_each_record_exactly_once(
    services: Services, setup: Setup, admin: Rest
) -> None:
    made = await conversations(services, setup, [{} for _ in range(13)])
    body = {
        "and": [{"conversation_updated_at": {"gt": "2000-01-01"}}],
        "sort": {"conversation_updated_at": "asc"},
        "queryContext": "conversation",
    }
    seen = [i["id"] for page in await every_page(admin, body, pageSize=4) for i in page["data"]]
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


async def test_a_cursor_for_another_body_is_ignored(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await conversations(services, setup, [{} for _ in range(5)])
    asc = {"queryContext": "conversation", "sort": {"conversation_created_at": "asc"}}
    desc = {"queryContext": "conversation", "sort": {"conversation_created_at": "desc"}}
    query = next_params(await search(admin, asc, pageSize=2))
    assert query is not None
    by_cursor = await search(admin, desc, **query)
    assert ids(by_cursor) == ids(await search(admin, desc, page=2, pageSize=2))
    assert (await admin.post(SEARCH, json=asc, params={**query, "cursor": "x!"})).status_code == 200


async def test_customers_and_messages_are_searched_too(
    services: Services, setup: Setup, admin: Rest
) -> None:
    actor = api_actor(setup)
    grace = await services.customers.check_create(
        actor, {"name": "Grace Hopper", "email": "grace@navy.test"}
    )
    await services.customers.check_create(actor, {"name": "Alan Turing"})
    conv = await services.conversations.check_create_for_customer(actor, grace.id, brand_id=None)
    message = await services.messages.check_send(actor, conv.id, "Where is my parcel?")

    people = await search(
        admin, {"queryContext": "customer", "and": {"customer_name": {"contains": "hopper"}}}
    )
    assert ids(people) == [grace.id]
    assert people["data"][0] == (await admin.get(f"/v1/customers/{grace.id}")).json()["data"]
    by_email = await search(admin, {"and": {"customer_email": {"equals": "grace@navy.test"}}})
    assert ids(by_email) == [grace.id]  # queryContext defaults to customer

    found = await search(
        admin,
        {"queryContext": "message", "and": [{"message_conversation_id": {"equals": conv.id}}]},
    )
    assert ids(found) == [message.id]
    assert found["data"][0]["attributes"]["updatedAt"]
    words = {"queryContext": "message", "and": {"message_body": {"contains": "PARCEL where"}}}
    assert ids(await search(admin, words)) == [message.id]
    part = {"queryContext": "message", "and": {"message_body": {"contains": "parc"}}}
    assert ids(await search(admin, part)) == []  # whole words only


@pytest.mark.parametrize(
    "context",
    [
        "company",
        "kobject",
        "kobject_order",
        "conversation_time",
        "work_session",
        "work_item",
    ],
)
async def test_contexts_klatch_holds_nothing_of_answer_a_valid_empty_page(
    setup: Setup, admin: Rest, context: str
) -> None:
    found = await search(admin, {"queryContext": context, "and": [{"anything": {"equals": 1}}]})
    assert found["data"] == []
    assert found["meta"] == {"page": 1, "pageSize": 100, "total": 0, "totalPages": 0}
    assert set(found["links"]) == LINK_KEYS and found["links"]["next"] is None


async def test_ids_only_answers_type_and_id(services: Services, setup: Setup, admin: Rest) -> None:
    made = await conversations(services, setup, [{}])
    found = await search(admin, {"queryContext": "conversation"}, idsOnly="true")
    assert found["data"] == [{"type": "conversation", "id": made[0]}]


async def test_results_never_cross_orgs(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    await define(services, setup, "orderNumberStr")
    mine = await conversations(services, setup, [{"orderNumberStr": "SAME"}])
    other = await services.orgs.create_org(f"Other org {uuid.uuid4().hex[:8]}")
    await define(services, other, "orderNumberStr")
    theirs = await conversations(services, other, [{"orderNumberStr": "SAME"}])
    body = {
        "queryContext": "conversation",
        "and": [{"conversation_custom_orderNumberStr": {"equals": "SAME"}}],
    }
    assert ids(await search(admin, body)) == mine
    assert ids(await search(Rest(http, other.admin_key.secret), body)) == theirs
    # a cursor made in one org reads nothing of another
    everything = {"queryContext": "conversation"}
    await conversations(services, other, [{}, {}])
    query = next_params(await search(Rest(http, other.admin_key.secret), everything, pageSize=1))
    assert query is not None
    assert set(ids(await search(admin, everything, **query))) <= set(mine)


async def test_a_tracking_key_and_a_chat_session_token_are_refused(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    chat = await start_chat(http, setup.tracking_key.secret)
    body = {"queryContext": "conversation"}
    for secret in (setup.tracking_key.secret, chat.token):
        response = await Rest(http, secret).post(SEARCH, json=body)
        assert response.status_code == 403, response.text
    with_session = await http.post(SEARCH, json=body, headers={**chat.headers})
    assert with_session.status_code == 403
    assert (await Rest(http, "kx_unknown").post(SEARCH, json=body)).status_code == 401


async def test_an_org_user_key_may_search(
    services: Services, setup: Setup, http: httpx.AsyncClient
) -> None:
    created = await services.orgs.create_key(setup.org.id, role=Role.USER, name="reporting")
    assert (await Rest(http, created.secret).post(SEARCH, json={})).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_searches_have_their_own_rate_limit_per_key(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = make_settings(tmp_path, database_url, rate_limit_search=2, rate_limit_rest=1000)
    async with running(settings) as started:
        setup = await started.orgs.create_org(f"Limited {uuid.uuid4().hex[:8]}")
        app = create_app(settings, started)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            rest = Rest(http, setup.admin_key.secret)
            first = await rest.post(SEARCH, json={})
            assert first.headers["x-ratelimit-limit"] == "2"
            assert first.headers["x-ratelimit-remaining"] == "1"
            assert (await rest.post(SEARCH, json={})).status_code == 200
            refused = await rest.post(SEARCH, json={})
            assert refused.status_code == 429 and "retry-after" in refused.headers
            assert error_codes(refused) == ["rate_limited"]
            assert (await rest.get("/v1/conversations")).status_code == 200  # only searches


async def test_an_empty_list_and_an_empty_search_count_the_same_pages(
    setup: Setup, admin: Rest
) -> None:
    # A sync that reads totalPages must see one rule: nothing found is 0 pages.
    searched = await search(
        admin,
        {"queryContext": "conversation", "and": [{"conversation_status": {"equals": "done"}}]},
    )
    answer = await admin.get("/v1/conversations?status=done&pageSize=100")
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert searched["data"] == listed["data"] == []
    assert (
        listed["meta"]
        == searched["meta"]
        == {
            "page": 1,
            "pageSize": 100,
            "total": 0,
            "totalPages": 0,
        }
    )
    assert listed["links"]["next"] is None and searched["links"]["next"] is None


async def test_syncing_every_customer_conversation_and_message_returns_each_once(
    services: Services, setup: Setup, admin: Rest
) -> None:
    """A warehouse sync of a whole org, as the Kustomer taps run it, per object: sort
    by ``<ctx>_updated_at`` asc, filter ``gte`` the last ``updatedAt`` seen, follow
    ``links.next`` until it is null. Over many pages, with records updated after
    they were made (so updatedAt and creation order differ), each record arrives
    exactly once, with what GET answers for it."""
    actor = api_actor(setup)
    made: dict[str, set[str]] = {"customer": set(), "conversation": set(), "message": set()}
    for c in range(9):
        customer = await services.customers.check_create(actor, {"name": f"Customer {c}"})
        made["customer"].add(customer.id)
        for _ in range(2):
            conv = await services.conversations.check_create_for_customer(
                actor, customer.id, brand_id=None
            )
            made["conversation"].add(conv.id)
            for m in range(2):
                sent = await services.messages.check_send(actor, conv.id, f"Message {m}")
                made["message"].add(sent.id)
    first = sorted(made["customer"])[0]  # updated last: it moves to the end
    renamed = await admin.patch(f"/v1/customers/{first}", json={"name": "Renamed"})
    assert renamed.status_code == 200, renamed.text

    for context, objects in made.items():
        body = {
            "queryContext": context,
            "and": [{f"{context}_updated_at": {"gte": "2000-01-01T00:00:00Z"}}],
            "sort": [{f"{context}_updated_at": "asc"}],
        }
        pages = await every_page(admin, body, pageSize=4)
        seen = [item for page in pages for item in page["data"]]
        assert len(pages) > 2, context
        assert [i["id"] for i in seen if i["id"] in objects] == [i["id"] for i in seen]
        assert sorted(i["id"] for i in seen) == sorted(objects), context
        stamps = [i["attributes"]["updatedAt"] for i in seen]
        assert stamps == sorted(stamps), context
        if context == "customer":
            assert seen[-1]["id"] == first  # updated after the rest
        sample = seen[len(seen) // 2]
        plural = {"customer": "customers", "conversation": "conversations"}.get(context, "messages")
        got = await admin.get(f"/v1/{plural}/{sample['id']}")
        assert got.json()["data"] == sample
    customers = [
        i for p in await every_page(admin, {"queryContext": "customer"}) for i in p["data"]
    ]
    assert {i["id"] for i in customers} == made["customer"]
