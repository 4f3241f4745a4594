"""The ``klatch`` command: set up, serve and administer a Klatch installation.

Every command finds its data dir from ``--data-dir``, else ``KLATCH_DATA_DIR``,
else ``./klatch-data``, and its database from ``KLATCH_DATABASE_URL`` when set.
``--json`` prints machine-readable output for scripts.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table

from klatch.config import Settings, load_settings
from klatch.domain.attributes import METADATA_TYPE_NAMES, suffix_list
from klatch.domain.models import Role, UserRole
from klatch.errors import KlatchError
from klatch.services import Services

T = TypeVar("T")
app = typer.Typer(
    help="Klatch: self-hosted customer chat.", no_args_is_help=True, pretty_exceptions_enable=False
)
attributes_app = typer.Typer(help="Define klass attributes (custom fields).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
users_app = typer.Typer(help="Console users (agents and admins).", no_args_is_help=True)
app.add_typer(attributes_app, name="attributes")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")

console = Console(soft_wrap=True)  # keys and URLs must stay copyable on one line
err_console = Console(stderr=True)

DataDir = typer.Option(None, "--data-dir", help="Data directory [env KLATCH_DATA_DIR]")
JsonOut = typer.Option(False, "--json", help="Print JSON for scripts")
OrgOpt = typer.Option(None, "--org", help="Org name or id (default: the only org)")

DEMO_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "orderNumberStr", "display_name": "Order number"},
    {"name": "priorityNum", "display_name": "Priority", "sdk_writable": False},
    {"name": "vipBool", "display_name": "VIP customer"},
    {"name": "deliveryAt", "display_name": "Delivery date"},
    {"name": "botTranscriptTxt", "display_name": "Bot transcript"},
    {
        "name": "issueTypeStr",
        "display_name": "Issue type",
        "tree": ["shipping", "shipping.delayed", "shipping.damaged", "billing", "billing.refund"],
    },
]


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(data_dir=data_dir, **overrides)
    except KlatchError as exc:  # invalid KLATCH_* settings: a message, not a traceback
        _fail(exc)


def _run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Services(settings) as services:
            return await work(services)

    try:
        return asyncio.run(main())
    except KlatchError as exc:
        _fail(exc)


def _fail(exc: KlatchError) -> NoReturn:
    if "--json" in sys.argv:
        print(json.dumps({"error": {"code": exc.code, "detail": exc.detail}}))
    else:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
    raise typer.Exit(2)


def _emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        human()


def _write_secret_key(settings: Settings) -> None:
    """A random console-session secret in the data dir, used when none is configured."""
    path = settings.data_dir / "secret_key"
    if not path.exists() and os.environ.get("KLATCH_SECRET_KEY") is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48) + "\n")
        path.chmod(0o600)


@app.command()
def init(
    data_dir: Path | None = DataDir,
    org_name: str = typer.Option("Default", "--org-name", help="Name of the first org"),
    as_json: bool = JsonOut,
) -> None:
    """Create the data dir, the database schema, the first org, its brand and keys."""
    settings = _settings(data_dir)
    _write_secret_key(settings)

    async def work(services: Services) -> dict[str, str]:
        setup = await services.orgs.create_org(org_name)
        return {
            "orgId": setup.org.id,
            "brandId": setup.brand.id,
            "trackingKey": setup.tracking_key.secret,
            "adminKey": setup.admin_key.secret,
            "jwtSecret": setup.org.jwt_secret,
        }

    result = _run(settings, work)

    def human() -> None:
        console.print(f"[green]Initialised[/green] org '{org_name}' in {settings.data_dir}")
        console.print(f"  org id        {result['orgId']}")
        console.print(f"  brand id      {result['brandId']}")
        console.print(f"  tracking key  {result['trackingKey']}   (public: goes in the page)")
        console.print(f"  admin key     {result['adminKey']}   (secret: shown only now)")
        console.print(f"  JWT secret    {result['jwtSecret']}   (signs login tokens)")

    _emit(as_json, result, human)


@app.command()
def migrate(data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Upgrade the database schema to the newest version."""
    from klatch.storage.migrate import alembic_url, head_revision, upgrade

    settings = _settings(data_dir)
    upgrade(alembic_url(settings.database_url, settings.sqlite_path))
    head = head_revision()
    _emit(
        as_json,
        {"revision": head},
        lambda: console.print(f"[green]Database at revision {head}[/green]"),
    )


