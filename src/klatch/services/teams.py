"""Teams and their members, agents' availability, and assigning conversations.

Assignment is one function of a unit of work (:func:`assign`), shared by the
REST PATCH, the console and the routing rules, so each writes the same rows and
the same ``conversation.updated`` (``changes.assignedUsers`` /
``changes.assignedTeams``).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from klatch.domain import events as ev
from klatch.domain.models import Actor, ActorType, Conversation, Role
from klatch.domain.teams import (
    AVAILABLE,
    MAX_ASSIGNED,
    MAX_MEMBERS,
    Team,
    check_availability,
    check_display_name,
    check_ids,
    check_team_name,
    missing,
)
from klatch.errors import Conflict, Forbidden, InvalidArguments, NotFound
from klatch.ids import new_id
from klatch.services.context import Context
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage import teams as store
from klatch.storage.db import Tx

View = tuple[
    str, str | None
]  # ("mine", user) | ("unassigned", None) | ("team", id) | ("all", None)


def team_not_found(team_id: str) -> NotFound:
    return NotFound("No team with this id", code="team_not_found", pointer="/path/teamId")


@dataclass(frozen=True, slots=True)
class Assignment:
    """What to assign: None leaves that list as it is."""

    users: tuple[str, ...] | None = None
    teams: tuple[str, ...] | None = None

    @classmethod
    def of(cls, changes: dict[str, Any]) -> Assignment | None:
        """From a PATCH body's ``assignedUsers`` / ``assignedTeams`` (null: none)."""
        if "assignedUsers" not in changes and "assignedTeams" not in changes:
            return None
        users = teams = None
        if "assignedUsers" in changes:
            given = changes["assignedUsers"] or []
            users = check_ids(given, "/assignedUsers", limit=MAX_ASSIGNED, what="user")
        if "assignedTeams" in changes:
            given = changes["assignedTeams"] or []
            teams = check_ids(given, "/assignedTeams", limit=MAX_ASSIGNED, what="team")
        return cls(users, teams)


async def check_assignees(tx: Tx, org_id: str, a: Assignment) -> None:
    """Every user is an enabled user of the org and every team one of its teams."""
    for ids, known, what, pointer in (
        (a.users, store.existing_users, "user", "/assignedUsers"),
        (a.teams, store.existing_teams, "team", "/assignedTeams"),
    ):
        if ids:
            absent = missing(ids, await known(tx, org_id, ids))
            if absent:
                raise InvalidArguments(
                    f"No {what} with id '{absent[0]}' in this org",
                    code=f"{what}_not_found",
                    pointer=f"{pointer}/{ids.index(absent[0])}",
                )


async def assign(
    unit: Unit, conv: Conversation, a: Assignment, changes: ev.ConversationChanges
) -> Conversation:
    """Write ``a`` on the locked ``conv``; note what moved in ``changes``; the
    conversation after. Nothing is written when nothing changes."""
    users = conv.assigned_users if a.users is None else a.users
    teams = conv.assigned_teams if a.teams is None else a.teams
    if users == conv.assigned_users and teams == conv.assigned_teams:
        return conv
    version = await store.write_assignment(unit.tx, conv.org_id, conv.id, users, teams, unit.now)
    if users != conv.assigned_users:
        changes["assignedUsers"] = {"before": list(conv.assigned_users), "after": list(users)}
    if teams != conv.assigned_teams:
        changes["assignedTeams"] = {"before": list(conv.assigned_teams), "after": list(teams)}
    return replace(
        conv, assigned_users=users, assigned_teams=teams, version=version, updated_at=unit.now
    )


