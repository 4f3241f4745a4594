"""Bad input through both HTTP APIs, on SQLite and PostgreSQL: each a specific 4xx
that changes nothing, never a 5xx.

The table gives every text and number field of both APIs (bodies, query and path
parameters) a NUL, a lone surrogate, an oversized value, a value of the wrong type
and, for numbers, one that overflows; for each it checks the status, the code and,
for the text rule, the pointer, and that the org reads back the same afterwards
(its customers, conversations, messages, definitions, brands, keys and event log).
Last, each row's valid value must succeed, so a refusal is known to be about the
value and not about the request around it.

The rule (``klatch.domain.text``): text has no NUL and no lone surrogate, in any
string, keys included (400 ``invalid_text``); a Num holds finite numbers and
integers within ±2^53 (400 ``type_mismatch``); a list filter on a value no value
of its attribute's type can be is a 400 naming the attribute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx
import jwt
import pytest
from fastapi.routing import APIRoute

from klatch.app import create_app
from klatch.domain.models import UserRole
from klatch.http.requests import CheckedRoute
from klatch.http.rest import RESOURCES, build_rest_app
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage.db import Tx
from klatch.storage.events import last_event_id
from support import Chat, Rest, error_codes

NUL = "ok\x00ok"
SURROGATE = "ok\ud800ok"
TXT_LIMIT = 64 * 1024
OVERFLOWING_INTEGERS = (2**53 + 1, -(2**53) - 1, 2**70, -(2**70), 10**400)
OVERFLOWING_FILTERS = ("99999999999999999999999", str(2**53 + 1), "1e400", "NaN", "inf", "-inf")


# ---------------------------------------------------------------- the world


@dataclass
class World:
    """An org with data in every place a bad request could change."""

    services: Services
    setup: Setup
    admin: Rest
    chat: Chat
    ids: dict[str, str]

    async def snapshot(self) -> dict[str, Any]:
        """Everything the org holds, as the REST API reads it, and its last event."""
        conversation = self.ids["conversation"]
        reads = {
            "customers": "/v1/customers",
            "conversations": "/v1/conversations",
            "messages": f"/v1/conversations/{conversation}/messages",
            "history": f"/v1/conversations/{conversation}/events",
            "conversation definitions": "/v1/metadata/conversation",
            "customer definitions": "/v1/metadata/customer",
            "brands": "/v1/brands",
            "keys": "/v1/keys",
        }
        state: dict[str, Any] = {}
        for name, path in reads.items():
            response = await self.admin.get(path)
            assert response.status_code == 200, response.text
            state[name] = response.json()["data"]
        state["last event"] = await self.services.db.read(self._last_event)
        return state

    async def _last_event(self, tx: Tx) -> int:
        return await last_event_id(tx, self.setup.org.id)


@pytest.fixture
async def world(services: Services, setup: Setup, admin: Rest, chat: Chat) -> World:
    org = setup.org.id
    for name in ("noteStr", "transcriptTxt", "siteUrl", "priorityNum", "vipBool"):
        await services.attributes.define(org, "conversation", name)
    for name in ("planStr", "seatsNum"):
        await services.attributes.define(org, "customer", name)
    created = await admin.post("/v1/customers", json={"name": "Ada", "custom": {"seatsNum": 2}})
    assert created.status_code == 201, created.text
    conversation = await chat.create_conversation(message="hi", custom={"noteStr": "kept"})
    secret = await services.chat.org_secret(org)
    token = jwt.encode({"iat": int(time.time()), "externalId": "ext-1"}, secret, "HS256")
    ids = {
        "customer": created.json()["data"]["id"],
        "conversation": conversation["conversationId"],
        "brand": setup.brand.id,
        "jwt": token,
    }
    return World(services, setup, admin, chat, ids)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    kind: str
    value: Any
    status: int
    code: str
    pointer: str | None = None  # checked when given


@dataclass(frozen=True)
class Row:
    """One field: where its value goes in a request, its bad values and a good one."""

    id: str
    api: Literal["rest", "chat"]
    method: str
    path: str  # {customer}, {conversation}, {brand} are the world's; {value} the value
    cases: tuple[Case, ...]
    good: Any  # a str is formatted with the world's ids
    body: Callable[[Any], Any] | None = None
    query: Callable[[Any], dict[str, Any]] | None = None
    good_status: int = 200

    async def send(self, world: World, value: Any) -> httpx.Response:
        url = self.path.format(
            **world.ids, value=quote(value, safe="") if "{value}" in self.path else ""
        )
        if self.query is not None:
            url += "?" + urlencode(self.query(value), quote_via=quote)
        kwargs: dict[str, Any] = {}
        if self.body is not None:
            # json.dumps escapes a lone surrogate (\ud800) as a browser's JSON.stringify does.
            kwargs["content"] = json.dumps(_filled(self.body(value), world)).encode()
            kwargs["headers"] = {"Content-Type": "application/json"}
        if self.api == "chat":
            return await world.chat.request(self.method, url.removeprefix("/c/v1"), **kwargs)
        return await world.admin.request(self.method, url, **kwargs)


def text(
    pointer: str,
    *,
    oversize: tuple[Any, int, str] | None,
    wrong: tuple[Any, int, str] | None,
    surrogate: bool = True,
) -> tuple[Case, ...]:
    """A text field's cases: NUL and a lone surrogate (the text rule, pointing at
    ``pointer``), then the field's own size and type limits."""
    cases = [Case("nul", NUL, 400, "invalid_text", pointer)]
    if surrogate:
        cases.append(Case("lone surrogate", SURROGATE, 400, "invalid_text", pointer))
    if oversize is not None:
        cases.append(Case("oversize", *oversize))
    if wrong is not None:
        cases.append(Case("wrong type", *wrong))
    return tuple(cases)