@app.command()
def serve(
    data_dir: Path | None = DataDir,
    host: str | None = typer.Option(None, "--host", help="[env KLATCH_HOST]"),
    port: int | None = typer.Option(None, "--port", help="[env KLATCH_PORT]"),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request"),
) -> None:
    """Serve the chat API, REST API and SDKs."""
    settings = _settings(data_dir, host=host, port=port)
    try:
        settings.require_production_secrets()
    except KlatchError as exc:
        _fail(exc)
    _serve(settings, access_log=access_log)


def _serve(settings: Settings, *, access_log: bool = False) -> None:
    import uvicorn

    from klatch.app import create_app

    application = create_app(settings)
    # A server process makes many short-lived objects per request and few that
    # live long. Freeze what start-up made and collect the young generation less
    # often: with CPython's defaults, collections under load made the p99 of a
    # describe 50 ms instead of 14 ms (bench/describe).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=access_log,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        ws="websockets-sansio",  # uvicorn's non-deprecated websockets protocol
        # Chat frames are small; a deflate context per socket doubled the memory of
        # 10,000 idle sockets (822 -> 446 MiB without, bench/realtime).
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_heartbeat_seconds,
        ws_ping_timeout=settings.ws_heartbeat_seconds,
    )


async def demo_agent(services: Services, org_id: str) -> dict[str, str]:
    """The demo's console login: an admin, so every console page can be tried."""
    email, password = "agent@demo.klatch.test", secrets.token_urlsafe(9)
    await services.orgs.create_user(
        org_id, email, password, role=UserRole.ADMIN, display_name="Demo agent"
    )
    return {"agentEmail": email, "agentPassword": password}


@app.command()
def demo(
    data_dir: Path | None = DataDir,
    host: str | None = typer.Option(None, "--host"),
    port: int | None = typer.Option(None, "--port"),
    no_serve: bool = typer.Option(False, "--no-serve", help="Set up, print, and exit"),
    as_json: bool = JsonOut,
) -> None:
    """Set up a demo org with example attributes (once), then serve it."""
    settings = _settings(data_dir, host=host, port=port, demo=True)
    _write_secret_key(settings)
    state_file = settings.data_dir / "demo.json"

    async def work(services: Services) -> dict[str, Any]:
        if state_file.exists():
            state = dict(json.loads(state_file.read_text()))
            if "agentEmail" not in state:  # set up by a version without the console
                state.update(await demo_agent(services, state["orgId"]))
                state_file.write_text(json.dumps(state, indent=2))
            return state
        setup = await services.orgs.create_org("Demo", brand_name="Demo shop")
        for spec in DEMO_ATTRIBUTES:
            spec = dict(spec)
            await services.attributes.define(setup.org.id, "conversation", spec.pop("name"), **spec)
        await services.attributes.define(
            setup.org.id, "customer", "planStr", display_name="Plan", enumeration=["free", "pro"]
        )
        state = {
            "orgId": setup.org.id,
            "brandId": setup.brand.id,
            "trackingKey": setup.tracking_key.secret,
            "adminKey": setup.admin_key.secret,
            "jwtSecret": setup.org.jwt_secret,
            **await demo_agent(services, setup.org.id),
        }
        state_file.write_text(json.dumps(state, indent=2))
        state_file.chmod(0o600)
        return state

    state = _run(settings, work)
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    info = {
        **state,
        "url": base,
        "openapi": f"{base}/openapi.json",
        "docs": f"{base}/docs",
        "demoPage": f"{base}/demo",
        "console": f"{base}/console",
        "healthz": f"{base}/healthz",
    }

    origins = _run(
        settings,
        lambda services: services.orgs.brand_for(state["orgId"], state["brandId"]),
    ).settings.get("allowedOrigins", [])
    info["allowedOrigins"] = origins

    def human() -> None:
        console.print("[bold green]Klatch demo[/bold green]")
        if origins:
            console.print(f"  allowed origins  {', '.join(origins)} (other pages are refused)")
        else:
            console.print(
                "  allowed origins  none configured: any page may open the chat "
                f"(set them with PATCH /v1/brands/{state['brandId']})"
            )
        console.print(f"  demo shop page {info['demoPage']}   (open it and start a chat)")
        console.print(
            f"  agent console  {info['console']}   (log in as {state['agentEmail']} / "
            f"{state['agentPassword']})"
        )
        console.print(f"  API docs       {info['docs']}")
        console.print(f"  health         {info['healthz']}")
        console.print(f"  tracking key   {state['trackingKey']}")
        console.print(f"  admin API key  {state['adminKey']}")
        console.print(
            f"  try:  curl -H 'Authorization: Bearer {state['adminKey']}' "
            f"{base}/v1/metadata/conversation"
        )

    _emit(as_json, info, human)
    if not no_serve:
        _serve(settings)


