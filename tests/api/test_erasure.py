"""Erasing a customer (``DELETE /v1/customers/{id}``, ``klatch customers delete``) on
both backends: the customer, the anonymous customer merged into it at login, their
conversations, messages and chat sessions go; their open chat sockets close; the
event log keeps every event (same ids and types, each still valid against its
schema) without any of the personal data, plus a ``customer.deleted`` with ids
only; nobody else's data changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
import uvicorn
import websockets
from pydantic import TypeAdapter
from websockets.asyncio.client import ClientConnection

from klatch.app import create_app
from klatch.config import Settings
from klatch.domain import erasure
from klatch.domain import events as ev
from klatch.domain.models import Event
from klatch.runtime import running
from klatch.services import Services
from klatch.services.orgs import Setup
from klatch.storage import events as event_store
from klatch.storage.tables import chat_session, conversation, customer, message
from support import clean_env, free_port

# What the erased customer said, was called, was told and was tagged with.
PERSONAL = (
    "Ada Lovelace-Secret",
    "ada.secret@example.com",
    "crm-erase-1",
    "+44 20 7946 0001",
    "ada_secret_handle",
    "1 Secret Lane",
    "ORD-SECRET-77",
    "gold-secret",
    "Shipping to Secret Gardens",
    "ticket-secret-9",
    "Order trouble secret",
)


@dataclass
class Served:
    url: str
    services: Services

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[Served]:
    """The app on a real port in this process (sockets need one)."""
    fast_poll = settings.model_copy(update={"realtime_poll_seconds": 0.2})
    async with running(fast_poll) as services:
        port = free_port()
        app = create_app(fast_poll, services)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.02)
        try:
            yield Served(f"http://127.0.0.1:{port}", services)
        finally:
            server.should_exit = True
            await task


async def opened(stack: contextlib.AsyncExitStack, url: str) -> ClientConnection:
    ws = await stack.enter_async_context(websockets.connect(url))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["op"] == "hello"
    return ws


async def frames_until(ws: ClientConnection, event_type: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(6):
        while not frames or frames[-1].get("type") != event_type:
            frames.append(json.loads(await ws.recv()))
    return frames


async def closed_for_ended_credentials(ws: ClientConnection) -> None:
    last: dict[str, Any] | None = None
    with pytest.raises(websockets.ConnectionClosed) as caught:
        async with asyncio.timeout(6):
            while True:
                last = json.loads(await ws.recv())
    assert last is not None and last["code"] == "credentials_ended", last
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4401


class Site:
    """One org as a web page and an integration use it, over real HTTP."""

    def __init__(self, http: httpx.AsyncClient, setup: Setup) -> None:
        self.http = http
        self.setup = setup
        self.admin = {"Authorization": f"Bearer {setup.admin_key.secret}"}

    async def session(self) -> dict[str, str]:
        key = {"Authorization": f"Bearer {self.setup.tracking_key.secret}"}
        started = await self.http.post("/c/v1/sessions", headers=key)
        assert started.status_code == 201, started.text
        return {**key, "X-Klatch-Session": started.json()["sessionToken"]}

    async def chat(self, headers: dict[str, str], method: str, path: str, **kw: Any) -> Any:
        response = await self.http.request(method, "/c/v1" + path, headers=headers, **kw)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def rest(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, path, headers=self.admin, **kw)


async def erasable_customer(site: Site, services: Services) -> dict[str, Any]:
    """An anonymous visitor who chats, describes themself, logs in (merged into a
    verified customer) and is described by the integration too."""
    org = site.setup.org
    await services.attributes.define(org.id, "conversation", "orderNumberStr")
    await services.attributes.define(org.id, "customer", "tierStr")
    anon = await site.session()
    first = await site.chat(
        anon, "POST", "/conversations", json={"message": "I live at 1 Secret Lane"}
    )
    conv_id = first["conversationId"]
    await site.chat(
        anon,
        "PATCH",
        f"/conversations/{conv_id}",
        json={"custom": {"orderNumberStr": "ORD-SECRET-77"}},
    )
    await site.chat(
        anon, "PATCH", "/customers/current", json={"custom": {"tierStr": "gold-secret"}}
    )
    token = jwt.encode(
        {"externalId": "crm-erase-1", "email": "ada.secret@example.com", "iat": int(time.time())},
        org.jwt_secret,
        algorithm="HS256",
    )
    login = await site.chat(anon, "POST", "/login", json={"jwtToken": token})
    customer_id = login["customerId"]
    patched = await site.rest(
        "PATCH",
        f"/v1/customers/{customer_id}",
        json={
            "name": "Ada Lovelace-Secret",
            "phones": [{"phone": "+44 20 7946 0001"}],
            "socials": [{"type": "twitter", "username": "ada_secret_handle"}],
            "custom": {"tierStr": "gold-secret"},
        },
    )
    assert patched.status_code == 200, patched.text
    reply = await site.rest(
        "POST", f"/v1/conversations/{conv_id}/messages", json={"body": "Shipping to Secret Gardens"}
    )
    assert reply.status_code == 201, reply.text
    second = await site.rest(
        "POST",
        f"/v1/customers/{customer_id}/conversations",
        json={"name": "Order trouble secret", "externalId": "ticket-secret-9"},
    )
    assert second.status_code == 201, second.text
    return {
        "customer_id": customer_id,
        "session": anon,
        "conversations": sorted([conv_id, second.json()["data"]["id"]]),
    }


async def rows_of(services: Services, org_id: str, customer_ids: list[str]) -> dict[str, int]:
    async def count(tx: Any) -> dict[str, int]:
        out = {}
        for table in (customer, conversation, message, chat_session):
            column = table.c.id if table is customer else table.c.customer_id
            stmt = sa.select(sa.func.count()).select_from(table)
            row = await tx.one(stmt.where(table.c.org_id == org_id, column.in_(customer_ids)))
            out[table.name] = int(row[0])
        return out

    return await services.db.read(count)


async def log_of(services: Services, org_id: str) -> list[Event]:
    return await services.db.read(lambda tx: event_store.events_after(tx, org_id, 0, 10_000))


async def test_erasing_a_customer_deletes_their_data_ends_their_sockets_and_keeps_the_log_clean(
    served: Served, setup: Setup
) -> None:
    services = served.services
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=10) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        site = Site(http, setup)
        subject = await erasable_customer(site, services)
        customer_id = subject["customer_id"]
        bystander = await site.session()
        kept = await site.chat(
            bystander, "POST", "/conversations", json={"message": "bystander text"}
        )
        merged = await services.db.read(
            lambda tx: tx.all(
                sa.select(customer.c.id).where(
                    customer.c.org_id == setup.org.id, customer.c.merged_into == customer_id
                )
            )
        )
        merged_ids = [r[0] for r in merged]
        assert len(merged_ids) == 1  # the anonymous visitor, merged at login
        ids = [customer_id, *merged_ids]
        before = await log_of(services, setup.org.id)
        assert any(p in json.dumps([e.payload for e in before]) for p in PERSONAL)

        tracking = setup.tracking_key.secret
        token = subject["session"]["X-Klatch-Session"]
        their_socket = await opened(
            stack, f"{served.ws_url}/c/v1/realtime?key={tracking}&session={token}"
        )
        other_token = bystander["X-Klatch-Session"]
        other_socket = await opened(
            stack, f"{served.ws_url}/c/v1/realtime?key={tracking}&session={other_token}"
        )
        agent = await opened(stack, f"{served.ws_url}/v1/realtime?key={setup.admin_key.secret}")

        # Another org cannot erase them: 404, nothing changes.
        theirs = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:10]}")
        foreign = {"Authorization": f"Bearer {theirs.admin_key.secret}"}
        assert (
            await http.delete(f"/v1/customers/{customer_id}", headers=foreign)
        ).status_code == 404
        assert (await log_of(services, setup.org.id)) == before

        response = await site.rest("DELETE", f"/v1/customers/{customer_id}")
        assert response.status_code == 204, response.text

        await closed_for_ended_credentials(their_socket)
        frames = await frames_until(agent, ev.CUSTOMER_DELETED)
        assert frames[-1]["data"] == {
            "customerId": customer_id,
            "mergedIds": merged_ids,
            "conversationIds": subject["conversations"],
        }
        await other_socket.send(json.dumps({"op": "ping"}))
        assert json.loads(await asyncio.wait_for(other_socket.recv(), 5)) == {"op": "pong"}

    # The rows are gone.
    assert await rows_of(services, setup.org.id, ids) == {
        "customer": 0,
        "conversation": 0,
        "message": 0,
        "chat_session": 0,
    }
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        site = Site(http, setup)
        for path in (
            f"/v1/customers/{customer_id}",
            "/v1/customers/email=ada.secret@example.com",
            "/v1/customers/externalId=crm-erase-1",
            "/v1/conversations/externalId=ticket-secret-9",
            *(f"/v1/conversations/{c}" for c in subject["conversations"]),
        ):
            assert (await site.rest("GET", path)).status_code == 404, path
        stale = await http.get("/c/v1/conversations", headers=subject["session"])
        assert stale.status_code == 401, stale.text
        listed = (await site.rest("GET", "/v1/conversations")).json()["data"]
        assert [c["id"] for c in listed] == [kept["conversationId"]]
        assert (await site.rest("DELETE", f"/v1/customers/{customer_id}")).status_code == 404

    # The log: every event still there, valid, scrubbed; one customer.deleted more.
    after = await log_of(services, setup.org.id)
    appended = after[len(before) :]
    assert [(e.id, e.type) for e in after[: len(before)]] == [(e.id, e.type) for e in before]
    assert [e.type for e in appended] == [ev.CREDENTIAL_REVOKED, ev.CUSTOMER_DELETED]
    text = json.dumps([e.payload for e in after])
    leaked = [p for p in PERSONAL if p in text]
    assert not leaked, f"still in the event log: {leaked}"
    for event in after:
        TypeAdapter(ev.PAYLOADS[event.type]).validate_python(event.payload)
    assert "bystander text" in text  # someone else's events are untouched
    for old, new in zip(before, after, strict=False):
        if old.customer_id not in ids:
            assert new == old


async def test_the_cli_erases_a_customer(
    services: Services, setup: Setup, settings: Settings, admin: Any
) -> None:
    created = await admin.post(
        "/v1/customers", json={"name": "Cli Secret", "email": "cli@example.com"}
    )
    customer_id = created.json()["data"]["id"]
    env = clean_env()
    env.update({"KLATCH_DATA_DIR": str(settings.data_dir), "KLATCH_SECRET_KEY": "s" * 40})
    if settings.database_url:
        env["KLATCH_DATABASE_URL"] = settings.database_url

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "klatch.cli",
                "customers",
                "delete",
                *args,
                "--org",
                setup.org.id,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = await asyncio.to_thread(cli, customer_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"id": customer_id, "deleted": True}
    assert (await admin.get(f"/v1/customers/{customer_id}")).status_code == 404
    log = await log_of(services, setup.org.id)
    assert log[-1].type == ev.CUSTOMER_DELETED and "Cli Secret" not in json.dumps(
        [e.payload for e in log]
    )
    again = await asyncio.to_thread(cli, customer_id)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert json.loads(again.stdout)["error"]["code"] == "customer_not_found"


def test_every_event_type_says_what_of_its_payload_is_personal() -> None:
    assert set(erasure.RULES) == set(ev.CATALOGUE), "add a rule to domain/erasure.py"
