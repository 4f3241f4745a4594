"""The client API's requests go straight to their endpoint.

Starlette's router looks at every route in order and wraps each endpoint in two
layers of exception handling (the app's and the route's), each with its own
``send`` wrapper. On the chat hot path (a describe costs about 150 µs of CPU in
all) that machinery was a tenth of the request. ``ClientDispatch`` sits inside
the app's middleware and answers the requests a client route matches in full:
the routes of the request's method, tried in the router's order with Starlette's
own ``Route.matches``, so it picks exactly the route the router would. A
``KlatchError`` or ``HTTPException`` becomes the app's error answer, through the
same handlers the app registers. Everything else — other paths, a method the
path does not take (405), no route (404) — goes on to the router unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from klatch.errors import KlatchError
from klatch.http.client.routing import ClientRoute
from klatch.http.errors import handle_http_exception, handle_klatch_error
from klatch.http.middleware import CLIENT_PREFIX


class ClientDispatch:
    def __init__(self, app: ASGIApp, routes: Sequence[ClientRoute]) -> None:
        self.app = app
        self._by_method: dict[str, list[ClientRoute]] = {}
        for route in routes:
            for method in sorted(route.methods or ()):
                self._by_method.setdefault(method, []).append(route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(CLIENT_PREFIX):
            for route in self._by_method.get(scope["method"], ()):
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    scope["route"] = route
                    await _answer(route, Request(scope, receive, send), send)
                    return
        await self.app(scope, receive, send)


async def _answer(route: ClientRoute, request: Request, send: Send) -> None:
    response: Response
    try:
        response = await route.handler(request)
    except KlatchError as exc:
        response = await handle_klatch_error(request, exc)
    except HTTPException as exc:
        response = await handle_http_exception(request, exc)
    await response(request.scope, request.receive, send)
