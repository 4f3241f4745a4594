"""WebSocket endpoints: ``/c/v1/realtime`` for chat sessions, ``/v1/realtime`` for
agents and integrations. The protocol is documented in ``docs/realtime.md``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from klatch.console.session import SESSION_COOKIE
from klatch.domain.brands import origin_allowed
from klatch.domain.models import Role
from klatch.errors import KlatchError
from klatch.http.requests import bearer, services_of
from klatch.realtime.hub import Connection, Resync

log = logging.getLogger("klatch.realtime")

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_RESYNC = 4409


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
    if value < 0:
        raise ValueError(raw)
    return value


async def _pump(ws: WebSocket, conn: Connection) -> None:
    while True:
        frame = await conn.queue.get()
        await _send(ws, frame)
        if frame["op"] == "resync":
            await ws.close(CLOSE_RESYNC, reason=frame["reason"])
            return


async def _serve(ws: WebSocket, org_id: str, customer_id: str | None) -> None:
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
        conn, newest = await hub.connect(org_id, customer_id, after)
    except Resync as exc:
        await _send(ws, {"op": "resync", "reason": exc.reason, "lastEventId": exc.last_event_id})
        await ws.close(CLOSE_RESYNC, reason=exc.reason)
        return
    hello = {
        "op": "hello",
        "lastEventId": newest,
        "heartbeatSeconds": services.settings.ws_heartbeat_seconds,
        "resumed": after is not None,
    }
    await _send(ws, hello)
    pump = asyncio.create_task(_pump(ws, conn))
    try:
        await _receive(ws, conn, pump)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        hub.disconnect(conn)


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
            text = message.get("text") or (message.get("bytes") or b"").decode(errors="replace")
            try:
                frame = orjson.loads(text)
                op = frame.get("op") if isinstance(frame, dict) else None
            except orjson.JSONDecodeError:
                op = None
            reply = (
                {"op": "pong"}
                if op == "ping"
                else {
                    "op": "error",
                    "code": "invalid_frame",
                    "message": 'Send {"op": "ping"}',
                }
            )
            with contextlib.suppress(asyncio.QueueFull):
                conn.queue.put_nowait(reply)
            receive = asyncio.ensure_future(ws.receive())
    except WebSocketDisconnect:
        return
    finally:
        receive.cancel()
        if ws.client_state is WebSocketState.CONNECTED and pump.done() is False:
            with contextlib.suppress(Exception):
                await ws.close()


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    if not origin or not host:
        return False
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


async def chat_socket(ws: WebSocket) -> None:
    services = services_of(ws)
    try:
        key = await services.chat.tracking_key(ws.query_params.get("key"))
        actor = await services.chat.check_session(key, ws.query_params.get("session"))
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
    await _serve(ws, actor.org_id, actor.customer_id)


async def agent_socket(ws: WebSocket) -> None:
    secret = bearer(ws) or ws.query_params.get("key")
    if secret is None and SESSION_COOKIE in ws.cookies:
        await _console_socket(ws)
        return
    key = await services_of(ws).orgs.resolve_key(secret) if secret else None
    if key is None or key.role not in (Role.USER, Role.ADMIN):
        await _refuse(
            ws,
            CLOSE_UNAUTHORIZED,
            "invalid_api_key",
            "An org.user or org.admin API key is needed",
        )
        return
    await _serve(ws, key.org_id, None)


async def _console_socket(ws: WebSocket) -> None:
    """The agent console, signed in with its session cookie. Browsers send cookies
    on cross-site WebSockets too, so the page must be our own."""
    if not _same_origin(ws):
        await _refuse(ws, CLOSE_FORBIDDEN_ORIGIN, "origin_not_allowed", "Not the console's origin")
        return
    session = await services_of(ws).console.session(ws.cookies[SESSION_COOKIE])
    if session is None:
        await _refuse(ws, CLOSE_UNAUTHORIZED, "invalid_session", "Log in again")
        return
    await _serve(ws, session.user.org_id, None)


routes = [
    WebSocketRoute("/c/v1/realtime", chat_socket),
    WebSocketRoute("/v1/realtime", agent_socket),
]