def number(pointer: str, wrong: Any, overflows: tuple[Any, ...]) -> tuple[Case, ...]:
    """A Num attribute's cases: the wrong type and each value beyond ±2^53."""
    return (
        Case("wrong type", wrong, 400, "type_mismatch", pointer),
        *(Case(f"overflow {v!s:.24}", v, 400, "type_mismatch", pointer) for v in overflows),
    )


# A URL cannot carry a lone surrogate (its UTF-8 bytes are invalid and read as
# U+FFFD, which is text), so parameters get NUL only: surrogate=False.
BAD = 400, "invalid_arguments"
BAD_PHONE = 400, "invalid_phone"
LONG_EMAIL = "a" * 320 + "@example.com"
CUSTOMER = "/v1/customers/{customer}"
CONVERSATION = "/v1/conversations/{conversation}"
CHAT_CONVERSATION = "/c/v1/conversations/{conversation}"

REST_ROWS = (
    Row(
        "customer create name", "rest", "POST", "/v1/customers",
        text("/name", oversize=("x" * 256, *BAD), wrong=(5, *BAD)),
        "Grace", body=lambda v: {"name": v}, good_status=201,
    ),
    Row(
        "customer create externalId", "rest", "POST", "/v1/customers",
        text("/externalId", oversize=("x" * 257, *BAD), wrong=(5, *BAD)),
        "ext-9", body=lambda v: {"externalId": v}, good_status=201,
    ),
    Row(
        "customer create email", "rest", "POST", "/v1/customers",
        text("/email", oversize=(LONG_EMAIL, 400, "invalid_email"), wrong=(5, *BAD)),
        "grace@example.com", body=lambda v: {"email": v}, good_status=201,
    ),
    Row(
        "customer name", "rest", "PATCH", CUSTOMER,
        text("/name", oversize=("x" * 256, *BAD), wrong=(["Ada"], *BAD)),
        "Ada L.", body=lambda v: {"name": v},
    ),
    Row(
        "customer email", "rest", "PATCH", CUSTOMER,
        text(
            "/emails/0",
            oversize=(LONG_EMAIL, 400, "invalid_email"),
            wrong=(5, 400, "invalid_email"),
        ),
        "ada@example.com", body=lambda v: {"emails": [v]},
    ),
    Row(
        "customer phone", "rest", "PATCH", CUSTOMER,
        text("/phones/0", oversize=("1" * 33, 400, "invalid_phone"), wrong=(5, *BAD_PHONE)),
        "+44 20 7946 0958", body=lambda v: {"phones": [v]},
    ),
    Row(
        "customer Str attribute", "rest", "PATCH", CUSTOMER,
        text(
            "/custom/planStr",
            oversize=("x" * 1025, 400, "value_too_long"),
            wrong=(5, 400, "type_mismatch"),
        ),
        "pro", body=lambda v: {"custom": {"planStr": v}},
    ),
    Row(
        "customer Num attribute", "rest", "PATCH", CUSTOMER,
        number("/custom/seatsNum", "5", OVERFLOWING_INTEGERS),
        9007199254740992, body=lambda v: {"custom": {"seatsNum": v}},
    ),
    Row(
        "customer attribute name", "rest", "PATCH", CUSTOMER,
        text("/custom", oversize=("x" * 10_000, 400, "unknown_attribute"), wrong=None),
        "planStr", body=lambda v: {"custom": {v: "free"}},
    ),
    Row(
        "conversation create name", "rest", "POST", "/v1/conversations",
        text("/name", oversize=("x" * 257, *BAD), wrong=(5, *BAD)),
        "Order 7", body=lambda v: {"name": v, "customer": "{customer}"}, good_status=201,
    ),
    Row(
        "conversation create customer", "rest", "POST", "/v1/conversations",
        text("/customer", oversize=("x" * 300, 404, "customer_not_found"), wrong=(5, *BAD)),
        "{customer}", body=lambda v: {"customer": v}, good_status=201,
    ),
    Row(
        "conversation create brand", "rest", "POST", "/v1/customers/{customer}/conversations",
        text("/brand", oversize=("x" * 300, 404, "brand_not_found"), wrong=(5, *BAD)),
        "{brand}", body=lambda v: {"brand": v}, good_status=201,
    ),
    Row(
        "conversation name", "rest", "PATCH", CONVERSATION,
        text("/name", oversize=("x" * 257, *BAD), wrong=(5, *BAD)),
        "Renamed", body=lambda v: {"name": v},
    ),
    Row(
        "conversation Str attribute", "rest", "PATCH", CONVERSATION,
        text(
            "/custom/noteStr",
            oversize=("x" * 1025, 400, "value_too_long"),
            wrong=(5, 400, "type_mismatch"),
        ),
        "note", body=lambda v: {"custom": {"noteStr": v}},
    ),
    Row(
        "conversation Txt attribute", "rest", "PUT", CONVERSATION,
        text(
            "/custom/transcriptTxt",
            oversize=("x" * (TXT_LIMIT + 1), 400, "value_too_long"),
            wrong=(True, 400, "type_mismatch"),
        ),
        "long text", body=lambda v: {"custom": {"transcriptTxt": v}},
    ),
    Row(
        "conversation Url attribute", "rest", "PATCH", CONVERSATION,
        text(
            "/custom/siteUrl",
            oversize=("https://shop.example.com/" + "x" * 2048, 400, "value_too_long"),
            wrong=(5, 400, "type_mismatch"),
        ),
        "https://shop.example.com/o/1", body=lambda v: {"custom": {"siteUrl": v}},
    ),
    Row(
        "conversation Num attribute", "rest", "PATCH", CONVERSATION,
        number("/custom/priorityNum", "3", OVERFLOWING_INTEGERS),
        -9007199254740992, body=lambda v: {"custom": {"priorityNum": v}},
    ),
    Row(
        "conversation Bool attribute", "rest", "PATCH", CONVERSATION,
        (Case("wrong type", "true", 400, "type_mismatch", "/custom/vipBool"),),
        True, body=lambda v: {"custom": {"vipBool": v}},
    ),
    Row(
        "conversation attribute name", "rest", "PATCH", CONVERSATION,
        text("/custom", oversize=("x" * 10_000, 400, "unknown_attribute"), wrong=None),
        "noteStr", body=lambda v: {"custom": {v: "x"}},
    ),
    Row(
        "message body", "rest", "POST", CONVERSATION + "/messages",
        text("/body", oversize=("x" * 10_241, 400, "value_too_long"), wrong=(5, *BAD)),
        "hello", body=lambda v: {"body": v}, good_status=201,
    ),
    Row(
        "message payload", "rest", "POST", CONVERSATION + "/messages",
        text("/payload", oversize=("x" * 1025, *BAD), wrong=(5, *BAD)),
        "p", body=lambda v: {"body": "hello", "payload": v}, good_status=201,
    ),
    Row(
        "definition display name", "rest", "PUT", "/v1/metadata/conversation",
        text(
            "/properties/noteStr/displayName",
            oversize=("x" * 256, 400, "invalid_display_name"),
            wrong=(5, 400, "invalid_display_name"),
        ),
        "Note", body=lambda v: {"properties": {"noteStr": {"displayName": v}}},
    ),
    Row(
        "definition name", "rest", "PUT", "/v1/metadata/conversation",
        text("/properties", oversize=("a" * 129 + "Str", 400, "invalid_name"), wrong=None),
        "extraStr", body=lambda v: {"properties": {v: {}}},
    ),
    Row(
        "definition allowed value", "rest", "PUT", "/v1/metadata/conversation",
        text(
            "/properties/tierStr/enumeration/0",
            oversize=("x" * 1025, 400, "invalid_metadata"),
            wrong=(5, 400, "invalid_metadata"),
        ),
        "gold", body=lambda v: {"properties": {"tierStr": {"enumeration": [v]}}},
    ),
    Row(
        "brand team name", "rest", "PATCH", "/v1/brands/{brand}",
        text("/teamName", oversize=("x" * 1025, *BAD), wrong=(5, *BAD)),
        "Team", body=lambda v: {"teamName": v},
    ),
    Row(
        "brand greeting", "rest", "PATCH", "/v1/brands/{brand}",
        text("/greeting", oversize=("x" * 1025, *BAD), wrong=(["hi"], *BAD)),
        "Hello", body=lambda v: {"greeting": v},
    ),
    Row(
        "brand colour", "rest", "PATCH", "/v1/brands/{brand}",
        text("/colors/primary", oversize=("#" + "f" * 1000, *BAD), wrong=(5, *BAD)),
        "#123456", body=lambda v: {"colors": {"primary": v}},
    ),
    Row(
        "brand allowed origin", "rest", "PATCH", "/v1/brands/{brand}",
        text("/allowedOrigins/0", oversize=None, wrong=(5, *BAD)),
        "https://shop.example.com", body=lambda v: {"allowedOrigins": [v]},
    ),
    Row(
        "key name", "rest", "POST", "/v1/keys",
        text("/name", oversize=("x" * 256, *BAD), wrong=(5, *BAD)),
        "integration", body=lambda v: {"name": v, "roles": ["org.user"]}, good_status=201,
    ),
    Row(
        "customer filter", "rest", "GET", "/v1/conversations",
        text("/query/customer", oversize=("x" * 65, *BAD), wrong=None, surrogate=False),
        "{customer}", query=lambda v: {"customer": v},
    ),
    Row(
        "status filter", "rest", "GET", "/v1/conversations",
        text("/query/status", oversize=None, wrong=("closed", *BAD), surrogate=False),
        "open", query=lambda v: {"status": v},
    ),
    Row(
        "Str attribute filter", "rest", "GET", "/v1/conversations",
        text(
            "/query/custom.noteStr",
            oversize=("x" * 1025, 400, "value_too_long"),
            wrong=None,
            surrogate=False,
        ),
        "kept", query=lambda v: {"custom.noteStr": v},
    ),
    Row(
        "Num attribute filter", "rest", "GET", "/v1/conversations",
        (
            Case("nul", NUL, 400, "invalid_text", "/query/custom.priorityNum"),
            *number("/query/custom.priorityNum", "three", OVERFLOWING_FILTERS),
        ),
        "3.0", query=lambda v: {"custom.priorityNum": v},
    ),
    Row(
        "Bool attribute filter", "rest", "GET", "/v1/conversations",
        (Case("wrong type", "maybe", 400, "type_mismatch", "/query/custom.vipBool"),),
        "true", query=lambda v: {"custom.vipBool": v},
    ),
    Row(
        "page", "rest", "GET", "/v1/conversations",
        (
            Case("wrong type", "two", *BAD, "/query/page"),
            Case("overflow", "1" + "0" * 20, *BAD, "/query/page"),
            Case("nul", NUL, 400, "invalid_text", "/query/page"),
        ),
        "1", query=lambda v: {"page": v},
    ),
    Row(
        "page size", "rest", "GET", "/v1/customers",
        (
            Case("wrong type", "1.5", *BAD, "/query/pageSize"),
            Case("overflow", "1" + "0" * 20, *BAD, "/query/pageSize"),
        ),
        "10", query=lambda v: {"pageSize": v},
    ),
    Row(
        "customer id", "rest", "GET", "/v1/customers/{value}",
        text("/path/customer_id", oversize=("x" * 5000, 404, "customer_not_found"), wrong=None,
             surrogate=False),
        "{customer}",
    ),
    Row(
        "conversation id", "rest", "GET", "/v1/conversations/{value}/events",
        text("/path/conversation_id", oversize=("x" * 5000, 404, "conversation_not_found"),
             wrong=None, surrogate=False),
        "{conversation}",
    ),
)  # fmt: skip

