"""Conversations: create, describe (custom attributes), update, end, list, history.

Each public method is one use case: it checks the input against the rules
(klass definitions, ownership) and writes through the unit of work, which
appends the events it emits and publishes them once the transaction is durable.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from klatch import metrics
from klatch.domain import events as ev
from klatch.domain.attributes import AttributeDef, check_values, filter_value, merged_custom
from klatch.domain.conversations import STATUSES, check_body, check_title
from klatch.domain.erasure import scrubbed
from klatch.domain.models import (
    Actor,
    ActorType,
    ApiKey,
    Brand,
    Conversation,
    Event,
    Message,
    Page,
    Role,
)
from klatch.domain.tags import check_tag_list
from klatch.errors import (
    Conflict,
    InvalidArguments,
    KlatchError,
    NotFound,
    conversation_not_found,
    invalid_session,
)
from klatch.ids import hash_secret, new_id
from klatch.services import paging
from klatch.services.context import Context, Definitions
from klatch.services.customers import customer_not_found
from klatch.services.messages import new_message, preview_of, safe_id, visible
from klatch.services.tags import resolve_tags, write_conversation_tags
from klatch.services.teams import Assignment, assign, check_assignees
from klatch.services.unit import Unit
from klatch.storage import conversations as store
from klatch.storage import customers as customer_store
from klatch.storage import events as event_store
from klatch.storage import orgs as org_store
from klatch.storage.db import Tx
from klatch.storage.search import FEW_ROWS

# The conversation row as the lock found it: who acts, its customer, custom, version.
Locked = tuple[Actor, str, dict[str, Any], int]
Lock = Callable[[Unit], Awaitable[Locked | None]]
# Runs first in a creation's unit of work; returns conversation attributes, checked.
Along = Callable[[Unit], Awaitable[dict[str, Any]]]
UPDATABLE = ("custom", "status", "name", "externalId", "assignedUsers", "assignedTeams", "tags")
MAX_EXTERNAL_ID = 256


# What a conversation's history is made of.
_HISTORY = (ev.CONVERSATION_CREATED, ev.CONVERSATION_UPDATED, ev.CONVERSATION_HISTORY_SUMMARY)


class ConversationService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.count_cap = paging.COUNT_CAP  # lists count up to this many

    # -- reads

    async def get(self, actor: Actor, conversation_id: str) -> Conversation:
        conv = await self.ctx.db.read(
            lambda tx: store.get_conversation(tx, actor.org_id, conversation_id)
        )
        return visible(actor, conversation_id, conv)

    async def get_by_external_id(self, actor: Actor, external_id: str) -> Conversation:
        """The conversation an integration gave this ``externalId`` (unique per org)."""
        conv = await self.ctx.db.read(
            lambda tx: store.conversation_by_external_id(tx, actor.org_id, external_id)
        )
        if conv is None or actor.customer_id not in (None, conv.customer_id):
            raise NotFound(
                "No conversation has this externalId",
                code="conversation_not_found",
                pointer="/path/externalId",
            )
        return conv

    async def list(
        self,
        actor: Actor,
        *,
        page: int = 1,
        page_size: int = 100,
        customer_id: str | None = None,
        status: str | None = None,
        custom_filters: Mapping[str, str] | None = None,
        cursor: str | None = None,
        count: bool = True,
    ) -> Page:
        """A page of the org's conversations, most recently updated first: ``page``
        by offset, or, with the ``cursor`` the page before handed out
        (``Page.next_cursor``), by keyset (``services/paging.py``). ``count``: whether
        the page says the total (a chat session's never does)."""
        if actor.customer_id is not None:
            customer_id = actor.customer_id  # a chat session sees only its own
        _check_status(status, required=False)
        custom_equals = await self._custom_filters(actor.org_id, custom_filters or {})
        count = count and not actor.is_customer  # spare the widget a count
        filters: dict[str, Any] = {
            "customer_id": customer_id,
            "status": status,
            "custom_equals": custom_equals,
        }
        bound_to = paging.digest(
            actor.org_id, customer_id, status, dict(custom_filters or {}), page_size, count
        )
        resume = paging.resume(cursor, bound_to, page)

        cap = self.count_cap

        async def work(tx: Tx) -> tuple[builtins.list[Conversation], int | None]:
            total = resume.total if resume is not None else None
            if total is None and (count or custom_equals):
                total = await store.count_conversations(tx, actor.org_id, cap=cap, **filters)
            # Few matches: read them by the attribute's index, then sort (search's rule).
            few = bool(custom_equals) and total is not None and total <= FEW_ROWS
            after = resume.after if resume is not None else None
            rows = await _list(tx, actor, page, page_size, after=after, filter_first=few, **filters)
            return rows, total if count else None

        rows, counted = await self.ctx.db.read(work)
        shown = _page(rows, page, page_size, counted, cap)
        total = counted  # what the next page's cursor carries: counted, not inferred
        if not shown.has_next:
            return shown
        last = shown.items[-1]
        next_cursor = paging.cursor(page + 1, (last.updated_at, last.id), total, bound_to)
        return replace(shown, next_cursor=next_cursor)

    async def list_for_customer(
        self, actor: Actor, customer_id: str, *, page: int = 1, page_size: int = 100
    ) -> Page:
        """One customer's conversations; a customer that does not exist is a 404."""

        async def work(tx: Tx) -> tuple[builtins.list[Conversation], int] | None:
            if await customer_store.get_customer(tx, actor.org_id, customer_id) is None:
                return None
            rows = await _list(tx, actor, page, page_size, customer_id=customer_id)
            counted = await store.count_conversations(
                tx, actor.org_id, customer_id=customer_id, cap=self.count_cap
            )
            return rows, counted

        found = await self.ctx.db.read(work)
        if found is None or (actor.customer_id is not None and actor.customer_id != customer_id):
            raise customer_not_found(customer_id)
        return _page(found[0], page, page_size, found[1], self.count_cap)

    async def _custom_filters(
        self, org_id: str, filters: Mapping[str, str]
    ) -> builtins.list[tuple[AttributeDef, Any]]:
        """Typed (definition, value) pairs for ``custom.<name>=<value>`` filters."""
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
        return [_filter(defs, name, raw) for name, raw in filters.items()]

    async def history(self, actor: Actor, conversation_id: str) -> builtins.list[Event]:
        """The attribute changes of one conversation, oldest first, from the event log
        (led by retention's summary of the pruned ones, if any)."""

        async def work(tx: Tx) -> builtins.list[Event]:
            conv = await store.get_conversation(tx, actor.org_id, conversation_id)
            visible(actor, conversation_id, conv)
            return await event_store.conversation_events(tx, actor.org_id, conversation_id)

        events = await self.ctx.db.read(work)
        return [e for e in events if e.type in _HISTORY]

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
        along: Along | None = None,
    ) -> tuple[Conversation, Message | None]:
        """Create a conversation, optionally with a first message and custom attributes,
        atomically: invalid attributes mean no conversation. ``along`` runs first in
        the same unit of work (a pre-chat form: it checks the answers and writes the
        customer's); the conversation attributes it returns win over ``custom``."""
        title = check_title(title)
        text = check_body(body, required=False)
        _check_status(status)

        async def work(unit: Unit) -> tuple[Conversation, Message | None]:
            answered = await along(unit) if along is not None else {}
            conv = _new_conversation(unit, customer_id, brand_id, title, status, custom, answered)
            await store.insert_conversation(unit.tx, conv)
            message = None
            if text is not None:
                message = new_message(unit.actor, conv, text, None, unit.now)
                await store.insert_message(unit.tx, message)
                version = await store.after_message(
                    unit.tx, conv.org_id, conv.id, preview_of(text), unit.now
                )
                conv = replace(
                    conv,
                    preview=preview_of(text),
                    message_count=1,
                    last_message_at=unit.now,
                    version=version,
                )
            unit.emit(ev.conversation_created(conv))
            if message is not None:
                unit.emit(ev.message_created(message))
            return conv, message

        return await self.ctx.uow.write(actor, work, schema=True)

    async def check_create_for_customer(
        self,
        actor: Actor,
        customer_id: str,
        *,
        brand_id: str | None,
        title: Any = None,
        custom: Any = None,
        status: Any = "open",
        external_id: Any = None,
    ) -> Conversation:
        """REST: a conversation for an existing customer, on a brand of the org (its
        default when none is named), in one unit of work; ``external_id`` must not be
        another conversation's of the org."""
        title = check_title(title)
        _check_status(status)
        external_id = check_external_id(external_id)

        async def work(unit: Unit) -> Conversation:
            customer = await customer_store.get_customer(unit.tx, actor.org_id, customer_id)
            if customer is None:
                raise customer_not_found(customer_id)
            brand = await _brand(unit.tx, actor.org_id, brand_id)
            conv = _new_conversation(unit, customer.id, brand.id, title, status, custom)
            conv = replace(conv, external_id=external_id)
            await _check_external_id_free(unit.tx, conv)
            await store.insert_conversation(unit.tx, conv)
            unit.emit(ev.conversation_created(conv))
            return conv

        return await self.ctx.uow.write(actor, work, schema=True)

    async def check_describe(
        self, actor: Actor, conversation_id: str, custom: Any
    ) -> dict[str, Any]:
        """Merge custom attribute values into a conversation: all valid or nothing stored.

        ``None`` clears a key; keys not given are untouched. A chat session may
        only describe its own customer's conversations, and only ``sdkWritable``
        attributes; anyone else is told the conversation does not exist. Returns
        every custom attribute of the conversation after the update.
        """

        async def lock(unit: Unit) -> Locked | None:
            found = await store.custom_for_update(unit.tx, actor.org_id, conversation_id)
            if found is None or (actor.customer_id is not None and found[0] != actor.customer_id):
                return None
            return actor, *found

        return await self._describe(actor, conversation_id, custom, lock)

    async def describe_for_session(
        self,
        key: ApiKey,
        session_token: str | None,
        conversation_id: str,
        custom: Any,
        *,
        body_error: KlatchError | None = None,
    ) -> dict[str, Any]:
        """``describeConversation`` from a chat session (tracking key + session token).

        The chat hot path: the session is checked inside the write, in the same
        statement that locks the conversation, and only the ``custom`` column is
        read and written. ``body_error`` is why the request body could not be used;
        it is raised once the session is known to be valid, so a browser with a
        stale session hears about the session first. Same rules and answers as
        :meth:`check_describe`.
        """
        token_hash = hash_secret(session_token) if session_token else ""

        async def refused(unit: Unit, problem: KlatchError | None) -> KlatchError:
            """Why the write is refused, in the order the SDKs have always seen: the
            session, then the body, then the values, then the conversation."""
            session = await customer_store.session_by_token_hash(unit.tx, token_hash)
            if session is None or session.org_id != key.org_id:
                return invalid_session()
            return problem or conversation_not_found(safe_id(conversation_id))

        async def work(unit: Unit) -> dict[str, Any]:
            values, problem = ({}, body_error) if body_error else _sdk_values(unit, custom)
            # With valid values, one statement checks the session, locks, merges, writes.
            found = None
            if problem is None:
                found = await store.merge_custom_for_session(
                    unit.tx, key.org_id, token_hash, conversation_id, values, unit.now
                )
            if found is None:
                raise await refused(unit, problem)
            session_id, customer_id, before, version, written = found
            unit.actor = Actor(
                ActorType.CUSTOMER,
                session_id,
                key.org_id,
                customer_id=customer_id,
                role=Role.TRACKING,
            )
            changes = ev.changes_between(before, values)
            if not changes:
                return before
            merged = merged_custom(before, values)
            # PostgreSQL compares numbers as jsonb does (1e16 equals 10**16, which
            # this rule counts as a change): what it did not write is written here.
            if not written:
                await store.set_custom(
                    unit.tx, key.org_id, conversation_id, merged, version + 1, unit.now
                )
            unit.emit(
                ev.custom_described(conversation_id, customer_id, version + 1, changes, merged)
            )
            return merged

        provisional = Actor(ActorType.CUSTOMER, None, key.org_id, role=Role.TRACKING)
        write = self.ctx.uow.write(provisional, work, schema=True)
        return await metrics.counted_describe("conversation", True, write)

    async def _describe(
        self, actor: Actor, conversation_id: str, custom: Any, lock: Lock
    ) -> dict[str, Any]:
        async def work(unit: Unit) -> dict[str, Any]:
            # Who may ask first (session, then body), then the values, then whether the
            # conversation is there: the order of answers the SDKs have always seen.
            locked = await lock(unit)
            values = check_values(
                "conversation", unit.defs["conversation"], custom, from_sdk=actor.is_customer
            )
            if locked is None:
                raise conversation_not_found(safe_id(conversation_id))
            unit.actor, customer_id, before, version = locked
            changes = ev.changes_between(before, values)
            if not changes:
                return before
            merged = merged_custom(before, values)
            await store.set_custom(
                unit.tx, unit.actor.org_id, conversation_id, merged, version + 1, unit.now
            )
            unit.emit(
                ev.custom_described(conversation_id, customer_id, version + 1, changes, merged)
            )
            return merged

        write = self.ctx.uow.write(actor, work, schema=True)
        return await metrics.counted_describe("conversation", actor.is_customer, write)

    async def check_update(
        self,
        actor: Actor,
        conversation_id: str,
        changes: Mapping[str, Any],
        *,
        replace_custom: bool = False,
    ) -> Conversation:
        """REST PATCH/PUT: custom attributes, status (open/done), the title (``name``)
        and ``externalId`` (null clears it), atomically. ``changes`` holds only the
        fields given."""
        unknown = [k for k in changes if k not in UPDATABLE]
        if unknown:
            raise InvalidArguments(f"'{unknown[0]}' cannot be changed", pointer=f"/{unknown[0]}")
        status = changes.get("status")
        _check_status(status, required=False)
        custom = changes.get("custom")
        if custom is not None and not isinstance(custom, dict):
            raise InvalidArguments("custom must be an object", pointer="/custom")
        fields: dict[str, Any] = {} if status is None else {"status": status}
        if "name" in changes:
            fields["title"] = check_title(changes["name"])
        if "externalId" in changes:
            fields["external_id"] = check_external_id(changes["externalId"])
        assignment = Assignment.of(dict(changes))
        # AGENT TOOLS: the whole list of tags (ids or names); null clears them.
        tag_refs = check_tag_list(changes["tags"] or []) if "tags" in changes else None

        async def work(unit: Unit) -> Conversation:
            conv = await _locked(unit, conversation_id)
            values = {} if custom is None else _checked(unit, actor, custom)
            if replace_custom:
                values = {k: None for k in conv.custom if k not in values} | values
            if assignment is not None:
                await check_assignees(unit.tx, actor.org_id, assignment)
            tags = None if tag_refs is None else await resolve_tags(unit, tag_refs)
            return await _update(unit, conv, values, fields, assignment, tags)

        return await self.ctx.uow.write(actor, work, schema=True)

    async def check_end(self, actor: Actor, conversation_id: str) -> Conversation:
        """End a conversation (status done). Ending an ended conversation changes nothing."""

        async def work(unit: Unit) -> Conversation:
            conv = await _locked(unit, conversation_id)
            if conv.ended:
                return conv
            ended = replace(
                conv, status="done", ended_at=unit.now, ended_by_type=unit.actor.type.value
            )
            version = await store.set_fields(unit.tx, ended, unit.now)
            ended = replace(ended, version=version, updated_at=unit.now)
            unit.emit(ev.conversation_ended(ended))
            return ended

        return await self.ctx.uow.write(actor, work)

    async def delete(self, actor: Actor, conversation_id: str) -> None:
        """Delete a conversation and its messages. Its events stay in the log with
        their personal data scrubbed (``domain/erasure.py``), and
        ``conversation.deleted`` says it went."""

        async def work(unit: Unit) -> None:
            conv = await _locked(unit, conversation_id)
            events = await event_store.events_of_conversation(unit.tx, conv.org_id, conv.id)
            await event_store.rewrite_payloads(
                unit.tx, conv.org_id, [(e.id, scrubbed(e.type, e.payload)) for e in events]
            )
            await store.delete_conversation(unit.tx, conv.org_id, conv.id)
            unit.emit(ev.conversation_deleted(conv))

        await self.ctx.uow.write(actor, work)


