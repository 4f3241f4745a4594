"""Console pages for agents: login, the inbox and the conversation view."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from klatch.console.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Agent,
    PageError,
    check_csrf,
    new_login_csrf,
    page,
    render,
    require_agent,
    secure_cookies,
    services_of,
)
from klatch.domain.attributes import AttributeDef, AttrType
from klatch.domain.events import iso
from klatch.domain.models import Conversation
from klatch.errors import KlatchError, NotFound, Unauthorized

PAGE_SIZE = 25


def _safe_next(target: str | None) -> str:
    # Only paths inside the console: never an open redirect.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/inbox"


# ------------------------------------------------------------------ login


@page
async def login_form(request: Request) -> Response:
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        {"agent": None, "csrf": token, "next": request.query_params.get("next", ""), "error": None},
    )
    _set_login_csrf(request, response, token)
    return response


def _set_login_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/console",
        max_age=3600,
    )


@page
async def login(request: Request) -> Response:
    form = await request.form()
    sent = form.get("csrf")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    target = _safe_next(str(form.get("next") or ""))
    email = str(form.get("email") or "")
    error: str | None = None
    status = 400
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent, cookie):
        error = "The login form expired; please try again."
        status = 403
    else:
        try:
            done = await services_of(request).console.login(email, str(form.get("password") or ""))
        except Unauthorized:
            error = "Wrong email or password."
            status = 401
        except KlatchError as exc:
            error = exc.detail
            status = exc.status
        else:
            done_response = RedirectResponse(target, status_code=303)
            done_response.set_cookie(
                SESSION_COOKIE,
                done.token,
                httponly=True,
                samesite="lax",
                secure=secure_cookies(request),
                path="/",
                max_age=(done.session.expires_at // 1000) - int(datetime.now(UTC).timestamp()),
            )
            done_response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
            return done_response
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        {"agent": None, "csrf": token, "next": target, "error": error, "email": email},
        status_code=status,
    )
    _set_login_csrf(request, response, token)
    return response


@page
async def logout(request: Request) -> Response:
    agent = await require_agent(request)
    await check_csrf(request, agent, await request.form())
    await services_of(request).console.logout(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@page
async def home(request: Request) -> Response:
    return RedirectResponse("/console/inbox", status_code=303)


# ------------------------------------------------------------------ inbox


async def _definitions(request: Request, agent: Agent, klass: str) -> list[AttributeDef]:
    return await services_of(request).attributes.list(agent.user.org_id, klass)


@page
async def inbox(request: Request) -> Response:
    agent = await require_agent(request)
    services = services_of(request)
    q = request.query_params
    status = q.get("status") or None
    attribute = q.get("attribute") or None
    value = q.get("value", "")
    try:
        page_number = max(1, int(q.get("page", "1")))
    except ValueError:
        page_number = 1
    definitions = await _definitions(request, agent, "conversation")
    error = None
    conversations: list[Conversation] = []
    has_next = False
    try:
        result = await services.conversations.list(
            agent.actor,
            page=page_number,
            page_size=PAGE_SIZE,
            status=status,
            custom_filters={attribute: value} if attribute else None,
        )
        conversations, has_next = list(result.items), result.has_next
    except KlatchError as exc:
        error = exc.detail
    customers = {}
    for conv in conversations:
        if conv.customer_id not in customers:
            try:
                customers[conv.customer_id] = await services.customers.get(
                    agent.actor, conv.customer_id
                )
            except NotFound:
                pass
    filters = {k: v for k, v in (("status", status), ("attribute", attribute)) if v}
    if attribute:
        filters["value"] = value
    context = {
        "agent": agent,
        "conversations": conversations,
        "customers": customers,
        "definitions": definitions,
        "status": status or "",
        "attribute": attribute or "",
        "value": value,
        "page": page_number,
        "has_next": has_next,
        "prev_url": "?" + urlencode({**filters, "page": page_number - 1}),
        "next_url": "?" + urlencode({**filters, "page": page_number + 1}),
        "error": error,
        "iso": iso,
    }
    name = "_inbox_rows.html" if q.get("partial") == "rows" else "inbox.html"
    return render(request, name, context, status_code=400 if error else 200)


# ------------------------------------------------------------------ conversation


def _editor(definition: AttributeDef) -> str:
    """Which input fits the attribute's type."""
    if definition.allowed:
        return "select"
    return {
        AttrType.TXT: "textarea",
        AttrType.BOOL: "bool",
        AttrType.AT: "datetime",
        AttrType.NUM: "number",
        AttrType.URL: "url",
    }.get(definition.type, "text")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


PARTS = {
    "messages": "_messages.html",
    "attributes": "_attributes.html",
    "history": "_history.html",
    "status": "_status.html",
}


def _not_found() -> PageError:
    return PageError(404, "Not found", "There is no such conversation.")


async def _history(
    request: Request, agent: Agent, conversation_id: str, definitions: list[AttributeDef]
) -> list[dict[str, Any]]:
    """The conversation's attribute changes, newest first, with who made them."""
    services = services_of(request)
    org_id = agent.user.org_id
    names = {f"user:{u.id}": u.display_name for u in await services.orgs.list_users(org_id)}
    for key in await services.orgs.list_keys(org_id):
        names[f"api_key:{key.id}"] = f"API key “{key.name}”"
    labels = {d.name: d.display_name for d in definitions}
    changes = []
    for event in await services.conversations.history(agent.actor, conversation_id):
        custom = (event.payload.get("changes") or {}).get("custom") or {}
        if event.type == "conversation.created":
            created = (event.payload.get("conversation") or {}).get("custom", {})
            custom = {name: {"before": None, "after": value} for name, value in created.items()}
        who = (
            "Customer (chat)"
            if event.actor_type == "customer"
            else names.get(f"{event.actor_type}:{event.actor_id}") or event.actor_type
        )
        for name, change in custom.items():
            changes.append(
                {
                    "when": event.created_at,
                    "who": who,
                    "attribute": labels.get(name, name),
                    "before": _shown(change.get("before")),
                    "after": _shown(change.get("after")),
                }
            )
    changes.reverse()
    return changes


