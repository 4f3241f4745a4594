"""``klatch webhooks create|list|delete``: an org's outbound webhooks.

The same rules as ``/v1/outbound-webhooks``: an https URL that resolves to a
public address (unless ``KLATCH_WEBHOOK_ALLOW_HTTP`` / ``_ALLOW_PRIVATE``), known
event names, at most ``KLATCH_WEBHOOK_LIMIT`` per org. ``--json`` prints the
REST API's resource (with the signing ``token``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from klatch.cli.common import DataDir, JsonOut, OrgOpt, console, emit, load, print_table, run_in_org
from klatch.domain.events import iso
from klatch.domain.models import Actor, ActorType
from klatch.domain.webhooks import EVENTS, OutboundWebhook
from klatch.errors import InvalidArguments

if TYPE_CHECKING:
    from klatch.services import Services

app = typer.Typer(help="Outbound webhooks (Kustomer's): where Klatch POSTs each change.")


def _actor(org_id: str) -> Actor:
    return Actor(ActorType.SYSTEM, None, org_id, name="cli")


def _resource(hook: OutboundWebhook) -> dict[str, Any]:
    """The REST API's resource for ``hook`` (its module is imported when needed)."""
    from klatch.http.rest.webhooks import webhook_resource

    return webhook_resource(hook)


def _headers(given: list[str]) -> list[dict[str, str]]:
    out = []
    for i, line in enumerate(given):
        name, sep, value = line.partition(":")
        if not sep:
            raise InvalidArguments(
                f"--header '{line}' is not 'Name: value'", pointer=f"/headers/{i}"
            )
        out.append({"name": name.strip(), "value": value.strip()})
    return out


@app.command("create")
def create(
    name: str = typer.Argument(..., help="What receives them, e.g. 'Order system'"),
    url: str = typer.Argument(..., help="https:// URL of the receiver"),
    event: list[str] = typer.Option(
        [], "--event", "-e", help=f"An event to send (repeatable; default all): {', '.join(EVENTS)}"
    ),
    header: list[str] = typer.Option([], "--header", "-H", help="'Name: value' to send along"),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create a webhook; prints its id and signing token."""
    settings = load(data_dir)

    async def work(services: Services, org_id: str) -> OutboundWebhook:
        fields = {
            "name": name,
            "url": url,
            "events": event or list(EVENTS),
            "headers": _headers(header),
            "enabled": not disabled,
        }
        return await services.webhooks.check_create(_actor(org_id), fields)

    hook = run_in_org(settings, org, work)
    emit(
        as_json,
        {"data": _resource(hook)},
        lambda: console.print(
            f"Created webhook {hook.id} → {hook.url}\n"
            f"events: {', '.join(hook.events)}\n"
            f"signing token: {hook.token}"
        ),
    )


@app.command("list")
def list_(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """The org's webhooks."""
    settings = load(data_dir)

    async def work(services: Services, org_id: str) -> list[OutboundWebhook]:
        page = await services.webhooks.list(_actor(org_id), page=1, page_size=100)
        return list(page.items)

    hooks = run_in_org(settings, org, work)

    def human() -> None:
        if not hooks:
            console.print("No webhooks.")
            return
        print_table(
            ["id", "name", "url", "events", "enabled", "created"],
            [
                [
                    h.id,
                    h.name,
                    h.url,
                    ",".join(e.removeprefix("kustomer.") for e in h.events),
                    "yes" if h.enabled else f"no ({h.disabled_reason or 'disabled'})",
                    (iso(h.created_at) or "")[:16],
                ]
                for h in hooks
            ],
        )

    emit(as_json, {"data": [_resource(h) for h in hooks]}, human)


@app.command("delete")
def delete(
    webhook_id: str = typer.Argument(..., help="The webhook's id (klatch webhooks list)"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Delete a webhook and its delivery log."""
    settings = load(data_dir)

    async def work(services: Services, org_id: str) -> None:
        await services.webhooks.check_delete(_actor(org_id), webhook_id)

    run_in_org(settings, org, work)
    emit(as_json, {"deleted": webhook_id}, lambda: console.print(f"Deleted webhook {webhook_id}"))
