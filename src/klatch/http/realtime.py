"""WebSocket endpoints: ``/c/v1/realtime`` for chat sessions, ``/v1/realtime`` for
agents and integrations. The protocol is documented in ``docs/realtime.md``.

A socket lives no longer than the credentials it was opened with: the hub closes
it (4401 ``credentials_ended``) when a ``credential.revoked`` event names one of
them, and a console socket closes when its session expires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from klatch import metrics
from klatch.console.session import SESSION_COOKIE
from klatch.domain.brands import origin_allowed
from klatch.domain.models import Role
from klatch.errors import KlatchError
from klatch.http.requests import bearer, services_of
from klatch.ids import now_ms
from klatch.realtime.hub import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_RESYNC,
    CLOSE_UNAUTHORIZED,
    CREDENTIALS_ENDED,
    Connection,
    Credential,
    Resync,
    ended_frame,
)
from klatch.services.console import session_ref

log = logging.getLogger("klatch.realtime")


@dataclass(frozen=True, slots=True)
class Opened:
    """Who a socket is for: its kind (chat_session, api_key, console), its org and
    customer (None for agents), the credentials it was opened with, a fresh check
    that they still hold, and when they expire."""

    kind: str
    org_id: str
    customer_id: str | None
    credentials: frozenset[Credential]
    still_valid: Callable[[], Awaitable[bool]]
    expires_at: int | None = None  # epoch ms


async def _send(ws: WebSocket, frame: dict[str, Any]) -> None:
    await ws.send_text(orjson.dumps(frame).decode())


async def _refuse(ws: WebSocket, close_code: int, code: str, message: str) -> None:
    await ws.accept()
    await _send(ws, {"op": "error", "code": code, "message": message})
    await ws.close(close_code, reason=code)


def _after(ws: WebSocket) -> int | None:
    raw = ws.query_params.get("after")
    if raw in (None, ""):
        return None
    value = int(raw)  # ValueError: the caller refuses the socket
    if not 0 <= value < 2**63:  # event ids are 64-bit
        raise ValueError(raw)
    return value


async def _pump(ws: WebSocket, conn: Connection) -> None:
    while True:
        frame = await conn.queue.get()
        await _send(ws, frame)
        ending = conn.ending
        if ending is not None and frame is ending.frame:
            await ws.close(ending.code, reason=ending.reason)
            return


async def _serve(ws: WebSocket, opened: Opened) -> None:
    """Stream the org's events (a chat session: its customer's) until either side ends."""
    services = services_of(ws)
    hub = services.hub
    try:
        after = _after(ws)
    except ValueError:
        await _refuse(ws, CLOSE_BAD_REQUEST, "invalid_arguments", "after must be an event id")
        return
    await ws.accept()
    try:
        conn, newest = await hub.connect(
            opened.org_id, opened.customer_id, after, credentials=opened.credentials
        )
    except Resync as exc:
        await _send(ws, {"op": "resync", "reason": exc.reason, "lastEventId": exc.last_event_id})
        await ws.close(CLOSE_RESYNC, reason=exc.reason)
        return
    try:
        # Registered first, checked again: credentials that ended in between are
        # seen here, any that end later reach the hub as an event.
        if not await opened.still_valid():
            hub.disconnect(conn)
            await _send(ws, ended_frame("The credentials ended"))
            await ws.close(CLOSE_UNAUTHORIZED, reason=CREDENTIALS_ENDED)
            return
        metrics.WEBSOCKETS_OPENED.labels(opened.kind).inc()
        with metrics.WEBSOCKETS.labels(opened.kind).track_inprogress():
            await _stream(ws, conn, opened, after is not None, newest)
    finally:
        hub.disconnect(conn)


async def _stream(
    ws: WebSocket, conn: Connection, opened: Opened, resumed: bool, newest: int
) -> None:
    hello = {
        "op": "hello",
        "lastEventId": newest,
        "heartbeatSeconds": services_of(ws).settings.ws_heartbeat_seconds,
        "resumed": resumed,
    }
    await _send(ws, hello)
    expiry = None
    if opened.expires_at is not None:
        delay = max(0.0, (opened.expires_at - now_ms()) / 1000)
        expiry = asyncio.get_running_loop().call_later(
            delay, conn.credentials_ended, "The session expired"
        )
    pump = asyncio.create_task(_pump(ws, conn))
    try:
        await _receive(ws, conn, pump)
    finally:
        if expiry is not None:
            expiry.cancel()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _receive(ws: WebSocket, conn: Connection, pump: asyncio.Task[None]) -> None:
    """Answer pings until the client goes away or the pump closes the socket."""
    receive = asyncio.ensure_future(ws.receive())
    try:
        while True:
            done, _ = await asyncio.wait({receive, pump}, return_when=asyncio.FIRST_COMPLETED)
            if pump in done:
                return
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                return
            conn.reply(_answer(message))
            receive = asyncio.ensure_future(ws.receive())
    except WebSocketDisconnect:
        return
    finally:
        receive.cancel()
        if ws.client_state is WebSocketState.CONNECTED and pump.done() is False:
            with contextlib.suppress(Exception):
                await ws.close()


def _answer(message: Any) -> dict[str, Any]:
    text = message.get("text") or (message.get("bytes") or b"").decode(errors="replace")
    try:
        frame = orjson.loads(text)
        op = frame.get("op") if isinstance(frame, dict) else None
    except orjson.JSONDecodeError:
        op = None
    if op == "ping":
        return {"op": "pong"}
    return {"op": "error", "code": "invalid_frame", "message": 'Send {"op": "ping"}'}


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    if not origin or not host:
        return False
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


async def chat_socket(ws: WebSocket) -> None:
    services = services_of(ws)
    secret, token = ws.query_params.get("key"), ws.query_params.get("session")
    try:
        key = await services.chat.tracking_key(secret)
        actor = await services.chat.check_session(key, token)
        brand = await services.orgs.cached_brand(key.org_id, actor.brand_id)
    except KlatchError as exc:
        await _refuse(ws, CLOSE_UNAUTHORIZED, exc.code, exc.detail)
        return
    if not origin_allowed(brand.settings, ws.headers.get("origin")):
        await _refuse(
            ws,
            CLOSE_FORBIDDEN_ORIGIN,
            "origin_not_allowed",
            "This page's origin is not in the brand's allowed origins",
        )
        return
    assert actor.id is not None

    async def still_valid() -> bool:
        fresh = await services.orgs.resolve_key(secret or "", cached=False)
        if fresh is None or fresh.id != key.id:
            return False
        try:
            return (await services.chat.check_session(fresh, token)).id == actor.id
        except KlatchError:
            return False

    credentials = frozenset({("api_key", key.id), ("chat_session", actor.id)})
    await _serve(
        ws, Opened("chat_session", actor.org_id, actor.customer_id, credentials, still_valid)
    )


async def agent_socket(ws: WebSocket) -> None:
    secret = bearer(ws) or ws.query_params.get("key")
    if secret is None and SESSION_COOKIE in ws.cookies:
        await _console_socket(ws)
        return
    orgs = services_of(ws).orgs
    key = await orgs.resolve_key(secret) if secret else None
    if secret is None or key is None or key.role not in (Role.USER, Role.ADMIN):
        await _refuse(
            ws,
            CLOSE_UNAUTHORIZED,
            "invalid_api_key",
            "An org.user or org.admin API key is needed",
        )
        return
    key_id = key.id

    async def still_valid() -> bool:
        fresh = await orgs.resolve_key(secret, cached=False)
        return fresh is not None and fresh.id == key_id

    credentials = frozenset({("api_key", key.id)})
    await _serve(ws, Opened("api_key", key.org_id, None, credentials, still_valid))


async def _console_socket(ws: WebSocket) -> None:
    """The agent console, signed in with its session cookie. Browsers send cookies
    on cross-site WebSockets too, so the page must be our own."""
    if not _same_origin(ws):
        await _refuse(ws, CLOSE_FORBIDDEN_ORIGIN, "origin_not_allowed", "Not the console's origin")
        return
    console = services_of(ws).console
    token = ws.cookies[SESSION_COOKIE]
    session = await console.session(token)
    if session is None:
        await _refuse(ws, CLOSE_UNAUTHORIZED, "invalid_session", "Log in again")
        return
    user = session.user

    async def still_valid() -> bool:
        fresh = await console.session(token)
        return fresh is not None and fresh.user.id == user.id

    credentials = frozenset({("console_session", session_ref(token)), ("user", user.id)})
    opened = Opened("console", user.org_id, None, credentials, still_valid, session.expires_at)
    await _serve(ws, opened)


routes = [
    WebSocketRoute("/c/v1/realtime", chat_socket),
    WebSocketRoute("/v1/realtime", agent_socket),
]
