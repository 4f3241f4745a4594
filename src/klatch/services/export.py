"""Export an installation (or one org) to JSON Lines, and import such a file into an
empty database: also the way from SQLite to PostgreSQL.

The file: a header line, one line per row (``{"table": ..., "row": {...}}``, parents
before children, every table of ``storage/tables.py`` but the ephemeral login
state), and a trailer line with the row count, so a cut-off file is refused.
It is read on one snapshot of the database, so it is consistent while the
server keeps writing.

Secrets are left out unless asked for (``include_secrets``): the org's JWT secret,
API key hashes, password hashes, chat session token hashes, and any column
``storage.export.secret_columns`` names. Importing a file without them re-issues
credentials, each printed once by ``klatch import``: every org gets a new JWT
secret, every active API key a new secret (same id, name and role), every active
user a new password; revoked keys and disabled users stay unusable; chat sessions
end (their browsers start new ones), webhooks get a new token and no custom
headers, and any other secret column gets a random value nobody holds. With
secrets, the import is the installation as it was: keys, logins and chat
sessions keep working.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from argon2 import PasswordHasher

from klatch.domain.events import iso
from klatch.domain.models import Role
from klatch.errors import Conflict, InvalidArguments, NotFound
from klatch.ids import hash_secret, new_secret, now_ms
from klatch.storage import export as store
from klatch.storage.db import Database, Tx
from klatch.storage.migrate import head_revision

FORMAT = 1
KEY_PREFIXES = {Role.TRACKING.value: "kt", Role.USER.value: "ku", Role.ADMIN.value: "ka"}
_BATCH = 500
_hasher = PasswordHasher()


class Progress(Protocol):
    """Told what is being copied, so a terminal can show a bar."""

    def table(self, name: str, total: int) -> None: ...

    def advance(self, rows: int) -> None: ...


class _Silent:
    def table(self, name: str, total: int) -> None:
        return None

    def advance(self, rows: int) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Reissued:
    """A credential the import made anew (the file had none): shown once."""

    kind: str  # jwt_secret | api_key | password
    org_id: str
    id: str  # org id, key id or user id
    name: str  # org name, key name or user email
    secret: str


@dataclass(slots=True)
class ImportReport:
    rows: dict[str, int] = field(default_factory=dict)
    with_secrets: bool = True
    reissued: list[Reissued] = field(default_factory=list)
    # Other secret columns set to random values nobody holds: "table.column" -> rows.
    replaced: dict[str, int] = field(default_factory=dict)


def _line(data: Any) -> str:
    return orjson.dumps(data).decode() + "\n"


async def export(
    db: Database,
    write: Callable[[str], object],
    *,
    org: str | None = None,
    include_secrets: bool = False,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the installation (or the org named or identified by ``org``) as JSON
    Lines through ``write``, read on one snapshot; the rows written per table."""
    shown = progress or _Silent()

    async def work(tx: Tx) -> dict[str, int]:
        org_ids = await _org_scope(tx, org)
        revision = await store.schema_revision(tx)
        if revision != head_revision():
            raise Conflict(
                f"The database is at schema {revision}, this Klatch at {head_revision()}; "
                "run `klatch migrate` first",
                code="schema_mismatch",
            )
        tables = store.exported_tables()
        counts = {str(t.name): await store.count_rows(tx, t, org_ids) for t in tables}
        write(_line(_header(revision, org_ids, include_secrets, counts)))
        for table in tables:
            shown.table(table.name, counts[table.name])
            withheld = () if include_secrets else store.secret_columns(table)
            async for rows in store.table_rows(tx, table, org_ids):
                for row in rows:
                    for name in withheld:
                        row.pop(name, None)
                    write(_line({"table": str(table.name), "row": row}))
                shown.advance(len(rows))
        write(_line({"end": {"rows": sum(counts.values())}}))
        return counts

    return await db.read(work)


async def _org_scope(tx: Tx, org: str | None) -> list[str] | None:
    if org is None:
        return None
    ids = await store.org_ids_named(tx, org)
    if not ids:
        raise NotFound(f"No org named '{org}'", code="org_not_found")
    return ids


def _header(
    revision: str, org_ids: list[str] | None, include_secrets: bool, counts: dict[str, int]
) -> dict[str, Any]:
    withheld = {
        str(t.name): list(store.secret_columns(t))
        for t in store.exported_tables()
        if store.secret_columns(t) and not include_secrets
    }
    return {
        "klatch": "export",
        "format": FORMAT,
        "schema": revision,
        "exportedAt": iso(now_ms()),
        "orgs": org_ids,
        "secrets": include_secrets,
        "withheld": withheld,
        "rows": counts,
    }


# ------------------------------------------------------------------ import


def read_header(lines: Iterator[str]) -> dict[str, Any]:
    """The file's header, checked: a Klatch export of this format and schema."""
    first = next(lines, None)
    header = _parse(first, 1) if first is not None else None
    if not isinstance(header, dict) or header.get("klatch") != "export":
        raise InvalidArguments("Not a Klatch export: line 1 is not its header", code="bad_export")
    if header.get("format") != FORMAT:
        raise InvalidArguments(
            f"Export format {header.get('format')} is not {FORMAT}", code="bad_export"
        )
    if header.get("schema") != head_revision():
        raise InvalidArguments(
            f"The export is of schema {header.get('schema')}, this Klatch is at "
            f"{head_revision()}: import it with the Klatch version that made it, "
            "or migrate the source and export again",
            code="schema_mismatch",
        )
    return header


