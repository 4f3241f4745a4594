"""Klass attribute definitions: define, list, change, delete.

Every change bumps the org's ``schema_version`` in the same transaction, which
is how writers in any process learn that their cached definitions are stale.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, TypeVar, Unpack

from klatch.domain.attributes import (
    AttributeDef,
    DefinitionOptions,
    check_definition,
    check_klass,
    tree_from_nested,
)
from klatch.errors import Conflict, InvalidArguments, NotFound
from klatch.ids import now_ms
from klatch.services.context import Context
from klatch.services.orgs import system_actor
from klatch.services.search import build_index, drop_index_if_unused
from klatch.services.unit import Unit
from klatch.storage import attributes as store
from klatch.storage import orgs as org_store

T = TypeVar("T")
_UNSET: Any = object()


class AttributeService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list(self, org_id: str, klass: str | None = None) -> list[AttributeDef]:
        if klass is not None:
            check_klass(klass)
        defs = await self.ctx.db.read(lambda tx: store.list_definitions(tx, org_id))
        return [d for d in defs if klass is None or d.klass == klass]

    async def get(self, org_id: str, klass: str, name: str) -> AttributeDef:
        check_klass(klass)
        found = await self.ctx.db.read(lambda tx: store.get_definition(tx, org_id, klass, name))
        if found is None:
            raise _not_found(klass, name)
        return found

    async def define(
        self,
        org_id: str,
        klass: str,
        name: str,
        **options: Unpack[DefinitionOptions],
    ) -> AttributeDef:
        """Define a new attribute; 409 if it exists (use ``update`` to change it)."""
        definition = check_definition(klass, name, **options)
        now = now_ms()
        definition = replace(definition, created_at=now, updated_at=now)

        async def work(unit: Unit) -> None:
            if await store.get_definition(unit.tx, org_id, klass, name) is not None:
                raise Conflict(
                    f"'{name}' is already defined on the {klass} klass", code="already_exists"
                )
            await store.insert_definition(unit.tx, org_id, definition)

        await self._write(org_id, work)
        await build_index(self.ctx.db, definition)
        return definition

    async def update(
        self,
        org_id: str,
        klass: str,
        name: str,
        *,
        display_name: str | None = _UNSET,
        sdk_writable: bool = _UNSET,
        enumeration: Iterable[str] | None = _UNSET,
        tree: Iterable[str] | None = _UNSET,
    ) -> AttributeDef:
        """Change what may change: display name, sdkWritable, allowed values. The type
        is fixed by the name, as in Kustomer; stored values are left as they are."""

        async def work(unit: Unit) -> AttributeDef:
            current = await store.get_definition(unit.tx, org_id, klass, name)
            if current is None:
                raise _not_found(klass, name)
            changed = _apply(current, display_name, sdk_writable, enumeration, tree, _UNSET, _UNSET)
            await store.update_definition(unit.tx, org_id, changed)
            return changed

        check_klass(klass)
        return await self._write(org_id, work)

    async def delete(self, org_id: str, klass: str, name: str) -> None:
        """Remove a definition. Stored values stay in the records (nothing is lost), but
        the attribute can no longer be written until it is defined again."""
        check_klass(klass)

        async def work(unit: Unit) -> AttributeDef:
            found = await store.get_definition(unit.tx, org_id, klass, name)
            if found is None or not await store.delete_definition(unit.tx, org_id, klass, name):
                raise _not_found(klass, name)
            return found

        await drop_index_if_unused(self.ctx.db, await self._write(org_id, work))

    async def put_properties(
        self, org_id: str, klass: str, properties: dict[str, Any]
    ) -> builtins.list[AttributeDef]:
        """Kustomer's ``PUT /v1/metadata/{klass}``: create or update each named property,
        all or nothing; returns every definition of the klass after the change."""
        check_klass(klass)
        if not isinstance(properties, dict) or len(properties) > 100:
            raise InvalidArguments(
                "properties must be an object of at most 100 attributes", pointer="/properties"
            )
        specs = {name: _property_spec(name, spec) for name, spec in properties.items()}

        async def work(unit: Unit) -> list[AttributeDef]:
            for name, spec in specs.items():
                await _put_property(unit, org_id, klass, name, spec)
            return [d for d in await store.list_definitions(unit.tx, org_id) if d.klass == klass]

        definitions = await self._write(org_id, work)
        for d in definitions:
            if d.name in specs:  # new or changed: its index exists or is built now
                await build_index(self.ctx.db, d)
        return definitions

    async def _write(self, org_id: str, work: Callable[[Unit], Awaitable[T]]) -> T:
        """Change definitions in one unit of work that bumps the org's schema version:
        how writers in every process learn that their cached definitions are stale."""

        async def bumped(unit: Unit) -> T:
            # First: on PostgreSQL the bump locks the org row, so an org's definition
            # writes queue up and each reads what the one before it wrote.
            await org_store.bump_schema_version(unit.tx, org_id)
            return await work(unit)

        try:
            return await self.ctx.uow.write(system_actor(org_id), bumped)
        finally:
            self.ctx.schemas.invalidate(org_id)


async def _put_property(
    unit: Unit, org_id: str, klass: str, name: str, spec: dict[str, Any]
) -> None:
    current = await store.get_definition(unit.tx, org_id, klass, name)
    if current is None:
        d = check_definition(klass, name, **spec)
        await store.insert_definition(
            unit.tx, org_id, replace(d, created_at=unit.now, updated_at=unit.now)
        )
        return
    given = spec.get("type_")
    if given is not None and check_definition(klass, name, type_=given).type is not current.type:
        raise InvalidArguments(
            f"The type of '{name}' cannot change",
            code="type_conflict",
            pointer=f"/properties/{name}/type",
        )
    d = _apply(
        current,
        spec.get("display_name", _UNSET),
        spec.get("sdk_writable", _UNSET),
        spec.get("enumeration", _UNSET),
        spec.get("tree", _UNSET),
        spec.get("tree_labels", _UNSET),
        spec.get("last_node_required", _UNSET),
    )
    await store.update_definition(unit.tx, org_id, replace(d, updated_at=unit.now))


def _apply(
    current: AttributeDef,
    display_name: Any,
    sdk_writable: Any,
    enumeration: Any,
    tree: Any,
    tree_labels: Any,
    last_node_required: Any,
) -> AttributeDef:
    """The definition with the given changes; a new tree without labels keeps the
    labels of the nodes it still has."""
    if tree_labels is _UNSET:
        tree_labels = dict(zip(current.tree or (), current.tree_labels or (), strict=False))
    checked = check_definition(
        current.klass,
        current.name,
        type_=current.type,
        display_name=current.display_name if display_name is _UNSET else display_name,
        sdk_writable=current.sdk_writable if sdk_writable is _UNSET else sdk_writable,
        enumeration=current.enumeration if enumeration is _UNSET else enumeration,
        tree=current.tree if tree is _UNSET else tree,
        tree_labels=tree_labels,
        last_node_required=(
            (current.last_node_required and tree is not None)
            if last_node_required is _UNSET
            else last_node_required
        ),
    )
    return replace(checked, created_at=current.created_at, updated_at=now_ms())


def _property_spec(name: str, spec: Any) -> dict[str, Any]:
    """Kustomer metadata property -> keyword arguments of ``check_definition``."""
    if not isinstance(spec, dict):
        raise InvalidArguments(
            f"Property '{name}' must be an object", pointer=f"/properties/{name}"
        )
    known = {"type", "displayName", "enumeration", "tree", "lastNodeRequired", "sdkWritable"}
    unknown = set(spec) - known - {"modifiedBy", "modifiedAt", "updatedAt", "createdAt"}
    if unknown:
        raise InvalidArguments(
            f"Property '{name}' has unsupported fields: {', '.join(sorted(unknown))}",
            pointer=f"/properties/{name}",
        )
    out: dict[str, Any] = {}
    if "type" in spec:
        out["type_"] = spec["type"]
    if "displayName" in spec:
        out["display_name"] = spec["displayName"]
    if "sdkWritable" in spec:
        if not isinstance(spec["sdkWritable"], bool):
            raise InvalidArguments(
                f"sdkWritable of '{name}' must be true or false",
                pointer=f"/properties/{name}/sdkWritable",
            )
        out["sdk_writable"] = spec["sdkWritable"]
    if "enumeration" in spec:
        out["enumeration"] = spec["enumeration"]
    return {**out, **_tree_spec(name, spec)}


def _tree_spec(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Kustomer's ``tree`` (nested, or a list of paths) and ``lastNodeRequired``."""
    out: dict[str, Any] = {}
    if "tree" in spec:
        out["tree"], out["tree_labels"] = (
            (None, None) if spec["tree"] is None else tree_from_nested(spec["tree"])
        )
    if "lastNodeRequired" in spec:
        if not isinstance(spec["lastNodeRequired"], bool):
            raise InvalidArguments(
                f"lastNodeRequired of '{name}' must be true or false",
                code="invalid_metadata",
                pointer=f"/properties/{name}/lastNodeRequired",
            )
        out["last_node_required"] = spec["lastNodeRequired"]
    return out


def _not_found(klass: str, name: str) -> NotFound:
    return NotFound(f"'{name}' is not defined on the {klass} klass", code="attribute_not_found")