class TeamService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- teams

    async def list(self, actor: Actor) -> builtins.list[Team]:
        return await self.ctx.db.read(lambda tx: store.list_teams(tx, actor.org_id))

    async def get(self, actor: Actor, team_id: str) -> Team:
        return await self.ctx.read_one(store.get_team, actor.org_id, team_id, team_not_found)

    async def of_user(self, actor: Actor, user_id: str) -> builtins.list[Team]:
        return await self.ctx.db.read(lambda tx: store.teams_of_user(tx, actor.org_id, user_id))

    async def create(
        self, actor: Actor, name: Any, *, display_name: Any = None, members: Any = None
    ) -> Team:
        checked = check_team_name(name)
        shown = check_display_name(display_name, checked)
        users = check_ids(members or [], "/members", limit=MAX_MEMBERS, what="user")

        async def work(unit: Unit) -> Team:
            await _name_free(unit.tx, actor.org_id, checked, None)
            await _members_exist(unit.tx, actor.org_id, users)
            team = Team(new_id(), actor.org_id, checked, shown, users, unit.now, unit.now)
            await store.insert_team(unit.tx, team)
            unit.emit(ev.team_created(team))
            return team

        return await self.ctx.uow.write(actor, work)

    async def update(self, actor: Actor, team_id: str, changes: dict[str, Any]) -> Team:
        """Change the name, displayName or members (the whole list) of a team."""
        unknown = [k for k in changes if k not in ("name", "displayName", "members")]
        if unknown:
            raise InvalidArguments(f"'{unknown[0]}' cannot be changed", pointer=f"/{unknown[0]}")

        async def work(unit: Unit) -> Team:
            team = await store.get_team(unit.tx, actor.org_id, team_id)
            if team is None:
                raise team_not_found(team_id)
            name = check_team_name(changes["name"]) if "name" in changes else team.name
            shown = check_display_name(changes.get("displayName"), team.display_name)
            users = team.members
            if "members" in changes:
                users = check_ids(
                    changes["members"] or [], "/members", limit=MAX_MEMBERS, what="user"
                )
                await _members_exist(unit.tx, actor.org_id, users)
            await _name_free(unit.tx, actor.org_id, name, team.id)
            before = team
            team = replace(team, name=name, display_name=shown, members=users, updated_at=unit.now)
            await store.update_team(unit.tx, team)
            updated = ev.team_updated(before, team)
            if updated is not None:
                unit.emit(updated)
            return team

        return await self.ctx.uow.write(actor, work)

    async def delete(self, actor: Actor, team_id: str) -> None:
        """Delete a team; conversations assigned to it keep their other assignees."""
        await self.ctx.delete_one(
            actor, store.delete_team, team_id, team_not_found, ev.team_deleted(team_id)
        )

    # -- availability

    async def availability(self, actor: Actor, user_ids: Sequence[str]) -> dict[str, str]:
        return await self.ctx.db.read(
            lambda tx: store.availability_of(tx, actor.org_id, list(user_ids))
        )

    async def set_availability(self, actor: Actor, user_id: str, value: Any) -> str:
        """An agent's availability (``available`` or ``away``): round-robin skips away.
        An agent sets their own; admins and integrations anyone's."""
        availability = check_availability(value)
        if actor.type is ActorType.USER and actor.role is not Role.ADMIN and actor.id != user_id:
            raise Forbidden("An agent sets only their own availability", pointer="/path/userId")

        async def work(unit: Unit) -> str:
            if not await store.existing_users(unit.tx, actor.org_id, [user_id]):
                raise NotFound("No such user", code="user_not_found", pointer="/path/userId")
            await store.set_availability(unit.tx, actor.org_id, user_id, availability, unit.now)
            return availability

        return await self.ctx.uow.write(actor, work)

    # -- assignment

    async def assign(self, actor: Actor, conversation_id: str, a: Assignment) -> Conversation:
        """Assign a conversation (to me, another agent, a team; or to nobody)."""

        async def work(unit: Unit) -> Conversation:
            found = await conversation_store.get_conversation(
                unit.tx, actor.org_id, conversation_id, for_update=True
            )
            if found is None:
                raise NotFound("No conversation with this id", code="conversation_not_found")
            await check_assignees(unit.tx, actor.org_id, a)
            changes: ev.ConversationChanges = {}
            conv = await assign(unit, found, a, changes)
            if changes:
                unit.emit(ev.conversation_updated(conv, changes))
            return conv

        return await self.ctx.uow.write(actor, work)

    async def view_counts(
        self,
        actor: Actor,
        views: Sequence[View],
        status: str | None = None,
        *,
        cap: int | None = None,
    ) -> builtins.list[int]:
        """Each view's conversations; past ``cap`` only that there are more."""
        return await self.ctx.db.read(
            lambda tx: store.view_counts(tx, actor.org_id, views, status, cap=cap)
        )


async def _name_free(tx: Tx, org_id: str, name: str, own: str | None) -> None:
    taken = await store.team_by_name(tx, org_id, name)
    if taken is not None and taken.id != own:
        raise Conflict(f"Another team is named '{name}'", code="already_exists", pointer="/name")


async def _members_exist(tx: Tx, org_id: str, users: tuple[str, ...]) -> None:
    absent = missing(users, await store.existing_users(tx, org_id, users))
    if absent:
        raise InvalidArguments(
            f"No user with id '{absent[0]}' in this org",
            code="user_not_found",
            pointer=f"/members/{users.index(absent[0])}",
        )


__all__ = ["AVAILABLE", "Assignment", "TeamService", "assign", "check_assignees"]