# ------------------------------------------------------------------ attributes


@attributes_app.command("define")
def attributes_define(
    klass: str = typer.Argument(..., help="conversation or customer"),
    name: str = typer.Argument(
        ..., help=f"System name; its suffix sets the type ({suffix_list()})"
    ),
    type_: str | None = typer.Option(None, "--type", help="Type, for names without a suffix"),
    display_name: str | None = typer.Option(None, "--display-name"),
    read_only: bool = typer.Option(
        False, "--read-only", help="Not writable from the browser SDK (sdkWritable=false)"
    ),
    allowed: list[str] | None = typer.Option(None, "--allowed", help="Allowed value (repeat)"),
    tree: list[str] | None = typer.Option(None, "--tree", help="Tree path like a.b (repeat)"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Define a custom attribute on a klass."""
    settings = _settings(data_dir)

    async def work(services: Services) -> Any:
        org_id = (await services.orgs.find_org(org)).id
        return await services.attributes.define(
            org_id,
            klass,
            name,
            type_=type_,
            display_name=display_name,
            sdk_writable=not read_only,
            enumeration=allowed or None,
            tree=tree or None,
        )

    d = _run(settings, work)
    _emit(
        as_json,
        _attribute_json(d),
        lambda: console.print(
            f"[green]Defined[/green] {klass}.{d.name} "
            f"({METADATA_TYPE_NAMES[d.type]}, '{d.display_name}')"
        ),
    )


@attributes_app.command("list")
def attributes_list(
    klass: str | None = typer.Argument(None, help="conversation or customer (default: all)"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """List attribute definitions."""
    settings = _settings(data_dir)

    async def work(services: Services) -> Any:
        org_id = (await services.orgs.find_org(org)).id
        return await services.attributes.list(org_id, klass)

    defs = _run(settings, work)

    def human() -> None:
        # The system name is what the API and SDKs use: never cut it short.
        table = Table(
            Column("klass", no_wrap=True, min_width=len("conversation")),
            Column("name", no_wrap=True, min_width=max((len(d.name) for d in defs), default=4)),
            "type",
            "display name",
            "sdk writable",
            "allowed",
        )
        for d in defs:
            allowed = ", ".join((d.enumeration or ()) + (d.tree or ()))
            table.add_row(
                d.klass,
                d.name,
                METADATA_TYPE_NAMES[d.type],
                d.display_name,
                "yes" if d.sdk_writable else "no",
                allowed[:60],
            )
        console.print(table)

    _emit(as_json, [_attribute_json(d) for d in defs], human)


@attributes_app.command("delete")
def attributes_delete(
    klass: str = typer.Argument(...),
    name: str = typer.Argument(...),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Delete a definition (stored values stay; the attribute can no longer be written)."""
    settings = _settings(data_dir)

    async def work(services: Services) -> None:
        org_id = (await services.orgs.find_org(org)).id
        await services.attributes.delete(org_id, klass, name)

    _run(settings, work)
    _emit(
        as_json,
        {"deleted": f"{klass}.{name}"},
        lambda: console.print(f"[green]Deleted[/green] {klass}.{name}"),
    )


def _attribute_json(d: Any) -> dict[str, Any]:
    return {
        "klass": d.klass,
        "name": d.name,
        "type": METADATA_TYPE_NAMES[d.type],
        "displayName": d.display_name,
        "sdkWritable": d.sdk_writable,
        "enumeration": list(d.enumeration) if d.enumeration else None,
        "tree": list(d.tree) if d.tree else None,
    }


# ------------------------------------------------------------------ keys


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="org.tracking | org.user | org.admin"),
    name: str = typer.Option("CLI key", "--name"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create an API key; its secret is printed once."""
    settings = _settings(data_dir)
    try:
        key_role = Role(role)
    except ValueError:
        _fail(
            KlatchError(
                f"Unknown role '{role}'; use org.tracking, org.user or org.admin",
                code="invalid_arguments",
            )
        )

    async def work(services: Services) -> Any:
        org_id = (await services.orgs.find_org(org)).id
        return await services.orgs.create_key(org_id, role=key_role, name=name)

    created = _run(settings, work)
    data = {
        "id": created.key.id,
        "role": created.key.role.value,
        "name": created.key.name,
        "key": created.secret,
    }
    _emit(
        as_json,
        data,
        lambda: console.print(
            f"[green]Created[/green] {key_role.value} key {created.key.id}: {created.secret}"
        ),
    )


@keys_app.command("list")
def keys_list(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """List API keys (secrets are never shown again)."""
    settings = _settings(data_dir)

    async def work(services: Services) -> Any:
        return await services.orgs.list_keys((await services.orgs.find_org(org)).id)

    keys = _run(settings, work)
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "role": k.role.value,
            "prefix": k.prefix,
            "revoked": k.revoked_at is not None,
        }
        for k in keys
    ]

    def human() -> None:
        table = Table("id", "name", "role", "starts with", "revoked")
        for r in rows:
            table.add_row(
                r["id"], r["name"], r["role"], r["prefix"] + "…", "yes" if r["revoked"] else ""
            )
        console.print(table)

    _emit(as_json, rows, human)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(...),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Revoke an API key."""
    settings = _settings(data_dir)

    async def work(services: Services) -> None:
        await services.orgs.revoke_key((await services.orgs.find_org(org)).id, key_id)

    _run(settings, work)
    _emit(as_json, {"revoked": key_id}, lambda: console.print(f"[green]Revoked[/green] {key_id}"))


# ------------------------------------------------------------------ users


@users_app.command("create")
def users_create(
    email: str = typer.Argument(...),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True),
    role: str = typer.Option("agent", "--role", help="agent | admin"),
    name: str | None = typer.Option(None, "--name", help="Display name"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create a console user."""
    settings = _settings(data_dir)
    try:
        user_role = UserRole(role)
    except ValueError:
        _fail(KlatchError(f"Unknown role '{role}'; use agent or admin", code="invalid_arguments"))

    async def work(services: Services) -> Any:
        org_id = (await services.orgs.find_org(org)).id
        return await services.orgs.create_user(
            org_id, email, password, role=user_role, display_name=name
        )

    user = _run(settings, work)
    _emit(
        as_json,
        {"id": user.id, "email": user.email, "role": user.role.value},
        lambda: console.print(f"[green]Created[/green] {user.role.value} {user.email}"),
    )


@users_app.command("list")
def users_list(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """List console users."""
    settings = _settings(data_dir)

    async def work(services: Services) -> Any:
        return await services.orgs.list_users((await services.orgs.find_org(org)).id)

    rows = [
        {
            "id": u.id,
            "email": u.email,
            "name": u.display_name,
            "role": u.role.value,
            "disabled": u.disabled_at is not None,
        }
        for u in _run(settings, work)
    ]

    def human() -> None:
        table = Table("id", "email", "name", "role", "disabled")
        for r in rows:
            table.add_row(r["id"], r["email"], r["name"], r["role"], "yes" if r["disabled"] else "")
        console.print(table)

    _emit(as_json, rows, human)


def main() -> None:
    app()