def check_external_id(value: Any) -> str | None:
    """An ``externalId``: None, or text of 1 to 256 characters."""
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= MAX_EXTERNAL_ID):
        raise InvalidArguments(
            f"externalId must be text of 1 to {MAX_EXTERNAL_ID} characters, or null",
            pointer="/externalId",
        )
    return value


async def _check_external_id_free(tx: Tx, conv: Conversation) -> None:
    if conv.external_id is None:
        return
    taken = await store.conversation_by_external_id(tx, conv.org_id, conv.external_id)
    if taken is not None and taken.id != conv.id:
        raise Conflict(
            f"Another conversation has externalId '{conv.external_id}'",
            code="already_exists",
            pointer="/externalId",
        )


async def _locked(unit: Unit, conversation_id: str) -> Conversation:
    """The conversation, row locked for this write, if the unit's actor may see it."""
    found = await store.get_conversation(
        unit.tx, unit.actor.org_id, conversation_id, for_update=True
    )
    return visible(unit.actor, conversation_id, found)


async def _update(
    unit: Unit,
    conv: Conversation,
    values: dict[str, Any],
    fields: dict[str, Any],
    assignment: Assignment | None = None,
    tags: builtins.list[str] | None = None,
) -> Conversation:
    """Write what really changes of ``values`` (custom), ``fields`` (status, title),
    ``assignment`` and ``tags`` (ids); emit ``conversation.updated`` (and ``conversation.ended``)
    when anything did."""
    changes: ev.ConversationChanges = {}
    custom_changes = ev.changes_between(conv.custom, values)
    updated = conv
    if custom_changes:
        changes["custom"] = custom_changes
        merged = merged_custom(conv.custom, values)
        await store.set_custom(unit.tx, conv.org_id, conv.id, merged, conv.version + 1, unit.now)
        updated = replace(updated, custom=merged, version=conv.version + 1, updated_at=unit.now)
    row = _field_changes(unit, conv, fields, changes)
    if "external_id" in row:
        await _check_external_id_free(unit.tx, replace(conv, external_id=row["external_id"]))
    if row:
        updated = replace(updated, **row)
        version = await store.set_fields(unit.tx, updated, unit.now)
        updated = replace(updated, version=version, updated_at=unit.now)
    if assignment is not None:
        updated = await assign(unit, updated, assignment, changes)
    if tags is not None:
        updated = await write_conversation_tags(unit, updated, tags, changes)
    if changes:
        unit.emit(ev.conversation_updated(updated, changes))
    if row.get("status") == "done":
        unit.emit(ev.conversation_ended(updated))
    return updated


