"""Use cases, one module per aggregate; ``Services`` is their registry.

The runtime they stand on (database, bus, socket hub, migrations) is opened by
``klatch.runtime.running(settings)``, which hands out the registry.
"""

from __future__ import annotations

from collections.abc import Sequence

from klatch.config import Settings
from klatch.domain.events import CREDENTIAL_REVOKED
from klatch.domain.models import Event
from klatch.realtime.bus import Bus
from klatch.realtime.hub import Hub
from klatch.services.attributes import AttributeService
from klatch.services.caches import KeyCache, SchemaCache
from klatch.services.chat import ChatService
from klatch.services.console import ConsoleService
from klatch.services.context import Context
from klatch.services.conversations import ConversationService
from klatch.services.customers import CustomerService
from klatch.services.messages import MessageService
from klatch.services.notes import NoteService
from klatch.services.orgs import OrgService
from klatch.services.routing import Router, RoutingService
from klatch.services.search import SearchService
from klatch.services.shortcuts import ShortcutService
from klatch.services.tags import TagService
from klatch.services.teams import TeamService
from klatch.services.unit import UnitOfWork
from klatch.services.webhooks import Outbox, Renderers, WebhookService
from klatch.storage.db import Database


class Services:
    """The use cases of one configuration, sharing one database, bus and unit of work."""

    def __init__(
        self, settings: Settings, db: Database, bus: Bus, hub: Hub, *, renderers: Renderers
    ) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.hub = hub
        schemas = SchemaCache(db)
        uow = UnitOfWork(db, bus, schemas)
        self.ctx = Context(settings, db, uow, schemas, KeyCache())
        # Webhook deliveries are enqueued in the transaction of each change.
        outbox = Outbox(renderers)
        uow.after_append.append(outbox)
        self.webhooks = WebhookService(self.ctx, outbox)
        bus.subscribe(self.webhooks.on_events)
        self.orgs = OrgService(self.ctx)
        self.attributes = AttributeService(self.ctx)
        self.customers = CustomerService(self.ctx)
        self.conversations = ConversationService(self.ctx)
        self.messages = MessageService(self.ctx)
        self.search = SearchService(self.ctx)
        self.notes = NoteService(self.ctx)  # agents' tools
        self.tags = TagService(self.ctx)
        self.shortcuts = ShortcutService(self.ctx)
        self.teams = TeamService(self.ctx)
        # Routing rules run in the write of the change that triggers them.
        router = Router()
        uow.before_append.append(router)
        bus.subscribe(router.on_events)
        bus.on_reconnect(router.rules.clear)
        self.routing = RoutingService(self.ctx, router)
        self.chat = ChatService(self.ctx, self.orgs, self.conversations)
        self.console = ConsoleService(self.ctx, self.orgs)
        bus.subscribe(self._forget_revoked_keys)

    def _forget_revoked_keys(self, events: Sequence[Event]) -> None:
        """A key revoked in any process stops working here at once, not after the
        key cache's few seconds (a lost bus message still expires with the cache)."""
        for event in events:
            if event.type == CREDENTIAL_REVOKED and event.payload.get("kind") == "api_key":
                self.ctx.keys.forget_key(str(event.payload.get("id")))
