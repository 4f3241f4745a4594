"""The browser SDKs, served as-is from ``klatch/sdk``: ``/chat-web/core.js``,
``/chat-web/widget.js`` and ``/chat-web/klatch.d.ts`` (Kustomer's paths, so a
site switches by changing the script host). ETag and Last-Modified for
revalidation, a short max-age so upgrades reach browsers, gzip when asked."""

from __future__ import annotations

import html
import json
import mimetypes
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from klatch.config import Settings
from klatch.http.requests import services_of

SDK_DIR = Path(__file__).parent.parent / "sdk"
# Systems map .ts to Qt's translation files; the declarations are TypeScript.
mimetypes.add_type("application/typescript", ".ts")
DEMO_PAGE = SDK_DIR / "demo.html"
CACHE_CONTROL = b"public, max-age=300, stale-while-revalidate=86400"


class _CacheHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                headers = [h for h in message.get("headers", []) if h[0] != b"cache-control"]
                headers += [
                    (b"cache-control", CACHE_CONTROL),
                    (b"access-control-allow-origin", b"*"),  # public scripts, any site
                    (b"x-content-type-options", b"nosniff"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def sdk_mount() -> Mount:
    files = StaticFiles(directory=SDK_DIR, check_dir=False)
    return Mount("/chat-web", app=GZipMiddleware(_CacheHeaders(files), minimum_size=500))


async def demo_page(request: Request) -> Response:
    state_file = services_of(request).settings.data_dir / "demo.json"
    try:
        key = json.loads(state_file.read_text())["trackingKey"]
        page = DEMO_PAGE.read_text()
    except (OSError, ValueError, KeyError):
        return PlainTextResponse("Run `klatch demo` to set up the demo.", status_code=404)
    return HTMLResponse(page.replace("{{TRACKING_KEY}}", html.escape(key, quote=True)))


async def to_demo(request: Request) -> Response:
    return RedirectResponse("/demo")


def demo_routes(settings: Settings) -> list[Route]:
    """``/demo``: a small shop page that loads widget.js like Kustomer's snippet, with
    the demo org's tracking key (``klatch demo`` keeps it in ``demo.json``)."""
    if not settings.demo:
        return []
    return [Route("/demo", demo_page), Route("/", to_demo)]
