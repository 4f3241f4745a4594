"""``klatch users``: console users (agents and admins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from klatch.cli.common import DataDir, JsonOut, OrgOpt, console, emit, load, print_table, run_in_org
from klatch.domain.models import User, UserRole

app = typer.Typer(help="Console users (agents and admins).", no_args_is_help=True)


@app.command("create")
def create(
    email: str = typer.Argument(..., help="The user's email, the console login"),
    password: str | None = typer.Option(
        None,
        "--password",
        help="The console password (8+ characters); asked for, hidden, when not given",
        show_default=False,
    ),
    role: UserRole = typer.Option(
        UserRole.AGENT, "--role", help="agent: the inbox; admin: also the admin pages"
    ),
    name: str | None = typer.Option(None, "--name", help="Display name"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create a console user."""
    settings = load(data_dir)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    secret = str(password)
    user = run_in_org(
        settings,
        org,
        lambda services, org_id: services.orgs.create_user(
            org_id, email, secret, role=role, display_name=name
        ),
    )
    emit(
        as_json,
        {"id": user.id, "email": user.email, "role": user.role.value},
        lambda: console.print(f"[green]Created[/green] {user.role.value} {user.email}"),
    )


@app.command("list")
def list_(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """List console users."""
    users = run_in_org(
        load(data_dir), org, lambda services, org_id: services.orgs.list_users(org_id)
    )
    rows = [_user_json(u) for u in users]

    table = [
        [r["id"], r["email"], r["name"] or "", r["role"], "yes" if r["disabled"] else ""]
        for r in rows
    ]
    emit(as_json, rows, lambda: print_table(("id", "email", "name", "role", "disabled"), table))


def _user_json(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.display_name,
        "role": u.role.value,
        "disabled": u.disabled_at is not None,
    }
