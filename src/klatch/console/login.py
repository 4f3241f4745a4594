"""Signing in and out of the console. The login form carries its own CSRF token
(double-submitted in a cookie, as there is no session yet); a login that worked
sets the session cookie and goes on to the page that asked for it."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from klatch.console.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    end_session,
    new_login_csrf,
    set_login_csrf,
    start_session,
)
from klatch.console.web import (
    check_csrf,
    page,
    render,
    require_agent,
    secure_cookies,
    services_of,
)
from klatch.errors import KlatchError, Unauthorized


def _safe_next(target: str | None) -> str:
    # Only paths inside the console: never an open redirect.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/inbox"


def _login_page(
    request: Request, *, target: str, error: str | None = None, email: str = "", status: int = 200
) -> Response:
    """The form, with a fresh CSRF token in it and in its cookie."""
    token = new_login_csrf()
    context = {"agent": None, "csrf": token, "next": target, "error": error, "email": email}
    response = render(request, "login.html", context, status_code=status)
    set_login_csrf(response, token, secure=secure_cookies(request))
    return response


@page
async def login_form(request: Request) -> Response:
    return _login_page(request, target=request.query_params.get("next", ""))


@page
async def login(request: Request) -> Response:
    form = await request.form()
    sent = form.get("csrf")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    target = _safe_next(str(form.get("next") or ""))
    email = str(form.get("email") or "")
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent, cookie):
        return _login_page(
            request,
            target=target,
            error="The login form expired; please try again.",
            email=email,
            status=403,
        )
    try:
        done = await services_of(request).console.login(email, str(form.get("password") or ""))
    except Unauthorized:
        return _login_page(
            request, target=target, error="Wrong email or password.", email=email, status=401
        )
    except KlatchError as exc:
        return _login_page(request, target=target, error=exc.detail, email=email, status=exc.status)
    response = RedirectResponse(target, status_code=303)
    start_session(response, done.token, done.session, secure=secure_cookies(request))
    return response


@page
async def logout(request: Request) -> Response:
    agent = await require_agent(request)
    await check_csrf(request, agent, await request.form())
    await services_of(request).console.logout(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/console/login", status_code=303)
    end_session(response)
    return response