CHAT_ROWS = (
    Row(
        "session brand", "chat", "POST", "/c/v1/sessions",
        text("/brandId", oversize=("x" * 300, 404, "brand_not_found"), wrong=(5, *BAD)),
        "{brand}", body=lambda v: {"brandId": v},  # 200: the session resumes
    ),
    Row(
        "settings brand", "chat", "GET", "/c/v1/settings",
        text("/query/brandId", oversize=("x" * 300, 404, "brand_not_found"), wrong=None,
             surrogate=False),
        "{brand}", query=lambda v: {"brandId": v},
    ),
    Row(
        "conversation title", "chat", "POST", "/c/v1/conversations",
        text("/title", oversize=("x" * 257, *BAD), wrong=(5, *BAD)),
        "Help", body=lambda v: {"title": v}, good_status=201,
    ),
    Row(
        "first message", "chat", "POST", "/c/v1/conversations",
        text("/message", oversize=("x" * 10_241, 400, "value_too_long"), wrong=(5, *BAD)),
        "hi", body=lambda v: {"message": v}, good_status=201,
    ),
    Row(
        "new conversation's attribute", "chat", "POST", "/c/v1/conversations",
        text(
            "/customAttributes/noteStr",
            oversize=("x" * 1025, 400, "value_too_long"),
            wrong=(5, 400, "type_mismatch"),
        ),
        "n", body=lambda v: {"customAttributes": {"noteStr": v}}, good_status=201,
    ),
    Row(
        "described Str attribute", "chat", "PATCH", CHAT_CONVERSATION,
        text(
            "/custom/noteStr",
            oversize=("x" * 1025, 400, "value_too_long"),
            wrong=({"a": 1}, 400, "type_mismatch"),
        ),
        "note", body=lambda v: {"custom": {"noteStr": v}},
    ),
    Row(
        "described Num attribute", "chat", "PATCH", CHAT_CONVERSATION,
        number("/custom/priorityNum", "3", OVERFLOWING_INTEGERS),
        2.5, body=lambda v: {"custom": {"priorityNum": v}},
    ),
    Row(
        "described attribute name", "chat", "PATCH", CHAT_CONVERSATION,
        text("/custom", oversize=("x" * 10_000, 400, "unknown_attribute"), wrong=None),
        "noteStr", body=lambda v: {"custom": {v: "x"}},
    ),
    Row(
        "sent message", "chat", "POST", CHAT_CONVERSATION + "/messages",
        text("/body", oversize=("x" * 10_241, 400, "value_too_long"), wrong=(5, *BAD)),
        "hello", body=lambda v: {"body": v}, good_status=201,
    ),
    Row(
        "sent payload", "chat", "POST", CHAT_CONVERSATION + "/messages",
        text("/payload", oversize=("x" * 1025, *BAD), wrong=(5, *BAD)),
        "p", body=lambda v: {"body": "hello", "payload": v}, good_status=201,
    ),
    Row(
        "described customer Str attribute", "chat", "PATCH", "/c/v1/customers/current",
        text(
            "/customAttributes/planStr",
            oversize=("x" * 1025, 400, "value_too_long"),
            wrong=(5, 400, "type_mismatch"),
        ),
        "pro", body=lambda v: {"customAttributes": {"planStr": v}},
    ),
    Row(
        "described customer Num attribute", "chat", "PATCH", "/c/v1/customers/current",
        number("/customAttributes/seatsNum", [1], OVERFLOWING_INTEGERS),
        1e300, body=lambda v: {"customAttributes": {"seatsNum": v}},
    ),
    Row(
        "described customer email", "chat", "PATCH", "/c/v1/customers/current",
        text(
            "/attributes/sharedEmails/0",
            oversize=(LONG_EMAIL, 400, "invalid_email"),
            wrong=(5, 400, "invalid_email"),
        ),
        "ada@example.com", body=lambda v: {"attributes": {"sharedEmails": [v]}},
    ),
    Row(
        "described customer phone", "chat", "PATCH", "/c/v1/customers/current",
        text(
            "/attributes/sharedPhones/0",
            oversize=("1" * 33, 400, "invalid_phone"),
            wrong=(5, 400, "invalid_phone"),
        ),
        "+1 555 0100", body=lambda v: {"attributes": {"sharedPhones": [v]}},
    ),
    Row(
        "login token", "chat", "POST", "/c/v1/login",
        text("/jwtToken", oversize=("x" * 100_000, 401, "invalid_token"), wrong=(5, *BAD)),
        "{jwt}", body=lambda v: {"jwtToken": v},
    ),
    Row(
        "chat page", "chat", "GET", "/c/v1/conversations",
        (
            Case("wrong type", "two", *BAD, "/query/page"),
            Case("overflow", "1" + "0" * 20, *BAD, "/query/page"),
            Case("nul", NUL, 400, "invalid_text", "/query/page"),
        ),
        "1", query=lambda v: {"page": v},
    ),
    Row(
        "chat conversation id", "chat", "GET", "/c/v1/conversations/{value}",
        text("/path/conversation_id", oversize=("x" * 5000, 404, "conversation_not_found"),
             wrong=None, surrogate=False),
        "{conversation}",
    ),
)  # fmt: skip


