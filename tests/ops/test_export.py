"""``klatch export`` / ``klatch import`` / ``klatch backup`` as an operator runs them:
data made through the real APIs on SQLite, exported by the CLI while the server
runs, imported by the CLI into a new PostgreSQL database, and every GET of both
APIs (from ``/openapi.json``) answered the same by both installations."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from klatch.app import create_app
from klatch.config import Settings
from klatch.domain.models import Role, UserRole
from klatch.runtime import running
from klatch.services import Services
from klatch.storage.backup import backup_sqlite
from support import (
    POSTGRES_URL,
    Chat,
    Rest,
    clean_env,
    fresh_postgres_database,
    make_settings,
    need_service,
    start_chat,
)

PASSWORD = "correct horse battery"


@dataclass
class Installation:
    """What the test made on the source, to ask both installations about."""

    admin_key: str
    tracking_key: str
    session_token: str
    ids: dict[str, str]  # path parameter -> a value that exists
    chat_conversation_id: str
    user_email: str


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    async with running(settings) as services:
        app = create_app(settings, services)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://klatch.test") as http:
            yield services, http


def klatch(env: dict[str, str], cwd: Path, *args: str, ok: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "klatch.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        assert done.returncode != 0, done.stdout
    return done.stdout + (done.stderr if not ok else "")


def settings_in(directory: Path, database_url: str | None) -> Settings:
    directory.mkdir(parents=True, exist_ok=True)
    return make_settings(directory, database_url)


def cli_env(settings: Settings) -> dict[str, str]:
    env = clean_env()
    env["KLATCH_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["KLATCH_DATABASE_URL"] = settings.database_url
    return env


async def populate(services: Services, http: httpx.AsyncClient) -> Installation:
    """An org with a bit of everything: definitions of both klasses, a second brand,
    customers, conversations with attribute history, messages both ways, an ended
    conversation, a revoked key, users (one disabled)."""
    setup = await services.orgs.create_org("Shop")
    admin = Rest(http, setup.admin_key.secret)
    for klass, properties in (
        ("conversation", {"orderNumberStr": {"displayName": "Order"}, "priorityNum": {}}),
        ("customer", {"tierStr": {"enumeration": ["gold", "silver"]}}),
    ):
        response = await admin.put(f"/v1/metadata/{klass}", json={"properties": properties})
        assert response.status_code == 200, response.text
    customer = (
        await admin.post(
            "/v1/customers",
            json={"name": "Ada", "externalId": "ext-1", "emails": [{"email": "ada@example.com"}]},
        )
    ).json()["data"]
    await admin.patch(f"/v1/customers/{customer['id']}", json={"custom": {"tierStr": "gold"}})
    conv = (
        await admin.post(
            f"/v1/customers/{customer['id']}/conversations",
            json={"name": "Refund", "externalId": "ext-1", "custom": {"orderNumberStr": "A-1"}},
        )
    ).json()["data"]
    await admin.patch(f"/v1/conversations/{conv['id']}", json={"custom": {"priorityNum": 2}})
    await admin.post(f"/v1/conversations/{conv['id']}/messages", json={"body": "Hello Ada"})

    chat: Chat = await start_chat(http, setup.tracking_key.secret)
    mine = await chat.create_conversation(message="Where is my parcel?")
    assert (await chat.describe(mine["conversationId"], {"orderNumberStr": "B-2"})).is_success
    await admin.post(f"/v1/conversations/{mine['conversationId']}/messages", json={"body": "On it"})
    ended = await chat.create_conversation(message="Never mind")
    await chat.request("POST", f"/conversations/{ended['conversationId']}/end")

    old = await services.orgs.create_key(setup.org.id, role=Role.USER, name="old integration")
    await services.orgs.revoke_key(setup.org.id, old.key.id)
    agent = await services.orgs.create_user(
        setup.org.id, "agent@example.com", PASSWORD, role=UserRole.AGENT
    )
    gone = await services.orgs.create_user(
        setup.org.id, "gone@example.com", PASSWORD, role=UserRole.AGENT
    )
    await services.orgs.disable_user(setup.org.id, gone.id)
    brands = await services.orgs.list_brands(setup.org.id)
    ids = {
        "customer_id": customer["id"],
        "conversation_id": conv["id"],
        "email": "ada@example.com",
        "external_id": "ext-1",
        "klass": "conversation",
        "brand_id": brands[0].id,
        "user_id": agent.id,
        "key_id": old.key.id,
    }
    return Installation(
        setup.admin_key.secret,
        setup.tracking_key.secret,
        chat.token,
        ids,
        mine["conversationId"],
        "agent@example.com",
    )


async def get_paths(http: httpx.AsyncClient, installation: Installation) -> list[str]:
    """Every GET of both APIs in the OpenAPI document whose path parameters the test
    has values for, filled in (the client API's with the chat's own conversation)."""
    spec = (await http.get("/openapi.json")).json()
    paths = []
    for template, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        ids = dict(installation.ids)
        if template.startswith("/c/v1/"):
            ids["conversation_id"] = installation.chat_conversation_id
        names = [p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "path"]
        if all(name in ids for name in names):
            paths.append(template.format(**{name: ids[name] for name in names}))
    return sorted(paths)


async def answers(
    http: httpx.AsyncClient, paths: list[str], headers: dict[str, str]
) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for path in paths:
        response = await http.get(path, headers=headers)
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else response.text
        )
        seen[path] = (response.status_code, body)
    return seen


def both_apis(installation: Installation, admin_key: str, tracking_key: str, token: str) -> Any:
    return {
        "/v1": {"Authorization": f"Bearer {admin_key}"},
        "/c/v1": {"Authorization": f"Bearer {tracking_key}", "X-Klatch-Session": token},
    }


async def everything(
    http: httpx.AsyncClient, installation: Installation, paths: list[str], **keys: str
) -> dict[str, Any]:
    headers = both_apis(installation, **keys)
    result: dict[str, Any] = {}
    for prefix, hdrs in headers.items():
        mine = [p for p in paths if p.startswith(prefix + "/")]
        result.update(await answers(http, mine, hdrs))
    return result


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A new PostgreSQL database of its own (an import needs an empty one)."""
    server = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    with fresh_postgres_database(server, "import") as url:
        yield url


