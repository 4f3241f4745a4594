"""``klatch.chat``: the chat client API from Python, for bots, load tests and scripts.

It speaks to a Klatch server exactly as the browser SDK does — a public tracking
key and a chat session — and listens to the session's events with automatic
reconnect and resume, so no event is lost or seen twice across reconnects::

    import asyncio
    from klatch.chat import AsyncChatClient

    async def main() -> None:
        async with AsyncChatClient(base_url="http://127.0.0.1:8000",
                                   tracking_key="kt_...") as chat:
            await chat.start()
            conv = await chat.create_conversation(message="Where is my order?")
            await chat.describe_conversation(conv["conversationId"],
                                             {"orderNumberStr": "A-1042"})
            async for event in chat.events():
                if event.type == "message.created":
                    print(event.data["message"]["body"])

    asyncio.run(main())

Errors are ``ChatError`` subclasses carrying the server's ``code`` and ``detail``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

from klatch.client._base import AsyncClosing
from klatch.client.errors import ApiError, error_from

__all__ = [
    "AsyncChatClient",
    "ChatError",
    "ChatEvent",
    "Conflict",
    "ConnectionFailed",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "ServerError",
    "SessionError",
]


class ChatError(ApiError):
    """A request the server refused or could not answer.

    ``code`` is the server's stable error code, ``detail`` its message, ``errors``
    every error entry and ``details`` the same read (one per offending attribute
    for attribute problems). The REST client's errors share this base
    (``klatch.client.ApiError``): one body shape, read in one place.
    """


class InvalidRequest(ChatError):
    """400/413/415: bad arguments or attribute values; nothing was changed."""


class SessionError(ChatError):
    """401/403: the tracking key, the session or the page's origin was refused."""


class NotFound(ChatError):
    """404: no such conversation for this session."""


class Conflict(ChatError):
    """409: e.g. ``conversation_ended``."""


class RateLimited(ChatError):
    """429: too many requests; retry after ``retry_after`` seconds."""


class ServerError(ChatError):
    """5xx: the server failed; the request may be retried."""


class ConnectionFailed(ChatError):
    """The server could not be reached."""


