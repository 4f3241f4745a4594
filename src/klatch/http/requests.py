"""What every endpoint shares: the services and rate limits of the app, the bearer
credential, the JSON body, the JSON answer and the page arguments — and the text
rule (``klatch.domain.text``) for everything a request carries, held at the edge
by both APIs: ``parse_json`` for bodies, ``check_request_parameters`` for path and
query parameters, ``CheckedRoute`` to do both for the REST API before FastAPI
parses anything.

Endpoints are plain module-level functions; everything they need comes from the
request (``request.app.state``), never from an object captured when the app was
built, so the services can be made and replaced in the app's lifespan.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from klatch.domain.text import MAX_PAGE, check_parameters, check_text
from klatch.errors import InvalidArguments, UnsupportedMediaType
from klatch.http.ratelimit import Limits
from klatch.services import Services

SESSION_HEADER = "x-klatch-session"
JSON_TYPES = ("application/json", "application/vnd.api+json", "application/json-patch+json")
MAX_PAGE_SIZE = 100
# orjson reads an integer beyond 64 bits as a double (one beyond a double's range
# it refuses), and refuses a lone surrogate without saying where. Such a body is
# read again by the standard library, which keeps integers exact (so the attribute
# refuses the number rather than store it rounded) and strings as they were sent
# (so the text rule can point at the offender).
_LONG_NUMBER = re.compile(rb"[0-9]{19}")

# The same bounds for the REST API, where FastAPI parses and documents them.
PAGE = Query(1, ge=1, le=MAX_PAGE, description="Page number, from 1")
PAGE_SIZE = Query(
    MAX_PAGE_SIZE,
    ge=1,
    le=MAX_PAGE_SIZE,
    alias="pageSize",
    description=f"Items per page (max {MAX_PAGE_SIZE})",
)


def _page_size(
    page_size: int = Query(
        MAX_PAGE_SIZE,
        ge=0,
        le=MAX_PAGE_SIZE,
        alias="pageSize",
        description=f"Items per page (max {MAX_PAGE_SIZE}; 0 means the default, {MAX_PAGE_SIZE})",
    ),
) -> int:
    return page_size or MAX_PAGE_SIZE


# A /v1 list's page size: ``pageSize=0`` is the default, as UI components send it.
PageSize = Annotated[int, Depends(_page_size)]


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
        return parse_json(body)
    except json.JSONDecodeError as exc:
        raise InvalidArguments(f"The body is not valid JSON: {exc}", code="invalid_json") from None


def parse_json(body: bytes) -> Any:
    """A JSON document (orjson's reading), every string and key in it text.

    Raises ``json.JSONDecodeError`` when it is not JSON (orjson's error, for the
    caller to report) and 400 ``invalid_text`` when a string breaks the text rule.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            value = _exactly(body)
        except (ValueError, RecursionError):
            raise exc from None
    else:
        if _LONG_NUMBER.search(body) is not None:
            try:
                value = _exactly(body)
            except (ValueError, RecursionError):
                raise json.JSONDecodeError("Nested too deeply", "", 0) from None
    # Both readers refuse raw control characters and invalid UTF-8, so a string
    # can hold NUL or a lone surrogate only through a \u escape: a body without
    # one needs no walk (the common case, on the hot path).
    if b"\\u" in body:
        check_text(value)
    return value


def _exactly(body: bytes) -> Any:
    """The standard library's reading of ``body``: UTF-8 only, and without what
    orjson refuses besides (NaN, Infinity, numbers that overflow a double)."""
    return json.loads(body.decode("utf-8"), parse_constant=_not_json, parse_float=_finite)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError("number is infinity when parsed as double")
    return number


def check_request_parameters(connection: HTTPConnection) -> None:
    """Path and query parameters, names and values, must be text (400 ``invalid_text``)."""
    check_parameters(connection.path_params.items(), "/path")
    if connection.scope.get("query_string"):
        check_parameters(connection.query_params.multi_items(), "/query")


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test for a body it reads as JSON: application/json or application/*+json."""
    media = (content_type or "").partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class _JsonRequest(Request):
    """A request whose ``json()``, the body FastAPI validates, is ``parse_json``'s."""

    _parsed: Any

    async def json(self) -> Any:
        if not hasattr(self, "_parsed"):
            self._parsed = parse_json(await self.body())
        return self._parsed

    async def read_now(self) -> None:
        """Read a JSON body before FastAPI does: it would turn the text rule's 400 (any
        error but a syntax error) into a vague one. Syntax errors are left to it."""
        if _is_json(self.headers.get("content-type")) and await self.body():
            with contextlib.suppress(json.JSONDecodeError):
                await self.json()


class CheckedRoute(APIRoute):
    """A REST route that holds a request to the text rule before FastAPI parses it:
    path and query parameters, and the JSON body, read by ``parse_json`` (orjson,
    as the client API reads it). Every REST router is made with it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def checked(request: Request) -> Response:
            check_request_parameters(request)
            if takes_body:
                request = _JsonRequest(request.scope, request.receive)
                await request.read_now()
            return await handler(request)

        return checked


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
    return (
        _bounded(request, "page", 1, MAX_PAGE),
        _bounded(request, "pageSize", MAX_PAGE_SIZE, MAX_PAGE_SIZE),
    )


def _bounded(request: Request, name: str, default: int, most: int) -> int:
    raw = request.query_params.get(name)
    try:
        number = default if raw is None else int(raw)
    except ValueError:  # also more digits than Python reads as an int
        number = 0
    if not 1 <= number <= most:
        raise InvalidArguments(
            f"{name} is a whole number from 1 to {most}", pointer=f"/query/{name}"
        )
    return number
