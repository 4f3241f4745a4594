"""``/metrics``: the process's Prometheus metrics (``klatch.metrics``), for a
scraper that holds ``KLATCH_METRICS_TOKEN``.

Not public: without a token configured ``/metrics`` is a 404 like any unknown
path, and with one a request must say ``Authorization: Bearer <token>`` (else
401). With ``KLATCH_METRICS_ADDRESS`` (``host:port``) the metrics are served on
that listener only, e.g. a private interface the scraper reaches and browsers
do not; the token is asked for there too.
"""

from __future__ import annotations

import asyncio
import hmac
import threading

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from klatch import metrics
from klatch.config import Settings
from klatch.errors import NotFound, Unauthorized, Unavailable
from klatch.http.errors import error_response
from klatch.http.requests import bearer, services_of

PATH = "/metrics"


def _scrape(request: Request, settings: Settings) -> Response:
    """The text exposition format, for a request that brings the token."""
    token = settings.metrics_token
    if token is None:
        return error_response(NotFound("Not Found"))
    given = bearer(request) or ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        response = error_response(
            Unauthorized("/metrics needs Authorization: Bearer <KLATCH_METRICS_TOKEN>")
        )
        response.headers["www-authenticate"] = 'Bearer realm="metrics"'
        return response
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_PLAIN_0_0_4)


async def main_port_metrics(request: Request) -> Response:
    """``/metrics`` on the main port; a 404 there when a separate listener has it."""
    settings = services_of(request).settings
    if settings.metrics_listen is not None:
        return error_response(NotFound("Not Found"))
    return _scrape(request, settings)


async def listener_metrics(request: Request) -> Response:
    return _scrape(request, request.app.state.settings)


routes = [Route(PATH, main_port_metrics)]


class MetricsListener:
    """``/metrics`` on a listener of its own (``KLATCH_METRICS_ADDRESS``): a
    uvicorn server in a thread, so a busy or stuck event loop of the main server
    still gets scraped, and the main server's signal handling stays its own."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        listen = settings.metrics_listen
        assert listen is not None
        app = Starlette(routes=[Route(PATH, listener_metrics)])
        app.state.settings = settings
        config = uvicorn.Config(
            app,
            host=listen[0],
            port=listen[1],
            lifespan="off",
            access_log=False,
            log_config=None,
            log_level="warning",
        )
        self.address = f"{listen[0]}:{listen[1]}"
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="klatch-metrics", daemon=True)

    async def start(self) -> None:
        """Listening once this returns; ``Unavailable`` if the address cannot be bound."""
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise Unavailable(f"The metrics listener cannot bind {self.address}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        await asyncio.to_thread(self._thread.join, 10)
