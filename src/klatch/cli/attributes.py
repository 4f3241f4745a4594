"""``klatch attributes``: define, list and delete klass attributes (custom fields)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from klatch.cli.common import DataDir, JsonOut, OrgOpt, console, emit, load, print_table, run_in_org
from klatch.domain.attributes import METADATA_TYPE_NAMES, AttributeDef, suffix_list

app = typer.Typer(help="Define klass attributes (custom fields).", no_args_is_help=True)


@app.command("define")
def define(
    klass: str = typer.Argument(..., help="conversation or customer"),
    name: str = typer.Argument(
        ..., help=f"System name; its suffix sets the type ({suffix_list()})"
    ),
    type_: str | None = typer.Option(
        None, "--type", help="str, txt, num, bool, at or url, for a name without a suffix"
    ),
    display_name: str | None = typer.Option(
        None, "--display-name", help="What the console shows (default: from the name)"
    ),
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
    d = run_in_org(
        load(data_dir),
        org,
        lambda services, org_id: services.attributes.define(
            org_id,
            klass,
            name,
            type_=type_,
            display_name=display_name,
            sdk_writable=not read_only,
            enumeration=allowed or None,
            tree=tree or None,
        ),
    )
    emit(
        as_json,
        attribute_json(d),
        lambda: console.print(
            f"[green]Defined[/green] {klass}.{d.name} "
            f"({METADATA_TYPE_NAMES[d.type]}, '{d.display_name}')"
        ),
    )


@app.command("list")
def list_(
    klass: str | None = typer.Argument(None, help="conversation or customer (default: all)"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """List attribute definitions."""
    defs = run_in_org(
        load(data_dir), org, lambda services, org_id: services.attributes.list(org_id, klass)
    )
    emit(as_json, [attribute_json(d) for d in defs], lambda: _print_table(defs))


def _print_table(defs: list[AttributeDef]) -> None:
    headers = ("klass", "name", "type", "display name", "sdk writable", "allowed")
    rows = [
        [
            d.klass,
            d.name,
            METADATA_TYPE_NAMES[d.type],
            d.display_name,
            "yes" if d.sdk_writable else "no",
            ", ".join((d.enumeration or ()) + (d.tree or ())),
        ]
        for d in defs
    ]
    print_table(headers, rows)


@app.command("delete")
def delete(
    klass: str = typer.Argument(..., help="conversation or customer"),
    name: str = typer.Argument(..., help="The attribute's system name"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Delete a definition (stored values stay; the attribute can no longer be written)."""
    run_in_org(
        load(data_dir),
        org,
        lambda services, org_id: services.attributes.delete(org_id, klass, name),
    )
    emit(
        as_json,
        {"deleted": f"{klass}.{name}"},
        lambda: console.print(f"[green]Deleted[/green] {klass}.{name}"),
    )


def attribute_json(d: AttributeDef) -> dict[str, Any]:
    return {
        "klass": d.klass,
        "name": d.name,
        "type": METADATA_TYPE_NAMES[d.type],
        "displayName": d.display_name,
        "sdkWritable": d.sdk_writable,
        "enumeration": list(d.enumeration) if d.enumeration else None,
        "tree": list(d.tree) if d.tree else None,
    }
