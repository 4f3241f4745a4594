"""Teams, members, agents' availability, and who each conversation is assigned to.

Assignment is kept twice in the same write: the conversation row's
``assigned_users`` / ``assigned_teams`` (what every read of a conversation
serves) and one ``conversation_assignment`` row per assignee (what the inbox
views, their counts and search's ``conversation_assigned_*`` fields query, on
the index ``(org_id, kind, assignee_id, conversation_id)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from klatch.domain.search import Condition
from klatch.domain.teams import AVAILABLE, Team
from klatch.domain.text import name_key
from klatch.storage import records
from klatch.storage.codec import dumps
from klatch.storage.db import Row, Tx
from klatch.storage.tables import (
    agent_status,
    conversation,
    conversation_assignment,
    team,
    team_member,
    user,
)

t = team.c
m = team_member.c
a = conversation_assignment.c
s = agent_status.c
c = conversation.c
USER, TEAM = "user", "team"
# The search fields that read assignment rows (domain/search.py names them).
ASSIGNMENT_COLUMNS = {"assigned_users": USER, "assigned_teams": TEAM}


# ---------------------------------------------------------------- teams


def _team(row: Row, members: Sequence[str]) -> Team:
    return Team(
        id=row["id"],
        org_id=row["org_id"],
        name=row["name"],
        display_name=row["display_name"],
        members=tuple(members),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _members(tx: Tx, org_id: str, team_ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in team_ids}
    if not team_ids:
        return out
    stmt = (
        sa.select(m.team_id, m.user_id)
        .where(m.org_id == org_id, m.team_id.in_(list(team_ids)))
        .order_by(m.created_at, m.user_id)
    )
    for row in await tx.all(stmt):
        out[row[0]].append(row[1])
    return out


async def list_teams(tx: Tx, org_id: str) -> list[Team]:
    rows = await tx.all(sa.select(team).where(t.org_id == org_id).order_by(t.name, t.id))
    members = await _members(tx, org_id, [r["id"] for r in rows])
    return [_team(r, members[r["id"]]) for r in rows]


async def get_team(tx: Tx, org_id: str, team_id: str) -> Team | None:
    row = await tx.one(sa.select(team).where(t.org_id == org_id, t.id == team_id))
    if row is None:
        return None
    return _team(row, (await _members(tx, org_id, [team_id]))[team_id])


async def team_by_name(tx: Tx, org_id: str, name: str) -> Team | None:
    row = await tx.one(sa.select(team).where(t.org_id == org_id, t.name_key == name_key(name)))
    return _team(row, (await _members(tx, org_id, [row["id"]]))[row["id"]]) if row else None


async def insert_team(tx: Tx, tm: Team) -> None:
    await records.insert(tx, team, tm, name_key=name_key(tm.name))
    await set_members(tx, tm.org_id, tm.id, tm.members, tm.created_at)


async def update_team(tx: Tx, tm: Team) -> None:
    fields = ("name", "display_name", "updated_at")
    await records.update(tx, team, tm, *fields, name_key=name_key(tm.name))
    await set_members(tx, tm.org_id, tm.id, tm.members, tm.updated_at)


async def set_members(tx: Tx, org_id: str, team_id: str, users: Sequence[str], now: int) -> None:
    """The team's members become ``users``; those who stay keep their round-robin turn."""
    current = (await _members(tx, org_id, [team_id]))[team_id]
    gone = [u for u in current if u not in users]
    if gone:
        await tx.execute(
            sa.delete(team_member).where(
                m.org_id == org_id, m.team_id == team_id, m.user_id.in_(gone)
            )
        )
    for i, user_id in enumerate(u for u in users if u not in current):
        await tx.execute(
            sa.insert(team_member).values(
                org_id=org_id, team_id=team_id, user_id=user_id, created_at=now + i
            )
        )


async def delete_team(tx: Tx, org_id: str, team_id: str) -> bool:
    await tx.execute(sa.delete(team_member).where(m.org_id == org_id, m.team_id == team_id))
    return await records.delete(tx, team, org_id, team_id)


async def teams_of_user(tx: Tx, org_id: str, user_id: str) -> list[Team]:
    ids = sa.select(m.team_id).where(m.org_id == org_id, m.user_id == user_id)
    rows = await tx.all(
        sa.select(team).where(t.org_id == org_id, t.id.in_(ids)).order_by(t.name, t.id)
    )
    members = await _members(tx, org_id, [r["id"] for r in rows])
    return [_team(r, members[r["id"]]) for r in rows]


