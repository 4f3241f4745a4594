"""Messages of a conversation: send, list, get, custom attributes, typing activity,
read state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from klatch.domain import events as ev
from klatch.domain.attributes import check_values, merged_custom
from klatch.domain.conversations import PAYLOAD_MAX, check_body
from klatch.domain.models import Actor, ActorType, Conversation, Event, Message, Page
from klatch.errors import Conflict, InvalidArguments, NotFound, conversation_not_found
from klatch.ids import is_id, new_id, now_ms
from klatch.services import paging
from klatch.services.context import Context
from klatch.services.unit import Unit
from klatch.storage import conversations as store
from klatch.storage import events as event_store
from klatch.storage.db import Tx


class MessageService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list(
        self, actor: Actor, conversation_id: str, *, page: int = 1, page_size: int = 100
    ) -> tuple[Conversation, Page]:
        """A page of a conversation's messages, oldest first, with the conversation."""

        limit, offset = paging.window(page, page_size)

        async def work(tx: Tx) -> tuple[Conversation | None, list[Message]]:
            conv = await store.get_conversation(tx, actor.org_id, conversation_id)
            if conv is None:
                return None, []
            rows = await store.list_messages(
                tx, actor.org_id, conversation_id, limit=limit, offset=offset
            )
            return conv, rows

        conv, rows = await self.ctx.db.read(work)
        conv = visible(actor, conversation_id, conv)
        return conv, paging.offset_page(rows, page, page_size)

    async def unread_counts(self, actor: Actor) -> tuple[dict[str, int], int]:
        """The session's unread agent messages per conversation, and the org's newest
        event id read before them: a socket started after it (``after=``) is sent
        whatever happened since, so nothing falls between the counts and the
        socket's start."""
        assert actor.customer_id is not None
        customer_id = actor.customer_id

        async def work(tx: Tx) -> tuple[dict[str, int], int]:
            newest = await event_store.last_event_id(tx, actor.org_id)
            return await store.unread_counts(tx, actor.org_id, customer_id), newest

        return await self.ctx.db.read(work)

    async def get(self, actor: Actor, message_id: str) -> Message:
        """One message of the org; another org's, or a missing one, is the same 404."""
        found = await self.ctx.db.read(lambda tx: store.get_message(tx, actor.org_id, message_id))
        return _visible_message(actor, message_id, found)

    async def check_send(
        self,
        actor: Actor,
        conversation_id: str,
        body: Any,
        *,
        payload: Any = None,
        custom: Any = None,
    ) -> Message:
        """Add a message: from a chat session it is ``in``, from an agent or key ``out``.
        ``custom``: its message-klass attributes, stored with it, all valid or none."""
        text = check_body(body)
        assert text is not None
        if payload is not None and (not isinstance(payload, str) or len(payload) > PAYLOAD_MAX):
            raise InvalidArguments(
                f"payload must be text of at most {PAYLOAD_MAX} characters", pointer="/payload"
            )

        async def work(unit: Unit) -> Message:
            conv = await _open_conversation(unit.tx, actor, conversation_id, for_update=True)
            values = {} if custom is None else _checked(unit, custom)
            message = new_message(actor, conv, text, payload, unit.now)
            message = replace(message, custom={k: v for k, v in values.items() if v is not None})
            await store.insert_message(unit.tx, message)
            await store.after_message(unit.tx, actor.org_id, conv.id, preview_of(text), unit.now)
            unit.emit(ev.message_created(message))
            return message

        # The klass definitions only when there are values to check them against.
        return await self.ctx.uow.write(actor, work, schema=custom is not None)

    async def check_update(
        self, actor: Actor, message_id: str, changes: Mapping[str, Any]
    ) -> Message:
        """REST PATCH: merge ``custom`` into the message's custom attributes (keys
        given replace, ``None`` clears one, others are kept), all valid against the
        message klass or nothing stored. ``changes`` holds only the fields given."""
        unknown = [k for k in changes if k != "custom"]
        if unknown:
            raise InvalidArguments(f"'{unknown[0]}' cannot be changed", pointer=f"/{unknown[0]}")
        custom = changes.get("custom")
        if custom is not None and not isinstance(custom, dict):
            raise InvalidArguments("custom must be an object", pointer="/custom")

        async def work(unit: Unit) -> Message:
            found = await store.get_message(unit.tx, actor.org_id, message_id, for_update=True)
            message = _visible_message(actor, message_id, found)
            values = {} if custom is None else _checked(unit, custom)
            moved = ev.changes_between(message.custom, values)
            if not moved:
                return message
            merged = merged_custom(message.custom, values)
            await store.set_message_custom(unit.tx, actor.org_id, message.id, merged, unit.now)
            updated = replace(message, custom=merged, updated_at=unit.now)
            unit.emit(ev.message_updated(updated, moved))
            return updated

        return await self.ctx.uow.write(actor, work, schema=True)

    async def check_typing(self, actor: Actor, conversation_id: str, typing: Any) -> Event:
        """Tell the other side someone is typing (``typing.started`` / ``typing.stopped``).

        Typing is ephemeral: the event is published, not stored (id 0), and not
        replayed to a socket that reconnects later.
        """
        if not isinstance(typing, bool):
            raise InvalidArguments("typing must be true or false", pointer="/typing")
        conv = await self.ctx.db.read(
            lambda tx: _open_conversation(
                tx, actor, conversation_id, for_update=False, ended="The conversation has ended"
            )
        )
        event = ev.typing_activity(conv, actor, typing, now_ms())
        self.ctx.uow.signal(event)
        return event

    async def mark_read(self, actor: Actor, conversation_id: str) -> Conversation:
        """The customer has read everything in the conversation up to now."""

        async def work(unit: Unit) -> Conversation:
            conv = visible(
                actor,
                conversation_id,
                await store.get_conversation(unit.tx, actor.org_id, conversation_id),
            )
            await store.mark_read(unit.tx, actor.org_id, conv.id, unit.now)
            return conv

        return await self.ctx.uow.write(actor, work)


