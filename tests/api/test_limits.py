"""Limits an attacker or a careless integrator runs into: new chat sessions per
client address and per tracking key, keys for brands that are not the org's, body
size without a Content-Length, bodies that do not arrive, open connections, and the
error statuses the OpenAPI document declares.

The session and key tests run the app in-process on SQLite and PostgreSQL (they
create rows); the timeout and connection tests run ``klatch serve``, because it is
the server that holds the sockets.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from klatch.app import create_app
from klatch.config import Settings, load_settings
from klatch.errors import InvalidArguments
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from support import KlatchProcess, Rest, error_codes, make_settings, prepare

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services, Setup]]:
    """The app for ``settings`` in-process (the peer is 127.0.0.1), with a fresh org."""
    async with running(settings) as services:
        setup = await services.orgs.create_org(f"Limits {uuid.uuid4().hex[:12]}")
        transport = httpx.ASGITransport(app=create_app(settings, services))
        async with httpx.AsyncClient(transport=transport, base_url="http://klatch.test") as http:
            yield http, services, setup


def limited(tmp_path: Path, database_url: str | None, **limits: Any) -> Settings:
    return make_settings(tmp_path, database_url, **limits)


async def fresh_window(needed: float = 10) -> None:
    """Wait for a new rate-limit minute when fewer than ``needed`` seconds are left,
    so a test's requests all fall into one window."""
    left = 60 - time.time() % 60
    if left < needed:
        await asyncio.sleep(left + 0.05)


async def new_session(http: httpx.AsyncClient, setup: Setup, **headers: str) -> httpx.Response:
    return await http.post(
        "/c/v1/sessions",
        headers={"Authorization": f"Bearer {setup.tracking_key.secret}", **headers},
    )


async def customer_count(http: httpx.AsyncClient, setup: Setup) -> int:
    response = await Rest(http, setup.admin_key.secret).get("/v1/customers?pageSize=100")
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


def assert_rate_limited(response: httpx.Response, what: str) -> None:
    """The shape every limit answers with: 429, ``rate_limited``, Retry-After."""
    assert response.status_code == 429, response.text
    assert error_codes(response) == ["rate_limited"]
    assert what in response.json()["errors"][0]["detail"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["x-ratelimit-remaining"] == "0"


# ---------------------------------------------------------------- new chat sessions


async def test_by_default_one_address_gets_60_new_sessions_a_minute_and_the_rest_create_nothing(
    tmp_path: Path, database_url: str | None
) -> None:
    # The limits are the defaults (make_settings turns them off for other tests).
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="s" * 40)
    async with serving(settings) as (http, _, setup):
        await fresh_window(needed=20)
        answers = [(await new_session(http, setup)).status_code for _ in range(60)]
        assert answers == [201] * 60
        refused = [await new_session(http, setup) for _ in range(5)]
        for response in refused:
            assert_rate_limited(response, "new chat sessions from this address")
        assert await customer_count(http, setup) == 60