async def test_an_export_from_sqlite_imported_into_postgresql_answers_every_get_the_same(
    tmp_path: Path, empty_postgres: str
) -> None:
    source = settings_in(tmp_path / "sqlite", None)
    export_file = tmp_path / "klatch.jsonl.gz"
    async with serving(source) as (services, http):
        installation = await populate(services, http)
        paths = await get_paths(http, installation)
        keys = {
            "admin_key": installation.admin_key,
            "tracking_key": installation.tracking_key,
            "token": installation.session_token,
        }
        before = await everything(http, installation, paths, **keys)
        # Exported while the server runs, by the command an operator types.
        klatch(cli_env(source), tmp_path, "export", str(export_file), "--include-secrets", "--json")
        assert export_file.stat().st_mode & 0o777 == 0o600
    assert len(paths) >= 15, paths
    assert all(status == 200 for status, _ in before.values()), {
        path: answer for path, answer in before.items() if answer[0] != 200
    }

    target = settings_in(tmp_path / "postgres", empty_postgres)
    report = json.loads(klatch(cli_env(target), tmp_path, "import", str(export_file), "--json"))
    assert report["secrets"] is True and report["reissued"] == []
    assert report["rows"]["event"] > 10
    async with serving(target) as (services, http):
        after = await everything(http, installation, paths, **keys)
        for path in paths:
            assert after[path] == before[path], path
        # Logins keep working: the password hashes came along.
        user = await services.orgs.authenticate_user(installation.user_email, PASSWORD)
        assert user.id == installation.ids["user_id"]
        # And a write goes on from where the event log was.
        conv = installation.ids["conversation_id"]
        admin = Rest(http, installation.admin_key)
        assert (await admin.patch(f"/v1/conversations/{conv}", json={"name": "x"})).is_success
        history = (await admin.get(f"/v1/conversations/{conv}/events")).json()["data"]
        ids = [int(e["id"]) for e in history]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_an_export_without_secrets_holds_none_and_its_import_reissues_them(
    tmp_path: Path,
) -> None:
    source = settings_in(tmp_path / "a", None)
    export_file = tmp_path / "plain.jsonl"
    async with serving(source) as (services, http):
        installation = await populate(services, http)
        paths = [p for p in await get_paths(http, installation) if p.startswith("/v1/")]
        # New keys (their prefixes change) and a new JWT secret: checked below.
        paths.remove("/v1/keys")
        paths.remove("/v1/auth/customer/settings")
        before = await answers(http, paths, {"Authorization": f"Bearer {installation.admin_key}"})
        setup_org = (await services.orgs.list_orgs())[0]
        klatch(cli_env(source), tmp_path, "export", str(export_file))
    text = export_file.read_text()
    for secret in (installation.admin_key, setup_org.jwt_secret, installation.session_token):
        assert secret not in text
    for column in ('"password_hash"', '"key_hash"', '"token_hash"', '"jwt_secret":"'):
        assert column not in text.split("\n", 1)[1], column
    header = json.loads(text.split("\n", 1)[0])
    assert header["withheld"]["user_account"] == ["password_hash"]

    target = settings_in(tmp_path / "b", None)
    report = json.loads(klatch(cli_env(target), tmp_path, "import", str(export_file), "--json"))
    issued = {(r["kind"], r["name"]): r["secret"] for r in report["reissued"]}
    # One new password per active user (not the disabled one), one new secret per
    # active key (not the revoked one), one JWT secret per org.
    assert set(issued) == {
        ("jwt_secret", "Shop"),
        ("api_key", "Admin"),
        ("api_key", "Chat SDK"),
        ("password", "agent@example.com"),
    }
    assert report["replaced"] == {"chat_session.token_hash": 1}
    async with serving(target) as (services, http):
        assert await services.orgs.resolve_key(installation.admin_key, cached=False) is None
        new_admin = issued[("api_key", "Admin")]
        after = await answers(http, paths, {"Authorization": f"Bearer {new_admin}"})
        assert after == before
        auth = Rest(http, new_admin)
        settings = (await auth.get("/v1/auth/customer/settings")).json()["data"]
        assert settings["attributes"]["secret"] == issued[("jwt_secret", "Shop")]
        keys = {k["attributes"]["name"]: k for k in (await auth.get("/v1/keys")).json()["data"]}
        assert keys["Admin"]["attributes"]["prefix"] == new_admin[:10]
        assert keys["old integration"]["attributes"]["revokedAt"] is not None
        user = await services.orgs.authenticate_user(
            "agent@example.com", issued[("password", "agent@example.com")]
        )
        assert user.email == "agent@example.com"
        with pytest.raises(Exception, match="Wrong email or password"):
            await services.orgs.authenticate_user("agent@example.com", PASSWORD)
        with pytest.raises(Exception, match="Wrong email or password"):
            await services.orgs.authenticate_user("gone@example.com", PASSWORD)
        # The stored chat session ended: its browser starts a new one.
        ended = await http.get(
            "/c/v1/conversations",
            headers={
                "Authorization": f"Bearer {issued[('api_key', 'Chat SDK')]}",
                "X-Klatch-Session": installation.session_token,
            },
        )
        assert ended.status_code == 401


