"""``klatch keys``: create, list and revoke API keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from klatch.cli.common import DataDir, JsonOut, OrgOpt, console, emit, load, print_table, run_in_org
from klatch.domain.models import ApiKey, Role

app = typer.Typer(help="API keys.", no_args_is_help=True)


@app.command("create")
def create(
    role: Role = typer.Option(
        ...,
        "--role",
        help="org.tracking: public, for the browser SDKs; org.user: agents' integrations; "
        "org.admin: everything",
    ),
    name: str = typer.Option("CLI key", "--name", help="A name to tell the key by"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create an API key; its secret is printed once."""
    created = run_in_org(
        load(data_dir),
        org,
        lambda services, org_id: services.orgs.create_key(org_id, role=role, name=name),
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
            f"[green]Created[/green] {role.value} key {created.key.id}: {created.secret}"
        ),
    )


@app.command("list")
def list_(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """List API keys (secrets are never shown again)."""
    keys = run_in_org(load(data_dir), org, lambda services, org_id: services.orgs.list_keys(org_id))
    rows = [_key_json(k) for k in keys]

    table = [
        [r["id"], r["name"], r["role"], r["prefix"] + "…", "yes" if r["revoked"] else ""]
        for r in rows
    ]
    emit(
        as_json,
        rows,
        lambda: print_table(("id", "name", "role", "starts with", "revoked"), table),
    )


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
    key_id: str = typer.Argument(..., help="The key's id (klatch keys list)"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Revoke an API key."""
    run_in_org(
        load(data_dir), org, lambda services, org_id: services.orgs.revoke_key(org_id, key_id)
    )
    emit(as_json, {"revoked": key_id}, lambda: console.print(f"[green]Revoked[/green] {key_id}"))