def _field_changes(
    unit: Unit, conv: Conversation, fields: dict[str, Any], changes: ev.ConversationChanges
) -> dict[str, Any]:
    """The row fields to set for a new status or title, noting each in ``changes``."""
    row: dict[str, Any] = {}
    status = fields.get("status")
    if status is not None and status != conv.status:
        changes["status"] = {"before": conv.status, "after": status}
        row["status"] = status
        done = status == "done"
        row["ended_at"] = unit.now if done else None
        row["ended_by_type"] = unit.actor.type.value if done else None
    if "title" in fields and fields["title"] != conv.title:
        changes["title"] = {"before": conv.title, "after": fields["title"]}
        row["title"] = fields["title"]
    if "external_id" in fields and fields["external_id"] != conv.external_id:
        changes["externalId"] = {"before": conv.external_id, "after": fields["external_id"]}
        row["external_id"] = fields["external_id"]
    return row


def _new_conversation(
    unit: Unit,
    customer_id: str,
    brand_id: str,
    title: str | None,
    status: str,
    custom: Any,
    answered: Mapping[str, Any] | None = None,
) -> Conversation:
    values = {} if custom is None else _checked(unit, unit.actor, custom)
    values.update(answered or {})
    done = status == "done"  # created ended (an import of a closed case): it ended now
    return Conversation(
        id=new_id(),
        org_id=unit.actor.org_id,
        brand_id=brand_id,
        customer_id=customer_id,
        status=status,
        title=title,
        custom={k: v for k, v in values.items() if v is not None},
        preview=None,
        message_count=0,
        ended_at=unit.now if done else None,
        ended_by_type=unit.actor.type.value if done else None,
        customer_read_at=None,
        last_message_at=None,
        version=1,
        created_at=unit.now,
        updated_at=unit.now,
    )


