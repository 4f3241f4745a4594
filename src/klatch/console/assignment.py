"""Who a conversation is assigned to, in the console: the conversation page's
Assignment panel (assign to me, to another agent, to a team; unassign), the
assignment lines of its history (and the routing rule that made a change), and
the header's availability toggle (round-robin skips an agent who is away)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from klatch.console.session import Agent
from klatch.console.web import PageError, agent_write, conversation_write, page, services_of
from klatch.domain.models import Conversation, Event
from klatch.domain.teams import MAX_ASSIGNED, check_ids
from klatch.errors import KlatchError
from klatch.services.teams import Assignment

# The history's words for the assignment fields of ``conversation.updated``.
CHANGED = {"assignedUsers": "Assigned agents", "assignedTeams": "Assigned teams", "tags": "Tags"}


async def context(request: Request, agent: Agent, conv: Conversation) -> dict[str, Any]:
    """What ``_assign.html`` shows: the assignees by name, and whom else to pick."""
    services = services_of(request)
    users = [u for u in await services.orgs.list_users(agent.user.org_id) if u.disabled_at is None]
    teams = await services.teams.list(agent.actor)
    user_names = {u.id: u.display_name for u in users}
    team_names = {t.id: t.display_name for t in teams}
    return {
        "assigned_users": [(u, user_names.get(u, "A former user")) for u in conv.assigned_users],
        "assigned_teams": [(t, team_names.get(t, "A deleted team")) for t in conv.assigned_teams],
        "assignable_users": users,
        "assignable_teams": teams,
    }


async def names(request: Request, agent: Agent) -> dict[str, str]:
    """Display names by id of the org's users, teams and tags (for the history)."""
    services = services_of(request)
    out = {u.id: u.display_name for u in await services.orgs.list_users(agent.user.org_id)}
    out |= {t.id: t.display_name for t in await services.teams.list(agent.actor)}
    out |= {t.id: t.name for t in await services.tags.all(agent.user.org_id)}
    return out


def rule_of(event: Event) -> str | None:
    """The routing rule that made this change, as the history names it."""
    rule = event.payload.get("rule") if event.type == "conversation.updated" else None
    return f"Routing rule “{rule.get('name')}”" if isinstance(rule, dict) else None


def changes(event: Event, known: dict[str, str]) -> list[tuple[str, str, str]]:
    """An event's assignment and tag changes: (what, before, after), by name."""
    if event.type != "conversation.updated":
        return []
    moved = event.payload.get("changes") or {}
    out = []
    for key, label in CHANGED.items():
        change = moved.get(key)
        if isinstance(change, dict):
            before, after = (_named(change.get(k), known) for k in ("before", "after"))
            out.append((label, before, after))
    return out


def _named(ids: Any, known: dict[str, str]) -> str:
    if not isinstance(ids, list) or not ids:
        return "nobody" if ids is not None else ""
    return ", ".join(known.get(str(i), str(i)) for i in ids)


# ------------------------------------------------------------------ writes


def _assignment(agent: Agent, form: FormData) -> Assignment:
    """What the panel's button asked for; None fields stay as they are."""
    action = form.get("assign")
    if action == "me":
        return Assignment(users=(agent.user.id,))
    if action == "user":
        users = check_ids([form.get("user")], "/user", limit=MAX_ASSIGNED, what="user")
        return Assignment(users=users)
    if action == "team":
        teams = check_ids([form.get("team")], "/team", limit=MAX_ASSIGNED, what="team")
        return Assignment(teams=teams)
    if action == "unassign":
        return Assignment(users=(), teams=())
    raise PageError(400, "Not assigned", "Choose: assign to me, to an agent, to a team, or nobody.")


@page
async def assign(request: Request) -> Response:
    async def assigned(agent: Agent, conversation_id: str, form: FormData) -> dict[str, Any]:
        conv = await services_of(request).teams.assign(
            agent.actor, conversation_id, _assignment(agent, form)
        )
        return {"assignedUsers": conv.assigned_users, "assignedTeams": conv.assigned_teams}

    return await conversation_write(request, "Not assigned", assigned)


@page
async def set_availability(request: Request) -> Response:
    """The header's toggle: the signed-in agent is available or away; back to the page."""
    agent, form = await agent_write(request)
    try:
        await services_of(request).teams.set_availability(
            agent.actor, agent.user.id, form.get("availability")
        )
    except KlatchError as exc:
        raise PageError(exc.status, "Not changed", exc.detail) from None
    back = form.get("next")
    if not isinstance(back, str) or not back.startswith("/console/") or "//" in back:
        back = "/console/inbox"  # only back to a console page, never elsewhere
    return RedirectResponse(back.replace("\\", "/"), status_code=303)
