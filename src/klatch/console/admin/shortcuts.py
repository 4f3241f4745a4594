"""Admin page of shortcuts (canned answers): the org's list, one to create, edit
(name and body) and delete. ``/console/admin/macros`` (what other help desks call
them) leads here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from klatch.console.admin.forms import NOTHING, Refused, admin_page, admin_write, text
from klatch.console.session import Agent
from klatch.console.web import page, render, require_agent, see_other, services_of
from klatch.domain.shortcuts import STANDARD_VARIABLES
from klatch.errors import KlatchError

PATH = "/console/admin/shortcuts"


async def _page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    """The page; a refused edit's ``key`` is its shortcut's id (none: the create form)."""
    every = await services_of(request).shortcuts.all(agent.user.org_id)
    failed = refused.key
    if failed and all(s.id != failed for s in every):
        failed = None  # gone, or another org's: the error goes on top
    context = {
        "agent": agent,
        "shortcuts": every,
        "failed": failed,
        "variables": STANDARD_VARIABLES,
        "form_errors": refused.messages,
        "values": refused.values or {"name": "", "body": ""},
    }
    return render(request, "admin_shortcuts.html", context, status_code=refused.status)


shortcuts = admin_page(_page)


@page
async def macros(request: Request) -> Response:
    await require_agent(request, admin=True)
    return RedirectResponse(PATH, status_code=303)


@page
async def create_shortcut(request: Request) -> Response:
    agent, form = await admin_write(request)
    values = {"name": text(form, "name").strip(), "body": text(form, "body")}
    try:
        await services_of(request).shortcuts.create(agent.actor, values["name"], values["body"])
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, values))
    return see_other(PATH)


@page
async def save_shortcut(request: Request) -> Response:
    agent, form = await admin_write(request)
    shortcut_id = request.path_params["id"]
    changes = {"name": text(form, "name").strip(), "body": text(form, "body")}
    try:
        await services_of(request).shortcuts.update(agent.actor, shortcut_id, changes)
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, key=shortcut_id))
    return see_other(PATH)


@page
async def delete_shortcut(request: Request) -> Response:
    agent, _ = await admin_write(request)
    try:
        await services_of(request).shortcuts.delete(agent.actor, request.path_params["id"])
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc))
    return see_other(PATH)
