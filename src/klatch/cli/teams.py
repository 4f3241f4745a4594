"""``klatch teams``: teams of agents (routing rules assign conversations to them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from klatch.cli.common import (
    DataDir,
    JsonOut,
    OrgOpt,
    console,
    emit,
    find_user_id,
    load,
    print_table,
    run_in_org,
)
from klatch.domain.text import name_key
from klatch.errors import NotFound

if TYPE_CHECKING:
    from klatch.domain.models import Actor
    from klatch.domain.teams import Team
    from klatch.services import Services

app = typer.Typer(help="Teams of agents (routing rules assign to them).", no_args_is_help=True)
TeamArg = typer.Argument(..., help="The team's name or id")
UserArg = typer.Argument(..., help="The user's email or id")


def _system(org_id: str) -> Actor:
    """Who the CLI acts as (imported when a command runs, as the services are)."""
    from klatch.services.orgs import system_actor

    return system_actor(org_id)


def _team_json(team: Team, emails: dict[str, str]) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "displayName": team.display_name,
        "members": [emails.get(m, m) for m in team.members],
    }


async def _emails(services: Services, org_id: str) -> dict[str, str]:
    return {u.id: u.email for u in await services.orgs.list_users(org_id)}


async def _team(services: Services, org_id: str, ref: str) -> Team:
    for team in await services.teams.list(_system(org_id)):
        if ref == team.id or name_key(ref) == name_key(team.name):
            return team
    raise NotFound(f"No team '{ref}' in this org", code="team_not_found")


def _show(as_json: bool, verb: str, team: Team, emails: dict[str, str]) -> None:
    emit(
        as_json,
        _team_json(team, emails),
        lambda: console.print(
            f"[green]{verb}[/green] team {team.name} ({len(team.members)} members)"
        ),
    )


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Unique in the org: letters, digits, spaces, _ . -"),
    display_name: str | None = typer.Option(None, "--display-name", help="What agents see"),
    members: list[str] = typer.Option([], "--member", help="A member's email or id (repeat)"),
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Create a team."""

    async def work(services: Services, org_id: str) -> tuple[Team, dict[str, str]]:
        ids = [await find_user_id(services, org_id, m) for m in members]
        team = await services.teams.create(
            _system(org_id), name, display_name=display_name, members=ids
        )
        return team, await _emails(services, org_id)

    team, emails = run_in_org(load(data_dir), org, work)
    _show(as_json, "Created", team, emails)


@app.command("list")
def list_(
    org: str | None = OrgOpt, data_dir: Path | None = DataDir, as_json: bool = JsonOut
) -> None:
    """List teams with their members."""

    async def work(services: Services, org_id: str) -> tuple[list[Team], dict[str, str]]:
        return await services.teams.list(_system(org_id)), await _emails(services, org_id)

    teams, emails = run_in_org(load(data_dir), org, work)
    rows = [_team_json(t, emails) for t in teams]
    table = [[r["id"], r["name"], r["displayName"], ", ".join(r["members"])] for r in rows]
    emit(as_json, rows, lambda: print_table(("id", "name", "display name", "members"), table))


def _on_members(
    data_dir: Path | None,
    org: str | None,
    team_ref: str,
    user: str,
    as_json: bool,
    verb: str,
    change: Callable[[list[str], str], list[str]],
) -> None:
    """Set the team's members to ``change(members, user_id)``."""

    async def work(services: Services, org_id: str) -> tuple[Team, dict[str, str]]:
        team = await _team(services, org_id, team_ref)
        user_id = await find_user_id(services, org_id, user)
        members = change(list(team.members), user_id)
        changed = await services.teams.update(_system(org_id), team.id, {"members": members})
        return changed, await _emails(services, org_id)

    team, emails = run_in_org(load(data_dir), org, work)
    _show(as_json, verb, team, emails)


def _member_command(change: Callable[[list[str], str], list[str]]) -> Callable[..., None]:
    """A command that sets a team's members to ``change(members, user_id)``."""

    def command(
        team: str = TeamArg,
        user: str = UserArg,
        org: str | None = OrgOpt,
        data_dir: Path | None = DataDir,
        as_json: bool = JsonOut,
    ) -> None:
        _on_members(data_dir, org, team, user, as_json, "Updated", change)

    return command


def _adding(members: list[str], user_id: str) -> list[str]:
    return members if user_id in members else [*members, user_id]


def _removing(members: list[str], user_id: str) -> list[str]:
    if user_id not in members:
        raise NotFound("The user is not a member of this team", code="member_not_found")
    return [m for m in members if m != user_id]


add_member = app.command("add-member", help="Add a user to a team (last in its round-robin turn).")(
    _member_command(_adding)
)
remove_member = app.command("remove-member", help="Take a user out of a team.")(
    _member_command(_removing)
)


@app.command("delete")
def delete(
    team: str = TeamArg,
    org: str | None = OrgOpt,
    data_dir: Path | None = DataDir,
    as_json: bool = JsonOut,
) -> None:
    """Delete a team (its conversations keep their agents)."""

    async def work(services: Services, org_id: str) -> Team:
        found = await _team(services, org_id, team)
        await services.teams.delete(_system(org_id), found.id)
        return found

    found = run_in_org(load(data_dir), org, work)
    emit(
        as_json,
        {"id": found.id, "name": found.name, "deleted": True},
        lambda: console.print(f"[green]Deleted[/green] team {found.name}"),
    )
