"""The agents' tools of the conversation page: internal notes in the thread, the
conversation's tags (add with autocomplete, remove), and shortcuts filled in
for this conversation from its live values (the reply box's picker and
``/name``). Notes and shortcut texts are shown as text, never as markup."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from klatch.console.session import Agent
from klatch.console.web import PageError, check_csrf, page, require_agent, services_of
from klatch.domain.models import Conversation, Customer
from klatch.errors import KlatchError, NotFound
from klatch.services.shortcuts import Speaker


def _wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


def _back(conversation_id: str) -> RedirectResponse:
    return RedirectResponse(f"/console/conversations/{conversation_id}", status_code=303)


async def thread(
    request: Request, agent: Agent, conversation_id: str, messages: list[Any]
) -> list[Any]:
    """Messages and notes in one timeline, oldest first."""
    notes = await services_of(request).notes.list(agent.actor, conversation_id, page_size=500)
    return sorted([*messages, *notes.items], key=lambda item: (item.created_at, item.id))


async def tag_context(request: Request, agent: Agent, conv: Conversation) -> dict[str, Any]:
    """The conversation's tags (by name) and every tag of the org (the autocomplete)."""
    every = await services_of(request).tags.all(agent.user.org_id)
    by_id = {t.id: t for t in every}
    return {"tags": [by_id[i] for i in conv.tags if i in by_id], "all_tags": every}


async def _write(request: Request) -> tuple[Agent, str, Any]:
    agent = await require_agent(request)
    form = await request.form()
    await check_csrf(request, agent, form)
    return agent, request.path_params["id"], form


def _refused(request: Request, exc: KlatchError, title: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"errors": [{"message": exc.detail}]}, status_code=exc.status)
    raise PageError(exc.status, title, exc.detail)


@page
async def add_note(request: Request) -> Response:
    agent, conversation_id, form = await _write(request)
    try:
        await services_of(request).notes.check_create(
            agent.actor, conversation_id, form.get("body")
        )
    except NotFound:
        raise PageError(404, "Not found", "There is no such conversation.") from None
    except KlatchError as exc:
        return _refused(request, exc, "Note not saved")
    return JSONResponse({"saved": True}) if _wants_json(request) else _back(conversation_id)


@page
async def change_tags(request: Request) -> Response:
    """Add the tag named in ``add`` (created if new) or remove the tag ``remove``."""
    agent, conversation_id, form = await _write(request)
    add = str(form.get("add") or "").strip()
    remove = str(form.get("remove") or "").strip()
    try:
        await services_of(request).tags.change(
            agent.actor,
            conversation_id,
            add=[add] if add else [],
            remove=[remove] if remove else [],
            create=True,
        )
    except NotFound:
        raise PageError(404, "Not found", "There is no such conversation.") from None
    except KlatchError as exc:
        return _refused(request, exc, "Tags not changed")
    return JSONResponse({"saved": True}) if _wants_json(request) else _back(conversation_id)


@page
async def shortcuts(request: Request) -> Response:
    """Every shortcut filled in for this conversation now (JSON for the reply box)."""
    agent = await require_agent(request)
    services = services_of(request)
    try:
        conv = await services.conversations.get(agent.actor, request.path_params["id"])
    except NotFound:
        return JSONResponse({"errors": [{"message": "No such conversation"}]}, status_code=404)
    customer: Customer | None
    try:
        customer = await services.customers.get(agent.actor, conv.customer_id)
    except NotFound:
        customer = None
    speaker = Speaker(agent.user.display_name, agent.user.email)
    filled = await services.shortcuts.filled(agent.user.org_id, conv, customer, speaker)
    return JSONResponse(
        {
            "shortcuts": [
                {"name": s.name, "text": f.text, "missing": list(f.missing)} for s, f in filled
            ]
        },
        headers={"cache-control": "no-store"},
    )
