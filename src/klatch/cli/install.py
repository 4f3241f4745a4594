"""``klatch init`` and ``klatch migrate``: set up an installation and keep its schema new."""

from __future__ import annotations

from pathlib import Path

import typer

from klatch.cli.common import DataDir, JsonOut, console, emit, load, run, write_secret_key
from klatch.services.orgs import Setup


def init(
    data_dir: Path | None = DataDir,
    org_name: str = typer.Option("Default", "--org-name", help="Name of the first org"),
    as_json: bool = JsonOut,
) -> None:
    """Create the data dir, the database schema, the first org, its brand and keys."""
    settings = load(data_dir)
    write_secret_key(settings)
    result = setup_json(run(settings, lambda services: services.orgs.create_org(org_name)))

    def human() -> None:
        console.print(f"[green]Initialised[/green] org '{org_name}' in {settings.data_dir}")
        console.print(f"  org id        {result['orgId']}")
        console.print(f"  brand id      {result['brandId']}")
        console.print(f"  tracking key  {result['trackingKey']}   (public: goes in the page)")
        console.print(f"  admin key     {result['adminKey']}   (secret: shown only now)")
        console.print(f"  JWT secret    {result['jwtSecret']}   (signs login tokens)")

    emit(as_json, result, human)


def setup_json(setup: Setup) -> dict[str, str]:
    return {
        "orgId": setup.org.id,
        "brandId": setup.brand.id,
        "trackingKey": setup.tracking_key.secret,
        "adminKey": setup.admin_key.secret,
        "jwtSecret": setup.org.jwt_secret,
    }


def migrate(data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Upgrade the database schema to the newest version."""
    from klatch.storage.migrate import alembic_url, head_revision, upgrade

    settings = load(data_dir)
    upgrade(alembic_url(settings.database_url, settings.sqlite_path))
    head = head_revision()
    emit(
        as_json,
        {"revision": head},
        lambda: console.print(f"[green]Database at revision {head}[/green]"),
    )
