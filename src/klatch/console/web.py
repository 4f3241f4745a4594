"""What every console page shares: the signed-in agent from the session cookie,
the CSRF check on writes, the Jinja2 templates (autoescaped: attribute values and
messages are shown as text, never as markup) and error pages."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from klatch.console import alerts
from klatch.console.session import SESSION_COOKIE, Agent
from klatch.domain.events import iso
from klatch.domain.text import check_parameters
from klatch.errors import InvalidArguments
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
