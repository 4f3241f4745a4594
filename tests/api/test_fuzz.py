"""Fuzzing both APIs from ``/openapi.json`` (schemathesis), against ``klatch serve``
on SQLite and on PostgreSQL.

Every operation of the document gets ``FUZZ_EXAMPLES`` generated requests, valid
and invalid ones, sent with real credentials: the admin key on ``/v1``, the
tracking key and a live chat session on ``/c/v1``. Every other request names real
ids (a conversation and customer of the session, the org's brand) in its path, the
rest whatever the fuzzer made up. Each answer must be below 500 and declared by the
document: its status, its content type, its body's schema and its headers.

``KLATCH_FUZZ_EXAMPLES`` (default 25; ``.ci/run``: 100) sets the examples per
operation, ``KLATCH_FUZZ_SEED`` draws other requests than the fixed ones; the
run's figures go to ``<test artifacts>/fuzz-<backend>.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support import POSTGRES_URL, KlatchProcess, fresh_postgres_database, need_service, prepare

FUZZ_EXAMPLES = int(os.environ.get("KLATCH_FUZZ_EXAMPLES", "25"))
# Unset: the same requests every run. A number: another draw, to explore.
FUZZ_SEED = os.environ.get("KLATCH_FUZZ_SEED")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SESSION_HEADER = "X-Klatch-Session"
ERASING = ("/v1/customers/{customer_id}", "/v1/conversations/{conversation_id}")
AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]
Findings = dict[tuple[str, str], list[str]]


@dataclass
class Target:
    """A running server, its credentials and real ids, and what the run saw."""

    server: KlatchProcess
    admin_key: str
    tracking_key: str
    http: requests.Session = field(default_factory=requests.Session)
    session_token: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    findings: int = 0

    def start_session(self) -> None:
        """A fresh chat session with a conversation: the ids the fuzzer may use."""
        chat = {"Authorization": f"Bearer {self.tracking_key}"}
        with httpx.Client(base_url=self.server.url, headers=chat, timeout=10) as client:
            started = client.post("/c/v1/sessions").json()
            self.session_token = started["sessionToken"]
            client.headers[SESSION_HEADER] = self.session_token
            conversation = client.post("/c/v1/conversations", json={"title": "fuzz"}).json()
        self.ids = {
            "conversation_id": conversation["conversationId"],
            "customer_id": started["customerId"],
            "brand_id": started["brandId"],
        }

    def prepare(self, case: AnyCase) -> None:
        """Credentials for the case's API; on every other case, real ids in its path."""
        headers = case.headers if case.headers is not None else {}
        if case.path.startswith("/c/v1/"):
            headers["Authorization"] = f"Bearer {self.tracking_key}"
            if case.path != "/c/v1/sessions" or SESSION_HEADER not in headers:
                headers[SESSION_HEADER] = self.session_token
        else:
            headers["Authorization"] = f"Bearer {self.admin_key}"
        case.headers = headers
        if self.calls % 2 == 0 and case.path_parameters:
            for name in case.path_parameters:
                if name in self.ids:
                    case.path_parameters[name] = self.ids[name]

    def record(self, case: AnyCase, status: int) -> None:
        self.calls += 1
        self.statuses[status] += 1
        self.operations.add(f"{case.method.upper()} {case.path}")
        if case.path == "/c/v1/logout" and status == 200:
            self.start_session()  # the fuzzer ended ours
        elif case.method.upper() == "DELETE" and status == 204 and case.path in ERASING:
            self.start_session()  # the fuzzer deleted our customer or conversation


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    tmp_path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with _database(request.param) as database:
        env, keys = prepare(tmp_path, **database)
        log = tmp_path / "server.log"
        env.update({"KLATCH_LOG_LEVEL": "warning", "KLATCH_RATE_LIMIT_REST": "0"})
        with KlatchProcess(env, tmp_path, log) as server:
            target = Target(server, keys["adminKey"], keys["trackingKey"])
            target.start_session()
            started = time.monotonic()
            yield target
            _write_figures(request.param, target, time.monotonic() - started)
        assert "Traceback" not in server.output, server.output[-4000:]


def test_every_answer_is_below_500_and_declared_by_the_document(target: Target) -> None:
    schema = schemathesis.openapi.from_url(target.server.url + "/openapi.json")
    findings: Findings = {}
    for result in schema.get_all_operations():
        if isinstance(result, Ok):
            fuzz(result.ok(), target, findings)
        else:
            findings[("the document", "cannot be read")] = [str(result.err())]
    target.findings = len(findings)
    assert target.operations, "the document has no operations"
    report = [
        f"{len(found)}x {where} {what}\n{found[0]}" for (where, what), found in findings.items()
    ]
    assert not findings, f"{len(findings)} kinds of undeclared answers:\n\n" + "\n\n".join(report)


def fuzz(operation: Operation, target: Target, findings: Findings) -> None:
    """``FUZZ_EXAMPLES`` requests to ``operation``, valid and invalid ones; each answer
    that fails a check is noted (by operation and failure), the run goes on."""
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=FUZZ_SEED is None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(int(FUZZ_SEED or 0))
    @given(strategy)
    def run(case: AnyCase) -> None:
        target.prepare(case)
        response = case.call(base_url=target.server.url, session=target.http, timeout=15)
        target.record(case, response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseExceptionGroup as failed:
            what = "; ".join(sorted({str(getattr(f, "title", f)) for f in failed.exceptions}))
            key = (f"{operation.label} -> {response.status_code}", what)
            findings.setdefault(key, []).append(str(failed))

    run()


@contextmanager
def _database(backend: str) -> Iterator[dict[str, str]]:
    """The server's database settings: SQLite in its data dir, or a PostgreSQL
    database of its own (the fuzzer fills it with rows no other test should see)."""
    if backend == "sqlite":
        yield {}
        return
    url = need_service("PostgreSQL", POSTGRES_URL, "KLATCH_TEST_POSTGRES_URL")
    with fresh_postgres_database(url, "fuzz") as database_url:
        yield {"KLATCH_DATABASE_URL": database_url}


def _write_figures(backend: str, target: Target, seconds: float) -> None:
    figures = {
        "backend": backend,
        "examples_per_operation": FUZZ_EXAMPLES,
        "operations": len(target.operations),
        "requests": target.calls,
        "seconds": round(seconds, 1),
        "statuses": {str(k): v for k, v in sorted(target.statuses.items())},
        "findings": target.findings,
    }
    folder = Path(os.environ.get("KLATCH_TEST_ARTIFACTS", "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"fuzz-{backend}.json").write_text(json.dumps(figures, indent=2) + "\n")