async def test_an_import_refuses_a_cut_off_file_or_a_database_that_has_data(
    tmp_path: Path,
) -> None:
    source = settings_in(tmp_path / "a", None)
    async with serving(source) as (services, http):
        await populate(services, http)
    whole = tmp_path / "whole.jsonl"
    klatch(cli_env(source), tmp_path, "export", str(whole))
    lines = whole.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-3]))
    target = settings_in(tmp_path / "b", None)
    refused = klatch(cli_env(target), tmp_path, "import", str(cut), ok=False)
    assert "bad_export" in refused and "cut off" in refused
    # Nothing of it was stored: the same database takes the whole file afterwards.
    klatch(cli_env(target), tmp_path, "import", str(whole))
    again = klatch(cli_env(target), tmp_path, "import", str(whole), ok=False)
    assert "database_not_empty" in again
    # An existing file is never overwritten by an export.
    assert "file_exists" in klatch(cli_env(source), tmp_path, "export", str(whole), ok=False)


async def test_one_org_is_exported_alone(tmp_path: Path) -> None:
    source = settings_in(tmp_path / "a", None)
    async with serving(source) as (services, http):
        await populate(services, http)
        other = await services.orgs.create_org("Other shop")
    out = tmp_path / "other.jsonl.gz"
    klatch(cli_env(source), tmp_path, "export", str(out), "--org", "Other shop")
    with gzip.open(out, "rt") as lines:
        rows = [json.loads(line) for line in lines][1:-1]
    assert {r["row"].get("org_id", r["row"].get("id")) for r in rows} == {other.org.id}
    assert {r["table"] for r in rows} == {"org", "brand", "api_key"}


async def test_a_backup_taken_under_writes_is_one_consistent_database(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, None)
    copy = tmp_path / "backup.db"
    async with serving(settings) as (services, http):
        setup = await services.orgs.create_org("Busy")
        chat = await start_chat(http, setup.tracking_key.secret)
        conv = await chat.create_conversation(message="first")
        stop = asyncio.Event()

        async def write() -> int:
            sent = 0
            while not stop.is_set():
                body = {"body": f"message {sent}"}
                response = await chat.request(
                    "POST", f"/conversations/{conv['conversationId']}/messages", json=body
                )
                assert response.status_code == 201, response.text
                sent += 1
            return sent

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(backup_sqlite, settings.sqlite_path, copy)
        stop.set()
        sent = await writer
    assert sent > 0
    db = sqlite3.connect(copy)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (count,) = db.execute("SELECT message_count FROM conversation").fetchone()
        (messages,) = db.execute("SELECT count(*) FROM message").fetchone()
        (events,) = db.execute("SELECT count(*) FROM event WHERE type='message.created'").fetchone()
        (seq,) = db.execute("SELECT event_seq FROM org").fetchone()
        (last,) = db.execute("SELECT max(id) FROM event").fetchone()
    finally:
        db.close()
    # A copy torn between two writes would disagree somewhere here.
    assert count == messages == events and seq == last
    # And it serves: the copy is a data dir of its own.
    restored = settings_in(tmp_path / "restored", f"sqlite:///{copy}")
    async with serving(restored) as (services, _):
        assert [o.name for o in await services.orgs.list_orgs()] == ["Busy"]


def test_backup_refuses_postgresql_and_an_existing_file(tmp_path: Path) -> None:
    env = clean_env()
    env["KLATCH_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    assert "pg_dump" in klatch(env, tmp_path, "backup", str(tmp_path / "x.db"), ok=False)
    existing = tmp_path / "there.db"
    existing.write_text("")
    env = clean_env()
    env["KLATCH_DATA_DIR"] = str(tmp_path / "data")
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "klatch.db").close()
    assert "exists" in klatch(env, tmp_path, "backup", str(existing), ok=False)
