"""A client API route that also states what its OpenAPI entry says.

The routes the app serves and the paths ``/openapi.json`` documents are the
same objects, so the document cannot list an operation that is not there or
miss one that is. Each holds its path and query parameters to the text rule
(``klatch.domain.text``) before its endpoint runs; bodies are ``read_json``'s.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from klatch.domain.text import MAX_PAGE
from klatch.http.requests import MAX_PAGE_SIZE, check_request_parameters

Endpoint = Callable[[Request], Awaitable[Response]]
Body = Literal["required", "optional"] | None

PAGING: tuple[dict[str, Any], ...] = (
    {
        "name": "page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "name": "pageSize",
        "in": "query",
        "required": False,
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE_SIZE,
            "default": MAX_PAGE_SIZE,
        },
    },
)
BRAND_QUERY: tuple[dict[str, Any], ...] = (
    {"name": "brandId", "in": "query", "required": False, "schema": {"type": "string"}},
)
RESUME_HEADER: tuple[dict[str, Any], ...] = (
    {
        "name": "X-Klatch-Session",
        "in": "header",
        "required": False,
        "description": "A session to resume, if it is still valid",
        "schema": {"type": "string"},
    },
)


class ClientRoute(Route):
    """One client API operation: a Starlette route plus the facts of its documentation."""

    def __init__(
        self,
        method: str,
        path: str,
        endpoint: Endpoint,
        summary: str,
        *,
        sdk: str | None = None,  # the SDK method it serves
        statuses: tuple[int, ...] = (200,),
        body: Body = None,
        session: bool = True,  # needs X-Klatch-Session besides the tracking key
        parameters: tuple[dict[str, Any], ...] = (),  # besides the path parameters
    ) -> None:
        self.handler = _checked(endpoint)
        super().__init__(path, self.handler, methods=[method])
        self.method = method
        self.summary = summary
        self.sdk = sdk
        self.statuses = statuses
        self.body = body
        self.session = session
        self.parameters = parameters


def _checked(endpoint: Endpoint) -> Endpoint:
    """``endpoint``, after its path and query parameters pass the text rule."""

    @functools.wraps(endpoint)
    async def checked(request: Request) -> Response:
        check_request_parameters(request)
        return await endpoint(request)

    return checked
