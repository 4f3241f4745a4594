"""Every operator on every attribute type at its boundaries, on real SQLite and
PostgreSQL: equality and "is one of", ranges at their edges (a value equal to the
bound is in ``gte``/``lte`` and out of ``gt``/``lt``), ``exists``, whole-word
``contains``, ``not``; dates across Stockholm's change to summer time (2026-03-29, a
23-hour day) given as local days and as times with offsets; and the 400s an
unknown field or an operator its type does not take gets, naming the field and
listing what is allowed."""

from __future__ import annotations

from typing import Any

import pytest
from search_steps import SEARCH, api_actor, define, search, search_ids

from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest

# Stockholm's 2026-03-29 runs from 2026-03-28T23:00Z (CET, +01:00) to
# 2026-03-29T22:00Z (CEST, +02:00).
BEFORE_DAY = "2026-03-28T22:59:59.999Z"
DAY_START = "2026-03-28T23:00:00.000Z"
DAY_LAST = "2026-03-29T21:59:59.999Z"
NEXT_DAY = "2026-03-29T22:00:00.000Z"
ROWS: dict[str, dict[str, Any]] = {
    "none": {},
    "one": {
        "labelStr": "alpha",
        "bodyTxt": "The quick brown fox",
        "amountNum": 10,
        "vipBool": True,
        "dueAt": BEFORE_DAY,
        "siteUrl": "https://a.example/x",
        "reasonTree": "shipping.delayed",
        "shopId": "gid-1",
    },
    "two": {
        "labelStr": "beta",
        "bodyTxt": "a lazy dog",
        "amountNum": 10.5,
        "vipBool": False,
        "dueAt": DAY_START,
        "siteUrl": "https://b.example/",
        "reasonTree": "shipping",
        "shopId": "gid-2",
    },
    "three": {"amountNum": -3, "dueAt": DAY_LAST, "labelStr": "Alpha beta"},
    "four": {"amountNum": 1e300, "dueAt": NEXT_DAY},
}
TYPED = {
    "labelStr": "string",
    "bodyTxt": "text",
    "amountNum": "number",
    "vipBool": "boolean",
    "dueAt": "datetime",
    "siteUrl": "string",
    "reasonTree": "tree",
    "shopId": "id",
}


@pytest.fixture
async def made(services: Services, setup: Setup) -> dict[str, str]:
    """One conversation per row of ROWS; their ids by row name."""
    for name in TYPED:
        options = {"tree": ["shipping.delayed", "billing"]} if name == "reasonTree" else {}
        await define(services, setup, name, **options)
    actor = api_actor(setup)
    customer = await services.customers.check_create(actor, {"name": "Boundary"})
    out = {}
    for row, custom in ROWS.items():
        conv = await services.conversations.check_create_for_customer(
            actor, customer.id, brand_id=None, custom=custom
        )
        out[row] = conv.id
    return out


def field(name: str) -> str:
    return f"conversation_custom_{name}"