async def existing_users(tx: Tx, org_id: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are enabled users of the org."""
    if not ids:
        return set()
    rows = await tx.all(
        sa.select(user.c.id).where(
            user.c.org_id == org_id, user.c.id.in_(list(ids)), user.c.disabled_at.is_(None)
        )
    )
    return {r[0] for r in rows}


async def existing_teams(tx: Tx, org_id: str, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    rows = await tx.all(sa.select(t.id).where(t.org_id == org_id, t.id.in_(list(ids))))
    return {r[0] for r in rows}


# ---------------------------------------------------------------- availability


async def set_availability(tx: Tx, org_id: str, user_id: str, availability: str, now: int) -> None:
    changed = await tx.execute(
        sa.update(agent_status)
        .where(s.org_id == org_id, s.user_id == user_id)
        .values(availability=availability, updated_at=now)
    )
    if not changed:
        await tx.execute(
            sa.insert(agent_status).values(
                user_id=user_id, org_id=org_id, availability=availability, updated_at=now
            )
        )


async def availability_of(tx: Tx, org_id: str, user_ids: Sequence[str]) -> dict[str, str]:
    """Each user's availability; one who never said is available."""
    if not user_ids:
        return {}
    rows = await tx.all(
        sa.select(s.user_id, s.availability).where(
            s.org_id == org_id, s.user_id.in_(list(user_ids))
        )
    )
    found = {r[0]: r[1] for r in rows}
    return {u: found.get(u, AVAILABLE) for u in user_ids}


async def next_member(tx: Tx, org_id: str, team_id: str, now: int) -> str | None:
    """Round-robin: the team's available, enabled member assigned longest ago (or
    never), who becomes the last assigned; None when nobody is available. The
    members' rows are locked (PostgreSQL), so two routings take turns."""
    stmt = (
        sa.select(m.user_id)
        .select_from(
            team_member.join(user, user.c.id == m.user_id).outerjoin(
                agent_status, s.user_id == m.user_id
            )
        )
        .where(
            m.org_id == org_id,
            m.team_id == team_id,
            user.c.disabled_at.is_(None),
            sa.func.coalesce(s.availability, AVAILABLE) == AVAILABLE,
        )
        .order_by(sa.func.coalesce(m.last_assigned_at, -1), m.created_at, m.user_id)
        .limit(1)
        .with_for_update(of=team_member)
    )
    row = await tx.one(stmt)
    if row is None:
        return None
    await tx.execute(
        sa.update(team_member)
        .where(m.org_id == org_id, m.team_id == team_id, m.user_id == row[0])
        .values(last_assigned_at=now)
    )
    return str(row[0])


# ---------------------------------------------------------------- assignment


async def write_assignment(
    tx: Tx,
    org_id: str,
    conversation_id: str,
    users: Sequence[str],
    teams: Sequence[str],
    now: int,
) -> int:
    """Assign a (locked) conversation to exactly these users and teams; its new version."""
    lists = {
        "assigned_users": dumps(list(users)) if users else None,
        "assigned_teams": dumps(list(teams)) if teams else None,
    }
    rows = [
        {"kind": kind, "assignee_id": assignee}
        for kind, ids in ((USER, users), (TEAM, teams))
        for assignee in ids
    ]
    return await records.write_conversation_list(
        tx, org_id, conversation_id, now, lists, conversation_assignment, rows
    )


def view_condition(org_id: str, view: tuple[str, str | None]) -> sa.ColumnElement[bool] | None:
    """The inbox view ``(name, id)``: ``mine`` (id: the user), ``team`` (id: the
    team), ``unassigned`` (no user), ``all`` (None: no condition)."""
    name, ident = view
    if name in ("mine", "team"):
        kind = USER if name == "mine" else TEAM
        ids = sa.select(a.conversation_id).where(
            a.org_id == org_id, a.kind == kind, a.assignee_id == ident
        )
        return c.id.in_(ids)
    if name == "unassigned":
        return c.assigned_users.is_(None)
    return None


async def view_counts(
    tx: Tx,
    org_id: str,
    views: Sequence[tuple[str, str | None]],
    status: str | None,
    *,
    cap: int | None = None,
) -> list[int]:
    """How many conversations (of ``status``, if given) each view holds; with
    ``cap``, counted no further than ``cap + 1`` (the inbox shows "1000+"), so a
    view of a million conversations costs a thousand rows, not a full scan."""
    out = []
    for view in views:
        stmt = sa.select(sa.literal(1)).select_from(conversation).where(c.org_id == org_id)
        condition = view_condition(org_id, view)
        if condition is not None:
            stmt = stmt.where(condition)
        if status is not None:
            stmt = stmt.where(c.status == status)
        if cap is not None:
            stmt = stmt.limit(cap + 1)
        row = await tx.one(sa.select(sa.func.count()).select_from(stmt.subquery()))
        out.append(int(row[0]) if row else 0)
    return out


def assignment_rows(org_id: str, cond: Condition) -> sa.Select[Any]:
    """The org's assignment rows an assignee equality matches, one per conversation
    (the primary key is the conversation, the kind and the assignee): what a count of
    that criterion alone can read instead of the conversations."""
    kind = ASSIGNMENT_COLUMNS[cond.field.column or ""]
    return sa.select(sa.literal(1)).where(
        a.org_id == org_id, a.kind == kind, a.assignee_id == cond.value
    )


def assignment_condition(
    table: sa.Table, cond: Condition, *, rows_of: str | None = None
) -> sa.ColumnElement[bool]:
    """Search's ``conversation_assigned_users`` / ``_teams``: equals one id or one of
    several, exists (assigned to any), missing (to none). With ``rows_of`` (the org
    id), an equality reads the org's assignment rows first (see ``search.where``)."""
    kind = ASSIGNMENT_COLUMNS[cond.field.column or ""]
    value: Any = cond.value
    ids = list(value) if cond.op == "in" else [value]
    if rows_of is not None and cond.op in ("eq", "in"):
        rows = sa.select(a.conversation_id).where(
            a.org_id == rows_of, a.kind == kind, a.assignee_id.in_(ids)
        )
        return table.c.id.in_(rows)
    test = sa.exists().where(a.conversation_id == table.c.id, a.kind == kind)
    if cond.op in ("eq", "in"):
        test = test.where(a.assignee_id == value if cond.op == "eq" else a.assignee_id.in_(ids))
    return sa.not_(test) if cond.op == "missing" else test
