"""``klatch export``, ``klatch import`` and ``klatch backup``: moving and keeping data.

Export and import copy an installation (or one org) through JSON Lines, also from
SQLite to PostgreSQL (``services/export.py`` says what the file holds and what an
import without secrets re-issues); backup copies a SQLite database while the
server runs (``storage/backup.py``). A bar shows progress when stderr is a terminal.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import typer

from klatch.cli.common import DataDir, JsonOut, console, emit, err_console, fail, load
from klatch.errors import InvalidArguments, KlatchError

if TYPE_CHECKING:  # imported when a command runs: `klatch --help` starts without them
    from rich.progress import Progress

    from klatch.config import Settings
    from klatch.services import export as service
    from klatch.storage.db import Database

T = TypeVar("T")
DatabaseUrl = typer.Option(
    None, "--database-url", help="postgresql://… or sqlite:///… [env KLATCH_DATABASE_URL]"
)


class _Bar:
    """The export's progress as a rich bar per table, on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: Any = None

    def table(self, name: str, total: int) -> None:
        self._task = self._progress.add_task(name, total=total)

    def advance(self, rows: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, rows)


@contextmanager
def _progress() -> Iterator[_Bar | None]:
    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        yield _Bar(progress)


def _on_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """``work`` on the database alone (no bus, no socket hub), closed afterwards."""
    from klatch.storage.db import open_database

    async def main() -> T:
        db = open_database(settings.database_url, settings.sqlite_path)
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except KlatchError as exc:
        fail(exc)


@contextmanager
def _output(output: str, secret: bool) -> Iterator[IO[str]]:
    """Where the export goes: stdout, or a new file that appears only once whole."""
    if output == "-":
        yield sys.stdout
        return
    path = Path(output)
    if path.exists():
        fail(InvalidArguments(f"{path} exists; choose a new file", code="file_exists"))
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.touch(0o600 if secret else 0o644)  # hashes: as sensitive as the database
    opened: IO[str] = (
        gzip.open(partial, "wt", encoding="utf-8")
        if path.suffix == ".gz"
        else partial.open("w", encoding="utf-8")
    )
    try:
        with opened:
            yield opened
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(path)


def export(
    output: str = typer.Argument(..., help="File to write (.gz: compressed), or - for stdout"),
    org: str | None = typer.Option(None, "--org", help="Only this org (name or id); default all"),
    include_secrets: bool = typer.Option(
        False,
        "--include-secrets",
        help="Keep password and key hashes, the JWT secret and chat sessions (a move "
        "between databases: logins and keys keep working; guard the file)",
    ),
    data_dir: Path | None = DataDir,
    database_url: str | None = DatabaseUrl,
    as_json: bool = JsonOut,
) -> None:
    """Export the installation (or one org) as JSON Lines.

    Read on one snapshot while the server runs; without --include-secrets no
    credential leaves the database."""
    from klatch.services import export as service

    settings = load(data_dir, database_url=database_url)
    started = time.monotonic()
    with ExitStack() as stack:
        out = stack.enter_context(_output(output, include_secrets))
        bar = stack.enter_context(_progress())
        counts = _on_database(
            settings,
            lambda db: service.export(
                db, out.write, org=org, include_secrets=include_secrets, progress=bar
            ),
        )
    data = {"file": output, "rows": counts, "secrets": include_secrets}
    _summary(as_json, output, data, f"Exported {sum(counts.values())} rows", started)


def _summary(as_json: bool, output: str, data: dict[str, Any], line: str, started: float) -> None:
    # With the export on stdout, the summary goes to stderr.
    target = err_console if output == "-" else console
    if as_json:
        text = json.dumps(data, indent=2)
        print(text, file=sys.stderr if output == "-" else sys.stdout)
        return
    target.print(f"[green]{line}[/green] in {time.monotonic() - started:.1f} s")


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        yield from lines


def import_(
    source: Path = typer.Argument(..., help="A file `klatch export` wrote (.gz too)"),
    data_dir: Path | None = DataDir,
    database_url: str | None = DatabaseUrl,
    as_json: bool = JsonOut,
) -> None:
    """Import an export into an empty database (also SQLite to PostgreSQL).

    The database is migrated first and filled in one transaction; credentials the
    file withheld are re-issued and printed once."""
    from klatch.services import export as service
    from klatch.storage.migrate import alembic_url, upgrade

    settings = load(data_dir, database_url=database_url)
    if not source.is_file():
        fail(InvalidArguments(f"No file {source}", code="file_not_found"))
    started = time.monotonic()
    upgrade(alembic_url(settings.database_url, settings.sqlite_path))
    with _progress() as bar:
        report = _on_database(
            settings, lambda db: service.import_(db, _lines(source), progress=bar)
        )
    data = {
        "rows": report.rows,
        "secrets": report.with_secrets,
        "reissued": [
            {"kind": r.kind, "orgId": r.org_id, "id": r.id, "name": r.name, "secret": r.secret}
            for r in report.reissued
        ],
        "replaced": report.replaced,
    }
    emit(as_json, data, lambda: _print_import(report, started))


def _print_import(report: service.ImportReport, started: float) -> None:
    total = sum(report.rows.values())
    console.print(f"[green]Imported {total} rows[/green] in {time.monotonic() - started:.1f} s")
    if report.with_secrets:
        console.print("Secrets came with the file: keys, logins and chat sessions work as before.")
        return
    console.print("The file held no secrets; new ones, shown only now:")
    labels = {"jwt_secret": "JWT secret of org", "api_key": "API key", "password": "password of"}
    for item in report.reissued:
        console.print(
            f"  {labels.get(item.kind, item.kind)} {item.name} ({item.id}): {item.secret}"
        )
    for column, rows in sorted(report.replaced.items()):
        console.print(f"  {column}: {rows} rows given a random value nobody holds")


def backup(
    target: Path = typer.Argument(..., help="The copy to write (must not exist)"),
    data_dir: Path | None = DataDir,
    database_url: str | None = DatabaseUrl,
    as_json: bool = JsonOut,
) -> None:
    """Copy the SQLite database consistently while the server runs.

    SQLite's online backup API; for PostgreSQL use pg_dump (docs/operations.md)."""
    from klatch.storage.backup import backup_sqlite

    settings = load(data_dir, database_url=database_url)
    if settings.is_postgres:
        fail(
            InvalidArguments(
                "klatch backup copies SQLite; for PostgreSQL run "
                "`pg_dump --format=custom --file=klatch.dump <database>` (docs/operations.md)",
                code="not_sqlite",
            )
        )
    started = time.monotonic()
    try:
        size = backup_sqlite(settings.sqlite_path, target)
    except (OSError, ValueError) as exc:
        fail(KlatchError(str(exc), code="backup_failed"))
    except Exception as exc:  # sqlite3.Error: the copy failed its check or the read failed
        fail(KlatchError(f"The backup failed: {exc}", code="backup_failed"))
    emit(
        as_json,
        {"file": str(target), "bytes": size, "source": str(settings.sqlite_path)},
        lambda: console.print(
            f"[green]Backed up[/green] {settings.sqlite_path} to {target} "
            f"({size / 1_048_576:.1f} MiB) in {time.monotonic() - started:.1f} s"
        ),
    )
