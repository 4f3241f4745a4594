"""Conversations and messages: create, describe (custom attributes), reply, end, list.

Each public method is one use case: it checks the input against the rules
(klass definitions, ownership), runs one unit of work that writes and appends
its events, and publishes those events once the transaction is durable.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, cast

from klatch.domain import events as ev
from klatch.domain.attributes import check_values, filter_value
from klatch.domain.conversations import PAYLOAD_MAX, STATUSES, check_body, check_title
from klatch.domain.models import (
    Actor,
    ActorType,
    ApiKey,
    Conversation,
    Event,
    Message,
    Page,
    Role,
)
from klatch.errors import Conflict, InvalidArguments, conversation_not_found, invalid_session
from klatch.ids import hash_secret, is_id, new_id, now_ms
from klatch.services.context import Context, Definitions
from klatch.storage import conversations as store
from klatch.storage import customers as customer_store
from klatch.storage import events as event_store
from klatch.storage.db import Tx
from klatch.storage.events import EventDraft


class ConversationService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- reads

    async def get(self, actor: Actor, conversation_id: str) -> Conversation:
        conv = await self.ctx.db.read(
            lambda tx: store.get_conversation(tx, actor.org_id, conversation_id)
        )
        return _visible(actor, conversation_id, conv)

    async def list(
        self,
        actor: Actor,
        *,
        page: int = 1,
        page_size: int = 100,
        customer_id: str | None = None,
        status: str | None = None,
        custom_filters: Mapping[str, str] | None = None,
    ) -> Page:
        if actor.customer_id is not None:
            customer_id = actor.customer_id  # a chat session sees only its own
        if status is not None and status not in STATUSES:
            raise InvalidArguments(
                f"status must be one of {', '.join(STATUSES)}", pointer="/status"
            )
        custom_equals = await self._custom_filters(actor.org_id, custom_filters or {})
        offset = (page - 1) * page_size

        async def work(tx: Tx) -> list[Conversation]:
            return await store.list_conversations(
                tx,
                actor.org_id,
                limit=page_size + 1,
                offset=offset,
                customer_id=customer_id,
                status=status,
                custom_equals=custom_equals,
            )

        rows = await self.ctx.db.read(work)
        return Page(rows[:page_size], page, page_size, has_next=len(rows) > page_size)

    async def _custom_filters(
        self, org_id: str, filters: Mapping[str, str]
    ) -> builtins.list[tuple[str, Any]]:
        """Typed (name, value) pairs for ``custom.<name>=<value>`` filters."""
        if not filters:
            return []
        version, defs = await self.ctx.schemas.get(org_id)
        known = defs["conversation"]
        if not all(name in known for name in filters) and await self.ctx.schemas.is_stale(
            org_id, version
        ):
            # Defined by another process since this one cached the definitions.
            self.ctx.schemas.invalidate(org_id)
            _, defs = await self.ctx.schemas.get(org_id)
        out = []
        for name, raw in filters.items():
            definition = defs["conversation"].get(name)
            if definition is None:
                raise InvalidArguments(
                    f"'{name}' is not defined on the conversation klass",
                    code="unknown_attribute",
                    pointer=f"/filter/custom.{name}",
                )
            out.append((name, filter_value(definition, raw)))
        return out

    async def messages(
        self, actor: Actor, conversation_id: str, *, page: int = 1, page_size: int = 100
    ) -> tuple[Conversation, Page]:
        offset = (page - 1) * page_size

        async def work(tx: Tx) -> tuple[Conversation | None, list[Message]]:
            conv = await store.get_conversation(tx, actor.org_id, conversation_id)
            if conv is None:
                return None, []
            rows = await store.list_messages(
                tx, actor.org_id, conversation_id, limit=page_size + 1, offset=offset
            )
            return conv, rows

        conv, rows = await self.ctx.db.read(work)
        conv = _visible(actor, conversation_id, conv)
        return conv, Page(rows[:page_size], page, page_size, has_next=len(rows) > page_size)

    async def unread_counts(self, actor: Actor) -> dict[str, int]:
        assert actor.customer_id is not None
        customer_id = actor.customer_id
        return await self.ctx.db.read(lambda tx: store.unread_counts(tx, actor.org_id, customer_id))

    async def history(self, actor: Actor, conversation_id: str) -> builtins.list[Event]:
        """The attribute changes of one conversation, oldest first, from the event log."""
        await self.get(actor, conversation_id)
        events = await self.ctx.db.read(
            lambda tx: event_store.conversation_events(tx, actor.org_id, conversation_id)
        )
        return [e for e in events if e.type in (ev.CONVERSATION_CREATED, ev.CONVERSATION_UPDATED)]

    # -- writes

    async def check_create(
        self,
        actor: Actor,
        *,
        customer_id: str,
        brand_id: str,
        title: Any = None,
        body: Any = None,
        custom: Any = None,
        status: Any = "open",
    ) -> tuple[Conversation, Message | None]:
        """Create a conversation, optionally with a first message and custom attributes,
        atomically: invalid attributes mean no conversation."""
        title = check_title(title)
        body = check_body(body, required=False)
        if status not in STATUSES:
            raise InvalidArguments(
                f"status must be one of {', '.join(STATUSES)}", pointer="/status"
            )

        async def attempt(defs: Definitions, version: int) -> Any:
            values = (
                {}
                if custom is None
                else check_values(
                    "conversation", defs["conversation"], custom, from_sdk=actor.is_customer
                )
            )
            now = now_ms()
            conv = Conversation(
                id=new_id(),
                org_id=actor.org_id,
                brand_id=brand_id,
                customer_id=customer_id,
                status=status,
                title=title,
                custom={k: v for k, v in values.items() if v is not None},
                preview=None,
                message_count=0,
                ended_at=None,
                ended_by_type=None,
                customer_read_at=None,
                last_message_at=None,
                version=1,
                created_at=now,
                updated_at=now,
            )

            async def work(tx: Tx) -> tuple[Conversation, Message | None, list[Any]]:
                await store.insert_conversation(tx, conv)
                drafts = [
                    EventDraft(
                        ev.CONVERSATION_CREATED,
                        {"conversation": ev.conversation_data(conv)},
                        conv.id,
                        customer_id,
                    )
                ]
                created, message = conv, None
                if body is not None:
                    message = _message(actor, conv, body, None, now)
                    await store.insert_message(tx, message)
                    version_after = await store.after_message(
                        tx, actor.org_id, conv.id, _preview(body), now
                    )
                    created = _with(
                        conv,
                        preview=_preview(body),
                        message_count=1,
                        last_message_at=now,
                        version=version_after,
                    )
                    drafts[0] = EventDraft(
                        ev.CONVERSATION_CREATED,
                        {"conversation": ev.conversation_data(created)},
                        conv.id,
                        customer_id,
                    )
                    drafts.append(_message_draft(message))
                events = await _append(tx, actor, drafts, now, version)
                return created, message, events

            return await self.ctx.db.write(work)

        created, message, events = await self.ctx.with_schema(actor.org_id, attempt)
        self.ctx.publish(events)
        return created, message

    async def check_describe(
        self, actor: Actor, conversation_id: str, custom: Any
    ) -> dict[str, Any]:
        """Merge custom attribute values into a conversation: all valid or nothing stored.

        ``None`` clears a key; keys not given are untouched. A chat session may
        only describe its own customer's conversations, and only ``sdkWritable``
        attributes; anyone else is told the conversation does not exist. Returns
        every custom attribute of the conversation after the update.
        """

        async def lock(tx: Tx) -> tuple[Actor, str, dict[str, Any], int]:
            found = await store.custom_for_update(tx, actor.org_id, conversation_id)
            if found is None or (actor.customer_id is not None and found[0] != actor.customer_id):
                raise conversation_not_found(_safe_id(conversation_id))
            return actor, *found

        return await self._describe(
            actor.org_id, conversation_id, custom, from_sdk=actor.is_customer, lock=lock
        )

    async def describe_for_session(
        self, key: ApiKey, session_token: str | None, conversation_id: str, custom: Any
    ) -> dict[str, Any]:
        """``describeConversation`` from a chat session (tracking key + session token).

        The chat hot path: the session is checked inside the write, in the same
        statement that locks the conversation, and only the ``custom`` column is
        read and written. Same rules and answers as :meth:`check_describe`.
        """
        token_hash = hash_secret(session_token) if session_token else ""

        async def lock(tx: Tx) -> tuple[Actor, str, dict[str, Any], int]:
            found = await store.custom_for_session_update(
                tx, key.org_id, token_hash, conversation_id
            )
            if found is None:
                session = await customer_store.session_by_token_hash(tx, token_hash)
                if session is None or session.org_id != key.org_id:
                    raise invalid_session()
                raise conversation_not_found(_safe_id(conversation_id))
            session_id, customer_id, before, version = found
            actor = Actor(
                ActorType.CUSTOMER,
                session_id,
                key.org_id,
                customer_id=customer_id,
                role=Role.TRACKING,
            )
            return actor, customer_id, before, version

        return await self._describe(key.org_id, conversation_id, custom, from_sdk=True, lock=lock)

    async def _describe(
        self,
        org_id: str,
        conversation_id: str,
        custom: Any,
        *,
        from_sdk: bool,
        lock: Callable[[Tx], Awaitable[tuple[Actor, str, dict[str, Any], int]]],
    ) -> dict[str, Any]:
        async def attempt(defs: Definitions, schema_version: int) -> Any:
            values = check_values("conversation", defs["conversation"], custom, from_sdk=from_sdk)

            async def work(tx: Tx) -> tuple[dict[str, Any], list[Event]]:
                actor, customer_id, before, old_version = await lock(tx)
                changes = ev.changes_between(before, values)
                if not changes:
                    return before, []
                merged = _merged(before, values)
                now = now_ms()
                new_version = old_version + 1
                await store.set_custom(tx, org_id, conversation_id, merged, new_version, now)
                payload = {
                    "conversationId": conversation_id,
                    "customerId": customer_id,
                    "version": new_version,
                    "changes": {"custom": changes},
                    "custom": merged,
                }
                draft = EventDraft(ev.CONVERSATION_UPDATED, payload, conversation_id, customer_id)
                return merged, await _append(tx, actor, [draft], now, schema_version)

            return await self.ctx.db.write(work)

        merged, events = await self.ctx.with_schema(org_id, attempt)
        self.ctx.publish(events)
        return cast(dict[str, Any], merged)

    async def check_update(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        custom: Any = None,
        replace_custom: bool = False,
        status: Any = None,
        title: Any = ...,
    ) -> Conversation:
        """REST PATCH/PUT: custom attributes, status (open/done) and title, atomically."""
        if status is not None and status not in STATUSES:
            raise InvalidArguments(
                f"status must be one of {', '.join(STATUSES)}", pointer="/status"
            )
        new_title = check_title(title) if title is not ... else ...
        if custom is not None and not isinstance(custom, dict):
            raise InvalidArguments("custom must be an object", pointer="/custom")

        async def attempt(defs: Definitions, version: int) -> Any:
            values = (
                {}
                if custom is None
                else check_values(
                    "conversation", defs["conversation"], custom, from_sdk=actor.is_customer
                )
            )

            async def work(tx: Tx) -> tuple[Conversation, list[Any]]:
                conv = _visible(
                    actor,
                    conversation_id,
                    await store.get_conversation(
                        tx, actor.org_id, conversation_id, for_update=True
                    ),
                )
                wanted = dict(values)
                if replace_custom:
                    wanted = {k: None for k in conv.custom if k not in values} | wanted
                return await self._do_update(tx, actor, conv, wanted, status, new_title, version)

            return await self.ctx.db.write(work)

        conv, events = await self.ctx.with_schema(actor.org_id, attempt)
        self.ctx.publish(events)
        return cast(Conversation, conv)

    async def _do_update(
        self,
        tx: Tx,
        actor: Actor,
        conv: Conversation,
        values: dict[str, Any],
        status: str | None,
        title: Any,
        schema_version: int,
    ) -> tuple[Conversation, builtins.list[Any]]:
        now = now_ms()
        changes: dict[str, Any] = {}
        custom_changes = ev.changes_between(conv.custom, values)
        merged = _merged(conv.custom, values)
        updated = conv
        if custom_changes:
            changes["custom"] = custom_changes
            await store.set_custom(tx, actor.org_id, conv.id, merged, conv.version + 1, now)
            updated = _with(updated, custom=merged, version=conv.version + 1, updated_at=now)
        fields: dict[str, Any] = {}
        if status is not None and status != conv.status:
            changes["status"] = {"before": conv.status, "after": status}
            fields["status"] = status
            if status == "done":
                fields.update(ended_at=now, ended_by_type=actor.type.value)
            else:
                fields.update(ended_at=None, ended_by_type=None)
        if title is not ... and title != conv.title:
            changes["title"] = {"before": conv.title, "after": title}
            fields["title"] = title
        if fields:
            updated = _with(updated, **fields)
            version = await store.set_fields(tx, updated, now)
            updated = _with(updated, version=version, updated_at=now)
        if not changes:
            return conv, []
        drafts = [
            EventDraft(
                ev.CONVERSATION_UPDATED,
                {
                    "conversationId": conv.id,
                    "customerId": conv.customer_id,
                    "version": updated.version,
                    "changes": changes,
                    "custom": updated.custom,
                },
                conv.id,
                conv.customer_id,
            )
        ]
        if fields.get("status") == "done":
            drafts.append(_ended_draft(updated))
        return updated, await _append(tx, actor, drafts, now, schema_version)

    async def check_end(self, actor: Actor, conversation_id: str) -> Conversation:
        """End a conversation (status done). Ending an ended conversation changes nothing."""

        async def work(tx: Tx) -> tuple[Conversation, list[Any]]:
            conv = _visible(
                actor,
                conversation_id,
                await store.get_conversation(tx, actor.org_id, conversation_id, for_update=True),
            )
            if conv.ended:
                return conv, []
            now = now_ms()
            ended = _with(conv, status="done", ended_at=now, ended_by_type=actor.type.value)
            version = await store.set_fields(tx, ended, now)
            ended = _with(ended, version=version, updated_at=now)
            return ended, await _append(tx, actor, [_ended_draft(ended)], now, None)

        conv, events = await self.ctx.db.write(work)
        self.ctx.publish(events)
        return conv

    async def check_typing(self, actor: Actor, conversation_id: str, typing: Any) -> Event:
        """Tell the other side someone is typing (``typing.started`` / ``typing.stopped``).

        Typing is ephemeral: the event is published, not stored (id 0), and not
        replayed to a socket that reconnects later.
        """
        if not isinstance(typing, bool):
            raise InvalidArguments("typing must be true or false", pointer="/typing")

        async def work(tx: Tx) -> Conversation | None:
            return await store.get_conversation(tx, actor.org_id, conversation_id)

        conv = _visible(actor, conversation_id, await self.ctx.db.read(work))
        if conv.ended:
            raise Conflict("The conversation has ended", code="conversation_ended")
        event = Event(
            org_id=actor.org_id,
            id=0,
            type=ev.TYPING_STARTED if typing else ev.TYPING_STOPPED,
            payload=ev.typing_data(conv, actor, typing, now_ms()),
            created_at=now_ms(),
            conversation_id=conv.id,
            customer_id=conv.customer_id,
            actor_type=actor.type.value,
            actor_id=actor.id,
        )
        self.ctx.publish([event])
        return event

    async def check_send(
        self, actor: Actor, conversation_id: str, body: Any, *, payload: Any = None
    ) -> Message:
        """Add a message: from a chat session it is ``in``, from an agent or key ``out``."""
        text = check_body(body)
        assert text is not None
        if payload is not None and (not isinstance(payload, str) or len(payload) > PAYLOAD_MAX):
            raise InvalidArguments(
                f"payload must be text of at most {PAYLOAD_MAX} characters", pointer="/payload"
            )

        async def work(tx: Tx) -> tuple[Message, list[Any]]:
            conv = _visible(
                actor,
                conversation_id,
                await store.get_conversation(tx, actor.org_id, conversation_id, for_update=True),
            )
            if conv.ended:
                raise Conflict(
                    "This conversation has ended; start a new one", code="conversation_ended"
                )
            now = now_ms()
            message = _message(actor, conv, text, payload, now)
            await store.insert_message(tx, message)
            await store.after_message(tx, actor.org_id, conv.id, _preview(text), now)
            return message, await _append(tx, actor, [_message_draft(message)], now, None)

        message, events = await self.ctx.db.write(work)
        self.ctx.publish(events)
        return message

    async def mark_read(self, actor: Actor, conversation_id: str) -> Conversation:
        """The customer has read everything in the conversation up to now."""

        async def work(tx: Tx) -> Conversation:
            conv = _visible(
                actor,
                conversation_id,
                await store.get_conversation(tx, actor.org_id, conversation_id),
            )
            await store.mark_read(tx, actor.org_id, conv.id, now_ms())
            return conv

        return await self.ctx.db.write(work)


def _visible(actor: Actor, conversation_id: str, conv: Conversation | None) -> Conversation:
    """The conversation if this actor may see it; otherwise the same 404 as a missing one."""
    if conv is None or (actor.customer_id is not None and conv.customer_id != actor.customer_id):
        raise conversation_not_found(_safe_id(conversation_id))
    return conv


def _safe_id(conversation_id: str) -> str:
    """Echo an id back only if it looks like one (never arbitrary input in messages)."""
    return conversation_id if is_id(conversation_id) else "?"


def _merged(before: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    merged = dict(before)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _with(conv: Conversation, **changes: Any) -> Conversation:
    return replace(conv, **changes)


def _preview(body: str) -> str:
    return body.strip().replace("\n", " ")[:256]


def _message(actor: Actor, conv: Conversation, body: str, payload: Any, now: int) -> Message:
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


def _message_draft(m: Message) -> EventDraft:
    return EventDraft(
        ev.MESSAGE_CREATED, {"message": ev.message_data(m)}, m.conversation_id, m.customer_id
    )


def _ended_draft(conv: Conversation) -> EventDraft:
    return EventDraft(
        ev.CONVERSATION_ENDED,
        {
            "conversationId": conv.id,
            "customerId": conv.customer_id,
            "endedAt": ev.iso(conv.ended_at),
            "endedByType": conv.ended_by_type,
            "createdAt": ev.iso(conv.created_at),
        },
        conv.id,
        conv.customer_id,
    )


async def _append(
    tx: Tx, actor: Actor, drafts: list[EventDraft], now: int, schema_version: int | None
) -> list[Any]:
    return await event_store.append(
        tx,
        actor.org_id,
        drafts,
        actor_type=actor.type.value,
        actor_id=actor.id,
        now=now,
        schema_version=schema_version,
    )
