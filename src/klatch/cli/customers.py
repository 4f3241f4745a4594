"""``klatch customers``: erase a customer (a data subject's request to be forgotten)."""

from __future__ import annotations

from pathlib import Path

import typer

from klatch.cli.common import DataDir, JsonOut, OrgOpt, console, emit, load, run_in_org

app = typer.Typer(help="Customers.", no_args_is_help=True)


@app.command("delete")
def delete(
    customer_id: str = typer.Argument(..., help="The customer's id"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Erase a customer: it, the anonymous customers merged into it, their
    conversations, messages and chat sessions; the event log keeps that it
    happened, without the personal data (as DELETE /v1/customers/{id})."""
    from klatch.services.orgs import system_actor

    if not yes and not as_json:
        typer.confirm(f"Erase customer {customer_id} and all their conversations?", abort=True)
    customer = run_in_org(
        load(data_dir),
        org,
        lambda services, org_id: services.customers.delete(system_actor(org_id), customer_id),
    )
    emit(
        as_json,
        {"id": customer.id, "deleted": True},
        lambda: console.print(f"[green]Erased[/green] customer {customer.id}"),
    )
