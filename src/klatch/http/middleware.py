"""Pure ASGI middleware (no per-request objects: the chat hot path runs through it)."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import HTTPConnection
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from klatch import metrics
from klatch.errors import Forbidden, KlatchError, PayloadTooLarge, RequestTimeout
from klatch.http.errors import error_response
from klatch.logs import REQUEST_ID

T = TypeVar("T")

# (the request, its Origin) -> may this page use the client API?
OriginCheck = Callable[[HTTPConnection, str], Awaitable[bool]]


# A request id the client (or a proxy in front) chose is kept when it is short
# and plain, so one id follows a request through the proxy's log and ours.
_GIVEN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"


class Observe:
    """The outermost middleware: a request id for every request and socket, and
    the HTTP metrics.

    The id is the ``X-Request-ID`` the request came with (when it is at most 64
    plain characters), else a new one. It is in every log line written while the
    request is handled (``klatch.logs``) and in the response's ``X-Request-ID``.
    Each answered HTTP request is counted and timed under its route *template*
    (``/v1/conversations/{id}``), which routing leaves in the scope, so the
    metrics have one series per endpoint however many ids are requested.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[int, str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        # Not reset afterwards: each request runs in a task (a context) of its
        # own, and the 500 handler, outside this middleware, still needs it.
        REQUEST_ID.set(request_id)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        observed = False
        header = (b"x-request-id", request_id.encode())

        async def send_observed(message: Message) -> None:
            nonlocal status, observed
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)
            # Counted when the response is complete, before the endpoint's own
            # clean-up: a client may already be sending its next request.
            if message["type"] == "http.response.body" and not message.get("more_body"):
                observed = True
                self._observe(scope, status, time.perf_counter() - started)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            if not observed:  # failed or went away before the response ended
                self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        # Looked up by the route object and the mounts' path it answered under,
        # which give one template; the template is only worked out once.
        method = scope["method"] if scope["method"] in _METHODS else "other"
        key = (id(scope.get("route")), scope.get("root_path", ""), method, status)
        series = self._series.get(key)
        if series is None:
            route = route_template(scope)
            series = self._series[key] = (
                metrics.HTTP_REQUESTS.labels(route, method, str(status)),
                metrics.HTTP_SECONDS.labels(route, method),
            )
        series[0].inc()
        series[1].observe(seconds)


# New ids: a random prefix per process and a counter, unique across replicas
# without a system call per request (``secrets.token_hex`` was a measurable
# part of a describe).
_ID_PREFIX = secrets.token_hex(4)
_ids = itertools.count(1)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _GIVEN_ID.fullmatch(value):
                return str(value.decode())
            break
    return f"{_ID_PREFIX}{next(_ids):08x}"


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/v1/conversations/{id}``), with
    the paths of the mounts it is under; ``<unmatched>`` when none did."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if route is None or not isinstance(path, str):
        return UNMATCHED
    # The mounts' paths, as matched (a mount that answered includes its own).
    root: str = scope.get("root_path", "")
    mounted = root[len(scope.get("app_root_path", "")) :]
    if isinstance(route, Mount):
        if route.routes:
            return UNMATCHED  # a mount of routes none of which matched: a 404
        return mounted + "/{path}"  # static files
    return mounted + path


class BodyLimit:
    """Read each request body before the app runs, and refuse it with 413 when it
    is over ``max_bytes`` (at once by Content-Length, else as the chunks arrive)
    or with 408 when it has not arrived within ``timeout`` seconds.

    Reading the whole body here is what makes both answers possible: an
    endpoint's framework turns an error raised while it reads into its own
    (FastAPI: 400 "error parsing the body"), and nothing else bounds how long a
    client may trickle a body. The body is at most ``max_bytes``, so holding it
    costs no more than the endpoint's own read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 15.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._deadlines = Deadlines(timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        error: KlatchError
        try:
            body = await self._deadlines.run(self._read(scope, receive))
        except TimeoutError:
            error = RequestTimeout(f"The request body did not arrive within {self.timeout:g} s")
        except PayloadTooLarge as exc:
            error = exc
        else:
            await self.app(scope, _replay(body, receive), send)
            return
        # The rest of the body is never read, so the connection cannot carry
        # another request.
        response = error_response(error)
        response.headers["connection"] = "close"
        await response(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive) -> Message:
        """The whole body as one ``http.request`` message (or the disconnect)."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            raise self._error()
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                raise self._error()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes")