_BY_STATUS: dict[int, type[ChatError]] = {
    400: InvalidRequest,
    401: SessionError,
    403: SessionError,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    415: InvalidRequest,
    429: RateLimited,
}
# WebSocket close codes (docs/realtime.md) that retrying cannot fix.
_FATAL_CLOSE = {4400: InvalidRequest, 4401: SessionError, 4403: SessionError}
CLOSE_RESYNC = 4409


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One event of the session: ``id`` is None for ephemeral ones (typing) and for
    ``resync`` (the server could not replay; reload state over HTTP)."""

    id: int | None
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def _error_from(response: httpx.Response) -> ChatError:
    error = error_from(response, _BY_STATUS, ServerError)
    if isinstance(error, RateLimited) and error.retry_after is None:
        error.retry_after = 1.0
    return error


class AsyncChatClient(AsyncClosing):
    """A chat session against a Klatch server (the client API, ``/c/v1``)."""

    def __init__(
        self,
        *,
        base_url: str,
        tracking_key: str,
        session_token: str | None = None,
        brand_id: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        reconnect_delay: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tracking_key = tracking_key
        self.session_token = session_token
        self.brand_id = brand_id
        self.customer_id: str | None = None
        self.settings: dict[str, Any] = {}
        self._timeout = timeout
        self._reconnect_delay = reconnect_delay
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/c/v1", timeout=timeout, transport=transport
        )

    # -- HTTP

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tracking_key}"}
        if self.session_token:
            headers["X-Klatch-Session"] = self.session_token
        try:
            response = await self._http.request(method, path, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise ConnectionFailed("connection_failed", str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response.json() if response.content else None

    async def start(self) -> dict[str, Any]:
        """Start a session, or resume the one of ``session_token`` if it is still valid."""
        body = {"brandId": self.brand_id} if self.brand_id else {}
        started: dict[str, Any] = await self._request("POST", "/sessions", body)
        self.session_token = started["sessionToken"]
        self.customer_id = started["customerId"]
        self.brand_id = started["brandId"]
        self.settings = started["settings"]
        return started

    async def chat_settings(self) -> dict[str, Any]:
        """The brand's chat settings and ``availability``."""
        result: dict[str, Any] = await self._request("GET", "/settings")
        return result

    async def create_conversation(
        self,
        *,
        message: str | None = None,
        title: str | None = None,
        custom: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {
            k: v
            for k, v in {"message": message, "title": title, "custom": custom}.items()
            if v is not None
        }
        result: dict[str, Any] = await self._request("POST", "/conversations", body)
        return result

    async def get_conversations(self) -> list[dict[str, Any]]:
        result = await self._request("GET", "/conversations")
        return list(result["conversations"])

    async def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/conversations/{conversation_id}")
        return result

    async def describe_conversation(
        self, conversation_id: str, custom: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge custom attributes (``None`` clears one); returns ``{conversationId, custom}``."""
        result: dict[str, Any] = await self._request(
            "PATCH", f"/conversations/{conversation_id}", {"custom": custom}
        )
        return result

    async def describe_customer(
        self,
        *,
        emails: list[str] | None = None,
        phones: list[str] | None = None,
        custom: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        attributes = {k: v for k, v in {"emails": emails, "phones": phones}.items() if v}
        body: dict[str, Any] = {}
        if attributes:
            body["attributes"] = attributes
        if custom is not None:
            body["custom"] = custom
        result: dict[str, Any] = await self._request("PATCH", "/customers/current", body)
        return result

    async def send_message(
        self, conversation_id: str, body: str, *, payload: str | None = None
    ) -> dict[str, Any]:
        message = {"body": body, **({"payload": payload} if payload is not None else {})}
        result: dict[str, Any] = await self._request(
            "POST", f"/conversations/{conversation_id}/messages", message
        )
        return result

    async def get_messages(self, conversation_id: str) -> list[dict[str, Any]]:
        result = await self._request("GET", f"/conversations/{conversation_id}/messages")
        return list(result["messages"])

    async def end_conversation(self, conversation_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", f"/conversations/{conversation_id}/end"
        )
        return result

    async def send_typing(self, conversation_id: str, typing: bool = True) -> None:
        await self._request("POST", f"/conversations/{conversation_id}/typing", {"typing": typing})

    async def mark_read(self, conversation_id: str) -> None:
        await self._request("POST", f"/conversations/{conversation_id}/read")

    async def unread(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", "/unread")
        return result

    async def login(self, jwt_token: str) -> dict[str, Any]:
        """Identify the session with an HS256 JWT your server signed; the anonymous
        customer's conversations move to the verified one."""
        result: dict[str, Any] = await self._request("POST", "/login", {"jwtToken": jwt_token})
        self.customer_id = result["customerId"]
        return result

    async def logout(self) -> None:
        await self._request("POST", "/logout")
        self.session_token = None
        self.customer_id = None

    # -- events

    def _socket_url(self, after: int | None) -> str:
        query = {"key": self.tracking_key, "session": self.session_token or ""}
        if after is not None:
            query["after"] = str(after)
        ws_base = "ws" + self.base_url.removeprefix("http")
        return f"{ws_base}/c/v1/realtime?{urlencode(query)}"

    async def events(self, *, after: int | None = None) -> AsyncGenerator[ChatEvent, None]:
        """The session's events, live, for as long as the caller iterates.

        Reconnects with jittered backoff and resumes after the last event seen, so a
        dropped connection or a server restart loses nothing and repeats nothing.
        ``after`` replays from an earlier id. A ``resync`` event means the server
        could not replay (reload state over HTTP); iteration then goes on live.
        Raises ``SessionError`` when the session or key is refused.
        """
        cursor = _Cursor(after)
        delay = self._reconnect_delay[0]
        while True:
            cursor.refusal = None
            try:
                async with websockets.connect(
                    self._socket_url(cursor.last), open_timeout=self._timeout, compression=None
                ) as ws:
                    delay = self._reconnect_delay[0]
                    async for raw in ws:
                        event = cursor.take(json.loads(raw))
                        if event is not None:
                            yield event
            except websockets.ConnectionClosed as closed:
                self._raise_if_fatal(closed, cursor.refusal)
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI):
                pass
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._reconnect_delay[1])

    @staticmethod
    def _raise_if_fatal(
        closed: websockets.ConnectionClosed, refusal: dict[str, Any] | None
    ) -> None:
        code = closed.rcvd.code if closed.rcvd is not None else None
        kind = _FATAL_CLOSE.get(code or 0)
        if kind is not None:
            refusal = refusal or {}
            raise kind(
                str(refusal.get("code", f"closed_{code}")),
                str(refusal.get("message", closed.rcvd.reason if closed.rcvd else "")),
            )

    async def wait_for(
        self,
        event_type: str,
        predicate: Callable[[ChatEvent], bool] | None = None,
        *,
        after: int | None = None,
        timeout: float = 10.0,
    ) -> ChatEvent:
        """The first event of ``event_type`` (matching ``predicate``) after ``after``
        (default: from now on)."""
        async with asyncio.timeout(timeout):
            stream = self.events(after=after)
            try:
                async for event in stream:
                    if event.type == event_type and (predicate is None or predicate(event)):
                        return event
            finally:
                await stream.aclose()
        raise AssertionError("unreachable: events() never ends")


class _Cursor:
    """Where a stream of socket frames stands: the last event id seen, and why the
    server refused the connection, if it said."""

    def __init__(self, after: int | None) -> None:
        self.last = after
        self.refusal: dict[str, Any] | None = None

    def take(self, frame: dict[str, Any]) -> ChatEvent | None:
        """The event this frame carries for the caller, if any (repeats are dropped)."""
        op = frame.get("op")
        if op == "hello" and self.last is None:
            self.last = frame["lastEventId"]
        elif op == "event":
            event_id = frame.get("id")
            if event_id is not None:
                if self.last is not None and event_id <= self.last:
                    return None
                self.last = event_id
            return ChatEvent(event_id, frame["type"], frame.get("data") or {})
        elif op == "resync":
            self.last = frame.get("lastEventId")
            return ChatEvent(None, "resync", frame)
        elif op == "error":
            self.refusal = frame
        return None
