"""The ASGI application factory: ``create_app(settings)``. No import-time side effects."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.routing import Mount

from klatch.config import Settings
from klatch.console import console_routes
from klatch.domain.brands import origin_allowed
from klatch.errors import KlatchError
from klatch.http import client, metrics, ops, realtime
from klatch.http.client.dispatch import ClientDispatch
from klatch.http.errors import handle_http_exception, handle_klatch_error, handle_unexpected
from klatch.http.metrics import MetricsListener
from klatch.http.middleware import BodyLimit, ClientCors, Observe
from klatch.http.ratelimit import Limits
from klatch.http.requests import bearer, services_of
from klatch.http.rest import build_rest_app
from klatch.http.rest.docs import assets_mount as docs_assets_mount
from klatch.http.sdk import demo_routes, sdk_mount
from klatch.logs import install_redaction
from klatch.runtime import running
from klatch.services import Services

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


async def client_origin_check(connection: HTTPConnection, origin: str) -> bool:
    """May the page at ``origin`` use the client API with this request's tracking key?"""
    secret = bearer(connection)
    if secret is None:
        return True  # unauthenticated: the endpoint refuses it anyway
    services = services_of(connection)
    try:
        key = await services.chat.tracking_key(secret)
        brand = await services.orgs.cached_brand(key.org_id, key.brand_id)
    except KlatchError:
        return True  # the endpoint gives the precise error
    return origin_allowed(brand.settings, origin)


def freeze_startup_objects() -> None:
    """Leave what exists once the server has started (every module, the app, the
    services: some 400,000 objects) out of the garbage collector's full passes.

    Nothing of it is ever garbage, yet each full pass walked all of it: 50-100 ms
    during which no request moved, once every few hundred requests that build a
    page of records — the p99 of every path (a search at 10k: 70-100 ms p99 against
    7 ms p50; 20 ms with this). What requests allocate afterwards is collected as
    before."""
    gc.collect()
    gc.freeze()


def _lifespan(settings: Settings, given: Services | None) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        install_redaction()  # uvicorn's loggers exist by now
        async with AsyncExitStack() as stack:
            if settings.metrics_listen is not None:
                listener = MetricsListener(settings)
                await listener.start()
                stack.push_async_callback(listener.stop)
            if given is None:  # else the caller started them and stops them
                app.state.services = await stack.enter_async_context(running(settings))
            freeze_startup_objects()
            yield

    return lifespan


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """Build the app for ``settings``. The runtime (storage, bus, hub) opens in the
    lifespan, unless ``services`` already running are given (tests).

    The chat client API is routed first, straight to lean Starlette endpoints;
    everything else falls through to the REST app (FastAPI, which also serves
    ``/openapi.json`` and ``/docs``). Every endpoint and middleware finds the
    services and rate limits in the app's state, which the REST app shares.
    """
    rest = build_rest_app()
    app = Starlette(
        routes=[
            *client.routes,
            *realtime.routes,
            *ops.routes,
            *metrics.routes,
            sdk_mount(),
            docs_assets_mount(),
            *demo_routes(settings),
            *console_routes(),
            Mount("", app=rest),
        ],
        middleware=[
            Middleware(Observe),
            Middleware(ClientCors, allowed=client_origin_check),
            Middleware(
                BodyLimit, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_seconds
            ),
            Middleware(ClientDispatch, routes=client.routes),
        ],
        exception_handlers={
            KlatchError: handle_klatch_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=_lifespan(settings, services),
    )
    if services is not None:
        app.state.services = services
    app.state.limits = Limits.from_settings(settings)
    rest.state = app.state
    return app
