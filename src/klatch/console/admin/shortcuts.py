"""Admin page of shortcuts (canned answers): the org's list, one to create, edit
(name and body) and delete. ``/console/admin/macros`` (what other help desks call
them) leads here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from klatch.console.admin.forms import admin_write, messages, text
from klatch.console.session import Agent
from klatch.console.web import page, render, require_agent, see_other, services_of
from klatch.domain.shortcuts import STANDARD_VARIABLES
from klatch.errors import KlatchError


async def _page(
    request: Request,
    agent: Agent,
    *,
    status: int = 200,
    form_errors: list[str] | None = None,
    values: dict[str, str] | None = None,
    failed: str | None = None,  # the shortcut whose edit was refused
) -> Response:
    every = await services_of(request).shortcuts.all(agent.user.org_id)
    if failed and all(s.id != failed for s in every):
        failed = None  # gone, or another org's: the error goes on top
    context = {
        "agent": agent,
        "shortcuts": every,
        "failed": failed,
        "variables": STANDARD_VARIABLES,
        "form_errors": form_errors or [],
        "values": values or {"name": "", "body": ""},
    }
    return render(request, "admin_shortcuts.html", context, status_code=status)


@page
async def shortcuts(request: Request) -> Response:
    agent = await require_agent(request, admin=True)
    return await _page(request, agent)


@page
async def macros(request: Request) -> Response:
    await require_agent(request, admin=True)
    return RedirectResponse("/console/admin/shortcuts", status_code=303)


@page
async def create_shortcut(request: Request) -> Response:
    agent, form = await admin_write(request)
    values = {"name": text(form, "name").strip(), "body": text(form, "body")}
    try:
        await services_of(request).shortcuts.create(agent.actor, values["name"], values["body"])
    except KlatchError as exc:
        return await _page(
            request, agent, status=exc.status, form_errors=messages(exc), values=values
        )
    return see_other("/console/admin/shortcuts")


@page
async def save_shortcut(request: Request) -> Response:
    agent, form = await admin_write(request)
    shortcut_id = request.path_params["id"]
    changes = {"name": text(form, "name").strip(), "body": text(form, "body")}
    try:
        await services_of(request).shortcuts.update(agent.actor, shortcut_id, changes)
    except KlatchError as exc:
        return await _page(
            request, agent, status=exc.status, form_errors=messages(exc), failed=shortcut_id
        )
    return see_other("/console/admin/shortcuts")


@page
async def delete_shortcut(request: Request) -> Response:
    agent, _ = await admin_write(request)
    try:
        await services_of(request).shortcuts.delete(agent.actor, request.path_params["id"])
    except KlatchError as exc:
        return await _page(request, agent, status=exc.status, form_errors=messages(exc))
    return see_other("/console/admin/shortcuts")
