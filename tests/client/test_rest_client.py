"""``klatch.client`` against a real ``klatch serve``, on SQLite and on PostgreSQL:
every resource through ``Client`` (and the same calls through ``AsyncClient``),
errors with the server's codes in the exception tree, pages walked to the end,
a search walked by ``updated_at``, and 429s retried after ``Retry-After``
(webhooks: ``test_rest_client_webhooks.py``).

One server per backend serves the module; each test makes its own customers and
conversations (unique markers), so tests never read each other's data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from klatch.client import (
    ApiError,
    AsyncClient,
    Client,
    ConnectionFailed,
    Conversation,
    Customer,
    Forbidden,
    InvalidArguments,
    InvalidAttributes,
    NotFound,
    RateLimited,
    Unauthorized,
)
from klatch.client.models import parse_time
from support import (
    POSTGRES_URL,
    KlatchProcess,
    free_port,
    fresh_postgres_database,
    need_service,
    prepare,
)


@dataclass
class Served:
    server: KlatchProcess
    keys: dict[str, str]

    @property
    def admin_key(self) -> str:
        return self.keys["adminKey"]

    def client(self, **options: Any) -> Client:
        return Client(base_url=self.server.url, api_key=self.admin_key, **options)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp(f"rest-client-{request.param}")
    with ExitStack() as stack:
        settings: dict[str, str] = {}
        if request.param == "postgres":
            url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
            settings["KLATCH_DATABASE_URL"] = stack.enter_context(
                fresh_postgres_database(url, "client")
            )
        env, keys = prepare(tmp, **settings)
        server = stack.enter_context(KlatchProcess(env, tmp, tmp / "server.log"))
        with Client(base_url=server.url, api_key=keys["adminKey"]) as setup:
            setup.metadata.put(
                "conversation",
                {
                    "batchStr": {"displayName": "Batch"},
                    "priorityNum": {"displayName": "Priority", "sdkWritable": False},
                    "vipBool": {"displayName": "VIP"},
                    "deliveryAt": {"displayName": "Delivery"},
                },
            )
            setup.metadata.put("customer", {"tierStr": {"displayName": "Tier"}})
        yield Served(server, keys)


@pytest.fixture
def klatch(served: Served) -> Iterator[Client]:
    with served.client() as client:
        yield client


@pytest.fixture
async def aklatch(served: Served) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url=served.server.url, api_key=served.admin_key) as client:
        yield client


def marker() -> str:
    return uuid.uuid4().hex[:12]


# -- customers, conversations, messages


def test_a_customer_with_conversations_and_messages_round_trips(klatch: Client) -> None:
    mark = marker()
    customer = klatch.customers.create(
        name="Ada",
        email=f"ada-{mark}@example.com",
        external_id=f"ext-{mark}",
        custom={"tierStr": "gold"},
    )
    assert isinstance(customer, Customer)
    assert customer.name == "Ada" and customer.external_id == f"ext-{mark}"
    assert customer.custom == {"tierStr": "gold"}
    assert customer.created_at is not None and customer.created_at.tzinfo is not None
    assert klatch.customers.get(customer.id).email == f"ada-{mark}@example.com"
    renamed = klatch.customers.update(customer.id, name="Ada L.", custom={"tierStr": None})
    assert renamed.name == "Ada L." and renamed.custom == {}

    conv = klatch.conversations.create(
        customer.id, name="Order", custom={"orderNumberStr": "A-1", "priorityNum": 2}
    )
    assert isinstance(conv, Conversation)
    assert conv.customer_id == customer.id and conv.status == "open"
    merged = klatch.conversations.update(conv.id, custom={"vipBool": True})
    assert merged.custom == {"orderNumberStr": "A-1", "priorityNum": 2, "vipBool": True}
    replaced = klatch.conversations.update(conv.id, custom={"batchStr": mark}, replace=True)
    assert replaced.custom == {"batchStr": mark}
    assert (replaced.rev or 0) > (conv.rev or 0)

    when = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=timezone(timedelta(hours=2)))
    dated = klatch.conversations.update(conv.id, custom={"deliveryAt": when})
    assert parse_time(dated.custom["deliveryAt"]) == when  # sent as UTC ISO-8601
    with pytest.raises(ValueError, match="time zone"):
        klatch.conversations.update(conv.id, custom={"deliveryAt": datetime(2026, 3, 4)})

    sent = klatch.messages.send(conv.id, "It ships today")
    assert sent.body == "It ships today" and sent.direction == "out"
    assert sent.conversation_id == conv.id
    klatch.messages.typing(conv.id)
    assert [m.body for m in klatch.messages.list(conv.id)] == ["It ships today"]

    history = klatch.conversations.history(conv.id)
    assert history and all(e.created_at is not None for e in history)
    ended = klatch.conversations.end(conv.id)
    assert ended.status == "done" and ended.ended
    assert [c.id for c in klatch.customers.conversations(customer.id)] == [conv.id]


def test_iterate_walks_every_page_once(klatch: Client) -> None:
    customer = klatch.customers.create(name="Pages")
    made = [klatch.conversations.create(customer.id, name=f"c{i}").id for i in range(7)]
    first = klatch.conversations.list(customer_id=customer.id, page_size=3)
    assert len(first) == 3 and first.next is not None and first.page == 1
    walked = [c.id for c in klatch.conversations.iterate(customer_id=customer.id, page_size=3)]
    assert sorted(walked) == sorted(made) and len(walked) == 7

    conv = made[0]
    for i in range(5):
        klatch.messages.send(conv, f"m{i}")
    assert [m.body for m in klatch.messages.iterate(conv, page_size=2)] == [
        f"m{i}" for i in range(5)
    ]
    every = {c.id for c in klatch.customers.iterate(page_size=2)}
    assert customer.id in every


def test_a_conversation_list_filters_by_custom_attribute(klatch: Client) -> None:
    customer = klatch.customers.create(name="Filter")
    mark = marker()
    wanted = klatch.conversations.create(customer.id, custom={"batchStr": mark, "vipBool": True})
    klatch.conversations.create(customer.id, custom={"batchStr": mark, "vipBool": False})
    found = klatch.conversations.list(custom={"batchStr": mark, "vipBool": True})
    assert [c.id for c in found] == [wanted.id]


# -- errors


def test_errors_carry_status_code_detail_and_one_detail_per_attribute(klatch: Client) -> None:
    customer = klatch.customers.create(name="Errors")
    conv = klatch.conversations.create(customer.id)
    with pytest.raises(InvalidAttributes) as bad:
        klatch.conversations.update(conv.id, custom={"colourStr": "red", "priorityNum": "high"})
    error = bad.value
    assert isinstance(error, InvalidArguments) and isinstance(error, ApiError)
    assert error.status == 400
    assert {d.attribute for d in error.details} == {"colourStr", "priorityNum"}
    assert {d.code for d in error.details} == {"unknown_attribute", "type_mismatch"}
    assert error.code == error.details[0].code
    assert all(d.pointer and d.pointer.startswith("/custom/") for d in error.details)
    assert klatch.conversations.get(conv.id).custom == {}  # nothing was written

    with pytest.raises(NotFound) as missing:
        klatch.conversations.get("0" * 24)
    assert missing.value.status == 404 and missing.value.code.endswith("not_found")
    assert missing.value.detail

    with pytest.raises(InvalidArguments) as status:
        klatch.conversations.update(conv.id, status="sideways")
    assert status.value.status == 400 and status.value.details


def test_roles_and_keys(served: Served, klatch: Client) -> None:
    created = klatch.keys.create(f"integration {marker()}", role="org.user")
    assert created.token and created.roles == ["org.user"]
    assert created.id in {k.id for k in klatch.keys.list()}
    assert all(k.token is None for k in klatch.keys.list())

    with Client(base_url=served.server.url, api_key=created.token) as agent:
        assert agent.customers.create(name="By an agent key").name == "By an agent key"
        with pytest.raises(Forbidden) as forbidden:
            agent.keys.list()
        assert forbidden.value.status == 403 and forbidden.value.code.startswith("forbidden")
        klatch.keys.revoke(created.id)
        with pytest.raises(Unauthorized) as revoked:
            agent.customers.list()
        assert revoked.value.status == 401

    with Client(base_url=served.server.url, api_key=served.keys["trackingKey"]) as tracking:
        with pytest.raises(Forbidden):
            tracking.customers.list()


def test_metadata_definitions(klatch: Client) -> None:
    name = f"note{marker()}Str"
    defined = klatch.metadata.put("conversation", {name: {"displayName": "Note"}})
    prop = defined.properties[name]
    assert prop.display_name == "Note" and prop.type == "string" and prop.sdk_writable
    assert name in klatch.metadata.get("conversation").properties
    klatch.metadata.delete_property("conversation", name)
    assert name not in klatch.metadata.get("conversation").properties
    with pytest.raises(ApiError) as bad:
        klatch.metadata.put("conversation", {"bad name": {"displayName": "x"}})
    assert bad.value.status == 400


def test_an_unreachable_server_is_connection_failed() -> None:
    with Client(base_url=f"http://127.0.0.1:{free_port()}", api_key="ka_x", timeout=2) as dead:
        with pytest.raises(ConnectionFailed) as failed:
            dead.customers.list()
    assert failed.value.status is None and failed.value.code == "connection_failed"


def test_ids_stay_one_path_segment(klatch: Client) -> None:
    with pytest.raises(NotFound):
        klatch.conversations.get("../customers")
    with pytest.raises(ValueError):
        klatch.conversations.get("")


# -- the async client


async def test_the_async_client_does_the_same(aklatch: AsyncClient) -> None:
    customer = await aklatch.customers.create(name="Async")
    conv = await aklatch.conversations.create(customer.id, custom={"orderNumberStr": "B-2"})
    updated = await aklatch.conversations.update(conv.id, custom={"priorityNum": 5})
    assert updated.custom == {"orderNumberStr": "B-2", "priorityNum": 5}
    for i in range(3):
        await aklatch.messages.send(conv.id, f"a{i}")
    bodies = [m.body async for m in aklatch.messages.iterate(conv.id, page_size=2)]
    assert bodies == ["a0", "a1", "a2"]
    with pytest.raises(InvalidAttributes) as bad:
        await aklatch.conversations.update(conv.id, custom={"priorityNum": "x"})
    assert bad.value.details[0].attribute == "priorityNum"
    assert (await aklatch.metadata.get("conversation")).properties["priorityNum"].type
    assert (await aklatch.users.current()).id


# -- users (GET /v1/users, /v1/users/current)


def test_users_include_the_key_as_a_machine_user(klatch: Client) -> None:
    me = klatch.users.current()
    assert me.user_type == "machine" and me.roles == ["org.admin"]
    assert klatch.users.get(me.id).id == me.id
    assert me.id in {u.id for u in klatch.users.iterate(page_size=1)}
    assert klatch.users.list().page == 1


# -- search (POST /v1/customers/search)


def test_search_by_custom_attribute(klatch: Client) -> None:
    customer = klatch.customers.create(name="Searcher", custom={"tierStr": f"t{marker()}"})
    mark = marker()
    wanted = klatch.conversations.create(customer.id, custom={"batchStr": mark, "priorityNum": 7})
    klatch.conversations.create(customer.id, custom={"batchStr": mark, "priorityNum": 1})
    found = klatch.search.query(
        "conversation",
        {
            "and": [
                {"conversation_custom_batchStr": {"equals": mark}},
                {"conversation_custom_priorityNum": {"gte": 5}},
            ]
        },
    )
    assert [c.id for c in found] == [wanted.id]
    assert isinstance(found.items[0], Conversation) and found.total == 1
    customers = klatch.search.query(
        "customer", {"and": [{"customer_custom_tierStr": {"equals": customer.custom["tierStr"]}}]}
    )
    assert [c.id for c in customers] == [customer.id]
    assert isinstance(customers.items[0], Customer)
    with pytest.raises(InvalidArguments) as bad:
        klatch.search.query(
            "conversation", {"and": [{"conversation_no_such_field": {"equals": 1}}]}
        )
    assert "conversation_no_such_field" in bad.value.detail


def test_search_walk_by_updated_at_returns_every_record_once(klatch: Client) -> None:
    customer = klatch.customers.create(name="Walker")
    mark = marker()
    made = {
        klatch.conversations.create(customer.id, custom={"batchStr": mark}).id for _ in range(11)
    }
    criteria = {"and": [{"conversation_custom_batchStr": {"equals": mark}}]}
    records = list(klatch.search.walk("conversation", criteria, page_size=3))
    walked = [c.id for c in records]
    assert len(walked) == len(set(walked)) == 11 and set(walked) == made
    times = [c.updated_at for c in records]
    assert all(t is not None for t in times) and times == sorted(times)  # type: ignore[type-var]

    # A later sync resumes from the last updatedAt it kept (gte: the boundary again).
    since = records[5].raw["attributes"]["updatedAt"]
    resumed = [c.id for c in klatch.search.walk("conversation", criteria, since=since)]
    assert set(walked[5:]) <= set(resumed) <= made and len(resumed) == len(set(resumed))

    # A record changed during a walk comes again, changed.
    seen: list[str] = []
    for conv in klatch.search.walk("conversation", criteria, page_size=4):
        if not seen:
            klatch.conversations.update(conv.id, custom={"vipBool": True})
        seen.append(conv.id)
    assert set(seen) == made and seen.count(walked[0]) == 2 and len(seen) == 12

    pages = klatch.search.query(
        "conversation", criteria, sort=[{"conversation_updated_at": "asc"}], page_size=3
    )
    assert pages.total == 11 and pages.next is not None
    on_one = {"and": [{"message_conversation_id": {"equals": walked[0]}}]}
    klatch.messages.send(walked[0], "found by the walk")
    assert [m.body for m in klatch.search.walk("message", on_one)] == ["found by the walk"]


async def test_the_async_search_walk(aklatch: AsyncClient) -> None:
    customer = await aklatch.customers.create(name="Async walker")
    mark = marker()
    made = {
        (await aklatch.conversations.create(customer.id, custom={"batchStr": mark})).id
        for _ in range(5)
    }
    criteria = {"and": [{"conversation_custom_batchStr": {"equals": mark}}]}
    walked = [c.id async for c in aklatch.search.walk("conversation", criteria, page_size=2)]
    assert sorted(walked) == sorted(made)


# -- 429 and Retry-After


class Counting(httpx.HTTPTransport):
    """The real HTTP transport, remembering each answer's status."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Served]:
    env, keys = prepare(tmp_path, KLATCH_RATE_LIMIT_REST="3")
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        yield Served(server, keys)


