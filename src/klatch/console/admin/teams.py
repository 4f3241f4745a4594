"""Admin pages of teams: the org's teams with their members, a form to create
one, a page per team to rename it and choose its members, and delete. A team's
members take the conversations its routing rules assign round-robin."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from klatch.console.admin.forms import (
    NOTHING,
    Refused,
    admin_page,
    admin_write,
    chosen_notice,
    text,
)
from klatch.console.session import Agent
from klatch.console.web import PageError, page, render, see_other, services_of
from klatch.domain.teams import Team
from klatch.errors import KlatchError

NOTICES = {"created": "Created the team.", "saved": "Saved.", "deleted": "Deleted the team."}


def _form(form: FormData) -> dict[str, Any]:
    """The team form as sent (shown again when it is refused)."""
    return {
        "name": text(form, "name").strip(),
        "displayName": text(form, "displayName").strip(),
        "members": [m for m in form.getlist("members") if isinstance(m, str)],
    }


def _of(team: Team) -> dict[str, Any]:
    return {"name": team.name, "displayName": team.display_name, "members": list(team.members)}


async def _users(request: Request, agent: Agent) -> list[Any]:
    users = await services_of(request).orgs.list_users(agent.user.org_id)
    return [u for u in users if u.disabled_at is None]


async def _list_page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    users = await _users(request, agent)
    context = {
        "agent": agent,
        "teams": await services_of(request).teams.list(agent.actor),
        "users": users,
        "names": {u.id: u.display_name for u in users},
        "notice": chosen_notice(request, NOTICES, refused),
        "form_errors": refused.messages,
        "values": refused.values or {"name": "", "displayName": "", "members": []},
    }
    return render(request, "admin_teams.html", context, status_code=refused.status)


async def _team_page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    """The page of the team the path names."""
    try:
        team = await services_of(request).teams.get(agent.actor, request.path_params["id"])
    except KlatchError:
        raise PageError(404, "Not found", "There is no such team.") from None
    context = {
        "agent": agent,
        "team": team,
        "users": await _users(request, agent),
        "notice": chosen_notice(request, NOTICES, refused),
        "form_errors": refused.messages,
        "values": refused.values or _of(team),
    }
    return render(request, "admin_team.html", context, status_code=refused.status)


def _changes(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": values["name"],
        "displayName": values["displayName"] or None,
        "members": values["members"],
    }


teams = admin_page(_list_page)


@page
async def create_team(request: Request) -> Response:
    agent, form = await admin_write(request)
    values = _form(form)
    try:
        team = await services_of(request).teams.create(
            agent.actor,
            values["name"],
            display_name=values["displayName"] or None,
            members=values["members"],
        )
    except KlatchError as exc:
        return await _list_page(request, agent, Refused.of(exc, values))
    return see_other(f"/console/admin/teams/{team.id}", notice="created")


team = admin_page(_team_page)


@page
async def save_team(request: Request) -> Response:
    agent, form = await admin_write(request)
    team_id = request.path_params["id"]
    values = _form(form)
    try:
        await services_of(request).teams.update(agent.actor, team_id, _changes(values))
    except KlatchError as exc:
        if exc.status == 404 and exc.code == "team_not_found":
            raise PageError(404, "Not found", "There is no such team.") from None
        return await _team_page(request, agent, Refused.of(exc, values))
    return see_other(f"/console/admin/teams/{team_id}", notice="saved")


@page
async def delete_team(request: Request) -> Response:
    agent, _ = await admin_write(request)
    try:
        await services_of(request).teams.delete(agent.actor, request.path_params["id"])
    except KlatchError:
        raise PageError(404, "Not found", "There is no such team.") from None
    return see_other("/console/admin/teams", notice="deleted")