async def _open_conversation(
    tx: Tx,
    actor: Actor,
    conversation_id: str,
    *,
    for_update: bool,
    ended: str = "This conversation has ended; start a new one",
) -> Conversation:
    conv = visible(
        actor,
        conversation_id,
        await store.get_conversation(tx, actor.org_id, conversation_id, for_update=for_update),
    )
    if conv.ended:
        raise Conflict(ended, code="conversation_ended")
    return conv


def _checked(unit: Unit, custom: Any) -> dict[str, Any]:
    return check_values("message", unit.defs["message"], custom, from_sdk=unit.actor.is_customer)


def _visible_message(actor: Actor, message_id: str, found: Message | None) -> Message:
    """The message if this actor may see it; otherwise the same 404 as a missing one."""
    if found is None or (actor.customer_id is not None and found.customer_id != actor.customer_id):
        raise NotFound(
            f"No message with id '{safe_id(message_id)}'",
            code="message_not_found",
            pointer="/messageId",
        )
    return found


def visible(actor: Actor, conversation_id: str, conv: Conversation | None) -> Conversation:
    """The conversation if this actor may see it; otherwise the same 404 as a missing one."""
    if conv is None or (actor.customer_id is not None and conv.customer_id != actor.customer_id):
        raise conversation_not_found(safe_id(conversation_id))
    return conv


def safe_id(conversation_id: str) -> str:
    """Echo an id back only if it looks like one (never arbitrary input in messages)."""
    return conversation_id if is_id(conversation_id) else "?"


def preview_of(body: str) -> str:
    return body.strip().replace("\n", " ")[:256]


def new_message(actor: Actor, conv: Conversation, body: str, payload: Any, now: int) -> Message:
    return Message(
        id=new_id(),
        org_id=conv.org_id,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        direction="in" if actor.type is ActorType.CUSTOMER else "out",
        body=body,
        payload=payload,
        sent_by_type=actor.type.value,
        sent_by_id=conv.customer_id if actor.is_customer else actor.id,
        sent_by_name=actor.name,
        created_at=now,
    )
