"""``klatch.client``'s messages against a real ``klatch serve``, on SQLite and on
PostgreSQL: a reply sent with custom attributes, read back by id, its custom
merged (None clears a key), the server's refusals as ``InvalidAttributes`` and
``NotFound``; the same through ``AsyncClient``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from klatch.client import AsyncClient, Client, InvalidAttributes, Message, NotFound
from support import POSTGRES_URL, KlatchProcess, fresh_postgres_database, need_service, prepare


@dataclass
class Served:
    url: str
    admin_key: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp(f"rest-client-messages-{request.param}")
    with ExitStack() as stack:
        settings: dict[str, str] = {}
        if request.param == "postgres":
            url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
            settings["KLATCH_DATABASE_URL"] = stack.enter_context(
                fresh_postgres_database(url, "client_messages")
            )
        env, keys = prepare(tmp, **settings)
        server = stack.enter_context(KlatchProcess(env, tmp, tmp / "server.log"))
        with Client(base_url=server.url, api_key=keys["adminKey"]) as setup:
            setup.metadata.put("message", {"intentStr": {"displayName": "Intent"}, "scoreNum": {}})
        yield Served(server.url, keys["adminKey"])


@pytest.fixture
def klatch(served: Served) -> Iterator[Client]:
    with Client(base_url=served.url, api_key=served.admin_key) as client:
        yield client


def _conversation(klatch: Client) -> str:
    customer = klatch.customers.create(name="Ada")
    return klatch.conversations.create(customer.id, name="Order").id


def test_a_reply_with_custom_is_read_back_and_merged(klatch: Client) -> None:
    conv_id = _conversation(klatch)
    sent = klatch.messages.send(conv_id, "It ships today", custom={"intentStr": "shipping"})
    assert isinstance(sent, Message)
    assert sent.custom == {"intentStr": "shipping"} and sent.conversation_id == conv_id

    got = klatch.messages.get(sent.id)
    assert got.raw == sent.raw
    merged = klatch.messages.update(sent.id, custom={"scoreNum": 0.5, "intentStr": None})
    assert merged.custom == {"scoreNum": 0.5}
    assert merged.updated_at is not None and sent.created_at is not None
    assert merged.updated_at >= sent.created_at
    assert klatch.messages.get(sent.id).custom == {"scoreNum": 0.5}
    assert [m.custom for m in klatch.messages.list(conv_id)] == [{"scoreNum": 0.5}]


def test_refusals_are_the_servers_and_change_nothing(klatch: Client) -> None:
    sent = klatch.messages.send(_conversation(klatch), "Hi", custom={"scoreNum": 1})
    with pytest.raises(InvalidAttributes) as bad:
        klatch.messages.update(sent.id, custom={"scoreNum": "high", "ghostStr": "x"})
    assert {d.attribute for d in bad.value.details} == {"scoreNum", "ghostStr"}
    assert {d.code for d in bad.value.details} == {"type_mismatch", "unknown_attribute"}
    assert klatch.messages.get(sent.id).custom == {"scoreNum": 1}
    with pytest.raises(NotFound) as missing:
        klatch.messages.get("0" * 24)
    assert missing.value.code == "message_not_found"


async def test_the_async_client_makes_the_same_calls(served: Served, klatch: Client) -> None:
    conv_id = _conversation(klatch)
    async with AsyncClient(base_url=served.url, api_key=served.admin_key) as aklatch:
        sent = await aklatch.messages.send(conv_id, "Hello", custom={"intentStr": "greeting"})
        assert (await aklatch.messages.get(sent.id)).custom == {"intentStr": "greeting"}
        updated = await aklatch.messages.update(sent.id, custom={"scoreNum": 3})
        assert updated.custom == {"intentStr": "greeting", "scoreNum": 3}
        with pytest.raises(InvalidAttributes):
            await aklatch.messages.update(sent.id, custom={"scoreNum": "x"})