async def _conversation_context(
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
            conv, messages = await services.conversations.messages(
                agent.actor, conversation_id, page_size=500
            )
            context["messages"] = messages.items
        else:
            conv = await services.conversations.get(agent.actor, conversation_id)
    except NotFound:
        raise _not_found() from None
    context["conv"] = conv
    if whole:
        context["customer"] = await services.customers.get(agent.actor, conv.customer_id)
    if whole or part in ("attributes", "history"):
        definitions = await _definitions(request, agent, "conversation")
        context["definitions"] = definitions
        context["editors"] = {d.name: _editor(d) for d in definitions}
        # Values as the inputs take them; date-times are stored as UTC ISO 8601,
        # and a datetime-local input takes their first 16 characters.
        context["values"] = {d.name: _shown(conv.custom.get(d.name)) for d in definitions}
        context["datetime_values"] = {
            d.name: str(conv.custom.get(d.name) or "")[:16]
            for d in definitions
            if d.type is AttrType.AT
        }
        if whole or part == "history":
            context["history"] = await _history(request, agent, conversation_id, definitions)
    return context


@page
async def conversation(request: Request) -> Response:
    agent = await require_agent(request)
    part = request.query_params.get("partial")
    part = part if part in PARTS else None
    context = await _conversation_context(request, agent, request.path_params["id"], part=part)
    return render(request, PARTS[part] if part else "conversation.html", context)


async def _conversation_write(request: Request) -> tuple[Agent, str, FormData]:
    """The signed-in agent, the conversation id and the form, CSRF-checked."""
    agent = await require_agent(request)
    form = await request.form()
    await check_csrf(request, agent, form)
    return agent, request.path_params["id"], form


def _wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


def _value_from_form(definition: AttributeDef, raw: str) -> Any:
    """The form's text as the typed value the API expects. What cannot be read as
    the type goes to the server as it is, so its validation explains the problem."""
    text = raw.strip()
    if text == "":
        return None
    if definition.type is AttrType.NUM:
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if definition.type is AttrType.BOOL:
        return {"true": True, "false": False}.get(text, text)
    if definition.type is AttrType.AT and len(text) == 16 and "T" in text:
        return text + ":00Z"  # the console's date-time inputs are in UTC
    return raw if definition.type is AttrType.TXT else text


@page
async def set_attributes(request: Request) -> Response:
    agent, conversation_id, form = await _conversation_write(request)
    services = services_of(request)
    definitions = {d.name: d for d in await _definitions(request, agent, "conversation")}
    values: dict[str, Any] = {}
    for key, raw in form.multi_items():
        if key.startswith("custom.") and isinstance(raw, str):
            name = key.removeprefix("custom.")
            definition = definitions.get(name)
            values[name] = _value_from_form(definition, raw) if definition else raw
    try:
        conv = await services.conversations.check_update(
            agent.actor, conversation_id, custom=values
        )
    except NotFound:
        raise _not_found() from None
    except KlatchError as exc:
        errors: dict[str, str] = {}
        for detail in exc.details or []:
            errors[detail.attribute or ""] = detail.message
        if not errors:
            errors[""] = exc.detail
        if _wants_json(request):
            return JSONResponse(
                {"errors": [{"attribute": k, "message": v} for k, v in errors.items()]},
                status_code=exc.status,
            )
        context = await _conversation_context(request, agent, conversation_id, errors=errors)
        return render(request, "conversation.html", context, status_code=exc.status)
    if _wants_json(request):
        return JSONResponse({"conversationId": conv.id, "custom": conv.custom})
    return RedirectResponse(f"/console/conversations/{conversation_id}", status_code=303)


@page
async def reply(request: Request) -> Response:
    agent, conversation_id, form = await _conversation_write(request)
    try:
        await services_of(request).conversations.check_send(
            agent.actor, conversation_id, form.get("body")
        )
    except NotFound:
        raise _not_found() from None
    except KlatchError as exc:
        if _wants_json(request):
            return JSONResponse({"errors": [{"message": exc.detail}]}, status_code=exc.status)
        raise PageError(exc.status, "Not sent", exc.detail) from None
    if _wants_json(request):
        return JSONResponse({"sent": True})
    return RedirectResponse(f"/console/conversations/{conversation_id}", status_code=303)


@page
async def set_status(request: Request) -> Response:
    agent, conversation_id, form = await _conversation_write(request)
    services = services_of(request)
    status = form.get("status")
    try:
        if status == "done":
            await services.conversations.check_end(agent.actor, conversation_id)
        else:
            await services.conversations.check_update(agent.actor, conversation_id, status="open")
    except NotFound:
        raise _not_found() from None
    except KlatchError as exc:
        raise PageError(exc.status, "Not changed", exc.detail) from None
    return RedirectResponse(f"/console/conversations/{conversation_id}", status_code=303)


@page
async def typing(request: Request) -> Response:
    agent = await require_agent(request)
    await check_csrf(request, agent)
    try:
        body = await request.json()
        await services_of(request).conversations.check_typing(
            agent.actor,
            request.path_params["id"],
            body.get("typing") if isinstance(body, dict) else None,
        )
    except NotFound:
        return JSONResponse({"errors": [{"message": "No such conversation"}]}, status_code=404)
    except (KlatchError, ValueError) as exc:
        return JSONResponse({"errors": [{"message": str(exc)}]}, status_code=400)
    return Response(status_code=204)
