"""What every endpoint shares: the services and rate limits of the app, the bearer
credential, the JSON body, the JSON answer and the page arguments.

Endpoints are plain module-level functions; everything they need comes from the
request (``request.app.state``), never from an object captured when the app was
built, so the services can be made and replaced in the app's lifespan.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Query
from pydantic import BaseModel, ConfigDict
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from klatch.errors import InvalidArguments, UnsupportedMediaType
from klatch.http.ratelimit import Limits
from klatch.services import Services

SESSION_HEADER = "x-klatch-session"
JSON_TYPES = ("application/json", "application/vnd.api+json", "application/json-patch+json")
# The offset, (page - 1) * pageSize, must fit the databases' 64-bit integers.
MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100

# The same bounds for the REST API, where FastAPI parses and documents them.
PAGE = Query(1, ge=1, le=MAX_PAGE, description="Page number, from 1")
PAGE_SIZE = Query(
    MAX_PAGE_SIZE,
    ge=1,
    le=MAX_PAGE_SIZE,
    alias="pageSize",
    description=f"Items per page (max {MAX_PAGE_SIZE})",
)


class StrictBody(BaseModel):
    """A REST request body: a field Klatch does not support is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


def services_of(connection: HTTPConnection) -> Services:
    """The services of the app serving this request or socket."""
    services: Services = connection.app.state.services
    return services


def limits_of(connection: HTTPConnection) -> Limits:
    """The rate limits of the app serving this request."""
    limits: Limits = connection.app.state.limits
    return limits


def bearer_secret(authorization: str) -> str | None:
    """The credential of an ``Authorization: Bearer <secret>`` header value, if any."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def bearer(connection: HTTPConnection) -> str | None:
    return bearer_secret(connection.headers.get("authorization", ""))


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request's JSON body (size is capped by ``BodyLimit``); clear 4xx otherwise."""
    body = await request.body()
    if not body:
        if required:
            raise InvalidArguments("The request needs a JSON body", code="invalid_json")
        return {}
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(JSON_TYPES):
        raise UnsupportedMediaType(
            f"Send JSON with Content-Type: application/json (got '{content_type or 'none'}')"
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArguments(f"The body is not valid JSON: {exc}", code="invalid_json") from None


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The request's body, which must be a JSON object."""
    body = await read_json(request, required=required)
    if not isinstance(body, dict):
        raise InvalidArguments("The body must be a JSON object")
    return body


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def page_args(request: Request) -> tuple[int, int]:
    """``page`` and ``pageSize`` from the query string, checked."""
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("pageSize", str(MAX_PAGE_SIZE)))
    except ValueError:
        raise InvalidArguments("page and pageSize must be whole numbers") from None
    if not 1 <= page <= MAX_PAGE or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidArguments(f"page is 1 to {MAX_PAGE}; pageSize is 1 to {MAX_PAGE_SIZE}")
    return page, size
