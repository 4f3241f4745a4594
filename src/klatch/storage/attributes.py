"""Klass attribute definitions, per org and klass."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from klatch.domain.attributes import AttributeDef, AttrType
from klatch.storage.codec import dumps, loads
from klatch.storage.db import Query, Row, Tx, bound
from klatch.storage.tables import attribute

b = sa.bindparam
_KEY = (
    attribute.c.org_id == b("org_id"),
    attribute.c.klass == b("klass"),
    attribute.c.name == b("name"),
)
_ALL = Query(
    sa.select(attribute)
    .where(attribute.c.org_id == b("org_id"))
    .order_by(attribute.c.klass, attribute.c.created_at, attribute.c.name)
)
_ONE = Query(sa.select(attribute).where(*_KEY))
_INSERT = Query(sa.insert(attribute))
_UPDATE = Query(
    sa.update(attribute)
    .where(*_KEY)
    .values(
        **bound(
            "display_name",
            "sdk_writable",
            "enumeration",
            "tree",
            "tree_labels",
            "last_node_required",
            "updated_at",
        )
    )
)
_DELETE = Query(sa.delete(attribute).where(*_KEY))
# Across orgs on purpose: the index of an attribute is shared by every org that
# defines it (storage/search.py), and is dropped only when none does any more.
_DEFINED_ANYWHERE = Query(
    sa.select(attribute.c.name)
    .where(
        attribute.c.klass == b("klass"),
        attribute.c.name == b("name"),
        attribute.c.type == b("type"),
    )
    .limit(1)
)


def _def(row: Row) -> AttributeDef:
    enumeration = loads(row["enumeration"])
    tree = loads(row["tree"])
    labels = loads(row["tree_labels"])
    return AttributeDef(
        klass=row["klass"],
        name=row["name"],
        type=AttrType(row["type"]),
        display_name=row["display_name"],
        sdk_writable=bool(row["sdk_writable"]),
        enumeration=tuple(enumeration) if enumeration is not None else None,
        tree=tuple(tree) if tree is not None else None,
        tree_labels=tuple(labels) if labels is not None else None,
        last_node_required=bool(row["last_node_required"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _json_or_none(values: tuple[str, ...] | None) -> str | None:
    return dumps(list(values)) if values is not None else None


async def list_definitions(tx: Tx, org_id: str) -> list[AttributeDef]:
    return [_def(r) for r in await tx.all(_ALL, {"org_id": org_id})]


async def get_definition(tx: Tx, org_id: str, klass: str, name: str) -> AttributeDef | None:
    row = await tx.one(_ONE, {"org_id": org_id, "klass": klass, "name": name})
    return _def(row) if row else None


def _params(org_id: str, d: AttributeDef) -> dict[str, Any]:
    """The definition's row as parameters; the update reads only those it names."""
    return {
        "org_id": org_id,
        "klass": d.klass,
        "name": d.name,
        "type": d.type.value,
        "display_name": d.display_name,
        "sdk_writable": d.sdk_writable,
        "enumeration": _json_or_none(d.enumeration),
        "tree": _json_or_none(d.tree),
        "tree_labels": _json_or_none(d.tree_labels),
        "last_node_required": d.last_node_required,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }


async def insert_definition(tx: Tx, org_id: str, d: AttributeDef) -> None:
    await tx.execute(_INSERT, _params(org_id, d))


async def update_definition(tx: Tx, org_id: str, d: AttributeDef) -> None:
    await tx.execute(_UPDATE, _params(org_id, d))


async def delete_definition(tx: Tx, org_id: str, klass: str, name: str) -> bool:
    return await tx.execute(_DELETE, {"org_id": org_id, "klass": klass, "name": name}) == 1


async def defined_anywhere(tx: Tx, klass: str, name: str, type_: AttrType) -> bool:
    """Whether any org defines ``name`` on ``klass`` with this type (the index of such
    an attribute serves them all)."""
    params = {"klass": klass, "name": name, "type": type_.value}
    return await tx.one(_DEFINED_ANYWHERE, params) is not None