def _filled(value: Any, world: World) -> Any:
    """``value`` with each string that names one of the world's ids ("{customer}")
    replaced by the id."""
    if isinstance(value, dict):
        return {k: _filled(v, world) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value[1:-1] in world.ids:
        return world.ids[value[1:-1]]
    return value


@pytest.mark.parametrize("row", REST_ROWS + CHAT_ROWS, ids=lambda row: row.id)
async def test_each_bad_value_of_a_field_is_a_specific_4xx_that_changes_nothing(
    world: World, row: Row
) -> None:
    before = await world.snapshot()
    wrong: list[str] = []
    for case in row.cases:
        try:
            response = await row.send(world, case.value)
        except Exception as exc:  # the app raised: a 500 in production
            wrong.append(f"{case.kind}: the app raised {exc!r:.200}")
            continue
        got = response.json()["errors"][0] if response.status_code >= 400 else {}
        expected = (case.status, case.code, case.pointer or got.get("source", {}).get("pointer"))
        answered = (response.status_code, got.get("code"), got.get("source", {}).get("pointer"))
        if answered != expected:
            wrong.append(f"{case.kind}: expected {expected}, got {answered}: {response.text:.300}")
        elif await world.snapshot() != before:
            wrong.append(f"{case.kind}: {response.status_code} but the org changed")
    assert not wrong, "\n".join(wrong)
    good = await row.send(world, _filled(row.good, world))
    assert good.status_code == row.good_status, good.text


def test_the_table_gives_every_field_every_bad_value_it_can_carry() -> None:
    for row in REST_ROWS + CHAT_ROWS:
        kinds = {case.kind.split()[0] for case in row.cases}
        if "invalid_text" in {case.code for case in row.cases}:
            carried = {"nul", "lone"} if row.body is not None else {"nul"}
            assert carried <= kinds, row.id
        assert kinds - {"nul", "lone"}, f"{row.id}: only the text rule is tried"


# ---------------------------------------------------------------- the rule, one by one


def test_every_rest_route_holds_the_text_rule() -> None:
    """A router made without CheckedRoute would let NUL reach PostgreSQL again."""
    routes = [r for resource in RESOURCES for r in resource.router.routes]
    assert [r.path for r in routes if not isinstance(r, CheckedRoute)] == []
    documented = {p for p in build_rest_app().openapi()["paths"] if p.startswith("/v1/")}
    assert documented == {r.path for r in routes if isinstance(r, APIRoute)}


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b'{"name": "a\\u0000b"}', "/name"),
        (b'{"name": "a\\ud800"}', "/name"),
        (b'{"name": "\\udc00a"}', "/name"),
        (b'{"emails": ["a@example.com", "b\\u0000@example.com"]}', "/emails/1"),
        (b'{"custom": {"x\\u0000": 1}}', "/custom"),
        (b'{"custom": {"a/b~c": {"d\\ud800": 1}}}', "/custom/a~1b~0c"),
    ],
)
@pytest.mark.parametrize("api", ["rest", "chat"])
async def test_text_that_is_not_text_is_refused_with_a_pointer_by_both_apis(
    world: World, api: str, content: bytes, where: str
) -> None:
    before = await world.snapshot()
    headers = {"Content-Type": "application/json"}
    if api == "rest":
        response = await world.admin.patch(
            f"/v1/customers/{world.ids['customer']}", content=content, headers=headers
        )
    else:
        content = content.replace(b'"name"', b'"custom"').replace(b'"emails"', b'"custom"')
        where = where.replace("/name", "/custom").replace("/emails", "/custom")
        response = await world.chat.request(
            "PATCH", "/customers/current", content=content, headers=headers
        )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert (error["code"], error["source"]["pointer"]) == ("invalid_text", where)
    assert "NUL" in error["detail"] or "surrogate" in error["detail"]
    assert await world.snapshot() == before


