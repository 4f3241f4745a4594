"""Search contexts beyond customers and conversations, and a total past the count
cap: internal notes (``queryContext: note``), message custom attributes
(``message_custom_<name>``, typed by the message klass), and what ``meta`` says when
there are more matches than are counted. Real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
from search_steps import SEARCH, api_actor, define, every_page, ids, search

from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest, error_codes, start_chat


async def test_notes_are_searched_by_conversation_customer_author_words_and_dates(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    actor = api_actor(setup)
    ada = await services.customers.check_create(actor, {"name": "Ada"})
    bob = await services.customers.check_create(actor, {"name": "Bob"})
    first = await services.conversations.check_create_for_customer(actor, ada.id, brand_id=None)
    second = await services.conversations.check_create_for_customer(actor, bob.id, brand_id=None)
    refund = await services.notes.check_create(actor, first.id, "Refund approved by finance")
    later = await services.notes.check_create(actor, first.id, "Customer called back")
    other = await services.notes.check_create(actor, second.id, "Parcel lost, refund pending")
    elsewhere = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:8]}")
    theirs = api_actor(elsewhere)
    stranger = await services.customers.check_create(theirs, {"name": "Eve"})
    conv = await services.conversations.check_create_for_customer(
        theirs, stranger.id, brand_id=None
    )
    await services.notes.check_create(theirs, conv.id, "Refund approved")

    def body(*criteria: object, **extra: object) -> dict[str, object]:
        return {"queryContext": "note", "and": list(criteria), **extra}

    by_conv = await search(admin, body({"note_conversation_id": {"equals": first.id}}))
    assert set(ids(by_conv)) == {refund.id, later.id}
    listed = (await admin.get(f"/v1/conversations/{first.id}/notes")).json()["data"]
    assert sorted(by_conv["data"], key=lambda n: n["id"]) == sorted(listed, key=lambda n: n["id"])
    by_customer = await search(admin, body({"note_customer_id": {"equals": [bob.id]}}))
    assert ids(by_customer) == [other.id]
    words = await search(admin, body({"note_body": {"contains": "REFUND"}}))
    assert set(ids(words)) == {refund.id, other.id}  # not the other org's
    by_author = await search(admin, body({"note_created_by": {"equals": actor.id}}))
    assert set(ids(by_author)) == {refund.id, later.id, other.id}
    since = (await search(admin, body({"note_conversation_id": {"equals": second.id}})))["data"][0]
    newer = body(
        {"note_created_at": {"gte": since["attributes"]["createdAt"]}},
        sort=[{"note_created_at": "asc"}],
    )
    assert ids(await search(admin, newer)) == [other.id]
    pages = await every_page(admin, body(sort=[{"note_updated_at": "asc"}]), pageSize=1)
    walked = [i for page in pages for i in ids(page)]
    assert sorted(walked) == sorted([refund.id, later.id, other.id])  # each exactly once

    wrong = await admin.post(SEARCH, json=body({"note_body": {"equals": "x"}}))
    assert wrong.status_code == 400 and error_codes(wrong) == ["invalid_operator"]
    unknown = await admin.post(SEARCH, json=body({"note_custom_flagBool": {"equals": True}}))
    assert unknown.status_code == 400 and "note_body" in unknown.json()["errors"][0]["detail"]

    chat = await start_chat(http, setup.tracking_key.secret)
    for secret in (setup.tracking_key.secret, chat.token):  # notes are for agents only
        refused = await Rest(http, secret).post(SEARCH, json=body())
        assert refused.status_code == 403, refused.text


async def test_message_custom_attributes_are_fields_typed_by_the_message_klass(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define(services, setup, "scoreNum", klass="message")
    await define(services, setup, "flagBool", klass="conversation")  # another klass
    actor = api_actor(setup)
    customer = await services.customers.check_create(actor, {"name": "Messages"})
    conv = await services.conversations.check_create_for_customer(actor, customer.id, brand_id=None)
    sent = await services.messages.check_send(actor, conv.id, "hello")

    def body(test: dict[str, object], name: str = "message_custom_scoreNum") -> dict[str, object]:
        return {"queryContext": "message", "and": [{name: test}]}

    # Klatch writes no message custom values yet: every message has none.
    assert ids(await search(admin, body({"exists": False}))) == [sent.id]
    assert ids(await search(admin, body({"gte": 0}))) == []

    refusals: list[tuple[dict[str, object], str, str]] = [
        ({"contains": "x"}, "message_custom_scoreNum", "invalid_operator"),
        ({"gt": "ten"}, "message_custom_scoreNum", "invalid_search"),
        ({"equals": True}, "message_custom_flagBool", "unknown_field"),
    ]
    for test, name, code in refusals:
        refused = await admin.post(SEARCH, json=body(test, name))
        assert refused.status_code == 400, refused.text
        assert error_codes(refused) == [code]
        assert name in refused.json()["errors"][0]["detail"]
    detail = (await admin.post(SEARCH, json=body({"contains": "x"}))).json()["errors"][0]["detail"]
    assert "(number)" in detail and "equals, gt, gte, lt, lte, exists" in detail


async def test_past_the_count_cap_the_total_is_what_is_known_and_paging_still_ends(
    services: Services, setup: Setup, admin: Rest
) -> None:
    services.search.count_cap = 3
    actor = api_actor(setup)
    customer = await services.customers.check_create(actor, {"name": "Many"})
    created = [
        await services.conversations.check_create_for_customer(actor, customer.id, brand_id=None)
        for _ in range(8)
    ]
    # The order the sort promises: created_at, ties (the same millisecond) by id.
    made = [c.id for c in sorted(created, key=lambda c: (c.created_at, c.id))]
    body = {"queryContext": "conversation", "sort": [{"conversation_created_at": "asc"}]}

    first = await search(admin, body, pageSize=2)
    assert first["meta"] == {
        "page": 1, "pageSize": 2, "total": 4, "totalPages": 2, "totalRelation": "gte",
    }  # fmt: skip
    pages = await every_page(admin, body, pageSize=2)
    assert [i for page in pages for i in ids(page)] == made
    assert [p["meta"]["totalPages"] for p in pages] == [2, 3, 4, 4]
    assert pages[-1]["meta"]["total"] == 8 and pages[-1]["links"]["next"] is None
    assert "totalRelation" not in pages[-1]["meta"]  # exact on the last page

    # Walking page=N alone, up to meta.totalPages, reaches the end too.
    walked, page = [], 1
    while True:
        found = await search(admin, body, page=page, pageSize=2)
        walked += ids(found)
        if page >= found["meta"]["totalPages"]:
            break
        page += 1
    assert walked == made

    few = await search(admin, {**body, "and": [{"conversation_created_at": {"lte": "2999-01-01"}}]})
    assert few["meta"] == {"page": 1, "pageSize": 100, "total": 8, "totalPages": 1}  # all read
    two = await search(
        admin, {**body, "and": [{"conversation_message_count": {"equals": 0}}]}, pageSize=2
    )
    assert (two["meta"]["total"], two["meta"]["totalRelation"]) == (4, "gte")
    services.search.count_cap = 10_000
    exact = await search(admin, body)
    assert exact["meta"] == {"page": 1, "pageSize": 100, "total": 8, "totalPages": 1}
