"""``klatch.client``'s outbound webhooks against a real ``klatch serve`` and a
real receiver on 127.0.0.1, on SQLite and on PostgreSQL: a subscription made,
read, listed, changed and deleted through the client; a change delivered signed
and verified with ``verify_webhook``; the delivery log read, a delivery sent
again, a test event sent."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from klatch.client import (
    AsyncClient,
    Client,
    InvalidArguments,
    NotFound,
    Transaction,
    verify_webhook,
)
from support import POSTGRES_URL, KlatchProcess, fresh_postgres_database, need_service, prepare

Delivery = tuple[dict[str, str], bytes]


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every request as it arrived."""

    def __init__(self) -> None:
        received = self.received = []  # type: list[Delivery]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                headers = {k.lower(): v for k, v in self.headers.items()}
                received.append((headers, self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 15) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"the receiver got {len(self.received)} of {count} deliveries")
            time.sleep(0.05)
        return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A server that may deliver to loopback over http://: its URL and admin key."""
    tmp: Path = tmp_path_factory.mktemp(f"rest-webhooks-{request.param}")
    with ExitStack() as stack:
        settings = {
            "KLATCH_WEBHOOK_ALLOW_PRIVATE": "1",
            "KLATCH_WEBHOOK_ALLOW_HTTP": "1",
            "KLATCH_WEBHOOK_POLL_SECONDS": "0.1",
        }
        if request.param == "postgres":
            url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
            settings["KLATCH_DATABASE_URL"] = stack.enter_context(
                fresh_postgres_database(url, "clienthooks")
            )
        env, keys = prepare(tmp, **settings)
        server = stack.enter_context(KlatchProcess(env, tmp, tmp / "server.log"))
        yield server.url, keys["adminKey"]


@pytest.fixture
def klatch(served: tuple[str, str]) -> Iterator[Client]:
    with Client(base_url=served[0], api_key=served[1]) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def delivered(klatch: Client, webhook_id: str, count: int) -> list[Transaction]:
    """The log once ``count`` deliveries are done (the log is written after the answer)."""
    deadline = time.monotonic() + 15
    while True:
        log = klatch.webhooks.transactions(webhook_id).items
        done = [t for t in log if t.state == "delivered"]
        if len(done) >= count:
            return log
        if time.monotonic() > deadline:
            pytest.fail(f"{len(done)} of {count} deliveries logged as delivered: {log}")
        time.sleep(0.1)


def test_a_subscription_delivers_signed_changes(klatch: Client, receiver: Receiver) -> None:
    assert "kustomer.conversation.update" in klatch.webhooks.events()
    hook = klatch.webhooks.create(
        name=f"orders {uuid.uuid4().hex[:8]}",
        url=receiver.url,
        events=["kustomer.conversation.update"],
        headers={"X-Shop": "demo"},
    )
    try:
        assert hook.token and hook.enabled and hook.url == receiver.url
        assert hook.headers == [{"name": "X-Shop", "value": "demo"}]
        assert klatch.webhooks.get(hook.id).name == hook.name
        assert hook.id in {h.id for h in klatch.webhooks.list()}

        customer = klatch.customers.create(name="Hooked")
        conv = klatch.conversations.create(customer.id)
        klatch.conversations.update(conv.id, custom={"orderNumberStr": "H-1"})
        headers, body = receiver.wait_for(1)[0]
        signature = headers["x-kustomer-webhook-signature"]
        assert headers["x-kustomer-webhook-event"] == "kustomer.conversation.update"
        assert headers["x-shop"] == "demo"
        assert verify_webhook(hook.token, body, signature)
        assert not verify_webhook(hook.token, body + b" ", signature)
        assert not verify_webhook("another token", body, signature)

        (logged,) = delivered(klatch, hook.id, 1)
        assert logged.event == "kustomer.conversation.update" and logged.data_id == conv.id
        assert logged.status_code == 200 and logged.attempts[-1].status_code == 200
        assert logged.attempts[-1].duration_ms is not None and logged.created_at is not None
        again = klatch.webhooks.redeliver(hook.id, logged.id)
        assert again.id == logged.id
        again_headers, again_body = receiver.wait_for(2)[1]
        assert again_body == body
        assert verify_webhook(hook.token, again_body, again_headers["x-kustomer-webhook-signature"])

        tested = klatch.webhooks.test(hook.id)
        assert tested.event == "kustomer.webhook.test"
        test_headers, test_body = receiver.wait_for(3)[2]
        assert test_headers["x-kustomer-webhook-event"] == "kustomer.webhook.test"
        assert verify_webhook(hook.token, test_body, test_headers["x-kustomer-webhook-signature"])

        disabled = klatch.webhooks.update(hook.id, enabled=False)
        assert disabled.enabled is False and klatch.webhooks.get(hook.id).enabled is False
    finally:
        klatch.webhooks.delete(hook.id)
    with pytest.raises(NotFound):
        klatch.webhooks.get(hook.id)


def test_a_bad_subscription_is_refused_naming_its_field(klatch: Client) -> None:
    with pytest.raises(InvalidArguments) as bad:
        klatch.webhooks.create(
            name="bad", url="ftp://example.com/x", events=["kustomer.customer.create"]
        )
    assert bad.value.status == 400 and bad.value.details[0].pointer == "/url"
    with pytest.raises(InvalidArguments) as unknown:
        klatch.webhooks.create(name="bad", url="https://example.com/x", events=["no.such"])
    assert unknown.value.details[0].pointer and "events" in unknown.value.details[0].pointer


async def test_the_async_client_manages_subscriptions_too(
    served: tuple[str, str], receiver: Receiver
) -> None:
    async with AsyncClient(base_url=served[0], api_key=served[1]) as klatch:
        assert "kustomer.customer.create" in await klatch.webhooks.events()
        hook = await klatch.webhooks.create(
            name="async", url=receiver.url, events=["kustomer.customer.create"]
        )
        assert hook.id in {h.id for h in await klatch.webhooks.list()}
        changed = await klatch.webhooks.update(hook.id, headers=[{"name": "X-A", "value": "1"}])
        assert changed.headers == [{"name": "X-A", "value": "1"}]
        await klatch.customers.create(name="Announced")
        headers, body = (await asyncio.to_thread(receiver.wait_for, 1))[0]
        assert headers["x-kustomer-webhook-event"] == "kustomer.customer.create"
        assert hook.token and verify_webhook(
            hook.token, body, headers["x-kustomer-webhook-signature"]
        )
        await klatch.webhooks.delete(hook.id)
        with pytest.raises(NotFound):
            await klatch.webhooks.transactions(hook.id)
