"""The agents' tools of the conversation page: internal notes in the thread, the
conversation's tags (add with autocomplete, remove), and shortcuts filled in
for this conversation from its live values (the reply box's picker and
``/name``). Notes and shortcut texts are shown as text, never as markup."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from klatch.console.session import Agent
from klatch.console.web import conversation_write, page, post_text, require_agent, services_of
from klatch.domain.models import Conversation, Customer
from klatch.errors import NotFound
from klatch.services.shortcuts import Speaker


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


@page
async def add_note(request: Request) -> Response:
    notes = services_of(request).notes
    return await post_text(request, "Note not saved", notes.check_create, {"saved": True})


@page
async def change_tags(request: Request) -> Response:
    """Add the tag named in ``add`` (created if new) or remove the tag ``remove``."""

    async def change(agent: Agent, conversation_id: str, form: FormData) -> dict[str, Any]:
        add = str(form.get("add") or "").strip()
        remove = str(form.get("remove") or "").strip()
        await services_of(request).tags.change(
            agent.actor,
            conversation_id,
            add=[add] if add else [],
            remove=[remove] if remove else [],
            create=True,
        )
        return {"saved": True}

    return await conversation_write(request, "Tags not changed", change)


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
