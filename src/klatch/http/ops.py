"""Operations endpoints: liveness, readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from klatch import __version__
from klatch.http.client_api import json_response
from klatch.services import Services


def ops_routes(services: Services) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok", "version": __version__})

    async def readyz(request: Request) -> Response:
        try:
            await services.db.ping()
        except Exception as exc:  # readiness reports, it does not raise
            return json_response({"status": "unavailable", "database": str(exc)[:200]}, 503)
        return json_response({"status": "ready", "database": services.db.dialect})

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