class Deadlines:
    """Time limits for many short awaits at the cost of a dict entry each.

    ``asyncio.timeout`` schedules and cancels a timer per call, which is a
    measurable part of a describe; here one task looks over the awaits in progress
    every ``timeout / 4`` seconds (at most one) and cancels those past their
    deadline, so an await is cut off between ``timeout`` and ``1.25 x timeout``.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._interval = min(1.0, timeout / 4)
        self._running: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None

    async def run(self, awaitable: Awaitable[T]) -> T:
        """``await awaitable``, or ``TimeoutError`` once it has taken too long."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        self._running[task] = loop.time() + self.timeout
        watch = self._watch
        if watch is None or watch.done() or watch.get_loop() is not loop:
            self._watch = loop.create_task(self._look())
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            self._expired.discard(task)
            task.uncancel()
            raise TimeoutError from None
        finally:
            del self._running[task]

    async def _look(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._running:
                await asyncio.sleep(self._interval)
                now = loop.time()
                for task, deadline in list(self._running.items()):
                    if deadline <= now and task not in self._expired:
                        self._expired.add(task)
                        task.cancel()
        finally:
            self._watch = None


def _replay(first: Message, receive: Receive) -> Receive:
    """``receive`` that gives ``first`` once, then what the server sends."""
    pending: Message | None = first

    async def replayed() -> Message:
        nonlocal pending
        if pending is None:
            return await receive()
        message, pending = pending, None
        return message

    return replayed


def _has_body(scope: Scope) -> bool:
    """Does the request announce a body (a non-zero length, or chunks)?"""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # Servers refuse a malformed length before the app; refuse it here too.
            return int(value) if value.isdigit() else sys.maxsize
    return None


CLIENT_PREFIX = "/c/v1/"
_PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET, POST, PATCH, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"authorization, content-type, x-klatch-session"),
    (b"access-control-max-age", b"600"),
    (b"vary", b"Origin"),
]
_EXPOSE = (
    b"access-control-expose-headers",
    b"retry-after, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset",
)


class ClientCors:
    """CORS for the client API, by each brand's ``allowedOrigins``.

    A preflight cannot say which brand it is for (browsers send no credentials
    with it), so it is answered for any origin; the real request carries the
    tracking key, and is refused with 403 ``origin_not_allowed`` when the key's
    brand lists origins and the page's is not among them — before anything runs.
    Requests without an ``Origin`` (servers, scripts) are not browsers' and pass.
    """

    def __init__(self, app: ASGIApp, allowed: OriginCheck) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(CLIENT_PREFIX):
            await self.app(scope, receive, send)
            return
        origin = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
                break
        if origin is None:
            await self.app(scope, receive, send)
            return
        allow = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"access-control-allow-origin", origin), *_PREFLIGHT_HEADERS],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *allow, _EXPOSE]}
            await send(message)

        if not await self.allowed(HTTPConnection(scope), origin.decode("latin-1")):
            # The refusal itself is readable by the page, so the SDK can report
            # origin_not_allowed instead of an opaque network error. It carries
            # nothing but the error.
            await error_response(
                Forbidden(
                    "This page's origin is not in the brand's allowed origins",
                    code="origin_not_allowed",
                )
            )(scope, receive, send_with_cors)
            return

        await self.app(scope, receive, send_with_cors)
