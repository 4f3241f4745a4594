"""``klatch init`` and ``klatch migrate``: set up an installation and keep its schema new."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from klatch.cli.common import DataDir, JsonOut, console, emit, load, run, write_secret_key
from klatch.errors import Conflict

if TYPE_CHECKING:
    from klatch.config import Settings
    from klatch.services import Services
    from klatch.services.orgs import Setup


def init(
    data_dir: Path | None = DataDir,
    org_name: str = typer.Option("Default", "--org-name", help="Name of the org to create"),
    add_org: bool = typer.Option(
        False,
        "--add-org",
        help="Add another org to an installation that has one (give it an --org-name)",
    ),
    as_json: bool = JsonOut,
) -> None:
    """Create the data dir, the database schema, the first org, its brand and keys.

    An installation that already has an org is left alone: use another --data-dir
    for a separate one, or --add-org to add an org to this one.
    """
    settings = load(data_dir)
    write_secret_key(settings)

    async def create(services: Services) -> Setup:
        names = [org.name for org in await services.orgs.list_orgs()]
        if names and not add_org:
            raise Conflict(_initialised(settings, names), code="already_initialised")
        if org_name in names:
            raise Conflict(
                f"An org named '{org_name}' exists; choose another --org-name",
                code="already_exists",
            )
        return await services.orgs.create_org(org_name)

    result = setup_json(run(settings, create))

    def human() -> None:
        console.print(f"[green]Initialised[/green] org '{org_name}' in {settings.data_dir}")
        console.print(f"  org id        {result['orgId']}")
        console.print(f"  brand id      {result['brandId']}")
        console.print(f"  tracking key  {result['trackingKey']}   (public: goes in the page)")
        console.print(f"  admin key     {result['adminKey']}   (secret: shown only now)")
        console.print(f"  JWT secret    {result['jwtSecret']}   (signs login tokens)")

    emit(as_json, result, human)


def _initialised(settings: Settings, names: list[str]) -> str:
    where = "This database" if settings.is_postgres else f"The data dir {settings.data_dir}"
    orgs = ", ".join(f"'{name}'" for name in names)
    return (
        f"{where} is already set up (org {orgs}); nothing was changed. For a separate "
        "installation (beside the demo, say) use another data dir: klatch init --data-dir DIR. "
        "To add an org to this one: klatch init --add-org --org-name NAME"
    )


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