def _parse(line: str, number: int) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidArguments(f"Line {number} is not JSON: {exc}", code="bad_export") from None


async def import_(
    db: Database, lines: Iterable[str], *, progress: Progress | None = None
) -> ImportReport:
    """Copy an export into this (empty, migrated) database in one transaction: a
    file that is cut off or wrong anywhere stores nothing."""
    stream = iter(lines)
    header = read_header(stream)
    report = ImportReport(with_secrets=bool(header.get("secrets")))
    reissue = _Reissue(report)
    started = False

    async def work(tx: Tx) -> ImportReport:
        nonlocal started
        if started:  # the lines are read once: a retried transaction cannot redo it
            raise Conflict("The import was interrupted; start it again", code="import_failed")
        started = True
        nonempty = await store.first_nonempty_table(tx)
        if nonempty is not None:
            raise Conflict(
                f"The database is not empty (table {nonempty} has rows); import into a new one",
                code="database_not_empty",
            )
        await _copy(tx, stream, header, report, reissue, progress or _Silent())
        await store.continue_sequences(tx)
        return report

    return await db.write(work)


async def _copy(
    tx: Tx,
    lines: Iterator[str],
    header: dict[str, Any],
    report: ImportReport,
    reissue: _Reissue,
    progress: Progress,
) -> None:
    expected: dict[str, int] = header.get("rows") or {}
    batch: list[dict[str, Any]] = []
    current: store.Table | None = None
    for number, line in enumerate(lines, start=2):
        item = _parse(line, number)
        if isinstance(item, dict) and "end" in item:
            await _flush(tx, current, batch, progress)
            _check_end(item, report, expected)
            return
        table, row = _row(item, number)
        if table is not current:
            await _flush(tx, current, batch, progress)
            current = table
            progress.table(table.name, expected.get(table.name, 0))
        if not report.with_secrets:
            reissue.fill(table, row)
        batch.append(row)
        report.rows[table.name] = report.rows.get(table.name, 0) + 1
        if len(batch) >= _BATCH:
            await _flush(tx, current, batch, progress)
    raise InvalidArguments("The export is cut off: it has no end line", code="bad_export")


async def _flush(
    tx: Tx, table: store.Table | None, batch: list[dict[str, Any]], progress: Progress
) -> None:
    if table is None or not batch:
        return
    await store.insert_rows(tx, table, batch)
    progress.advance(len(batch))
    batch.clear()


def _row(item: Any, number: int) -> tuple[store.Table, dict[str, Any]]:
    if not isinstance(item, dict) or not isinstance(item.get("row"), dict):
        raise InvalidArguments(f"Line {number} is not a row", code="bad_export")
    table = store.table_named(str(item.get("table")))
    if table is None:
        raise InvalidArguments(
            f"Line {number}: no table '{item.get('table')}' in this schema", code="bad_export"
        )
    row: dict[str, Any] = item["row"]
    unknown = sorted(set(row) - store.column_names(table))
    if unknown:
        raise InvalidArguments(
            f"Line {number}: table {table.name} has no column {', '.join(unknown)}",
            code="bad_export",
        )
    return table, row


def _check_end(item: dict[str, Any], report: ImportReport, expected: dict[str, int]) -> None:
    total = sum(report.rows.values())
    if item["end"].get("rows") != total or any(
        report.rows.get(name, 0) != n for name, n in expected.items()
    ):
        raise InvalidArguments(
            f"The export's row counts do not match its rows ({total} read)", code="bad_export"
        )


class _Reissue:
    """Credentials for rows whose secrets the file withheld (see the module docstring)."""

    def __init__(self, report: ImportReport) -> None:
        self._report = report
        self._fill: dict[str, Callable[[dict[str, Any]], None]] = {
            "org": self._org,
            "api_key": self._api_key,
            "user_account": self._user,
        }

    def fill(self, table: store.Table, row: dict[str, Any]) -> None:
        special = self._fill.get(table.name)
        if special is not None:
            special(row)
        for name in store.missing_secrets(table, row):
            row[name] = store.placeholder_secret(table, name)
            key = f"{table.name}.{name}"
            self._report.replaced[key] = self._report.replaced.get(key, 0) + 1

    def _issued(self, kind: str, org_id: str, id_: str, name: str, secret: str) -> None:
        self._report.reissued.append(Reissued(kind, org_id, id_, name, secret))

    def _org(self, row: dict[str, Any]) -> None:
        row["jwt_secret"] = secrets.token_urlsafe(48)
        self._issued("jwt_secret", row["id"], row["id"], row["name"], row["jwt_secret"])

    def _api_key(self, row: dict[str, Any]) -> None:
        if row.get("revoked_at") is not None:
            row["key_hash"] = hash_secret(secrets.token_urlsafe(32))
            return
        secret = new_secret(KEY_PREFIXES.get(row["role"], "ka"))
        row["key_hash"], row["prefix"] = hash_secret(secret), secret[:10]
        self._issued("api_key", row["org_id"], row["id"], row["name"], secret)

    def _user(self, row: dict[str, Any]) -> None:
        if row.get("disabled_at") is not None:
            row["password_hash"] = "!"  # not an argon2 hash: no password matches it
            return
        password = secrets.token_urlsafe(12)
        row["password_hash"] = _hasher.hash(password)
        self._issued("password", row["org_id"], row["id"], row["email"], password)


def reissued_by_kind(report: ImportReport) -> dict[str, Sequence[Reissued]]:
    kinds: dict[str, list[Reissued]] = {}
    for item in report.reissued:
        kinds.setdefault(item.kind, []).append(item)
    return dict(kinds)
