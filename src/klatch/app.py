"""The ASGI application factory: ``create_app(settings)``. No import-time side effects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount

from klatch.config import Settings
from klatch.console import console_routes
from klatch.domain.brands import origin_allowed
from klatch.errors import KlatchError
from klatch.http.client_api import client_endpoints, client_routes
from klatch.http.errors import handle_http_exception, handle_klatch_error, handle_unexpected
from klatch.http.middleware import BodyLimit, ClientCors, OriginCheck
from klatch.http.ops import ops_routes
from klatch.http.realtime import realtime_routes
from klatch.http.rest import build_rest_app
from klatch.http.sdk import demo_routes, sdk_mount
from klatch.logs import install_redaction
from klatch.services import Services


def client_origin_check(services: Services) -> OriginCheck:
    async def allowed(authorization: bytes | None, origin: str) -> bool:
        scheme, _, secret = (authorization or b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return True  # unauthenticated: the endpoint refuses it anyway
        try:
            key = await services.chat.tracking_key(secret.strip())
            brand = await services.orgs.cached_brand(key.org_id, key.brand_id)
        except KlatchError:
            return True  # the endpoint gives the precise error
        return origin_allowed(brand.settings, origin)

    return allowed


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """Build the app for ``settings``. Storage and bus open in the lifespan.

    The chat client API is routed first, straight to lean Starlette endpoints;
    everything else falls through to the REST app (FastAPI, which also serves
    ``/openapi.json`` and ``/docs``).
    """
    services = services or Services(settings)
    endpoints = client_endpoints(services)
    rest = build_rest_app(services, endpoints)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        install_redaction()  # uvicorn's loggers exist by now
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = Starlette(
        routes=[
            *client_routes(endpoints),
            *realtime_routes(services),
            *ops_routes(services),
            sdk_mount(),
            *demo_routes(settings),
            *console_routes(),
            Mount("", app=rest),
        ],
        middleware=[
            Middleware(ClientCors, allowed=client_origin_check(services)),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        exception_handlers={
            KlatchError: handle_klatch_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    return app
