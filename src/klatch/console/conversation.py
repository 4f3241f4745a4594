"""One conversation for an agent: its messages and reply box, its custom
attributes with an input per type, their history, and status. The live refresh
asks for one part of the page (``?partial=messages`` …), and gets only what that
part needs. Writes answer JSON to the page's script, a redirect to a plain form."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from klatch.console import assignment, tools
from klatch.console.editors import (
    attribute_errors,
    custom_changes,
    editor_for,
    errors_json,
    shown,
    values_from_form,
)
from klatch.console.session import Agent
from klatch.console.web import (
    PageError,
    agent_write,
    back_to,
    check_csrf,
    page,
    post_text,
    render,
    require_agent,
    services_of,
    wants_json,
)
from klatch.domain.attributes import AttributeDef
from klatch.domain.shortcuts import shown as readable
from klatch.errors import KlatchError, NotFound

PARTS = {
    "messages": "_messages.html",
    "attributes": "_attributes.html",
    "history": "_history.html",
    "status": "_status.html",
    "tags": "_tags.html",  # agents' tools
    "assign": "_assign.html",  # who it is assigned to (console/assignment.py)
}


def _not_found() -> PageError:
    return PageError(404, "Not found", "There is no such conversation.")


async def _definitions(request: Request, agent: Agent) -> list[AttributeDef]:
    return await services_of(request).attributes.list(agent.user.org_id, "conversation")


# ------------------------------------------------------------------ the page


async def _actor_names(request: Request, agent: Agent) -> dict[str, str]:
    """Who an event's actor is, by ``type:id``: the org's users and API keys."""
    services = services_of(request)
    org_id = agent.user.org_id
    names = {f"user:{u.id}": u.display_name for u in await services.orgs.list_users(org_id)}
    for key in await services.orgs.list_keys(org_id):
        names[f"api_key:{key.id}"] = f"API key “{key.name}”"
    return names


async def _history(
    request: Request, agent: Agent, conversation_id: str, definitions: list[AttributeDef]
) -> list[dict[str, Any]]:
    """The conversation's attribute and assignment changes, newest first, with who
    made them (a routing rule is named)."""
    names = await _actor_names(request, agent)
    known = await assignment.names(request, agent)
    labels = {d.name: d.display_name for d in definitions}
    kinds = {d.name: d.type for d in definitions}  # values shown as the editors show them
    changes = []
    for event in await services_of(request).conversations.history(agent.actor, conversation_id):
        # A rule's change is the rule's, whoever's write triggered it.
        who = assignment.rule_of(event) or (
            "Customer (chat)"
            if event.actor_type == "customer"
            else "Earlier changes, summarised"
            if event.type == "conversation.history_summary"  # event retention
            else names.get(f"{event.actor_type}:{event.actor_id}") or event.actor_type
        )
        for what, before, after in assignment.changes(event, known):
            changes.append(
                {"when": event.created_at, "who": who, "attribute": what}
                | {"before": before, "after": after}
            )
        for name, change in custom_changes(event, "conversation").items():
            changes.append(
                {
                    "when": event.created_at,
                    "who": who,
                    "attribute": labels.get(name, name),
                    "before": readable(change.get("before"), kinds.get(name)),
                    "after": readable(change.get("after"), kinds.get(name)),
                }
            )
    changes.reverse()
    return changes


async def _context(
    request: Request,
    agent: Agent,
    conversation_id: str,
    *,
    part: str | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What the conversation page shows, or only what one of its PARTS needs (the
    live refreshes ask for a part, and should not pay for the whole page)."""
    services = services_of(request)
    whole = part is None
    context: dict[str, Any] = {"agent": agent, "errors": errors or {}}
    try:
        if whole or part == "messages":
            conv, messages = await services.messages.list(
                agent.actor, conversation_id, page_size=500
            )
            context["messages"] = messages.items
            # Agents' tools: internal notes between the messages.
            context["thread"] = await tools.thread(request, agent, conv.id, messages.items)
        else:
            conv = await services.conversations.get(agent.actor, conversation_id)
    except NotFound:
        raise _not_found() from None
    context["conv"] = conv
    if whole:
        context["customer"] = await services.customers.get(agent.actor, conv.customer_id)
    if whole or part == "tags":
        context.update(await tools.tag_context(request, agent, conv))
    if whole or part == "assign":
        context.update(await assignment.context(request, agent, conv))
    if whole or part in ("attributes", "history"):
        definitions = await _definitions(request, agent)
        editors = {d.name: editor_for(d) for d in definitions}
        context["definitions"] = definitions
        context["editors"] = editors
        context["values"] = {d.name: shown(conv.custom.get(d.name)) for d in definitions}
        # Date-times are stored as UTC ISO 8601; a datetime-local input takes their
        # first 16 characters.
        context["datetime_values"] = {
            d.name: str(conv.custom.get(d.name) or "")[:16]
            for d in definitions
            if editors[d.name] == "datetime"
        }
        if whole or part == "history":
            context["history"] = await _history(request, agent, conversation_id, definitions)
    return context


@page
async def conversation(request: Request) -> Response:
    agent = await require_agent(request)
    part = request.query_params.get("partial")
    part = part if part in PARTS else None
    context = await _context(request, agent, request.path_params["id"], part=part)
    return render(request, PARTS[part] if part else "conversation.html", context)


# ------------------------------------------------------------------ writes


@page
async def set_attributes(request: Request) -> Response:
    agent, form = await agent_write(request)
    conversation_id = request.path_params["id"]
    definitions = {d.name: d for d in await _definitions(request, agent)}
    values = values_from_form(form, definitions)
    try:
        conv = await services_of(request).conversations.check_update(
            agent.actor, conversation_id, {"custom": values}
        )
    except NotFound:
        raise _not_found() from None
    except KlatchError as exc:
        errors = attribute_errors(exc, definitions)  # in the console's words
        if wants_json(request):
            return errors_json(errors, exc.status)
        context = await _context(request, agent, conversation_id, errors=errors)
        return render(request, "conversation.html", context, status_code=exc.status)
    if wants_json(request):
        return JSONResponse({"conversationId": conv.id, "custom": conv.custom})
    return back_to(conversation_id)


@page
async def reply(request: Request) -> Response:
    messages = services_of(request).messages
    return await post_text(request, "Not sent", messages.check_send, {"sent": True})


@page
async def set_status(request: Request) -> Response:
    agent, form = await agent_write(request)
    conversation_id = request.path_params["id"]
    conversations = services_of(request).conversations
    try:
        if form.get("status") == "done":
            await conversations.check_end(agent.actor, conversation_id)
        else:
            await conversations.check_update(agent.actor, conversation_id, {"status": "open"})
    except NotFound:
        raise _not_found() from None
    except KlatchError as exc:
        raise PageError(exc.status, "Not changed", exc.detail) from None
    return back_to(conversation_id)


@page
async def typing(request: Request) -> Response:
    agent = await require_agent(request)
    await check_csrf(request, agent)
    try:
        body = await request.json()
        await services_of(request).messages.check_typing(
            agent.actor,
            request.path_params["id"],
            body.get("typing") if isinstance(body, dict) else None,
        )
    except NotFound:
        return JSONResponse({"errors": [{"message": "No such conversation"}]}, status_code=404)
    except (KlatchError, ValueError) as exc:
        return JSONResponse({"errors": [{"message": str(exc)}]}, status_code=400)
    return Response(status_code=204)
