"""Who is calling the REST API: an API key (``Authorization: Bearer``) with a role.

``org.tracking`` keys are public (they sit in web pages) and are refused here;
``org.user`` reaches conversations, customers and messages; ``org.admin``
everything. Each key also gets a rate limit, reported in ``x-ratelimit-*``.
Endpoints declare ``actor: Agent`` or ``actor: Admin``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from klatch.domain.models import Actor, ActorType, Role
from klatch.errors import Forbidden, Unauthorized
from klatch.http.requests import bearer, limits_of, services_of


async def agent(request: Request, response: Response) -> Actor:
    """The caller, with an org.user or org.admin key."""
    secret = bearer(request)
    key = await services_of(request).orgs.resolve_key(secret) if secret else None
    if key is None:
        raise Unauthorized(
            "Send an API key as 'Authorization: Bearer <key>'; this one is missing, "
            "unknown or revoked",
            code="invalid_api_key",
        )
    if key.role is Role.TRACKING:
        raise Forbidden(
            "This is a public org.tracking key; it only reaches the chat API (/c/v1)",
            code="forbidden_role",
        )
    quota = limits_of(request).rest.hit(key.id)
    if quota is not None:
        response.headers["x-ratelimit-limit"] = str(quota.limit)
        response.headers["x-ratelimit-remaining"] = str(quota.remaining)
        response.headers["x-ratelimit-reset"] = str(quota.reset)
    return Actor(ActorType.API_KEY, key.id, key.org_id, name=key.name, role=key.role)


async def admin(request: Request, response: Response) -> Actor:
    """The caller, with an org.admin key."""
    actor = await agent(request, response)
    if actor.role is not Role.ADMIN:
        raise Forbidden("This needs a key with the org.admin role", code="forbidden_role")
    return actor


Agent = Annotated[Actor, Depends(agent)]
Admin = Annotated[Actor, Depends(admin)]