# (attribute, operator test, the rows it finds)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # Str: exact equality (case matters), one of, whole words, set or not
    ("labelStr", {"equals": "alpha"}, {"one"}),
    ("labelStr", {"equals": "Alpha"}, set()),
    ("labelStr", {"equals": ["alpha", "beta"]}, {"one", "two"}),
    ("labelStr", {"contains": "ALPHA"}, {"one", "three"}),
    ("labelStr", {"contains": "alph"}, set()),
    ("labelStr", {"contains": "beta alpha"}, {"three"}),
    ("labelStr", {"exists": True}, {"one", "two", "three"}),
    ("labelStr", {"exists": False}, {"none", "four"}),
    # Txt: words only
    ("bodyTxt", {"contains": "quick fox"}, {"one"}),
    ("bodyTxt", {"contains": "DOG"}, {"two"}),
    ("bodyTxt", {"contains": "qui"}, set()),
    ("bodyTxt", {"exists": False}, {"none", "three", "four"}),
    # Num: both edges of every range, integers and fractions, a huge double
    ("amountNum", {"equals": 10}, {"one"}),
    ("amountNum", {"equals": 10.0}, {"one"}),
    ("amountNum", {"equals": [10.5, -3]}, {"two", "three"}),
    ("amountNum", {"gt": 10}, {"two", "four"}),
    ("amountNum", {"gte": 10}, {"one", "two", "four"}),
    ("amountNum", {"lt": 10}, {"three"}),
    ("amountNum", {"lte": 10}, {"one", "three"}),
    ("amountNum", {"gt": 10, "lt": 10.5}, set()),
    ("amountNum", {"gte": 10, "lte": 10.5}, {"one", "two"}),
    ("amountNum", {"gte": 1e300}, {"four"}),
    ("amountNum", {"lt": -3}, set()),
    ("amountNum", {"exists": False}, {"none"}),
    # Bool: false is a value, not "not set"
    ("vipBool", {"equals": True}, {"one"}),
    ("vipBool", {"equals": False}, {"two"}),
    ("vipBool", {"exists": True}, {"one", "two"}),
    ("vipBool", {"exists": False}, {"none", "three", "four"}),
    # At: UTC times at the millisecond, with offsets, six fractional digits
    ("dueAt", {"equals": DAY_START}, {"two"}),
    ("dueAt", {"gte": DAY_START}, {"two", "three", "four"}),
    ("dueAt", {"gt": DAY_START}, {"three", "four"}),
    ("dueAt", {"lt": DAY_START}, {"one"}),
    ("dueAt", {"lte": DAY_START}, {"one", "two"}),
    (
        "dueAt",
        {"gte": "2026-03-29T00:00:00+01:00", "lt": "2026-03-30T00:00:00+02:00"},
        {"two", "three"},
    ),
    ("dueAt", {"lte": "2026-03-29T23:59:59.999000+02:00"}, {"one", "two", "three"}),
    ("dueAt", {"gt": "2026-03-29T21:59:59.999500Z"}, {"four"}),  # between two ms
    ("dueAt", {"equals": "2026-03-29"}, {"three", "four"}),  # a UTC day
    ("dueAt", {"exists": False}, {"none"}),
    # Url: a string
    ("siteUrl", {"equals": "https://a.example/x"}, {"one"}),
    ("siteUrl", {"contains": "example"}, {"one", "two"}),
    ("siteUrl", {"exists": False}, {"none", "three", "four"}),
    # Tree: a whole path (a parent does not find its children)
    ("reasonTree", {"equals": "shipping"}, {"two"}),
    ("reasonTree", {"equals": ["shipping", "shipping.delayed"]}, {"one", "two"}),
    ("reasonTree", {"exists": True}, {"one", "two"}),
    # Id: exact
    ("shopId", {"equals": "gid-1"}, {"one"}),
    ("shopId", {"equals": "GID-1"}, set()),
    ("shopId", {"exists": False}, {"none", "three", "four"}),
]


@pytest.mark.parametrize("name", list(TYPED))
async def test_every_operator_on_every_type_at_its_edges(
    made: dict[str, str], admin: Rest, name: str
) -> None:
    wrong = []
    for attribute, test, rows in CASES:
        if attribute == name:
            found = await search_ids(admin, "conversation", {field(name): test})
            expected = {made[r] for r in rows}
            if found != expected:
                names = {v: k for k, v in made.items()}
                wrong.append((test, sorted(names[i] for i in found), sorted(rows)))
    assert wrong == []


async def test_not_finds_the_records_without_the_value_too(
    made: dict[str, str], admin: Rest
) -> None:
    body = {"queryContext": "conversation", "not": {field("labelStr"): {"equals": "alpha"}}}
    found = await search(admin, body, pageSize=500)
    assert {item["id"] for item in found["data"]} == {made[r] for r in ROWS if r != "one"}
    nested = {
        "queryContext": "conversation",
        "or": [
            {
                "and": [
                    {field("amountNum"): {"gte": 10}},
                    {"not": {field("vipBool"): {"exists": True}}},
                ]
            },
            {field("shopId"): {"equals": "gid-1"}},
        ],
    }
    found = await search(admin, nested, pageSize=500)
    assert {item["id"] for item in found["data"]} == {made["four"], made["one"]}


@pytest.mark.parametrize(
    ("test", "rows"),
    [
        ({"equals": "2026-03-29"}, {"two", "three"}),  # 23 hours long
        ({"gte": "2026-03-29"}, {"two", "three", "four"}),
        ({"gt": "2026-03-29"}, {"four"}),  # after the whole day
        ({"lt": "2026-03-29"}, {"one"}),
        ({"lte": "2026-03-29"}, {"one", "two", "three"}),  # through its end
        ({"gte": "2026-03-28", "lt": "2026-03-30"}, {"one", "two", "three"}),
    ],
)
async def test_a_local_day_across_the_change_to_summer_time(
    made: dict[str, str], admin: Rest, test: dict[str, Any], rows: set[str]
) -> None:
    found = await search_ids(
        admin, "conversation", {field("dueAt"): test}, timeZone="Europe/Stockholm"
    )
    assert found == {made[r] for r in rows}


