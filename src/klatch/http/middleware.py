"""Pure ASGI middleware (no per-request objects: the chat hot path runs through it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from klatch.errors import Forbidden, PayloadTooLarge
from klatch.http.errors import error_response

# (the request, its Origin) -> may this page use the client API?
OriginCheck = Callable[[HTTPConnection, str], Awaitable[bool]]


class BodyLimit:
    """Refuse bodies over ``max_bytes``: at once by Content-Length, else while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await error_response(self._error())(scope, receive, send)
                    return
                break
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        await self.app(scope, limited, send)

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than {self.max_bytes} bytes")


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
