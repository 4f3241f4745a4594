"""``/v1/routing/rules`` (admin): ordered routing rules on conversation and customer
attributes (when / criteria / actions; see ``domain/routing.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.domain.events import iso
from klatch.domain.routing import Rule
from klatch.http.requests import CheckedRoute, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin

router = APIRouter(prefix="/v1/routing/rules", tags=["routing"], route_class=CheckedRoute)
_BODY = (
    "`name`, `when` (`created`, `attributesChanged`), `criteria` (the search API's "
    '`and`/`or`/`not` over `conversation_*` and `customer_*` fields, e.g. `{"and": '
    '[{"conversation_custom_issueTypeStr": {"equals": "billing"}}]}`), `actions` '
    '(`{"type": "assignTeam", "team": id, "roundRobin": true}`, `{"type": "addTags", '
    '"tags": [names]}`, `{"type": "setAttribute", "attribute": name, "value": v}`), '
    "`enabled`, `position` (from 1). "
    "Criteria and actions are checked against the klass definitions and the teams."
)


def rule_resource(r: Rule) -> dict[str, Any]:
    return {
        "type": "routingRule",
        "id": r.id,
        "attributes": {
            "name": r.name,
            "position": r.position,
            "enabled": r.enabled,
            "when": list(r.triggers),
            "criteria": r.criteria,
            "actions": list(r.actions),
            "createdAt": iso(r.created_at),
            "updatedAt": iso(r.updated_at),
        },
        "links": {"self": f"/v1/routing/rules/{r.id}"},
    }


@router.get("", description="The rules in the order they are tried.")
async def list_rules(request: Request, actor: Admin) -> dict[str, Any]:
    rules = await services_of(request).routing.list(actor)
    return views.whole_list_document([rule_resource(r) for r in rules], "/v1/routing/rules")


@router.post("", status_code=201, description="A new rule, last unless `position` says. " + _BODY)
async def create_rule(request: Request, body: dict[str, Any], actor: Admin) -> dict[str, Any]:
    return {"data": rule_resource(await services_of(request).routing.create(actor, body))}


@router.get("/{rule_id}")
async def get_rule(request: Request, rule_id: str, actor: Admin) -> dict[str, Any]:
    return {"data": rule_resource(await services_of(request).routing.get(actor, rule_id))}


@router.patch("/{rule_id}", description="Change any of: " + _BODY)
async def update_rule(
    request: Request, rule_id: str, body: dict[str, Any], actor: Admin
) -> dict[str, Any]:
    return {"data": rule_resource(await services_of(request).routing.update(actor, rule_id, body))}


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(request: Request, rule_id: str, actor: Admin) -> None:
    await services_of(request).routing.delete(actor, rule_id)
