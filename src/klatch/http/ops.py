"""Operations endpoints: liveness, readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from klatch import __version__
from klatch.http.requests import json_response, services_of


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


async def readyz(request: Request) -> Response:
    """200 while the database answers and writes are stored; 503 with the reason
    when it does not answer, or while writes fail (e.g. the disk is full)."""
    db = services_of(request).db
    try:
        await db.ping()
    except Exception as exc:  # readiness reports, it does not raise
        reason = f"the database does not answer: {str(exc)[:200]}"
        return json_response(
            {"status": "unavailable", "database": str(exc)[:200], "reason": reason}, 503
        )
    failure = await db.write_failure()
    if failure is not None:
        return json_response(
            {"status": "unavailable", "database": db.dialect, "reason": failure[:300]}, 503
        )
    return json_response({"status": "ready", "database": db.dialect})


routes = [Route("/healthz", healthz), Route("/readyz", readyz)]