async def test_new_sessions_are_limited_per_tracking_key_across_addresses(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = limited(tmp_path, database_url, rate_limit_new_sessions_per_key=3)
    async with serving(settings) as (http, _, setup):
        await fresh_window()
        # From the loopback proxy, each request names another client.
        answers = [
            await new_session(http, setup, **{"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(1, 6)
        ]
        assert [r.status_code for r in answers[:3]] == [201] * 3
        for response in answers[3:]:
            assert_rate_limited(response, "new chat sessions of this tracking key")
        assert await customer_count(http, setup) == 3


async def test_resuming_a_live_session_is_not_counted_but_a_bogus_token_is(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = limited(tmp_path, database_url, rate_limit_new_sessions_per_address=1)
    async with serving(settings) as (http, _, setup):
        await fresh_window()
        first = await new_session(http, setup)
        assert first.status_code == 201, first.text
        token = first.json()["sessionToken"]
        for _ in range(3):
            resumed = await new_session(http, setup, **{"X-Klatch-Session": token})
            assert resumed.status_code == 200, resumed.text
            assert resumed.json()["resumed"] is True
        bogus = await new_session(http, setup, **{"X-Klatch-Session": "ks_not-a-session"})
        assert_rate_limited(bogus, "new chat sessions from this address")
        assert_rate_limited(await new_session(http, setup), "from this address")
        assert await customer_count(http, setup) == 1


@SQLITE_ONLY
async def test_forwarded_for_names_the_client_only_when_the_peer_is_a_trusted_proxy(
    tmp_path: Path, database_url: str | None
) -> None:
    # The in-process peer is 127.0.0.1, trusted by default.
    settings = limited(tmp_path, database_url, rate_limit_new_sessions_per_address=2)
    async with serving(settings) as (http, _, setup):
        await fresh_window()
        one = {"X-Forwarded-For": "203.0.113.7"}
        assert (await new_session(http, setup, **one)).status_code == 201
        assert (await new_session(http, setup, **one)).status_code == 201
        assert_rate_limited(await new_session(http, setup, **one), "from this address")
        # What a client writes left of the proxy's entry does not make it someone else.
        spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
        assert_rate_limited(await new_session(http, setup, **spoofed), "from this address")
        other = {"X-Forwarded-For": "203.0.113.8"}
        assert (await new_session(http, setup, **other)).status_code == 201

    untrusting = limited(
        tmp_path,
        database_url,
        rate_limit_new_sessions_per_address=2,
        trusted_proxies="10.0.0.0/8",
    )
    async with serving(untrusting) as (http, _, setup):
        await fresh_window()
        answers = [
            await new_session(http, setup, **{"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(1, 4)
        ]
        # The peer (127.0.0.1) is no proxy of this deployment: its header is ignored.
        assert [r.status_code for r in answers[:2]] == [201, 201]
        assert_rate_limited(answers[2], "from this address")


@SQLITE_ONLY
async def test_the_addresses_of_one_ipv6_64_count_together(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = limited(tmp_path, database_url, rate_limit_new_sessions_per_address=1)
    async with serving(settings) as (http, _, setup):
        await fresh_window()
        first = await new_session(http, setup, **{"X-Forwarded-For": "2001:db8:0:0::1"})
        assert first.status_code == 201, first.text
        same_64 = await new_session(http, setup, **{"X-Forwarded-For": "[2001:db8::ffff]:4431"})
        assert_rate_limited(same_64, "from this address")
        other_64 = await new_session(http, setup, **{"X-Forwarded-For": "2001:db8:0:1::1"})
        assert other_64.status_code == 201, other_64.text


def test_trusted_proxies_take_addresses_and_networks_and_a_bad_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KLATCH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,fd00::/8")
    assert load_settings().trusted_proxies == ("10.0.0.0/8", "192.0.2.1", "fd00::/8")
    monkeypatch.setenv("KLATCH_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
    with pytest.raises(InvalidArguments) as raised:
        load_settings()
    assert "KLATCH_TRUSTED_PROXIES" in raised.value.detail
    assert "'proxy.internal' is not an IP address or network" in raised.value.detail


# ---------------------------------------------------------------- API keys


async def test_a_key_for_another_orgs_brand_or_no_brand_is_refused_naming_it(
    tmp_path: Path, database_url: str | None
) -> None:
    async with serving(limited(tmp_path, database_url)) as (http, services, setup):
        other = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:12]}")
        admin = Rest(http, setup.admin_key.secret)
        before = (await admin.get("/v1/keys")).json()["data"]
        for brand in (other.brand.id, "0" * 24):
            for role in ("org.tracking", "org.user"):
                body = {"name": "k", "roles": [role], "brand": brand}
                refused = await admin.post("/v1/keys", json=body)
                assert refused.status_code == 404, refused.text
                assert error_codes(refused) == ["brand_not_found"]
                assert brand in refused.json()["errors"][0]["detail"]
        assert (await admin.get("/v1/keys")).json()["data"] == before

        own = {"name": "k", "roles": ["org.tracking"], "brand": setup.brand.id}
        created = await admin.post("/v1/keys", json=own)
        assert created.status_code == 201, created.text
        assert created.json()["data"]["attributes"]["brandId"] == setup.brand.id


# ---------------------------------------------------------------- request bodies


async def chunks(total: int) -> AsyncIterator[bytes]:
    """A JSON object of ``total`` bytes, sent without a Content-Length."""
    body = b'{"name": "' + b"x" * (total - 12) + b'"}'
    for start in range(0, len(body), 256):
        yield body[start : start + 256]


@SQLITE_ONLY
async def test_a_chunked_body_over_the_limit_is_413_on_both_apis(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = limited(tmp_path, database_url, max_body_bytes=1024)
    async with serving(settings) as (http, _, setup):
        rest = Rest(http, setup.admin_key.secret)
        chat = {"Authorization": f"Bearer {setup.tracking_key.secret}"}
        json_type = {"Content-Type": "application/json"}
        answers = [
            await rest.post("/v1/customers", content=chunks(4000), headers=json_type),
            await http.post("/c/v1/sessions", content=chunks(4000), headers={**chat, **json_type}),
        ]
        for response in answers:
            assert response.request.headers.get("transfer-encoding") == "chunked"
            assert "content-length" not in response.request.headers
            assert response.status_code == 413, response.text
            assert error_codes(response) == ["payload_too_large"]
        assert await customer_count(http, setup) == 0
        # Under the limit, the same way of sending works.
        small = await rest.post("/v1/customers", content=chunks(200), headers=json_type)
        assert small.status_code == 201, small.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlatchProcess]:
    """``klatch serve`` with a 1-second body timeout and room for 20 connections."""
    tmp_path = tmp_path_factory.mktemp("limits")
    env, _ = prepare(tmp_path)
    env.update({"KLATCH_BODY_TIMEOUT_SECONDS": "1", "KLATCH_MAX_CONNECTIONS": "20"})
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as process:
        yield process


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closes(
    server: KlatchProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /v1/customers HTTP/1.1\r\nHost: klatch\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"name": "slo'
        )
        answer = read_until_closed(sock)  # socket.timeout here: never answered
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"request_timeout"' in answer
    assert b"connection: close" in answer.lower()
    assert 0.9 <= elapsed < 4, elapsed


def test_open_connections_are_bounded_per_process(server: KlatchProcess) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(25)]
    try:
        time.sleep(0.3)  # the server has accepted them all
        refused = httpx.get(server.url + "/healthz", timeout=5)
        assert refused.status_code == 503, refused.text
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while (answer := httpx.get(server.url + "/healthz", timeout=5)).status_code != 200:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


# ---------------------------------------------------------------- the OpenAPI document


@SQLITE_ONLY
async def test_the_document_declares_each_operations_error_statuses_with_the_error_schema(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    errors_ref = {"$ref": "#/components/schemas/Errors"}
    declared: dict[str, set[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            name = f"{method.upper()} {path}"
            declared[name] = set(responses)
            assert "422" not in responses, name  # validation errors are 400s
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == errors_ref, (name, status)
            assert {"401", "403", "503"} <= set(responses), name
    for name in ("POST /v1/customers", "PATCH /v1/conversations/{conversation_id}"):
        assert {"400", "408", "413", "429"} <= declared[name], name
    # The client API refuses a body that is not JSON with 415 (the REST API with 400).
    assert {"400", "408", "413", "415", "429"} <= declared["PATCH /c/v1/customers/current"]
    assert "404" in declared["GET /v1/customers/{customer_id}"]
    assert "404" in declared["POST /v1/keys"]  # the brand
    assert "409" in declared["POST /v1/customers"]  # email or externalId taken
    assert "409" in declared["POST /c/v1/conversations/{conversation_id}/messages"]
    assert "429" in declared["POST /c/v1/sessions"]
    assert (
        "Retry-After"
        in (document["paths"]["/c/v1/sessions"]["post"]["responses"]["429"]["headers"])
    )
    rest_security = document["paths"]["/v1/customers"]["get"]["security"]
    assert rest_security == [{"apiKey": []}]
    # Each client API body names the fields it is read for.
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/c/v1/") and "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert schema["properties"], f"{method.upper()} {path}"
