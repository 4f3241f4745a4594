"""``klatch serve``: the chat API, REST API, SDKs and console under uvicorn."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from klatch.cli.common import DataDir, HostOpt, PortOpt, fail, load
from klatch.errors import KlatchError

if TYPE_CHECKING:
    from klatch.config import Settings


def serve(
    data_dir: Path | None = DataDir,
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    access_log: bool = typer.Option(
        False, "--access-log", help="Log every request, one line each (env KLATCH_ACCESS_LOG)"
    ),
) -> None:
    """Serve the chat API, REST API, SDKs and console until stopped (Ctrl-C)."""
    settings = load(data_dir, host=host, port=port, access_log=access_log or None)
    try:
        settings.require_production_secrets()
    except KlatchError as exc:
        fail(exc)
    serve_app(settings)


def serve_app(settings: Settings) -> None:
    """Run the app for ``settings`` until the process is told to stop."""
    import uvicorn

    from klatch.app import create_app
    from klatch.logs import log_config

    application = create_app(settings)
    # A server process makes many short-lived objects per request and few that
    # live long. Freeze what start-up made and collect the young generation less
    # often: with CPython's defaults, collections under load made the p99 of a
    # describe 50 ms instead of 14 ms (bench/describe).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level, settings.log_format),
        access_log=settings.access_log,
        # The same peers the app trusts to name the client (rate limits).
        proxy_headers=True,
        forwarded_allow_ips="*" if "*" in settings.trusted_proxies else [*settings.trusted_proxies],
        # Open connections, sockets included, past which requests get 503: what
        # bounds the memory and descriptors a flood of connections can take.
        # uvicorn has no timeout for a request's headers (docs/api.md, Limits);
        # bodies are timed out by the app (BodyLimit).
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=10,
        ws="websockets-sansio",  # uvicorn's non-deprecated websockets protocol
        # Chat frames are small; a deflate context per socket doubled the memory of
        # 10,000 idle sockets (822 -> 446 MiB without, bench/realtime).
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_heartbeat_seconds,
        ws_ping_timeout=settings.ws_heartbeat_seconds,
    )
