"""``klatch keys``: create, list and revoke API keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from klatch.cli.common import DataDir, JsonOut, OrgOpt, console, emit, load, role_of, run_in_org
from klatch.domain.models import ApiKey, Role

app = typer.Typer(help="API keys.", no_args_is_help=True)


@app.command("create")
def create(
    role: str = typer.Option(..., "--role", help="org.tracking | org.user | org.admin"),
    name: str = typer.Option("CLI key", "--name"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create an API key; its secret is printed once."""
    settings = load(data_dir)
    key_role = role_of(Role, role, "org.tracking, org.user or org.admin")
    created = run_in_org(
        settings,
        org,
        lambda services, org_id: services.orgs.create_key(org_id, role=key_role, name=name),
    )
    data = {
        "id": created.key.id,
        "role": created.key.role.value,
        "name": created.key.name,
        "key": created.secret,
    }
    emit(
        as_json,
        data,
        lambda: console.print(
            f"[green]Created[/green] {key_role.value} key {created.key.id}: {created.secret}"
        ),
    )


@app.command("list")
def list_(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """List API keys (secrets are never shown again)."""
    keys = run_in_org(load(data_dir), org, lambda services, org_id: services.orgs.list_keys(org_id))
    rows = [_key_json(k) for k in keys]

    def human() -> None:
        table = Table("id", "name", "role", "starts with", "revoked")
        for r in rows:
            table.add_row(
                r["id"], r["name"], r["role"], r["prefix"] + "…", "yes" if r["revoked"] else ""
            )
        console.print(table)

    emit(as_json, rows, human)


def _key_json(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "role": k.role.value,
        "prefix": k.prefix,
        "revoked": k.revoked_at is not None,
    }


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(...),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Revoke an API key."""
    run_in_org(
        load(data_dir), org, lambda services, org_id: services.orgs.revoke_key(org_id, key_id)
    )
    emit(as_json, {"revoked": key_id}, lambda: console.print(f"[green]Revoked[/green] {key_id}"))
