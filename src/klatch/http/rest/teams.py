"""``/v1/teams`` (Kustomer's shape: ``name``, ``displayName``, ``members``) and
each agent's availability (``/v1/users/{id}/availability``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from klatch.domain.events import iso
from klatch.domain.teams import Team
from klatch.http.requests import CheckedRoute, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin, Agent

router = APIRouter(prefix="/v1", tags=["teams"], route_class=CheckedRoute)


class TeamCreate(StrictBody):
    name: str = Field(..., max_length=255, description="Unique in the org")
    displayName: str | None = Field(None, max_length=255)
    members: list[str] = Field(default_factory=list, description="User ids")


class TeamUpdate(StrictBody):
    name: str | None = Field(None, max_length=255)
    displayName: str | None = Field(None, max_length=255)
    members: list[str] | None = Field(None, description="User ids: the whole list")


class AvailabilityBody(StrictBody):
    availability: Literal["available", "away"]


def team_resource(t: Team) -> dict[str, Any]:
    return {
        "type": "team",
        "id": t.id,
        "attributes": {
            "name": t.name,
            "displayName": t.display_name,
            "members": list(t.members),
            "createdAt": iso(t.created_at),
            "updatedAt": iso(t.updated_at),
        },
        "relationships": {"members": {"data": [{"type": "user", "id": u} for u in t.members]}},
        "links": {"self": f"/v1/teams/{t.id}"},
    }


@router.get("/teams", description="The org's teams with their members, by name.")
async def list_teams(request: Request, actor: Agent) -> dict[str, Any]:
    teams = await services_of(request).teams.list(actor)
    return views.whole_list_document([team_resource(t) for t in teams], "/v1/teams")


@router.post("/teams", status_code=201)
async def create_team(request: Request, body: TeamCreate, actor: Admin) -> dict[str, Any]:
    team = await services_of(request).teams.create(
        actor, body.name, display_name=body.displayName, members=body.members
    )
    return {"data": team_resource(team)}


@router.get("/teams/{team_id}")
async def get_team(request: Request, team_id: str, actor: Agent) -> dict[str, Any]:
    return {"data": team_resource(await services_of(request).teams.get(actor, team_id))}


@router.patch("/teams/{team_id}", description="Rename, or set the members (the whole list).")
async def update_team(
    request: Request, team_id: str, body: TeamUpdate, actor: Admin
) -> dict[str, Any]:
    team = await services_of(request).teams.update(
        actor, team_id, body.model_dump(exclude_unset=True)
    )
    return {"data": team_resource(team)}


@router.delete("/teams/{team_id}", status_code=204)
async def delete_team(request: Request, team_id: str, actor: Admin) -> None:
    await services_of(request).teams.delete(actor, team_id)


@router.get(
    "/users/{user_id}/availability",
    description="Whether the agent takes conversations from round-robin: "
    "`available` or `away` (one who never said is available).",
)
async def get_availability(request: Request, user_id: str, actor: Agent) -> dict[str, Any]:
    services = services_of(request)
    await services.orgs.get_principal(actor.org_id, user_id)  # 404 for a stranger
    found = await services.teams.availability(actor, [user_id])
    return _availability(user_id, found[user_id])


@router.put("/users/{user_id}/availability")
async def set_availability(
    request: Request, user_id: str, body: AvailabilityBody, actor: Agent
) -> dict[str, Any]:
    value = await services_of(request).teams.set_availability(actor, user_id, body.availability)
    return _availability(user_id, value)


def _availability(user_id: str, value: str) -> dict[str, Any]:
    return {
        "data": {
            "type": "availability",
            "id": user_id,
            "attributes": {"availability": value},
            "links": {"self": f"/v1/users/{user_id}/availability"},
        }
    }
