"""The ``klatch`` command on SQLite and PostgreSQL: exit codes, output, and what
it stored.

Each test gets an empty data dir (``KLATCH_DATA_DIR``) and, for PostgreSQL, a
database of its own on the test server: ``klatch init`` creates an org, and the
commands that pick "the only org" need exactly one.

Most commands run in this process (``Cli.run``, ``support.klatch_in_process``:
the Typer app ``klatch`` runs, under exactly the command's environment and
working directory; its exit code, stdout, and stderr with the traceback of an
exception nothing caught), since starting Python for each one cost most of these
tests' time. ``Cli.process()`` runs them as the real ``klatch`` process
instead: the served-app test does so on both backends, and
``test_every_command_as_a_real_process`` runs each command, and each kind of
outcome (done, failed, usage error, help, version, a prompt), that way once.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from klatch.storage.migrate import head_revision
from support import KlatchProcess, clean_env, fresh_postgres_database, klatch_in_process

SUFFIXES = ("Str", "Txt", "Num", "Bool", "At", "Url")  # Kustomer's type suffixes
CLI_TIMEOUT = 60


# ---------------------------------------------------------------- running the CLI


@dataclass
class Cli:
    env: dict[str, str]
    data_dir: Path
    database_url: str | None
    cwd: Path
    real: bool = False  # a `python -m klatch.cli` process per command

    def process(self) -> Cli:
        """This CLI, run as the real ``klatch`` process for each command."""
        return replace(self, real=True)

    def run(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        if not self.real:
            return klatch_in_process(env or self.env, self.cwd, args, stdin)
        return subprocess.run(
            [sys.executable, "-m", "klatch.cli", *args],
            env=env or self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            input=stdin,
        )

    def json(self, *args: str) -> Any:
        """Run with ``--json``; it must succeed and print exactly one JSON document."""
        result = self.run(*args, "--json")
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return json.loads(result.stdout)

    def fails(self, *args: str) -> dict[str, Any]:
        """Run a command that must fail, with ``--json``: exit code 1 (a failure, not a
        usage error), no traceback, and a JSON error with a code and a readable detail."""
        result = self.run(*args, "--json")
        assert result.returncode == 1, f"{args} should fail: {result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        error = json.loads(result.stdout)["error"]
        assert error["code"] and error["detail"]
        return dict(error)

    def all_fail(self, *commands: tuple[str, ...]) -> list[dict[str, Any]]:
        """``fails`` for several commands that change nothing."""
        return [self.fails(*args) for args in commands]

    def fails_for_people(self, *args: str) -> str:
        """Run a command that must fail, without ``--json``: its message on stderr."""
        result = self.run(*args)
        assert result.returncode == 1, f"{args} should fail: {result.stdout}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr

    def misused(self, *args: str) -> str:
        """Run a command with a usage error: exit code 2, the parser's message."""
        result = self.run(*args)
        assert result.returncode == 2, f"{args}: {result.returncode} {result.stdout}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr


@pytest.fixture
def cli(tmp_path: Path, database_url: str | None) -> Iterator[Cli]:
    env = clean_env()
    data_dir = tmp_path / "data"
    env["KLATCH_DATA_DIR"] = str(data_dir)
    if database_url is None:
        yield Cli(env, data_dir, None, tmp_path)
        return
    with fresh_postgres_database(database_url, "cli") as url:
        env["KLATCH_DATABASE_URL"] = url
        yield Cli(env, data_dir, url, tmp_path)


