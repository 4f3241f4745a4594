"""What every command shares: its settings, running a use case, errors and output.

A command loads its settings (``load``), then runs one async function against
started services (``run``, or ``run_in_org`` for the org ``--org`` names; a
command that names a console user finds it with ``find_user_id``). Every
``KlatchError`` becomes a message (or a JSON ``error`` under ``--json``) and exit
code 1, never a traceback; exit code 2 is left to usage errors (an unknown
option, a missing argument, a value not among an option's choices), which the
command line parser reports before anything runs.

Tables (``print_table``) are drawn for a terminal; piped, they are plain
columns as wide as their longest value, so ids, keys and emails are never cut.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape

from klatch.errors import KlatchError, NotFound

if TYPE_CHECKING:  # imported when a command runs: `klatch --help` starts without them
    from klatch.config import Settings
    from klatch.services import Services

T = TypeVar("T")
FAILED = 1  # the command ran and failed; usage errors exit with 2

console = Console(soft_wrap=True)  # keys and URLs must stay copyable on one line
err_console = Console(stderr=True, soft_wrap=True)  # messages are not cut either

DataDir = typer.Option(
    None, "--data-dir", help="Data directory (env KLATCH_DATA_DIR; default ./klatch-data)"
)
JsonOut = typer.Option(False, "--json", help="Print JSON for scripts (errors too)")
OrgOpt = typer.Option(None, "--org", help="Org name or id (default: the only org)")
# Where the commands that serve (serve, demo) listen.
HostOpt = typer.Option(
    None, "--host", help="Address to listen on (env KLATCH_HOST; default 127.0.0.1)"
)
PortOpt = typer.Option(None, "--port", help="Port to listen on (env KLATCH_PORT; default 8000)")


def load(data_dir: Path | None, **overrides: Any) -> Settings:
    """The settings of this invocation; invalid ``KLATCH_*`` settings are a message."""
    from klatch.config import load_settings

    try:
        return load_settings(data_dir=data_dir, **overrides)
    except KlatchError as exc:
        fail(exc)


def run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """``work`` against services started for ``settings``, stopped afterwards."""
    from klatch.runtime import running

    async def main() -> T:
        async with running(settings, deliver_webhooks=False) as services:
            return await work(services)

    try:
        return asyncio.run(main())
    except KlatchError as exc:
        fail(exc)


def run_in_org(
    settings: Settings, org: str | None, work: Callable[[Services, str], Awaitable[T]]
) -> T:
    """``run`` for a command on one org: ``work`` gets the id of the org ``--org``
    names (or of the only one)."""

    async def in_org(services: Services) -> T:
        return await work(services, (await services.orgs.find_org(org)).id)

    return run(settings, in_org)


async def find_user_id(services: Services, org_id: str, who: str) -> str:
    """The id of the org's console user whose id or email is ``who``."""
    for u in await services.orgs.list_users(org_id):
        if who in (u.id, u.email):
            return u.id
    raise NotFound(f"No user '{who}' in this org", code="user_not_found")


def fail(exc: KlatchError) -> NoReturn:
    if _json_wanted():
        print(json.dumps({"error": {"code": exc.code, "detail": exc.detail}}))
    else:
        err_console.print(f"[red]error[/red] ({exc.code}): {escape(exc.detail)}")
    raise typer.Exit(FAILED)


def _json_wanted() -> bool:
    """Whether the running command was given ``--json`` (the parsed option, so a
    ``--json`` that is another option's value does not count)."""
    context = click.get_current_context(silent=True)
    return context is not None and bool(context.params.get("as_json"))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """``rows`` under ``headers``: a table on a terminal, plain full-width columns
    when piped (never cut to 80 columns)."""
    if console.is_terminal:
        from rich.table import Table

        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]
    for line in (headers, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    """``data`` as JSON for scripts, else what ``human`` prints."""
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        human()


def write_secret_key(settings: Settings) -> None:
    """A random console-session secret in the data dir, used when none is configured."""
    path = settings.data_dir / "secret_key"
    if not path.exists() and os.environ.get("KLATCH_SECRET_KEY") is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48) + "\n")
        path.chmod(0o600)
