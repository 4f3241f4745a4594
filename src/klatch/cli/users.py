"""``klatch users``: console users (agents and admins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from klatch.cli.common import DataDir, JsonOut, OrgOpt, console, emit, load, role_of, run_in_org
from klatch.domain.models import User, UserRole

app = typer.Typer(help="Console users (agents and admins).", no_args_is_help=True)


@app.command("create")
def create(
    email: str = typer.Argument(...),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True),
    role: str = typer.Option("agent", "--role", help="agent | admin"),
    name: str | None = typer.Option(None, "--name", help="Display name"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create a console user."""
    settings = load(data_dir)
    user_role = role_of(UserRole, role, "agent or admin")
    user = run_in_org(
        settings,
        org,
        lambda services, org_id: services.orgs.create_user(
            org_id, email, password, role=user_role, display_name=name
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

    def human() -> None:
        table = Table("id", "email", "name", "role", "disabled")
        for r in rows:
            table.add_row(r["id"], r["email"], r["name"], r["role"], "yes" if r["disabled"] else "")
        console.print(table)

    emit(as_json, rows, human)


def _user_json(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "name": u.display_name,
        "role": u.role.value,
        "disabled": u.disabled_at is not None,
    }
