"""Admin page of console users: every user of the org and a form to create one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from klatch.console.admin.forms import (
    NOTHING,
    Refused,
    admin_page,
    admin_write,
    noticed,
    role,
    text,
)
from klatch.console.session import Agent
from klatch.console.web import page, render, see_other, services_of
from klatch.domain.models import UserRole
from klatch.errors import KlatchError

USER_ROLES = [(UserRole.AGENT.value, "Agent"), (UserRole.ADMIN.value, "Admin")]


async def _page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    all_users = await services_of(request).orgs.list_users(agent.user.org_id)
    created = noticed(request, "created", all_users) if refused is NOTHING else None
    context = {
        "agent": agent,
        "users": sorted(all_users, key=lambda u: u.email),
        "roles": USER_ROLES,
        "notice": (
            f"Created the {created.role.value} {created.email}; they can log in now."
            if created
            else None
        ),
        "form_errors": refused.messages,
        "values": refused.values or {"email": "", "display_name": "", "role": UserRole.AGENT.value},
    }
    return render(request, "admin_users.html", context, status_code=refused.status)


users = admin_page(_page)


@page
async def create_user(request: Request) -> Response:
    agent, form = await admin_write(request)
    values = {
        "email": text(form, "email").strip(),
        "display_name": text(form, "display_name").strip(),
        "role": text(form, "role"),
    }
    try:
        user = await services_of(request).orgs.create_user(
            agent.user.org_id,
            values["email"],
            text(form, "password"),
            role=role(UserRole, values["role"], "agent or admin"),
            display_name=values["display_name"] or None,
            by=agent.actor,
        )
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, values))
    return see_other("/console/admin/users", notice="created", id=user.id)


# User lifecycle (agents' tools): each action ends what it must at once (a disabled,
# deleted or re-passworded user's sessions and sockets).
@page
async def user_action(request: Request) -> Response:
    agent, form = await admin_write(request)
    orgs = services_of(request).orgs
    org_id, user_id = agent.user.org_id, request.path_params["id"]
    action = request.path_params["action"]
    try:
        if action == "disable":
            await orgs.disable_user(org_id, user_id, by=agent.actor)
        elif action == "enable":
            await orgs.enable_user(org_id, user_id, by=agent.actor)
        elif action == "delete":
            await orgs.delete_user(org_id, user_id, by=agent.actor)
        elif action == "password":
            await orgs.reset_password(org_id, user_id, text(form, "password"), by=agent.actor)
        elif action == "edit":
            await orgs.update_user(
                org_id,
                user_id,
                name=text(form, "display_name").strip() or None,
                role=role(UserRole, text(form, "role"), "agent or admin"),
                by=agent.actor,
            )
        else:
            return await _page(request, agent, Refused(404, ("No such action.",)))
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc))
    return see_other("/console/admin/users")