async def test_the_rest_api_reads_bodies_as_the_client_api_does(world: World) -> None:
    """One parser (orjson): NaN and Infinity are not JSON on either API."""
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        content = b'{"custom": {"priorityNum": ' + literal + b"}}"
        headers = {"Content-Type": "application/json"}
        rest = await world.admin.patch(
            f"/v1/conversations/{world.ids['conversation']}", content=content, headers=headers
        )
        chat = await world.chat.request(
            "PATCH", f"/conversations/{world.ids['conversation']}", content=content, headers=headers
        )
        assert error_codes(rest) == error_codes(chat) == ["invalid_json"], (literal, rest.text)


@pytest.mark.parametrize("api", ["rest", "chat"])
async def test_a_number_is_stored_exactly_up_to_2_53_and_refused_beyond(
    world: World, api: str
) -> None:
    conversation = world.ids["conversation"]

    async def describe(value: Any) -> httpx.Response:
        content = json.dumps({"custom": {"priorityNum": value}}).encode()
        headers = {"Content-Type": "application/json"}
        if api == "rest":
            return await world.admin.patch(
                f"/v1/conversations/{conversation}", content=content, headers=headers
            )
        return await world.chat.request(
            "PATCH", f"/conversations/{conversation}", content=content, headers=headers
        )

    for value in (2**53, -(2**53), 1e300, 0.1):
        assert (await describe(value)).status_code == 200
        stored = (await world.admin.get(f"/v1/conversations/{conversation}")).json()
        assert stored["data"]["attributes"]["custom"]["priorityNum"] == value
    for value in (2**53 + 1, 2**64, 2**70, -(2**70), 10**30):
        response = await describe(value)
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["code"] == "type_mismatch"
        assert error["meta"] == {"attribute": "priorityNum"}
        assert "2^53" in error["detail"]
    stored = (await world.admin.get(f"/v1/conversations/{conversation}")).json()
    assert stored["data"]["attributes"]["custom"]["priorityNum"] == 0.1  # not rounded 2^70


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("priorityNum", "99999999999999999999999"),
        ("priorityNum", "1e400"),
        ("priorityNum", "NaN"),
        ("priorityNum", "inf"),
        ("priorityNum", "0x10"),
        ("priorityNum", "1_000"),
        ("vipBool", "yes"),
        ("noteStr", "x" * 1025),
        ("noteStr", "a\x00"),
    ],
)
async def test_a_filter_no_value_of_its_attribute_can_match_is_a_400_naming_it(
    world: World, name: str, raw: str
) -> None:
    response = await world.admin.get("/v1/conversations", params={f"custom.{name}": raw})
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["source"] == {"pointer": f"/query/custom.{name}"}
    assert name in error["detail"]


