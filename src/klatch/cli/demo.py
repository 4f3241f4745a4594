"""``klatch demo``: a demo org with example attributes and a console login, served."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from klatch.cli.common import (
    DataDir,
    HostOpt,
    JsonOut,
    PortOpt,
    console,
    emit,
    load,
    run,
    write_secret_key,
)
from klatch.cli.serve import serve_app

if TYPE_CHECKING:
    from klatch.services import Services
    from klatch.services.demo import DemoState


def demo(
    data_dir: Path | None = DataDir,
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    no_serve: bool = typer.Option(False, "--no-serve", help="Set up, print, and exit"),
    as_json: bool = JsonOut,
) -> None:
    """Set up a demo org with example attributes (once), then serve it."""
    settings = load(data_dir, host=host, port=port, demo=True, **_demo_webhooks())
    write_secret_key(settings)
    state, origins = run(settings, _seed)
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    info = demo_json(state.to_json(), base, origins)
    info["webhooks"] = {
        "allowHttp": settings.webhook_allow_http,
        "allowPrivate": settings.webhook_allow_private,
    }
    emit(as_json, info, lambda: _print(info, origins))
    if not no_serve:
        serve_app(settings)


def _demo_webhooks() -> dict[str, bool]:
    """The demo lets webhooks reach http:// and local receivers (a receiver on this
    machine is what one tries first), unless the environment says otherwise."""
    names = ("webhook_allow_http", "webhook_allow_private")
    return {n: True for n in names if f"KLATCH_{n.upper()}" not in os.environ}


async def _seed(services: Services) -> tuple[DemoState, list[str]]:
    """The demo's state and the origins its brand lets open the chat."""
    from klatch.services.demo import seed_demo

    state = await seed_demo(services)
    brand = await services.orgs.brand_for(state.org_id, state.brand_id)
    origins: list[str] = brand.settings.get("allowedOrigins", [])
    return state, origins


def demo_json(state: dict[str, str], base: str, origins: list[str]) -> dict[str, Any]:
    """What ``klatch demo --json`` prints: the state, where to go, the allowed origins."""
    return {
        **state,
        "url": base,
        "openapi": f"{base}/openapi.json",
        "docs": f"{base}/docs",
        "demoPage": f"{base}/demo",
        "console": f"{base}/console",
        "healthz": f"{base}/healthz",
        "allowedOrigins": origins,
    }


def _print(info: dict[str, Any], origins: list[str]) -> None:
    console.print("[bold green]Klatch demo[/bold green]")
    if origins:
        console.print(f"  allowed origins  {', '.join(origins)} (other pages are refused)")
    else:
        console.print(
            "  allowed origins  none configured: any page may open the chat "
            f"(set them with PATCH /v1/brands/{info['brandId']})"
        )
    console.print(f"  demo shop page {info['demoPage']}   (open it and start a chat)")
    console.print(
        f"  agent console  {info['console']}   (log in as {info['agentEmail']} / "
        f"{info['agentPassword']})"
    )
    console.print(f"  API docs       {info['docs']}")
    hooks = info["webhooks"]
    if hooks["allowHttp"] or hooks["allowPrivate"]:
        console.print(
            "  webhooks       may reach http:// and loopback/private addresses (demo only; "
            "KLATCH_WEBHOOK_ALLOW_HTTP=1, KLATCH_WEBHOOK_ALLOW_PRIVATE=1)"
        )
    console.print(f"  health         {info['healthz']}")
    console.print(f"  tracking key   {info['trackingKey']}")
    console.print(f"  admin API key  {info['adminKey']}")
    console.print(
        f"  try:  curl -H 'Authorization: Bearer {info['adminKey']}' "
        f"{info['url']}/v1/metadata/conversation"
    )
