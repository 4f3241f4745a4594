"""The inbox's views: Mine, Unassigned, each of the agent's teams, and All, with
how many open conversations each holds. A view is ``?view=`` on the inbox
(``mine``, ``unassigned``, ``team:<id>``, ``all``); it narrows the list by the
search API's assignment fields, so it combines with the other filters. The list
of views is also served alone (``?partial=views``), for the live counts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from klatch.console.editors import value_from_form
from klatch.console.session import Agent
from klatch.console.web import PageError, services_of
from klatch.domain.attributes import AttributeDef
from klatch.errors import NotFound

ALL = "all"
MINE = "mine"
UNASSIGNED = "unassigned"
# Counted no further: the counts are drawn again on every change an inbox sees, and
# counting a view of a million conversations is a scan of a million rows.
COUNT_CAP = 999
_TEAM_RE = re.compile(r"^team:([0-9a-f]{24})$")


@dataclass(frozen=True, slots=True)
class View:
    key: str  # as ``?view=`` spells it
    label: str
    count: int  # open conversations, up to COUNT_CAP + 1

    @property
    def shown(self) -> str:
        return f"{COUNT_CAP}+" if self.count > COUNT_CAP else str(self.count)


def view_of(q: QueryParams) -> str:
    """The view the address asks for (All when none); a 400 page for one that is not."""
    key = q.get("view") or ALL
    if key in (ALL, MINE, UNASSIGNED) or _TEAM_RE.match(key):
        return key
    raise PageError(400, "No such view", "The inbox's views are Mine, Unassigned, a team or All.")


def criteria(key: str, agent: Agent) -> list[dict[str, Any]]:
    """The search criteria of a view (none for All)."""
    if key == MINE:
        return [{"conversation_assigned_users": {"equals": agent.user.id}}]
    if key == UNASSIGNED:
        return [{"conversation_assigned_users": {"exists": False}}]
    team = _TEAM_RE.match(key)
    return [{"conversation_assigned_teams": {"equals": team.group(1)}}] if team else []


def attribute_criteria(definition: AttributeDef | None, raw: str) -> list[dict[str, Any]]:
    """The inbox's one-attribute filter as a search criterion (for a view's list)."""
    if definition is None:
        return []
    value = value_from_form(definition, raw)
    field = f"conversation_custom_{definition.name}"
    return [{field: {"exists": False} if value is None else {"equals": value}}]


async def views(request: Request, agent: Agent, current: str) -> list[View]:
    """Mine, Unassigned, the agent's teams (and the team shown, if another), All."""
    services = services_of(request)
    teams = await services.teams.of_user(agent.actor, agent.user.id)
    shown = _TEAM_RE.match(current)
    if shown and all(t.id != shown.group(1) for t in teams):
        try:
            teams.append(await services.teams.get(agent.actor, shown.group(1)))
        except NotFound:
            raise PageError(404, "Not found", "There is no such team.") from None
    keyed = [
        (MINE, "Mine", (MINE, agent.user.id)),
        (UNASSIGNED, "Unassigned", (UNASSIGNED, None)),
        *((f"team:{t.id}", t.display_name, ("team", t.id)) for t in teams),
        (ALL, "All", (ALL, None)),
    ]
    counts = await services.teams.view_counts(
        agent.actor, [v for _, _, v in keyed], status="open", cap=COUNT_CAP
    )
    return [View(key, label, n) for (key, label, _), n in zip(keyed, counts, strict=True)]


async def context(request: Request, agent: Agent, current: str) -> dict[str, Any]:
    """What ``_inbox_views.html`` shows."""
    return {"views": await views(request, agent, current), "view": current}