async def test_filters_that_can_match_still_find_what_they_did(world: World) -> None:
    conversation = world.ids["conversation"]
    described = await world.chat.describe(conversation, {"priorityNum": 3, "vipBool": True})
    assert described.status_code == 200, described.text
    for name, raw in (
        ("priorityNum", "3"),
        ("priorityNum", "3.0"),
        ("priorityNum", " +3 "),
        ("priorityNum", "3e0"),
        ("vipBool", "TRUE"),
        ("noteStr", "kept"),
    ):
        response = await world.admin.get("/v1/conversations", params={f"custom.{name}": raw})
        assert response.status_code == 200, response.text
        assert [c["id"] for c in response.json()["data"]] == [conversation], (name, raw)
    for raw in ("4", "2.5", "-3", "1e300", str(2**53)):
        response = await world.admin.get("/v1/conversations", params={"custom.priorityNum": raw})
        assert response.status_code == 200, response.text
        assert response.json()["data"] == [], raw


@pytest.mark.parametrize(
    "claims",
    [{"externalId": "ext\x00"}, {"externalId": "ext\ud800"}, {"email": "a\x00@example.com"}],
    ids=["nul_external_id", "surrogate_external_id", "nul_email"],
)
async def test_a_login_token_whose_claims_are_not_text_is_refused(
    world: World, claims: dict[str, str]
) -> None:
    before = await world.snapshot()
    secret = await world.services.chat.org_secret(world.setup.org.id)
    token = jwt.encode({"iat": int(time.time()), **claims}, secret, "HS256")
    response = await world.chat.request("POST", "/login", json={"jwtToken": token})
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "invalid_text"
    assert error["source"]["pointer"] == "/jwtToken/" + next(iter(claims))
    assert await world.snapshot() == before


async def test_the_console_inbox_refuses_a_page_beyond_the_last_possible_one(
    world: World, services: Services, setup: Setup
) -> None:
    email = f"ann-{setup.org.id}@example.com"
    await services.orgs.create_user(setup.org.id, email, "password1", role=UserRole.AGENT)
    login = await services.console.login(email, "password1")
    app = create_app(services.settings, services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://klatch.test",
        cookies={"klatch_console": login.token},
    ) as console:
        for page in ("1" + "0" * 20, "1000001"):
            response = await console.get("/console/inbox", params={"page": page})
            assert response.status_code == 400, response.text
            assert "pages 1 to 1000000" in response.text
        assert (await console.get("/console/inbox", params={"page": "1000000"})).status_code == 200
        filtered = await console.get(
            "/console/inbox", params={"attribute": "noteStr", "value": "a\x00"}
        )
        assert filtered.status_code == 400
