"""``GET /v1/routing/queues``: Kustomer's routing queues, as Klatch routes.

Klatch routes a conversation to a team (routing rules, ``/v1/routing/rules``), and
an agent of the team takes it: each team is a queue, with the team as its only
member team (Kustomer's ``teams``), the team's name and timestamps. An org
without teams has no queues: a valid empty page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from klatch.domain.events import iso
from klatch.domain.teams import Team
from klatch.http.requests import CheckedRoute, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1/routing", tags=["routing"], route_class=CheckedRoute)


def queue_resource(t: Team) -> dict[str, Any]:
    return {
        "type": "queue",
        "id": t.id,
        "attributes": {
            "name": t.name,
            "displayName": t.display_name,
            "teams": [t.id],
            "users": list(t.members),
            "createdAt": iso(t.created_at),
            "updatedAt": iso(t.updated_at),
        },
        "relationships": {"teams": {"data": [{"type": "team", "id": t.id}]}},
        "links": {"self": f"/v1/teams/{t.id}"},
    }


@router.get(
    "/queues",
    description="The org's routing queues: one per team (routing rules send a "
    "conversation to a team); no teams, no queues.",
)
async def list_queues(request: Request, actor: Agent) -> dict[str, Any]:
    teams = await services_of(request).teams.list(actor)
    return views.whole_list_document([queue_resource(t) for t in teams], "/v1/routing/queues")