async def test_standard_dates_and_numbers_at_their_edges(
    services: Services, setup: Setup, admin: Rest
) -> None:
    actor = api_actor(setup)
    customer = await services.customers.check_create(actor, {"name": "Edges"})
    first = await services.conversations.check_create_for_customer(
        actor, customer.id, brand_id=None
    )
    got = (await admin.get(f"/v1/conversations/{first.id}")).json()["data"]["attributes"]
    created = got["createdAt"]
    await services.messages.check_send(actor, first.id, "hello")
    rest_of = {"conversation_customer_id": {"equals": customer.id}}

    async def found(test: dict[str, Any]) -> set[str]:
        return await search_ids(admin, "conversation", rest_of, test)

    assert await found({"conversation_created_at": {"gte": created}}) == {first.id}
    assert await found({"conversation_created_at": {"lte": created}}) == {first.id}
    assert await found({"conversation_created_at": {"gt": created}}) == set()
    assert await found({"conversation_created_at": {"lt": created}}) == set()
    assert await found({"conversation_created_at": {"equals": created}}) == {first.id}
    assert await found({"conversation_message_count": {"gte": 1, "lte": 1}}) == {first.id}
    assert await found({"conversation_message_count": {"gt": 1}}) == set()
    assert await found({"conversation_ended": {"equals": False}}) == {first.id}
    assert await found({"conversation_ended_at": {"exists": False}}) == {first.id}
    assert await found({"conversation_status": {"equals": ["open", "snoozed"]}}) == {first.id}


def refusal(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["errors"][0]
    return error


@pytest.mark.parametrize(("name", "kind"), list(TYPED.items()))
async def test_an_operator_a_type_does_not_take_is_a_400_listing_those_it_does(
    made: dict[str, str], admin: Rest, name: str, kind: str
) -> None:
    allowed = {
        "string": "equals, contains, exists",
        "text": "contains, exists",
        "number": "equals, gt, gte, lt, lte, exists",
        "datetime": "equals, gt, gte, lt, lte, exists",
        "boolean": "equals, exists",
        "tree": "equals, exists",
        "id": "equals, exists",
    }[kind]
    wrong = "contains" if kind in ("number", "datetime", "boolean", "tree", "id") else "gt"
    body = {"queryContext": "conversation", "and": [{field(name): {wrong: 1}}]}
    error = refusal(await admin.post(SEARCH, json=body))
    assert error["code"] == "invalid_operator"
    assert field(name) in error["detail"] and f"({kind})" in error["detail"]
    assert error["detail"].endswith(f"its operators are: {allowed}")
    assert error["source"]["pointer"] == f"/and/0/{field(name)}/{wrong}"


@pytest.mark.parametrize(
    ("criterion", "code", "pointer", "says"),
    [
        (
            {"conversation_colour": {"equals": "red"}},
            "unknown_field",
            "/and/0/conversation_colour",
            "conversation_status",
        ),
        (
            {field("missingStr"): {"equals": "x"}},
            "unknown_field",
            f"/and/0/{field('missingStr')}",
            "not defined on the conversation klass",
        ),
        (
            {"customer_name": {"equals": "x"}},
            "unknown_field",
            "/and/0/customer_name",
            "is a customer field",
        ),
        (
            {field("amountNum"): {"gt": "ten"}},
            "invalid_search",
            f"/and/0/{field('amountNum')}/gt",
            "takes a number",
        ),
        (
            {field("vipBool"): {"equals": "true"}},
            "invalid_search",
            f"/and/0/{field('vipBool')}/equals",
            "true or false",
        ),
        (
            {field("dueAt"): {"gte": "2026-03-29 10:00"}},
            "invalid_search",
            f"/and/0/{field('dueAt')}/gte",
            "not a date",
        ),
        (
            {field("dueAt"): {"gte": "2026-03-29T10:00:00"}},
            "invalid_search",
            f"/and/0/{field('dueAt')}/gte",
            "UTC time",
        ),
        (
            {field("labelStr"): {"exists": "yes"}},
            "invalid_search",
            f"/and/0/{field('labelStr')}/exists",
            "true (set) or false",
        ),
        (
            {"conversation_status": {"equals": "closed"}},
            "invalid_search",
            "/and/0/conversation_status/equals",
            "open, done, snoozed",
        ),
        (
            {field("labelStr"): {"equals": []}},
            "invalid_search",
            f"/and/0/{field('labelStr')}/equals",
            "list of 1 to 100",
        ),
    ],
)
async def test_a_bad_criterion_is_a_400_naming_the_field_and_what_is_allowed(
    made: dict[str, str], admin: Rest, criterion: dict[str, Any], code: str, pointer: str, says: str
) -> None:
    body = {"queryContext": "conversation", "and": [criterion]}
    error = refusal(await admin.post(SEARCH, json=body))
    assert error["code"] == code
    assert error["source"]["pointer"] == pointer
    assert says in error["detail"]


async def test_a_time_zone_that_does_not_exist_is_a_400(made: dict[str, str], admin: Rest) -> None:
    body = {"queryContext": "conversation", "timeZone": "Europe/Atlantis"}
    error = refusal(await admin.post(SEARCH, json=body))
    assert error["source"]["pointer"] == "/timeZone" and "IANA" in error["detail"]
