"""Admin page of tags: the org's list with how many open conversations carry each,
rename, colour and delete (the conversations that carried a deleted tag no longer
do). Agents create tags as they tag conversations; this page tidies them up."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from klatch.console.admin.forms import NOTHING, Refused, admin_page, admin_write, noticed, text
from klatch.console.session import Agent
from klatch.console.web import page, render, see_other, services_of
from klatch.errors import KlatchError

PATH = "/console/admin/tags"


async def _page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    """The page; a refused form's ``key`` is its tag's id, "" the create form's
    (none: the error goes on top)."""
    tags = await services_of(request).tags.all(agent.user.org_id)
    failed = refused.key
    if failed and all(t.id != failed for t in tags):
        failed = None  # gone meanwhile, or another org's: the error goes on top
    saved = noticed(request, "saved", tags) if refused is NOTHING else None
    context = {
        "agent": agent,
        "tags": sorted(tags, key=lambda t: t.name.casefold()),
        "notice": f"Saved the tag “{saved.name}”." if saved else None,
        "deleted": refused is NOTHING and request.query_params.get("notice") == "deleted",
        "errors": refused.messages,
        "failed": failed,
    }
    return render(request, "admin_tags.html", context, status_code=refused.status)


tags = admin_page(_page)


@page
async def create_tag(request: Request) -> Response:
    agent, form = await admin_write(request)
    try:
        tag = await services_of(request).tags.create(
            agent.actor, text(form, "name").strip(), _color(form)
        )
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, key=""))
    return see_other(PATH, notice="saved", id=tag.id)


@page
async def save_tag(request: Request) -> Response:
    """Rename and recolour one tag."""
    agent, form = await admin_write(request)
    tag_id = request.path_params["id"]
    changes = {"name": text(form, "name").strip(), "color": _color(form)}
    try:
        await services_of(request).tags.update(agent.actor, tag_id, changes)
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, key=tag_id))
    return see_other(PATH, notice="saved", id=tag_id)


@page
async def delete_tag(request: Request) -> Response:
    agent, _ = await admin_write(request)
    try:
        await services_of(request).tags.delete(agent.actor, request.path_params["id"])
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc))
    return see_other(PATH, notice="deleted")


def _color(form: FormData) -> str | None:
    """The colour input's value, or none when "No colour" is ticked."""
    if form.get("no_color"):
        return None
    return text(form, "color").strip() or None
