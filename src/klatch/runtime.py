"""What one process runs on: migrations, the database, the bus and the socket hub.

``running(settings)`` opens them in order, hands out the ``Services`` registry
built on them, and closes them in reverse when the block ends (pending writes
are flushed first). The app's lifespan, the CLI and the tests all start a
process this one way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from klatch.config import Settings
from klatch.realtime.bus import create_bus
from klatch.realtime.hub import Hub
from klatch.services import Services
from klatch.services.deliveries import Deliverer
from klatch.services.retention import Retention
from klatch.storage.db import open_database
from klatch.storage.migrate import alembic_url, upgrade


@asynccontextmanager
async def running(settings: Settings, *, deliver_webhooks: bool = True) -> AsyncIterator[Services]:
    """The use cases of one configuration, on an open database and a started bus;
    with ``deliver_webhooks`` (servers, tests; not the CLI's short-lived commands)
    the webhook delivery worker runs too."""
    from klatch.http.rest.webhooks import renderers  # the REST views are ``data``

    if settings.auto_migrate:
        await asyncio.to_thread(upgrade, alembic_url(settings.database_url, settings.sqlite_path))
    db = open_database(
        settings.database_url,
        settings.sqlite_path,
        pool_size=settings.pg_pool_size,
        checkpoint_pages=settings.sqlite_checkpoint_pages,
    )
    bus = create_bus(settings.bus_url)
    hub = Hub(
        db, bus, queue_size=settings.ws_queue_size, poll_seconds=settings.realtime_poll_seconds
    )
    async with AsyncExitStack() as stack:
        await db.open()
        stack.push_async_callback(db.close)
        await bus.start()
        stack.push_async_callback(bus.stop)
        await hub.start()
        stack.push_async_callback(hub.stop)
        services = Services(settings, db, bus, hub, renderers=renderers())
        if deliver_webhooks:
            deliverer = Deliverer(services.ctx, services.webhooks, bus)
            await deliverer.start()
            stack.push_async_callback(deliverer.stop)
        # Pruning is a server's background work too, not a short CLI command's.
        if settings.event_retention_days is not None and deliver_webhooks:
            retention = Retention(
                services.ctx,
                settings.event_retention_days,
                every_seconds=settings.event_prune_seconds,
            )
            await retention.start()
            stack.push_async_callback(retention.stop)
        yield services
