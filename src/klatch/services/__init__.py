"""Use cases, one module per aggregate; ``Services`` wires them to one database and bus."""

from __future__ import annotations

import asyncio
import logging

from klatch.config import Settings
from klatch.realtime.bus import create_bus
from klatch.realtime.hub import Hub
from klatch.services.attributes import AttributeService
from klatch.services.caches import KeyCache, SchemaCache
from klatch.services.chat import ChatService
from klatch.services.console import ConsoleService
from klatch.services.context import Context
from klatch.services.conversations import ConversationService
from klatch.services.customers import CustomerService
from klatch.services.messages import MessageService
from klatch.services.orgs import OrgService
from klatch.services.unit import UnitOfWork
from klatch.storage.db import Database, open_database
from klatch.storage.migrate import alembic_url, upgrade

log = logging.getLogger("klatch")


class Services:
    """Everything a process needs to serve one configuration. Nothing connects
    until ``start()``; ``stop()`` flushes pending writes and closes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        db = open_database(
            settings.database_url,
            settings.sqlite_path,
            pool_size=settings.pg_pool_size,
            checkpoint_pages=settings.sqlite_checkpoint_pages,
        )
        bus = create_bus(settings.bus_url)
        schemas = SchemaCache(db)
        self.ctx = Context(settings, db, UnitOfWork(db, bus, schemas), schemas, KeyCache())
        self.bus = bus
        self.orgs = OrgService(self.ctx)
        self.attributes = AttributeService(self.ctx)
        self.customers = CustomerService(self.ctx)
        self.conversations = ConversationService(self.ctx)
        self.messages = MessageService(self.ctx)
        self.chat = ChatService(self.ctx, self.orgs)
        self.console = ConsoleService(self.ctx, self.orgs)
        self.hub = Hub(
            db,
            bus,
            queue_size=settings.ws_queue_size,
            poll_seconds=settings.realtime_poll_seconds,
        )

    @property
    def db(self) -> Database:
        return self.ctx.db

    async def start(self) -> None:
        if self.settings.auto_migrate:
            await asyncio.to_thread(
                upgrade, alembic_url(self.settings.database_url, self.settings.sqlite_path)
            )
        await self.ctx.db.open()
        await self.bus.start()
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.bus.stop()
        await self.ctx.db.close()

    async def __aenter__(self) -> Services:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
