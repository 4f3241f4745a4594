"""Routing rules, in their order (``position``, then id)."""

from __future__ import annotations

import sqlalchemy as sa

from klatch.domain.routing import Rule
from klatch.storage.codec import dumps, loads
from klatch.storage.db import Query, Row, Tx
from klatch.storage.tables import routing_rule

r = routing_rule.c
b = sa.bindparam
_RULES = Query(sa.select(routing_rule).where(r.org_id == b("org_id")).order_by(r.position, r.id))
_ENABLED = Query(
    sa.select(routing_rule)
    .where(r.org_id == b("org_id"), r.enabled.is_(True))
    .order_by(r.position, r.id)
)


def _rule(row: Row) -> Rule:
    return Rule(
        id=row["id"],
        org_id=row["org_id"],
        name=row["name"],
        position=int(row["position"]),
        enabled=bool(row["enabled"]),
        triggers=tuple(loads(row["triggers"])),
        criteria=loads(row["criteria"]),
        actions=tuple(loads(row["actions"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def list_rules(tx: Tx, org_id: str, *, enabled_only: bool = False) -> list[Rule]:
    rows = await tx.all(_ENABLED if enabled_only else _RULES, {"org_id": org_id})
    return [_rule(row) for row in rows]


async def get_rule(tx: Tx, org_id: str, rule_id: str, *, for_update: bool = False) -> Rule | None:
    stmt = sa.select(routing_rule).where(r.org_id == org_id, r.id == rule_id)
    row = await tx.one(stmt.with_for_update() if for_update else stmt)
    return _rule(row) if row else None


def _values(rule: Rule) -> dict[str, object]:
    return {
        "name": rule.name,
        "position": rule.position,
        "enabled": rule.enabled,
        "triggers": dumps(list(rule.triggers)),
        "criteria": dumps(rule.criteria),
        "actions": dumps(list(rule.actions)),
        "updated_at": rule.updated_at,
    }


async def insert_rule(tx: Tx, rule: Rule) -> None:
    await tx.execute(
        sa.insert(routing_rule).values(
            id=rule.id, org_id=rule.org_id, created_at=rule.created_at, **_values(rule)
        )
    )


async def update_rule(tx: Tx, rule: Rule) -> None:
    await tx.execute(
        sa.update(routing_rule)
        .where(r.org_id == rule.org_id, r.id == rule.id)
        .values(**_values(rule))
    )


async def set_positions(tx: Tx, org_id: str, ordered_ids: list[str]) -> None:
    for position, rule_id in enumerate(ordered_ids, start=1):
        await tx.execute(
            sa.update(routing_rule)
            .where(r.org_id == org_id, r.id == rule_id)
            .values(position=position)
        )


async def delete_rule(tx: Tx, org_id: str, rule_id: str) -> bool:
    stmt = sa.delete(routing_rule).where(r.org_id == org_id, r.id == rule_id)
    return await tx.execute(stmt) == 1
