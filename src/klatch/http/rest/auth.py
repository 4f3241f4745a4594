"""Who is calling the REST API: an API key (``Authorization: Bearer``) with a role.

``org.tracking`` keys are public (they sit in web pages) and are refused here;
``org.user`` reaches conversations, customers and messages; ``org.admin``
everything. Each key also gets a rate limit, reported in ``x-ratelimit-*``.
"""

from __future__ import annotations

from fastapi import Request, Response

from klatch.domain.models import Actor, ActorType, Role
from klatch.errors import Forbidden, Unauthorized
from klatch.http.client_api import bearer
from klatch.http.ratelimit import RateLimiter
from klatch.services import Services


class RestAuth:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.limiter = RateLimiter(
            services.settings.rate_limit_rest, what="requests of this API key"
        )

    async def actor(self, request: Request, response: Response) -> Actor:
        secret = bearer(request)
        key = await self.services.orgs.resolve_key(secret) if secret else None
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
        quota = self.limiter.hit(key.id)
        if quota is not None:
            response.headers["x-ratelimit-limit"] = str(quota.limit)
            response.headers["x-ratelimit-remaining"] = str(quota.remaining)
            response.headers["x-ratelimit-reset"] = str(quota.reset)
        return Actor(ActorType.API_KEY, key.id, key.org_id, name=key.name, role=key.role)

    async def admin(self, request: Request, response: Response) -> Actor:
        actor = await self.actor(request, response)
        if actor.role is not Role.ADMIN:
            raise Forbidden("This needs a key with the org.admin role", code="forbidden_role")
        return actor
