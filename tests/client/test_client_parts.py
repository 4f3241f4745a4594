"""The REST client's parts that need no server: the updated_at walk as a state
machine over pages (the boundary cases a server rarely produces on cue: a whole
page at one instant, a record repeated at the cursor), how criteria are joined,
how an error body is read, and webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import inspect
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from klatch.client import (
    ApiError,
    AsyncClient,
    Client,
    InvalidAttributes,
    NotFound,
    RateLimited,
    ServerError,
    Unavailable,
    sign_webhook,
    verify_webhook,
)
from klatch.client._base import MAX_CRITERIA, UpdatedAtWalk, with_criterion
from klatch.client.errors import api_error
from klatch.client.models import Json, Page


def record(ident: str, updated: str) -> Json:
    return {"type": "conversation", "id": ident, "attributes": {"updatedAt": updated}}


def page(records: list[Json], next_link: str | None) -> Page[Json]:
    return Page.parse({"data": records, "meta": {}, "links": {"next": next_link}}, dict)


T1, T2, T3 = (f"2026-01-01T00:00:0{n}.000Z" for n in (1, 2, 3))


def test_the_walk_requeries_from_the_cursor_and_drops_repeats_at_it() -> None:
    walk = UpdatedAtWalk("conversation", None, page_size=2, since=None, time_zone=None)
    first = walk.call()
    assert first.body == {
        "queryContext": "conversation",
        "sort": [{"conversation_updated_at": "asc"}],
    }
    assert dict(first.params) == {"pageSize": "2"}
    got = walk.take(page([record("a", T1), record("b", T2)], "/v1/customers/search?page=2"))
    assert [r["id"] for r in got] == ["a", "b"] and walk.cursor == T2 and not walk.done

    again = walk.call()  # page 1 again, from the cursor: no deep pages
    assert again.body["and"] == [{"conversation_updated_at": {"gte": T2}}]
    assert "page" not in dict(again.params)
    got = walk.take(page([record("b", T2), record("c", T3)], None))
    assert [r["id"] for r in got] == ["c"] and walk.done


def test_a_page_all_at_one_instant_is_read_on_by_its_next_link() -> None:
    walk = UpdatedAtWalk("customer", None, page_size=2, since=T1, time_zone=None)
    got = walk.take(
        page([record("a", T1), record("b", T1)], "/v1/customers/search?page=2&pageSize=2")
    )
    assert [r["id"] for r in got] == ["a", "b"]
    follow = walk.call()
    assert dict(follow.params) == {"page": "2", "pageSize": "2"}
    assert follow.body["and"] == [{"customer_updated_at": {"gte": T1}}]
    got = walk.take(page([record("c", T1), record("d", T2)], "/v1/customers/search?page=3"))
    assert [r["id"] for r in got] == ["c", "d"] and walk.cursor == T2
    got = walk.take(page([record("d", T2)], None))
    assert got == [] and walk.done


def test_the_walk_resumes_from_a_datetime_as_the_api_writes_times() -> None:
    since = datetime(2026, 1, 1, 1, 0, 1, tzinfo=timezone(timedelta(hours=1)))
    walk = UpdatedAtWalk("message", None, page_size=5, since=since, time_zone=None)
    assert walk.call().body["and"] == [{"message_updated_at": {"gte": T1}}]


def test_a_server_repeating_a_link_ends_the_walk() -> None:
    walk = UpdatedAtWalk("customer", None, page_size=1, since=T1, time_zone=None)
    walk.take(page([record("a", T1)], "/v1/customers/search?page=2"))
    walk.take(page([record("a", T1)], "/v1/customers/search?page=2"))
    assert walk.done


def test_the_walk_keeps_the_callers_criteria() -> None:
    mine = {"and": [{"conversation_status": {"equals": "open"}}], "or": [{"x": {"equals": 1}}]}
    walk = UpdatedAtWalk("conversation", mine, page_size=5, since=T1, time_zone="Europe/Paris")
    body = walk.call().body
    assert body["and"] == [
        {"conversation_status": {"equals": "open"}},
        {"conversation_updated_at": {"gte": T1}},
    ]
    assert body["or"] == mine["or"] and body["timeZone"] == "Europe/Paris"
    assert mine["and"] == [{"conversation_status": {"equals": "open"}}]  # not changed


def test_a_full_and_list_is_nested_rather_than_overfilled() -> None:
    full: dict[str, Any] = {"and": [{f"f{i}": {"equals": i}} for i in range(MAX_CRITERIA)]}
    joined = with_criterion(full, {"g": {"equals": 1}})
    assert joined["and"] == [{"and": full["and"]}, {"g": {"equals": 1}}]
    assert with_criterion({"and": {"a": {"equals": 1}}}, {"b": {"equals": 2}})["and"] == [
        {"a": {"equals": 1}},
        {"b": {"equals": 2}},
    ]


def answer(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_error_bodies_become_the_class_of_their_status() -> None:
    entries = [
        {
            "status": "400",
            "code": "unknown_attribute",
            "detail": "no colourStr",
            "source": {"pointer": "/custom/colourStr"},
            "meta": {"attribute": "colourStr"},
        },
        {
            "status": "400",
            "code": "type_mismatch",
            "detail": "not a number",
            "source": {"pointer": "/custom/priorityNum"},
            "meta": {"attribute": "priorityNum"},
        },
    ]
    error = api_error(answer(400, {"errors": entries}))
    assert isinstance(error, InvalidAttributes)
    assert error.code == "unknown_attribute" and error.detail == "no colourStr"
    assert [(d.attribute, d.code, d.pointer) for d in error.details] == [
        ("colourStr", "unknown_attribute", "/custom/colourStr"),
        ("priorityNum", "type_mismatch", "/custom/priorityNum"),
    ]
    kustomer = api_error(
        answer(404, {"errors": [{"code": "bad", "message": "gone", "source": {"parameter": "id"}}]})
    )
    assert isinstance(kustomer, NotFound) and kustomer.detail == "gone"
    assert kustomer.details[0].pointer == "id"
    limited = api_error(
        answer(429, {"errors": []}, **{"Retry-After": "7", "x-ratelimit-limit": "3"})
    )
    assert isinstance(limited, RateLimited) and limited.retry_after == 7 and limited.limit == 3
    html = api_error(httpx.Response(502, text="<html>bad gateway</html>"))
    assert isinstance(html, ServerError) and html.code == "http_502" and html.status == 502
    assert isinstance(api_error(answer(503, {"errors": [{"code": "unavailable"}]})), Unavailable)
    assert type(api_error(answer(418, {"errors": [{"code": "teapot"}]}))) is ApiError


def test_a_signature_verifies_only_for_its_token_and_exact_body() -> None:
    body = b'{"name":"kustomer.conversation.update","data":{}}'
    expected = hmac.new(b"tok", body, hashlib.sha256).hexdigest()
    assert sign_webhook("tok", body) == expected
    assert verify_webhook("tok", body, expected)
    assert verify_webhook("tok", bytearray(body), expected.upper())
    assert not verify_webhook("tok", body + b"\n", expected)
    assert not verify_webhook("other", body, expected)
    assert not verify_webhook("tok", body, "")
    assert not verify_webhook("tok", body, "é" * 64)
    assert not verify_webhook("", body, expected)
    with pytest.raises(TypeError):
        verify_webhook("tok", body.decode(), expected)  # type: ignore[arg-type]


def test_the_constructor_takes_keywords_only_and_checks_them() -> None:
    with pytest.raises(TypeError):
        Client("http://x", "k")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        Client(base_url="chat.example.com", api_key="k")
    with pytest.raises(ValueError):
        Client(base_url="http://x", api_key="")


def public_methods(kind: type) -> dict[str, Any]:
    return {
        n: getattr(kind, n)
        for n in dir(kind)
        if not n.startswith("_") and callable(getattr(kind, n))
    }


def test_both_clients_have_the_same_resources_and_methods() -> None:
    sync = Client(base_url="http://x", api_key="k")
    async_ = AsyncClient(base_url="http://x", api_key="k")
    names = ["customers", "conversations", "messages", "metadata", "keys", "search"]
    for name in [*names, "webhooks", "users"]:
        blocking, awaiting = type(getattr(sync, name)), type(getattr(async_, name))
        assert blocking.__name__ == awaiting.__name__
        methods, coroutines = public_methods(blocking), public_methods(awaiting)
        assert methods.keys() == coroutines.keys(), name
        for method, function in coroutines.items():
            walks = inspect.isasyncgenfunction(function) or method in ("iterate", "walk")
            assert walks or inspect.iscoroutinefunction(function), f"{name}.{method}"
            assert inspect.signature(function) == inspect.signature(methods[method]) or (
                str(inspect.signature(function)).replace("AsyncIterator", "Iterator")
                == str(inspect.signature(methods[method]))
            ), f"{name}.{method}"
    sync.close()
