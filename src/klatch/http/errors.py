"""Turning errors into responses: the only place that does.

Every error has the JSON:API shape
``{"errors": [{"status", "code", "title", "detail", "source": {"pointer"}, "meta"}]}``;
an attribute error carries one entry per offending attribute. Unexpected
exceptions become a 500 with a request id, never a traceback.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from klatch.errors import KlatchError, RateLimited
from klatch.logs import REQUEST_ID

log = logging.getLogger("klatch.http")

_HTTP_CODES = {
    400: "invalid_arguments",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_arguments",
    429: "rate_limited",
}


def error_entries(exc: KlatchError) -> list[dict[str, Any]]:
    status = str(exc.status)
    if exc.details:
        return [
            {
                "status": status,
                "code": d.code,
                "title": exc.title,
                "detail": d.message,
                "source": {"pointer": d.pointer},
                "meta": {"attribute": d.attribute} if d.attribute else {},
            }
            for d in exc.details
        ]
    entry: dict[str, Any] = {
        "status": status,
        "code": exc.code,
        "title": exc.title,
        "detail": exc.detail,
        "source": {"pointer": exc.pointer} if exc.pointer else {},
    }
    return [entry]


def error_response(exc: KlatchError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers = {
            "Retry-After": str(exc.retry_after),
            "x-ratelimit-limit": str(exc.limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(exc.reset),
        }
    body = orjson.dumps({"errors": error_entries(exc)})
    return Response(body, status_code=exc.status, headers=headers, media_type="application/json")


async def handle_klatch_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KlatchError)
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.detail)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    error = KlatchError(str(exc.detail), code=code)
    error.status = exc.status_code
    error.title = code.replace("_", " ").capitalize()
    response = error_response(error)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    request_id = REQUEST_ID.get() or secrets.token_hex(8)  # the id of every log line
    log.exception("unhandled error %s on %s %s", request_id, request.method, request.url.path)
    error = KlatchError(f"Something went wrong on our side (request {request_id})")
    return error_response(error)