def exhaust(served: Served) -> None:
    """Use up the key's window, with at least 2 s of it left (so the next request
    is still refused, not the first of a new window)."""
    with served.client(max_retries=0) as raw:
        with pytest.raises(RateLimited) as refused:
            for _ in range(10):
                raw.customers.list()
        if (refused.value.retry_after or 0) <= 2:
            time.sleep(3)
            exhaust(served)


def test_a_429_past_the_bounds_raises_with_retry_after(limited: Served) -> None:
    exhaust(limited)
    with limited.client(max_retries=0) as none:
        with pytest.raises(RateLimited) as limited_error:
            none.customers.list()
    error = limited_error.value
    assert error.status == 429 and error.code == "rate_limited"
    assert error.retry_after is not None and 1 <= error.retry_after <= 60
    assert error.limit == 3 and error.reset is not None and error.reset > time.time() - 1
    counting = Counting()
    with limited.client(max_retry_wait=0.5, transport=counting) as impatient:
        with pytest.raises(RateLimited):
            impatient.customers.list()
    assert counting.statuses == [429]  # Retry-After (>= 1 s) is past the bound: no retry


def test_a_429_is_retried_after_retry_after(limited: Served) -> None:
    exhaust(limited)
    counting = Counting()
    with limited.client(max_retries=1, max_retry_wait=61, transport=counting) as patient:
        assert patient.customers.list().page == 1
    assert counting.statuses[0] == 429 and counting.statuses[-1] == 200
    assert len(counting.statuses) == 2
