"""``klatch teams`` on SQLite and PostgreSQL (``test_cli.Cli``: in this process; each
command also runs as a real process in ``test_every_command_as_a_real_process``):
create a team with members by email, add and remove members, list, delete; every
refusal is exit code 1 with a code and changes nothing."""

from __future__ import annotations

from test_cli import Cli, cli  # noqa: F401  (the fixture: a data dir, a database)

PASSWORD = "password-123"


def _set_up(run: Cli) -> None:
    run.json("init")
    for email in ("ann@example.com", "bob@example.com"):
        run.json("users", "create", email, "--password", PASSWORD, "--name", email[:3])


def _teams(run: Cli) -> dict[str, list[str]]:
    return {t["name"]: t["members"] for t in run.json("teams", "list")}


def test_teams_create_members_list_delete(cli: Cli) -> None:  # noqa: F811
    _set_up(cli)
    made = cli.json(
        "teams", "create", "Billing", "--display-name", "Billing team",
        "--member", "ann@example.com",
    )  # fmt: skip
    assert made["name"] == "Billing" and made["displayName"] == "Billing team"
    assert made["members"] == ["ann@example.com"]
    cli.json("teams", "create", "Technical")
    assert _teams(cli) == {"Billing": ["ann@example.com"], "Technical": []}

    # Members by email or id; a team by name (any case) or id.
    bob = next(u for u in cli.json("users", "list") if u["email"] == "bob@example.com")
    added = cli.json("teams", "add-member", "billing", bob["id"])
    assert added["members"] == ["ann@example.com", "bob@example.com"]
    removed = cli.json("teams", "remove-member", "Billing", "ann@example.com")
    assert removed["members"] == ["bob@example.com"]

    # Refusals: exit 1, a code, nothing changed.
    refused = cli.all_fail(
        ("teams", "create", "billing"),
        ("teams", "create", "Bad/name"),
        ("teams", "create", "Ghosts", "--member", "nobody@x.org"),
        ("teams", "add-member", "Nope", "bob@example.com"),
        ("teams", "remove-member", "Technical", "bob@example.com"),
    )
    assert [e["code"] for e in refused] == [
        "already_exists",
        "invalid_arguments",
        "user_not_found",
        "team_not_found",
        "member_not_found",
    ]
    assert _teams(cli) == {"Billing": ["bob@example.com"], "Technical": []}

    assert cli.json("teams", "delete", "Technical")["deleted"] is True
    assert cli.fails("teams", "delete", "Technical")["code"] == "team_not_found"
    assert _teams(cli) == {"Billing": ["bob@example.com"]}
    listed = cli.run("teams", "list")
    assert listed.returncode == 0 and "Billing team" in listed.stdout