@contextmanager
def served(cli: Cli, log: Path) -> Iterator[httpx.Client]:
    """``klatch serve`` on a free port, its output in ``log``; stopped afterwards."""
    with (
        KlatchProcess(cli.env, cli.cwd, log) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client


def bearer(key: str, session: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if session is not None:
        headers["X-Klatch-Session"] = session
    return headers


# ---------------------------------------------------------------- tests


def test_init_keys_work_against_the_served_app(cli: Cli, tmp_path: Path) -> None:
    cli = cli.process()  # the commands an operator types beside a running server
    setup = cli.json("init")
    assert set(setup) == {"orgId", "brandId", "trackingKey", "adminKey", "jwtSecret"}
    assert all(isinstance(v, str) and v for v in setup.values())
    assert re.fullmatch(r"[0-9a-f]{24}", setup["orgId"])
    assert setup["trackingKey"] != setup["adminKey"]
    assert cli.json("attributes", "define", "conversation", "orderNumberStr")["type"] == "string"
    tracking, admin = setup["trackingKey"], setup["adminKey"]

    with served(cli, tmp_path / "serve.log") as http:
        started = http.post("/c/v1/sessions", headers=bearer(tracking))
        assert started.status_code == 201, started.text
        assert started.json()["orgId"] == setup["orgId"]
        session = started.json()["sessionToken"]
        chat = bearer(tracking, session)

        created = http.post("/c/v1/conversations", headers=chat, json={"message": "hello"})
        assert created.status_code == 201, created.text
        conv_id = created.json()["conversationId"]

        described = http.patch(
            f"/c/v1/conversations/{conv_id}",
            headers=chat,
            json={"custom": {"orderNumberStr": "A1"}},
        )
        assert described.status_code == 200, described.text
        assert described.json() == {"conversationId": conv_id, "custom": {"orderNumberStr": "A1"}}

        undefined = http.patch(
            f"/c/v1/conversations/{conv_id}", headers=chat, json={"custom": {"notDefinedStr": "x"}}
        )
        assert undefined.status_code == 400, undefined.text
        assert undefined.json()["errors"][0]["code"] == "unknown_attribute"
        assert "notDefinedStr" in undefined.json()["errors"][0]["detail"]

        other = http.post("/c/v1/sessions", headers=bearer(tracking)).json()["sessionToken"]
        foreign = http.patch(
            f"/c/v1/conversations/{conv_id}",
            headers=bearer(tracking, other),
            json={"custom": {"orderNumberStr": "stolen"}},
        )
        assert foreign.status_code == 404, foreign.text

        # The admin key reads it over REST; the public tracking key may not.
        rest = http.get(f"/v1/conversations/{conv_id}", headers=bearer(admin))
        assert rest.status_code == 200, rest.text
        assert rest.json()["data"]["attributes"]["custom"] == {"orderNumberStr": "A1"}
        assert http.get("/v1/conversations", headers=bearer(tracking)).status_code in (401, 403)

        # Defined with the CLI while the server runs: usable at once.
        assert cli.json("attributes", "define", "conversation", "lateNum")["type"] == "number"
        late = http.patch(
            f"/c/v1/conversations/{conv_id}", headers=chat, json={"custom": {"lateNum": 7}}
        )
        assert late.status_code == 200, late.text
        assert late.json()["custom"] == {"orderNumberStr": "A1", "lateNum": 7}

        # Keys made with the CLI work on the running server; a revoked one is refused.
        agent = cli.json("keys", "create", "--role", "org.user", "--name", "agent")
        assert http.get("/v1/conversations", headers=bearer(agent["key"])).status_code == 200
        doomed = cli.json("keys", "create", "--role", "org.user", "--name", "doomed")
        assert cli.json("keys", "revoke", doomed["id"]) == {"revoked": doomed["id"]}
        refused = http.get("/v1/conversations", headers=bearer(doomed["key"]))
        assert refused.status_code == 401, refused.text


def test_attributes_define_list_delete(cli: Cli) -> None:
    cli.json("init")
    order = cli.json("attributes", "define", "conversation", "orderNumberStr")
    assert order["klass"] == "conversation"
    assert order["name"] == "orderNumberStr"
    assert order["type"] == "string"
    assert order["sdkWritable"] is True

    plain = cli.json(
        "attributes", "define", "conversation", "some_custom_attribute", "--type", "str"
    )
    assert plain["type"] == "string"
    priority = cli.json(
        "attributes",
        "define",
        "conversation",
        "priorityNum",
        "--read-only",
        "--display-name",
        "Priority",
    )
    assert (priority["type"], priority["sdkWritable"], priority["displayName"]) == (
        "number",
        False,
        "Priority",
    )
    plan = cli.json(
        "attributes", "define", "customer", "planStr", "--allowed", "free", "--allowed", "pro"
    )
    assert plan["enumeration"] == ["free", "pro"]

    # A name without a known suffix needs --type; the message lists the suffixes.
    message = cli.fails_for_people("attributes", "define", "conversation", "colourXyz")
    for suffix in SUFFIXES:
        assert suffix in message, (suffix, message)
    codes = [
        e["code"]
        for e in cli.all_fail(
            ("attributes", "define", "conversation", "colourXyz"),
            ("attributes", "define", "conversation", "fooNum", "--type", "str"),
            ("attributes", "define", "conversation", "orderNumberStr"),
            ("attributes", "define", "spaceship", "fooStr"),
            ("attributes", "define", "conversation", "bad name"),
        )
    ]
    assert codes == [
        "type_required",
        "type_conflict",
        "already_exists",
        "unknown_klass",
        "invalid_name",
    ]

    everything = cli.json("attributes", "list")
    assert {(d["klass"], d["name"]) for d in everything} == {
        ("conversation", "orderNumberStr"),
        ("conversation", "some_custom_attribute"),
        ("conversation", "priorityNum"),
        ("customer", "planStr"),
    }
    conversation_only = cli.json("attributes", "list", "conversation")
    assert {d["name"] for d in conversation_only} == {
        "orderNumberStr",
        "some_custom_attribute",
        "priorityNum",
    }
    human_list = cli.run("attributes", "list")
    assert human_list.returncode == 0 and "orderNumberStr" in human_list.stdout

    assert cli.json("attributes", "delete", "conversation", "orderNumberStr") == {
        "deleted": "conversation.orderNumberStr"
    }
    assert "orderNumberStr" not in {d["name"] for d in cli.json("attributes", "list")}
    error = cli.fails("attributes", "delete", "conversation", "orderNumberStr")
    assert error["code"] == "attribute_not_found"


def test_keys_and_users(cli: Cli) -> None:
    setup = cli.json("init")
    created = cli.json("keys", "create", "--role", "org.user", "--name", "Zapier")
    assert created["role"] == "org.user"
    assert created["name"] == "Zapier"
    assert created["key"] not in (setup["adminKey"], setup["trackingKey"])

    listed = {k["id"]: k for k in cli.json("keys", "list")}
    assert len(listed) == 3  # the tracking and admin keys of init, and this one
    assert listed[created["id"]]["role"] == "org.user"
    assert listed[created["id"]]["revoked"] is False
    assert all(created["key"] != k.get("key") for k in listed.values()), "secrets shown once"
    assert {k["role"] for k in listed.values()} == {"org.tracking", "org.admin", "org.user"}

    assert cli.json("keys", "revoke", created["id"]) == {"revoked": created["id"]}
    assert {k["id"]: k for k in cli.json("keys", "list")}[created["id"]]["revoked"] is True
    agent = cli.json("users", "create", "Agent@Example.com", "--password", "s3cret-pass")
    assert agent["email"] == "agent@example.com"
    assert agent["role"] == "agent"
    boss = cli.json(
        "users", "create", "boss@example.com", "--password", "an0ther-pass", "--role", "admin"
    )
    assert boss["role"] == "admin"

    codes = [
        e["code"]
        for e in cli.all_fail(
            ("keys", "revoke", created["id"]),
            ("keys", "revoke", "f" * 24),
            ("users", "create", "AGENT@example.com", "--password", "other-pass"),
            ("users", "create", "new@example.com", "--password", "short"),
            ("users", "create", "not-an-email", "--password", "long-enough"),
        )
    ]
    assert codes == [
        "key_not_found",
        "key_not_found",
        "already_exists",
        "weak_password",
        "invalid_email",
    ]
    # A role that does not exist is a usage error, reported with the choices.
    for args in (
        ("keys", "create", "--role", "org.root"),
        ("users", "create", "x@example.com", "--password", "long-enough", "--role", "god"),
    ):
        message = cli.misused(*args)
        assert "--role" in message and ("org.admin" in message or "admin" in message), message
    assert len(cli.json("keys", "list")) == 3, "failed commands created nothing"

    # The stored password is the one given.
    async def check() -> None:
        from klatch.config import load_settings
        from klatch.errors import Unauthorized
        from klatch.runtime import running

        settings = load_settings(data_dir=cli.data_dir, database_url=cli.database_url)
        async with running(settings) as services:
            user = await services.orgs.authenticate_user("agent@example.com", "s3cret-pass")
            assert user.id == agent["id"]
            with pytest.raises(Unauthorized):
                await services.orgs.authenticate_user("agent@example.com", "wrong-pass")

    asyncio.run(check())


def test_commands_that_need_an_org_say_so_before_init(cli: Cli) -> None:
    error = cli.fails("keys", "list")
    assert error["code"] == "org_not_found"
    assert "init" in error["detail"]


def test_migrate_is_idempotent(cli: Cli) -> None:
    first = cli.json("migrate")
    assert first == {"revision": head_revision()}
    assert cli.json("migrate") == first
    if cli.database_url is None:
        assert (cli.data_dir / "klatch.db").is_file()
    # The migrated database is ready for use.
    cli.json("init")
    assert cli.json("migrate") == first
    assert len(cli.json("keys", "list")) == 2


def test_demo_sets_up_once_and_prints_json(cli: Cli) -> None:
    demo = cli.json("demo", "--no-serve", "--port", "8123")
    assert {"orgId", "trackingKey", "adminKey", "url", "openapi", "docs", "healthz"} <= set(demo)
    assert demo["healthz"].endswith("/healthz")
    defined = {d["name"] for d in cli.json("attributes", "list", "conversation")}
    assert "orderNumberStr" in defined
    assert demo["console"].endswith("/console")
    users = cli.json("users", "list")
    assert [(u["email"], u["role"]) for u in users] == [(demo["agentEmail"], "admin")]
    again = cli.json("demo", "--no-serve", "--port", "8123")
    assert again["orgId"] == demo["orgId"]
    assert again["adminKey"] == demo["adminKey"]
    assert again["agentPassword"] == demo["agentPassword"]
    assert len(cli.json("users", "list")) == 1  # set up once


def test_invalid_configuration_is_reported_not_a_traceback(tmp_path: Path) -> None:
    """Settings are checked before any database is touched: no backend needed."""
    env = {**clean_env(), "KLATCH_DATA_DIR": str(tmp_path), "KLATCH_DATABASE_URL": "mysql://x/db"}
    cli = Cli(env, tmp_path, None, tmp_path)
    message = cli.fails_for_people("migrate")
    assert "KLATCH_DATABASE_URL" in message
    error = cli.fails("keys", "list")
    assert error["code"] == "config_invalid"
    assert "KLATCH_DATABASE_URL" in error["detail"]


def test_data_dir_option_env_and_default(tmp_path: Path) -> None:
    """SQLite only: where the database file lands is the point."""
    env = clean_env()
    env["KLATCH_DATA_DIR"] = str(tmp_path / "from-env")
    cli = Cli(env, tmp_path / "from-env", None, tmp_path)

    explicit = tmp_path / "explicit"
    assert cli.json("init", "--data-dir", str(explicit))
    assert (explicit / "klatch.db").is_file()
    assert not (tmp_path / "from-env").exists(), "--data-dir wins over KLATCH_DATA_DIR"

    cli.json("init")
    assert (tmp_path / "from-env" / "klatch.db").is_file()

    bare = Cli(clean_env(), tmp_path / "klatch-data", None, tmp_path)
    bare.json("init")
    assert (tmp_path / "klatch-data" / "klatch.db").is_file(), "default is ./klatch-data"


# ---------------------------------------------------------------- the newcomer's path


def test_init_refuses_a_set_up_installation_and_says_what_to_do(cli: Cli) -> None:
    first = cli.json("init")
    error = cli.fails("init")
    assert error["code"] == "already_initialised"
    assert "--data-dir" in error["detail"] and "--add-org" in error["detail"]
    assert "'Default'" in error["detail"]
    message = cli.fails_for_people("init")
    assert "already set up" in message and "--add-org" in message
    # Nothing was added: the commands that need the only org still find it.
    assert len(cli.json("keys", "list")) == 2

    assert cli.fails("init", "--add-org")["code"] == "already_exists"  # 'Default' again
    second = cli.json("init", "--add-org", "--org-name", "Second shop")
    assert second["orgId"] != first["orgId"]
    assert cli.fails("keys", "list")["code"] == "org_ambiguous"
    assert len(cli.json("keys", "list", "--org", "Second shop")) == 2


def test_version_usage_errors_and_help(tmp_path: Path) -> None:
    """Real processes, before any database is touched: no backend needed."""
    from klatch import __version__

    cli = Cli({**clean_env(), "KLATCH_DATA_DIR": str(tmp_path)}, tmp_path, None, tmp_path).process()
    version = cli.run("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"klatch {__version__}"
    assert "No such option" in cli.misused("keys", "list", "--no-such-flag")
    assert "Missing argument" in cli.misused("attributes", "delete", "conversation")

    commands = [
        ("init",),
        ("serve",),
        ("demo",),
        ("migrate",),
        ("attributes", "define"),
        ("attributes", "list"),
        ("attributes", "delete"),
        ("keys", "create"),
        ("keys", "list"),
        ("keys", "revoke"),
        ("users", "create"),
        ("users", "list"),
    ]
    for command in commands:
        shown = cli.run(*command, "--help")
        assert shown.returncode == 0, shown.stderr
        for line in _option_lines(shown.stdout):
            # Every option says what it is for, and a flag does not look like it
            # takes a value.
            name, _, rest = line.partition(" ")
            words = [w for w in rest.split() if not (w.isupper() or w.startswith("["))]
            assert words, f"{command}: {name} has no help"
            assert "<bool>" not in line and "BOOLEAN" not in line, line
    serve = cli.run("serve", "--help").stdout
    assert "Address to listen on" in serve and "Port to listen on" in serve
    users = cli.run("users", "create", "--help").stdout
    assert "[required]" not in _option_block(users, "--password")
    assert "asked for" in _option_block(users, "--password")


def _option_lines(help_text: str) -> list[str]:
    """The first line of each option in a help screen, without the box drawing."""
    lines = []
    for raw in help_text.splitlines():
        line = raw.strip("│ ")
        line = line.removeprefix("* ").strip()
        if line.startswith("--"):
            lines.append(line)
    return lines


def _option_block(help_text: str, option: str) -> str:
    """An option's line and its continuation lines."""
    block: list[str] = []
    for raw in help_text.splitlines():
        line = raw.strip("│ ").removeprefix("* ").strip()
        if line.startswith("--"):
            if block:
                break
            if line.startswith(option):
                block.append(line)
        elif block:
            block.append(line)
    return " ".join(block)


def test_users_create_asks_for_the_password_when_not_given(cli: Cli) -> None:
    cli.json("init")
    created = cli.run(
        "users", "create", "asked@example.com", "--json", stdin="typed-secret\ntyped-secret\n"
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout[created.stdout.index("{") :])["email"] == "asked@example.com"

    async def check() -> None:
        from klatch.config import load_settings
        from klatch.runtime import running

        settings = load_settings(data_dir=cli.data_dir, database_url=cli.database_url)
        async with running(settings) as services:
            user = await services.orgs.authenticate_user("asked@example.com", "typed-secret")
            assert user.email == "asked@example.com"

    asyncio.run(check())


def test_piped_tables_show_whole_values(cli: Cli) -> None:
    cli.json("init")
    long_name = "An integration whose name is much longer than eighty columns of a terminal"
    key = cli.json("keys", "create", "--role", "org.user", "--name", long_name)
    email = "someone.with.a.very.long.address@support.example-shop-with-a-long-name.com"
    cli.json("users", "create", email, "--password", "long-enough", "--name", "Ann Agent")
    cli.json("attributes", "define", "conversation", "deliveryWindowForTheOrderStr")

    keys = cli.run("keys", "list")
    assert keys.returncode == 0
    row = next(line for line in keys.stdout.splitlines() if key["id"] in line)
    assert long_name in row and "org.user" in row, keys.stdout
    assert len(row) > 100
    users = cli.run("users", "list").stdout
    assert any(email in line and "Ann Agent" in line for line in users.splitlines()), users
    attributes = cli.run("attributes", "list").stdout
    assert "deliveryWindowForTheOrderStr" in attributes
    assert "…" not in users + attributes


def test_user_lifecycle_commands(cli: Cli) -> None:
    cli.json("init")
    agent = cli.json("users", "create", "ann@example.com", "--password", "s3cret-pass")
    edited = cli.json("users", "edit", "ann@example.com", "--name", "Anna", "--role", "admin")
    assert (edited["id"], edited["name"], edited["role"]) == (agent["id"], "Anna", "admin")
    assert cli.json("users", "disable", agent["id"])["disabled"] is True

    async def can_log_in() -> bool:
        from klatch.config import load_settings
        from klatch.errors import Unauthorized
        from klatch.runtime import running

        settings = load_settings(data_dir=cli.data_dir, database_url=cli.database_url)
        async with running(settings) as services:
            try:
                await services.orgs.authenticate_user("ann@example.com", "s3cret-pass")
            except Unauthorized:
                return False
            return True

    assert asyncio.run(can_log_in()) is False, "a disabled user cannot log in"
    assert cli.json("users", "enable", "ann@example.com")["disabled"] is False
    assert asyncio.run(can_log_in()) is True
    assert cli.fails("users", "disable", "nobody@example.com")["code"] == "user_not_found"


def test_every_command_as_a_real_process(tmp_path: Path) -> None:
    """Each command, and each kind of outcome, once as the process an operator
    starts (SQLite): the other tests run them in this process."""
    env = {
        **clean_env(),
        "KLATCH_DATA_DIR": str(tmp_path / "data"),
        "KLATCH_WEBHOOK_ALLOW_HTTP": "1",
        "KLATCH_WEBHOOK_ALLOW_PRIVATE": "1",
    }
    cli = Cli(env, tmp_path / "data", None, tmp_path).process()
    initialised = cli.run("init")
    assert initialised.returncode == 0 and "Initialised" in initialised.stdout, initialised
    assert "already set up" in cli.fails_for_people("init")
    assert cli.json("migrate") == {"revision": head_revision()}

    assert cli.json("attributes", "define", "conversation", "orderNumberStr")["type"] == "string"
    assert "orderNumberStr" in cli.run("attributes", "list").stdout
    assert cli.json("attributes", "delete", "conversation", "orderNumberStr")["deleted"]

    key = cli.json("keys", "create", "--role", "org.user", "--name", "Zapier")
    assert key["id"] in {k["id"] for k in cli.json("keys", "list")}
    assert cli.json("keys", "revoke", key["id"]) == {"revoked": key["id"]}
    assert cli.fails("keys", "revoke", "f" * 24)["code"] == "key_not_found"
    assert "--role" in cli.misused("keys", "create", "--role", "org.root")

    _users_and_teams_as_processes(cli)

    hook = cli.json("webhooks", "create", "CRM", "http://127.0.0.1:9/hook")["data"]
    assert [h["id"] for h in cli.json("webhooks", "list")["data"]] == [hook["id"]]
    assert cli.json("webhooks", "delete", hook["id"]) == {"deleted": hook["id"]}
    assert cli.fails("customers", "delete", "f" * 24, "--yes")["code"] == "customer_not_found"

    demo = Cli({**env, "KLATCH_DATA_DIR": str(tmp_path / "demo")}, tmp_path, None, tmp_path)
    shown = demo.process().json("demo", "--no-serve", "--port", "8123")
    assert shown["healthz"] == "http://127.0.0.1:8123/healthz"


def _users_and_teams_as_processes(cli: Cli) -> None:
    asked = cli.run("users", "create", "ann@example.com", "--json", stdin="s3cret-pass\n" * 2)
    assert asked.returncode == 0, asked.stderr
    ann = json.loads(asked.stdout[asked.stdout.index("{") :])
    assert cli.json("users", "edit", ann["id"], "--name", "Ann")["name"] == "Ann"
    assert cli.json("users", "disable", ann["email"])["disabled"] is True
    assert cli.json("users", "enable", ann["email"])["disabled"] is False
    assert cli.json("users", "reset-password", ann["email"], "--password", "an0ther-pass")
    bob = cli.json("users", "create", "bob@example.com", "--password", "s3cret-pass")
    assert "bob@example.com" in cli.run("users", "list").stdout

    assert cli.json("teams", "create", "Billing", "--member", ann["email"])["members"] == [
        "ann@example.com"
    ]
    added = cli.json("teams", "add-member", "Billing", bob["email"])
    assert added["members"] == ["ann@example.com", "bob@example.com"]
    removed = cli.json("teams", "remove-member", "Billing", ann["email"])
    assert removed["members"] == ["bob@example.com"]
    assert "Billing" in cli.run("teams", "list").stdout
    assert cli.json("teams", "delete", "Billing")["deleted"] is True
    assert cli.json("users", "delete", bob["email"])["deleted"] is True
