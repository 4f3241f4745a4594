"""The ``klatch`` command: set up, serve and administer a Klatch installation.

Every command finds its data dir from ``--data-dir``, else ``KLATCH_DATA_DIR``,
else ``./klatch-data``, and its database from ``KLATCH_DATABASE_URL`` when set.
``--json`` prints machine-readable output for scripts. Each command group is a
module of its own; this one only assembles them.
"""

from __future__ import annotations

import typer

from klatch import __version__
from klatch.cli import attributes, customers, keys, teams, users, webhooks
from klatch.cli.demo import demo
from klatch.cli.export import backup, export, import_
from klatch.cli.install import init, migrate
from klatch.cli.serve import serve

app = typer.Typer(
    help="Klatch: self-hosted customer chat.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(attributes.app, name="attributes")
app.add_typer(customers.app, name="customers")
app.add_typer(keys.app, name="keys")
app.add_typer(teams.app, name="teams")
app.add_typer(users.app, name="users")
app.add_typer(webhooks.app, name="webhooks")
for command in (init, migrate, serve, demo):
    app.command()(command)
app.command()(export)
app.command("import")(import_)
app.command()(backup)


def _version(shown: bool) -> None:
    if shown:
        print(f"klatch {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit"
    ),
) -> None:
    """Klatch: self-hosted customer chat."""


def main() -> None:
    app()
