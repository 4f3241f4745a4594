"""What every console page shares: the signed-in agent from the session cookie,
the CSRF check on writes, the Jinja2 templates (autoescaped: attribute values and
messages are shown as text, never as markup), error pages, and how a write from a
conversation's page answers (JSON to the page's script, a redirect to a plain form)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from klatch.console import alerts
from klatch.console.session import SESSION_COOKIE, Agent
from klatch.domain.events import iso
from klatch.domain.models import Actor
from klatch.domain.text import check_parameters
from klatch.errors import InvalidArguments, KlatchError, NotFound
from klatch.services import Services

HERE = Path(__file__).parent

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True
    )
)
templates.env.filters["when"] = lambda ms: (iso(ms) or "")[:16].replace("T", " ") + " UTC"
templates.env.filters["iso"] = iso


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


class PageError(Exception):
    """Shown as an error page with this status."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status = status
        self.title = title
        self.detail = detail


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def current(request: Request) -> Agent | None:
    services = services_of(request)
    session = await services.console.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    agent = Agent.of(session)
    # Only a whole page carries it (base.html); a live refresh's fragment does not.
    partial = "partial" in request.query_params
    seen = 0 if partial else await services.orgs.last_event_id(agent.user.org_id)
    shown = await services.teams.availability(agent.actor, [agent.user.id])
    agent = replace(agent, availability=shown[agent.user.id], events_seen=seen)
    if agent.is_admin:
        cookie = request.cookies.get(alerts.DISMISSED_COOKIE)
        hooks = await alerts.disabled_webhooks(services, agent.actor, cookie)
        agent = replace(agent, disabled_webhooks=hooks)
    return agent


async def require_agent(request: Request, *, admin: bool = False) -> Agent:
    agent = await current(request)
    if agent is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Redirect(f"/console/login?next={quote(target, safe='')}")
    if admin and not agent.is_admin:
        raise PageError(403, "Admins only", "This page is for admins of the organization.")
    return agent


async def check_csrf(request: Request, agent: Agent, form: Any | None = None) -> None:
    """Every write carries the session's CSRF token, in the form or a header."""
    sent = request.headers.get("x-csrf-token")
    if sent is None and form is not None:
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, agent.csrf_token):
        raise PageError(
            403, "Request refused", "The form was missing its security token; reload the page."
        )


async def agent_write(request: Request, *, admin: bool = False) -> tuple[Agent, FormData]:
    """The signed-in agent (an admin, with ``admin``) and the posted form, its CSRF
    token checked."""
    agent = await require_agent(request, admin=admin)
    form = await request.form()
    await check_csrf(request, agent, form)
    return agent, form


def wants_json(request: Request) -> bool:
    """The page's script sent the write (fetch), not a plain form: it reads JSON."""
    return request.headers.get("x-requested-with") == "fetch"


ConversationWrite = Callable[[Agent, str, FormData], Awaitable[dict[str, Any]]]


async def conversation_write(request: Request, title: str, write: ConversationWrite) -> Response:
    """A write from a conversation's page (``write`` gets the agent, the
    conversation id and the form, and returns what the page's script is told): a
    plain form goes back to the page. A missing conversation is the 404 page; any
    other refusal is told to the script, or is an error page titled ``title``."""
    agent, form = await agent_write(request)
    conversation_id = request.path_params["id"]
    try:
        answer = await write(agent, conversation_id, form)
    except NotFound:
        raise PageError(404, "Not found", "There is no such conversation.") from None
    except KlatchError as exc:
        if wants_json(request):
            return JSONResponse({"errors": [{"message": exc.detail}]}, status_code=exc.status)
        raise PageError(exc.status, title, exc.detail) from None
    if wants_json(request):
        return JSONResponse(answer)
    return back_to(conversation_id)


PostText = Callable[[Actor, str, Any], Awaitable[object]]


async def post_text(
    request: Request, title: str, post: PostText, answer: dict[str, Any]
) -> Response:
    """The form's ``body`` written to the conversation by ``post`` (a reply, a note),
    as ``conversation_write`` does it; ``answer`` is what the page's script is told."""

    async def write(agent: Agent, conversation_id: str, form: FormData) -> dict[str, Any]:
        await post(agent.actor, conversation_id, form.get("body"))
        return answer

    return await conversation_write(request, title, write)


def back_to(conversation_id: str) -> RedirectResponse:
    """The conversation's page, after a write to it."""
    return RedirectResponse(f"/console/conversations/{conversation_id}", status_code=303)


def secure_cookies(request: Request) -> bool:
    public = services_of(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    response: Response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
    response.headers["content-security-policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["referrer-policy"] = "same-origin"
    return response


def see_other(path: str, **params: str) -> RedirectResponse:
    """Where a write that worked sends the browser (303: the next request is a GET)."""
    return RedirectResponse(f"{path}?{urlencode(params)}" if params else path, status_code=303)


Handler = Callable[[Request], Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """Turn Redirect and PageError into responses."""

    async def run(request: Request) -> Response:
        try:
            check_parameters(request.path_params.items(), "/path")
            check_parameters(request.query_params.multi_items(), "/query")
            return await handler(request)
        except InvalidArguments as exc:
            agent = await current(request)
            return render(
                request,
                "error.html",
                {"agent": agent, "title": "Bad request", "detail": exc.detail},
                status_code=400,
            )
        except Redirect as exc:
            return RedirectResponse(exc.url, status_code=303)
        except PageError as exc:
            agent = await current(request)
            return render(
                request,
                "error.html",
                {"agent": agent, "title": exc.title, "detail": exc.detail},
                status_code=exc.status,
            )

    return run
