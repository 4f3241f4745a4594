"""``/metrics`` and the JSON logs, on a real ``klatch serve`` process.

Each test runs a server of its own (a process's metrics are its own), scrapes it
as Prometheus would (the client library's text-format parser) and checks that
the numbers move with what the test did: requests by route template, describes,
commits, appended events, sockets, rate-limit refusals, webhook deliveries,
failures and queue depth; the bus's lag between two processes on Redis. The logs
test reads the server's own output.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from support import REDIS_URL, KlatchProcess, Receiver, free_port, need_service, prepare

TOKEN = "scrape-" + "x" * 24
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: httpx.Client, token: str = TOKEN, path: str = "/metrics") -> Samples:
    """Every sample of a scrape, by name and labels, parsed as Prometheus does."""
    response = http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@contextmanager
def server(tmp_path: Path, **settings: str) -> Iterator[tuple[KlatchProcess, dict[str, str]]]:
    env, keys = prepare(tmp_path, KLATCH_METRICS_TOKEN=TOKEN, **settings)
    with KlatchProcess(env, tmp_path, tmp_path / "serve.log") as process:
        yield process, keys


def chat_headers(http: httpx.Client, tracking: str) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {tracking}"}
    token = http.post("/c/v1/sessions", headers=auth).json()["sessionToken"]
    return {**auth, "X-Klatch-Session": token}


def test_metrics_move_with_describes_requests_commits_and_events(tmp_path: Path) -> None:
    with server(tmp_path) as (process, keys), httpx.Client(base_url=process.url) as http:
        before = scrape(http)
        chat = chat_headers(http, keys["trackingKey"])
        created = http.post("/c/v1/conversations", headers=chat, json={"message": "hi"})
        conv = created.json()["conversationId"]
        path = f"/c/v1/conversations/{conv}"
        for number in ("A-1", "A-2", "A-3"):
            described = http.patch(path, headers=chat, json={"custom": {"orderNumberStr": number}})
            assert described.status_code == 200, described.text
        refused = http.patch(path, headers=chat, json={"custom": {"colourStr": "red"}})
        assert refused.status_code == 400
        after = scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    describes = "klatch_describes_total"
    assert moved(describes, klass="conversation", caller="sdk", outcome="stored") == 3
    assert moved(describes, klass="conversation", caller="sdk", outcome="refused") == 1
    # One series per route template, not per conversation id.
    route = {"route": "/c/v1/conversations/{conversation_id}", "method": "PATCH"}
    assert moved("klatch_http_requests_total", **route, status="200") == 3
    assert moved("klatch_http_requests_total", **route, status="400") == 1
    assert moved("klatch_http_request_duration_seconds_count", **route) == 4
    assert not any(conv in str(labels) for _, labels in after)
    # Commits: the session, the conversation and three describes at least.
    assert moved("klatch_db_commit_batch_units_count", backend="sqlite") >= 5
    assert moved("klatch_db_commit_duration_seconds_count", backend="sqlite") >= 5
    assert moved("klatch_events_appended_total", type="conversation.created") == 1
    assert moved("klatch_events_appended_total", type="message.created") == 1
    assert moved("klatch_events_appended_total", type="conversation.updated") == 3
    assert value(after, "klatch_build_info", version=keys_version(after)) == 1


def keys_version(samples: Samples) -> str:
    for name, labels in samples:
        if name == "klatch_build_info":
            return dict(labels)["version"]
    raise AssertionError("no klatch_build_info")


def test_unmatched_paths_share_one_series(tmp_path: Path) -> None:
    with server(tmp_path) as (process, _), httpx.Client(base_url=process.url) as http:
        for n in range(3):
            assert http.get(f"/nothing/here/{n}").status_code == 404
        assert http.get("/chat-web/core.js").status_code == 200
        samples = scrape(http)
    requests = "klatch_http_requests_total"
    assert value(samples, requests, route="<unmatched>", method="GET", status="404") == 3
    assert value(samples, requests, route="/chat-web/{path}", method="GET", status="200") == 1
    assert not any("/nothing/here" in str(labels) for (_, labels) in samples)


def test_metrics_need_the_token_and_are_not_served_without_one(tmp_path: Path) -> None:
    with server(tmp_path) as (process, keys), httpx.Client(base_url=process.url) as http:
        assert http.get("/metrics").status_code == 401
        wrong = http.get("/metrics", headers={"Authorization": "Bearer " + "y" * 30})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        # An API key is not the metrics token either.
        admin = http.get("/metrics", headers={"Authorization": f"Bearer {keys['adminKey']}"})
        assert admin.status_code == 401
        assert scrape(http)
    (tmp_path / "no-token").mkdir()
    env, _ = prepare(tmp_path / "no-token")
    with (
        KlatchProcess(env, tmp_path, tmp_path / "plain.log") as plain,
        httpx.Client(base_url=plain.url) as http,
    ):
        assert http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_metrics_on_a_separate_address(tmp_path: Path) -> None:
    port = free_port()
    with (
        server(tmp_path, KLATCH_METRICS_ADDRESS=f"127.0.0.1:{port}") as (process, _),
        httpx.Client(base_url=process.url) as main,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as private,
    ):
        assert main.get("/healthz").status_code == 200
        assert main.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        assert private.get("/metrics").status_code == 401
        samples = scrape(private)
        route = {"route": "/healthz", "method": "GET", "status": "200"}
        assert value(samples, "klatch_http_requests_total", **route) >= 1


def test_sockets_by_kind_and_rate_limit_refusals(tmp_path: Path) -> None:
    async def scenario(process: KlatchProcess, keys: dict[str, str]) -> tuple[Samples, Samples]:
        with httpx.Client(base_url=process.url) as http:
            agent = f"{process.ws_url}/v1/realtime?key={keys['adminKey']}"
            chat = chat_headers(http, keys["trackingKey"])
            session = chat["X-Klatch-Session"]
            browser = f"{process.ws_url}/c/v1/realtime?key={keys['trackingKey']}&session={session}"
            async with websockets.connect(agent) as a, websockets.connect(browser) as b:
                for socket in (a, b):
                    assert json.loads(await socket.recv())["op"] == "hello"
                open_ = scrape(http)
            # Three requests of the session are allowed per minute; two more are not.
            for _ in range(5):
                http.get("/c/v1/conversations", headers=chat)
            return open_, await closed(http)

    async def closed(http: httpx.Client) -> Samples:
        for _ in range(100):  # the server notices the closes as they arrive
            samples = scrape(http)
            if value(samples, "klatch_websocket_connections", kind="api_key") == 0:
                return samples
            await asyncio.sleep(0.05)
        raise AssertionError("the agent socket is still counted as open")

    with server(tmp_path, KLATCH_RATE_LIMIT_SESSION="3") as (process, keys):
        during, after = asyncio.run(scenario(process, keys))
    gauge = "klatch_websocket_connections"
    assert value(during, gauge, kind="api_key") == 1
    assert value(during, gauge, kind="chat_session") == 1
    assert value(after, gauge, kind="chat_session") == 0
    assert value(after, "klatch_websocket_connections_opened_total", kind="api_key") == 1
    assert value(after, "klatch_rate_limit_refusals_total", limit="session") == 2


def test_webhook_deliveries_failures_and_queue_depth_move(tmp_path: Path) -> None:
    """A receiver that is down: the failed attempts are counted by reason and the
    delivery waits in the queue (its next retry is ten minutes away); once it is up
    and the delivery is sent again, it is counted delivered and the queue is empty."""
    receiver = Receiver()
    receiver.stop()
    settings = {
        "KLATCH_WEBHOOK_ALLOW_PRIVATE": "1",
        "KLATCH_WEBHOOK_ALLOW_HTTP": "1",
        "KLATCH_WEBHOOK_RETRY_SCHEDULE": "0.1,600",
        "KLATCH_WEBHOOK_POLL_SECONDS": "0.2",
    }
    with (
        server(tmp_path, **settings) as (process, keys),
        httpx.Client(base_url=process.url) as http,
    ):
        admin = {"Authorization": f"Bearer {keys['adminKey']}"}
        hook = http.post(
            "/v1/outbound-webhooks",
            headers=admin,
            json={"name": "CRM", "url": receiver.url, "events": ["kustomer.conversation.create"]},
        )
        assert hook.status_code == 201, hook.text
        hook_id = hook.json()["data"]["id"]
        before = scrape(http)
        chat = chat_headers(http, keys["trackingKey"])
        assert http.post("/c/v1/conversations", headers=chat, json={}).status_code == 201

        def waiting(samples: Samples) -> bool:
            failed = value(samples, "klatch_webhook_failures_total", reason="connection")
            return failed == 2 and value(samples, "klatch_webhook_queue_depth") == 1

        down = scrape_until(http, waiting, "two failed attempts and one delivery queued")
        log = http.get(f"/v1/outbound-webhooks/{hook_id}/transactions", headers=admin).json()
        (transaction,) = log["data"]
        receiver.start()
        again = http.post(
            f"/v1/outbound-webhooks/{hook_id}/transactions/{transaction['id']}/redeliver",
            headers=admin,
        )
        assert again.status_code == 202, again.text

        def delivered(samples: Samples) -> bool:
            sent = value(samples, "klatch_webhook_deliveries_total", outcome="delivered")
            return sent == 1 and value(samples, "klatch_webhook_queue_depth") == 0

        up = scrape_until(http, delivered, "the delivery counted and the queue empty")
    receiver.stop()
    assert len(receiver.envelopes("kustomer.conversation.create")) == 1
    for samples in (before, down):
        assert value(samples, "klatch_webhook_deliveries_total", outcome="delivered") == 0
    assert value(down, "klatch_webhook_deliveries_total", outcome="failed") == 2
    assert value(up, "klatch_webhook_deliveries_total", outcome="failed") == 2
    assert value(up, "klatch_webhook_delivery_duration_seconds_count") == 3
    assert value(up, "klatch_webhook_disabled_total") == 0


def scrape_until(http: httpx.Client, check: Callable[[Samples], bool], what: str) -> Samples:
    deadline = time.monotonic() + 15
    while True:
        samples = scrape(http)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.1)


@pytest.mark.redis
def test_bus_lag_is_measured_between_two_processes(tmp_path: Path) -> None:
    redis_url = need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    env, keys = prepare(tmp_path, KLATCH_METRICS_TOKEN=TOKEN, KLATCH_BUS_URL=redis_url)
    with (
        KlatchProcess(env, tmp_path, tmp_path / "one.log") as one,
        KlatchProcess(env, tmp_path, tmp_path / "two.log") as two,
        httpx.Client(base_url=one.url) as writer,
        httpx.Client(base_url=two.url) as reader,
    ):
        before = scrape(reader)
        chat = chat_headers(writer, keys["trackingKey"])
        writer.post("/c/v1/conversations", headers=chat, json={"message": "over the bus"})
        lag = "klatch_bus_lag_seconds_count"
        for _ in range(100):
            after = scrape(reader)
            if value(after, lag) > value(before, lag):
                break
        else:
            raise AssertionError("the second process never received a bus message")
        assert value(after, "klatch_bus_connected") == 1


def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    env, _ = prepare(tmp_path, KLATCH_LOG_FORMAT="json", KLATCH_ACCESS_LOG="true")
    log = tmp_path / "serve.log"
    process = KlatchProcess(env, tmp_path, log)
    process.start()
    try:
        with httpx.Client(base_url=process.url) as http:
            given = http.get("/healthz", headers={"X-Request-ID": "trace-42"})
            assert given.headers["x-request-id"] == "trace-42"
            made = http.get("/v1/conversations")  # no key: a 401, logged by nobody but access
            assert len(made.headers["x-request-id"]) == 16
            odd = http.get("/healthz", headers={"X-Request-ID": "no spaces allowed"})
            assert odd.headers["x-request-id"] != "no spaces allowed"
    finally:
        process.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    for line in lines:
        assert {"time", "level", "logger", "message", "requestId"} <= set(line), line
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    traced = [line for line in access if line["requestId"] == "trace-42"]
    assert [(line["path"], line["status"]) for line in traced] == [("/healthz", 200)]
    assert any(line["requestId"] == made.headers["x-request-id"] for line in access)
