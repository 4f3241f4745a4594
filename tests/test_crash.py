"""``klatch serve`` killed with SIGKILL under concurrent describe load loses nothing
it acknowledged, on SQLite and PostgreSQL.

Each round starts the real server, runs ``CLIENTS`` chat sessions that describe
their own conversation as fast as they are answered (each value unique), and
kills the process while requests are in flight. After the last round the server
is started once more and every acknowledged value must be in its conversation's
event log, in the order it was written; the stored value must be the last
acknowledged one or the one that was in flight when the process died. On SQLite
the file must pass ``PRAGMA integrity_check``. The figures are printed in the
test output, captured or not.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support import (
    POSTGRES_URL,
    KlatchProcess,
    fresh_postgres_database,
    need_service,
    prepare,
)

ROUNDS = 3
CLIENTS = 8
LOAD_SECONDS = 1.5


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The server's database settings: SQLite in the data dir, with the smallest WAL
    threshold (so kills also land in checkpoints and truncations), or a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        yield {"KLATCH_SQLITE_CHECKPOINT_PAGES": "100"}
        return
    url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    with fresh_postgres_database(url, "crash") as fresh:
        yield {"KLATCH_DATABASE_URL": fresh}


@dataclass
class Writer:
    """One chat session describing its own conversation; what it was told."""

    token: str
    conversation_id: str
    acknowledged: list[str] = field(default_factory=list)
    in_flight: str | None = None


async def start_writers(url: str, tracking_key: str) -> list[Writer]:
    writers = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(CLIENTS):
            auth = {"Authorization": f"Bearer {tracking_key}"}
            session = await http.post("/c/v1/sessions", headers=auth)
            assert session.status_code == 201, session.text
            token = session.json()["sessionToken"]
            created = await http.post(
                "/c/v1/conversations",
                headers={**auth, "X-Klatch-Session": token},
                json={"message": "hello"},
            )
            assert created.status_code == 201, created.text
            writers.append(Writer(token, created.json()["conversationId"]))
    return writers


async def describe_until_killed(
    server: KlatchProcess, tracking_key: str, writers: list[Writer], round_no: int
) -> None:
    """Every writer describes until the server dies; SIGKILL after LOAD_SECONDS."""

    async def write(http: httpx.AsyncClient, i: int, writer: Writer) -> None:
        headers = {"Authorization": f"Bearer {tracking_key}", "X-Klatch-Session": writer.token}
        n = 0
        while True:
            value = f"r{round_no}-c{i}-n{n}"
            writer.in_flight = value
            try:
                response = await http.patch(
                    f"/c/v1/conversations/{writer.conversation_id}",
                    headers=headers,
                    json={"custom": {"orderNumberStr": value}},
                )
            except httpx.TransportError:
                return  # killed: this value may or may not be stored
            assert response.status_code == 200, response.text
            writer.acknowledged.append(value)
            writer.in_flight = None
            n += 1

    async def kill() -> None:
        await asyncio.sleep(LOAD_SECONDS)
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=server.url, timeout=10, limits=limits) as http:
        await asyncio.gather(kill(), *(write(http, i, w) for i, w in enumerate(writers)))
    assert server.process is not None
    server.process.wait(timeout=10)
    server.process = None


def event_values(http: httpx.Client, admin_key: str, conversation_id: str) -> list[str]:
    response = http.get(
        f"/v1/conversations/{conversation_id}/events",
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert response.status_code == 200, response.text
    values = []
    for event in response.json()["data"]:
        if event["attributes"]["name"] == "conversation.updated":
            values.append(event["attributes"]["payload"]["custom"]["orderNumberStr"])
    return values


def check_writers(server: KlatchProcess, admin_key: str, writers: list[Writer]) -> int:
    """Every acknowledged value in the log, in order; the number of lost ones (0)."""
    lost = 0
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for writer in writers:
            logged = event_values(http, admin_key, writer.conversation_id)
            missing = [v for v in writer.acknowledged if v not in set(logged)]
            lost += len(missing)
            assert not missing, f"acknowledged but not in the event log: {missing[:5]}"
            in_log = [v for v in logged if v in set(writer.acknowledged)]
            assert in_log == writer.acknowledged, "the log has them out of order"
            stored = http.get(
                f"/v1/conversations/{writer.conversation_id}",
                headers={"Authorization": f"Bearer {admin_key}"},
            ).json()["data"]["attributes"]["custom"]["orderNumberStr"]
            assert stored == logged[-1]
            assert stored in {writer.acknowledged[-1], writer.in_flight}, stored
    return lost


def test_sigkill_under_describe_load_loses_no_acknowledged_write(
    tmp_path: Path, backend: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    env, keys = prepare(tmp_path, **backend)
    server = KlatchProcess(env, tmp_path, tmp_path / "server.log")
    writers: list[Writer] = []
    in_flight = 0
    for round_no in range(ROUNDS):
        server.start()
        if not writers:
            writers = asyncio.run(start_writers(server.url, keys["trackingKey"]))
        asyncio.run(describe_until_killed(server, keys["trackingKey"], writers, round_no))
        in_flight += sum(1 for w in writers if w.in_flight is not None)
    with server:
        lost = check_writers(server, keys["adminKey"], writers)
    sqlite = "KLATCH_DATABASE_URL" not in backend
    if sqlite:
        db = sqlite3.connect(tmp_path / "data" / "klatch.db")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            db.close()
    acknowledged = sum(len(w.acknowledged) for w in writers)
    with capsys.disabled():  # the figures belong in every run's output
        print(
            f"\ncrash test ({'sqlite' if sqlite else 'postgresql'}): {ROUNDS} rounds of "
            f"SIGKILL under {CLIENTS} clients, {acknowledged} acknowledged writes, {lost} "
            f"lost, {in_flight} in flight at the kills, {time.monotonic() - started:.1f} s"
        )
    assert acknowledged >= ROUNDS * CLIENTS, "the load did not get going"