def _sdk_values(unit: Unit, custom: Any) -> tuple[dict[str, Any], KlatchError | None]:
    """A chat session's custom values, checked; or why they are refused."""
    try:
        return _checked(unit, unit.actor, custom), None
    except KlatchError as exc:
        return {}, exc


def _checked(unit: Unit, actor: Actor, custom: Any) -> dict[str, Any]:
    return check_values(
        "conversation", unit.defs["conversation"], custom, from_sdk=actor.is_customer
    )


async def _brand(tx: Tx, org_id: str, brand_id: str | None) -> Brand:
    brand = await (
        org_store.default_brand(tx, org_id)
        if brand_id is None
        else org_store.get_brand(tx, org_id, brand_id)
    )
    if brand is None:
        raise NotFound(f"No brand with id '{brand_id}'", code="brand_not_found", pointer="/brandId")
    return brand


def _filter(defs: Definitions, name: str, raw: str) -> tuple[AttributeDef, Any]:
    definition = defs["conversation"].get(name)
    if definition is None:
        raise InvalidArguments(
            f"'{name}' is not defined on the conversation klass",
            code="unknown_attribute",
            pointer=f"/filter/custom.{name}",
        )
    return definition, filter_value(definition, raw)


def _check_status(status: Any, *, required: bool = True) -> None:
    if (required or status is not None) and status not in STATUSES:
        raise InvalidArguments(f"status must be one of {', '.join(STATUSES)}", pointer="/status")


async def _list(
    tx: Tx, actor: Actor, page: int, page_size: int, **filters: Any
) -> list[Conversation]:
    """One page of the org's conversations, and one more row to tell if a next exists."""
    limit, offset = paging.window(page, page_size)
    return await store.list_conversations(tx, actor.org_id, limit=limit, offset=offset, **filters)


def _page(
    rows: list[Any], page: int, page_size: int, counted: int | None = None, cap: int | None = None
) -> Page:
    """A page of the ``rows`` read (one more than ``page_size`` when there is a next);
    ``counted`` up to ``cap + 1`` when there is a cap."""
    total, capped = counted, False
    if counted is not None and cap is not None:
        total, capped = paging.known_total(counted, cap, page, page_size, len(rows))
    return paging.offset_page(rows, page, page_size, total, capped=capped)
