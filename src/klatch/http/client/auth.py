"""Who is chatting: the tracking key (``Authorization: Bearer kt_…``) and the
session token (``X-Klatch-Session``), counted against the session's rate limit."""

from __future__ import annotations

from starlette.requests import Request

from klatch.domain.models import Actor, ApiKey
from klatch.http.requests import SESSION_HEADER, bearer, limits_of, services_of


async def session_actor(request: Request) -> Actor:
    """The customer of the request's chat session; 401 without a valid one."""
    token = request.headers.get(SESSION_HEADER)
    actor = await services_of(request).chat.authenticate(bearer(request), token)
    limits_of(request).session.hit(token or "")
    return actor


async def tracking_key(request: Request) -> ApiKey:
    """The request's tracking key, for the calls that need no session (yet)."""
    return await services_of(request).chat.tracking_key(bearer(request))
