"""Routing rules: kept in order by admins, applied inside the unit of work of the
change that triggers them.

:class:`Router` is a hook of the unit of work (``UnitOfWork.before_append``):
when a write's function has returned, it looks at the events the write emitted.
A ``conversation.created``, or a ``conversation.updated`` whose custom
attributes changed, has the org's enabled rules tried in order
(``domain/routing.py`` says how they match); the first that matches applies its
actions in the same transaction, and its own ``conversation.updated`` names it
(``rule``). The hook runs once per write, over the events the write itself
made, so a rule's own changes never trigger rules again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from klatch.domain import events as ev
from klatch.domain.attributes import check_values, merged_custom
from klatch.domain.models import Actor, Conversation, Customer, Event
from klatch.domain.routing import (
    ADD_TAGS,
    ASSIGN_TEAM,
    ATTRIBUTES_CHANGED,
    CREATED,
    MAX_RULES,
    SET_ATTRIBUTE,
    Definitions,
    Record,
    Rule,
    check_actions,
    check_criteria,
    check_name,
    check_triggers,
    fields_read,
    matches,
)
from klatch.domain.search import Node
from klatch.domain.tags import MAX_TAGS, merged
from klatch.errors import InvalidArguments, KlatchError, NotFound
from klatch.ids import new_id
from klatch.services.caches import OrgCache
from klatch.services.context import Context
from klatch.services.tags import resolve_tags, write_conversation_tags
from klatch.services.teams import Assignment, assign
from klatch.services.unit import Unit, WriteFn
from klatch.storage import conversations as conversation_store
from klatch.storage import customers as customer_store
from klatch.storage import routing as store
from klatch.storage import teams as team_store

log = logging.getLogger(__name__)
T = TypeVar("T")
RULE_KEYS = ("name", "when", "criteria", "actions", "enabled", "position")
# Another process's rule change is heard on the bus; this bounds how long one is
# missed when a bus message is lost (or no bus joins the processes).
_CACHE_SECONDS = 5.0
_COMPILED_LIMIT = 2_000


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound("No routing rule with this id", code="rule_not_found", pointer="/path/ruleId")


class RoutingService:
    """The org's rules (admins); every change forgets the router's cached rules."""

    def __init__(self, ctx: Context, router: Router) -> None:
        self.ctx = ctx
        self.router = router

    async def list(self, actor: Actor) -> list[Rule]:
        return await self.ctx.db.read(lambda tx: store.list_rules(tx, actor.org_id))

    async def get(self, actor: Actor, rule_id: str) -> Rule:
        return await self.ctx.read_one(store.get_rule, actor.org_id, rule_id, rule_not_found)

    async def create(self, actor: Actor, body: dict[str, Any]) -> Rule:
        """A new rule, checked against the klass definitions and the org's teams; last
        in order unless ``position`` (from 1) says where."""
        _known_keys(body)

        async def work(unit: Unit) -> Rule:
            rules = await store.list_rules(unit.tx, actor.org_id)
            if len(rules) >= MAX_RULES:
                raise InvalidArguments(f"An org has at most {MAX_RULES} routing rules")
            rule = Rule(
                id=new_id(),
                org_id=actor.org_id,
                name=check_name(body.get("name")),
                position=len(rules) + 1,
                enabled=_enabled(body.get("enabled", True)),
                triggers=check_triggers(body.get("when", [CREATED, ATTRIBUTES_CHANGED])),
                criteria=check_criteria(body.get("criteria"), unit.defs)[0],
                actions=await _actions(unit, body.get("actions")),
                created_at=unit.now,
                updated_at=unit.now,
            )
            await store.insert_rule(unit.tx, rule)
            await _reorder(unit, [*rules, rule], rule, body.get("position"))
            unit.emit(ev.routing_rule_changed(rule.id, "created"))
            return await store.get_rule(unit.tx, actor.org_id, rule.id) or rule

        return await self._write(actor, work)

    async def update(self, actor: Actor, rule_id: str, body: dict[str, Any]) -> Rule:
        _known_keys(body)

        async def work(unit: Unit) -> Rule:
            rule = await store.get_rule(unit.tx, actor.org_id, rule_id, for_update=True)
            if rule is None:
                raise rule_not_found(rule_id)
            rule = replace(rule, updated_at=unit.now)
            if "name" in body:
                rule = replace(rule, name=check_name(body["name"]))
            if "enabled" in body:
                rule = replace(rule, enabled=_enabled(body["enabled"]))
            if "when" in body:
                rule = replace(rule, triggers=check_triggers(body["when"]))
            if "criteria" in body:
                rule = replace(rule, criteria=check_criteria(body["criteria"], unit.defs)[0])
            if "actions" in body:
                rule = replace(rule, actions=await _actions(unit, body["actions"]))
            await store.update_rule(unit.tx, rule)
            if "position" in body:
                rules = await store.list_rules(unit.tx, actor.org_id)
                await _reorder(unit, rules, rule, body["position"])
            unit.emit(ev.routing_rule_changed(rule.id, "updated"))
            return await store.get_rule(unit.tx, actor.org_id, rule_id) or rule

        return await self._write(actor, work)

    async def delete(self, actor: Actor, rule_id: str) -> None:
        async def work(unit: Unit) -> None:
            if not await store.delete_rule(unit.tx, actor.org_id, rule_id):
                raise rule_not_found(rule_id)
            rules = await store.list_rules(unit.tx, actor.org_id)
            await store.set_positions(unit.tx, actor.org_id, [r.id for r in rules])
            unit.emit(ev.routing_rule_changed(rule_id, "deleted"))

        await self._write(actor, work)

    async def _write(self, actor: Actor, work: WriteFn[T]) -> T:
        """A change of the org's rules. The cache forgets them when it is done, also
        when it failed: a write routed meanwhile may have read the rolled back rows."""
        try:
            return await self.ctx.uow.write(actor, work, schema=True)
        finally:
            self.router.rules.forget(actor.org_id)


def _known_keys(body: dict[str, Any]) -> None:
    unknown = [k for k in body if k not in RULE_KEYS]
    if unknown:
        raise InvalidArguments(
            f"Unknown key '{unknown[0][:40]}'; a rule takes: {', '.join(RULE_KEYS)}",
            pointer=f"/{unknown[0][:40]}",
        )


def _enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArguments("enabled is true or false", pointer="/enabled")
    return value


async def _actions(unit: Unit, value: Any) -> tuple[dict[str, Any], ...]:
    teams = {t.id for t in await team_store.list_teams(unit.tx, unit.actor.org_id)}
    return check_actions(value, unit.defs, teams)


async def _reorder(unit: Unit, rules: Sequence[Rule], moved: Rule, position: Any) -> None:
    if position is None:
        return
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise InvalidArguments("position is a whole number from 1", pointer="/position")
    ids = [r.id for r in rules if r.id != moved.id]
    ids.insert(min(position, len(ids) + 1) - 1, moved.id)
    await store.set_positions(unit.tx, unit.actor.org_id, ids)


# ---------------------------------------------------------------- applying rules


@dataclass(slots=True)
class _Trigger:
    created: bool = False
    before: dict[str, Any] = field(default_factory=dict)  # changed custom keys, as they were


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A rule with its criteria parsed against the org's definitions, and what they read."""

    rule: Rule
    node: Node | None
    attributes: frozenset[str]  # the conversation's custom attributes they read
    reads_customer: bool


def _triggers(drafts: Sequence[ev.EventDraft]) -> dict[str, _Trigger]:
    """The conversations this write created or changed the custom attributes of
    (not those a rule changed)."""
    out: dict[str, _Trigger] = {}
    for draft in drafts:
        p = draft.payload
        if draft.type == ev.CONVERSATION_CREATED:
            out.setdefault(p["conversation"]["id"], _Trigger()).created = True
        elif draft.type == ev.CONVERSATION_UPDATED and "rule" not in p:
            custom = p["changes"].get("custom")
            if custom:
                trigger = out.setdefault(p["conversationId"], _Trigger())
                for key, change in custom.items():
                    trigger.before.setdefault(key, change["before"])
    return out


class Router:
    """The unit of work's hook (``UnitOfWork.before_append``) that applies the
    first matching rule to each conversation a write created or re-described.

    It runs after every write, so what it costs a write that routes nothing is
    what matters: each org's enabled rules are cached (an org without rules costs
    a dictionary lookup), their criteria parsed once per definitions, and an
    attribute change none of the rules reads is passed over without a query. The
    cache forgets an org when its rules change here, when the bus carries
    ``routing_rule.changed`` from another process, and after a bus outage."""

    def __init__(self) -> None:
        self.rules: OrgCache[tuple[Rule, ...]] = OrgCache(_CACHE_SECONDS)
        self._compiled: dict[tuple[str, int], tuple[Definitions, _Compiled | None]] = {}

    def on_events(self, events: Sequence[Event]) -> None:
        """Bus listener: forget an org's cached rules when they changed."""
        for event in events:
            if event.type == ev.ROUTING_RULE_CHANGED:
                self.rules.forget(event.org_id)

    async def __call__(self, unit: Unit) -> None:
        if not unit.defs or not unit.drafts:
            return
        org_id = unit.actor.org_id
        rules = await self.rules.get(org_id, lambda: _enabled_rules(unit, org_id))
        if not rules:
            return
        triggers = _triggers(unit.drafts)
        if not triggers:
            return
        compiled = [c for c in (self._compile(r, unit.defs) for r in rules) if c is not None]
        for conversation_id, trigger in triggers.items():
            kind = CREATED if trigger.created else ATTRIBUTES_CHANGED
            candidates = [c for c in compiled if kind in c.rule.triggers]
            if trigger.created or any(c.attributes & trigger.before.keys() for c in candidates):
                await _route_one(unit, candidates, conversation_id, trigger)

    def _compile(self, rule: Rule, defs: Definitions) -> _Compiled | None:
        """The rule, parsed; None when its criteria no longer fit the definitions
        (an attribute was deleted since): such a rule is skipped."""
        key = (rule.id, rule.updated_at)
        cached = self._compiled.get(key)
        if cached is not None and cached[0] is defs:
            return cached[1]
        try:
            node = check_criteria(rule.criteria, defs)[1]
        except KlatchError as exc:
            log.warning("routing rule %s skipped: %s", rule.id, exc.detail)
            compiled = None
        else:
            read = fields_read(node)
            compiled = _Compiled(
                rule,
                node,
                frozenset(
                    f.attribute.name
                    for f in read
                    if f.attribute is not None and f.attribute.klass == "conversation"
                ),
                any(f.name.startswith("customer_") for f in read),
            )
        if len(self._compiled) >= _COMPILED_LIMIT:
            self._compiled.clear()
        self._compiled[key] = (defs, compiled)
        return compiled


async def _enabled_rules(unit: Unit, org_id: str) -> tuple[Rule, ...]:
    return tuple(await store.list_rules(unit.tx, org_id, enabled_only=True))


async def _route_one(
    unit: Unit, rules: Sequence[_Compiled], conversation_id: str, t: _Trigger
) -> None:
    org_id = unit.actor.org_id
    conv = await conversation_store.get_conversation(
        unit.tx, org_id, conversation_id, for_update=True
    )
    if conv is None:
        return
    customer = None
    if any(c.reads_customer for c in rules):
        customer = await customer_store.get_customer(unit.tx, org_id, conv.customer_id)
    after = record_of(conv, customer)
    before = replace(after, conversation_custom=merged_custom(conv.custom, dict(t.before)))
    for c in rules:
        if not matches(c.node, after):
            continue
        if t.created or not matches(c.node, before):
            await _apply(unit, c.rule, conv)
        return  # the first rule that matches decides


async def _apply(unit: Unit, rule: Rule, conv: Conversation) -> None:
    """The rule's actions, in order, as one ``conversation.updated`` that names it.
    An action that no longer fits (its team or attribute is gone, the tags are
    full) is passed over: a rule never fails the write that triggered it."""
    changes: ev.ConversationChanges = {}
    for action in rule.actions:
        if action["type"] == ASSIGN_TEAM:
            conv = await _assign_team(unit, conv, action, changes)
        elif action["type"] == ADD_TAGS:
            conv = await _add_tags(unit, conv, action, changes)
        elif action["type"] == SET_ATTRIBUTE:
            conv = await _set_attribute(unit, conv, action, changes)
    if changes:
        unit.emit(ev.conversation_updated(conv, changes, {"id": rule.id, "name": rule.name}))


async def _assign_team(
    unit: Unit, conv: Conversation, action: dict[str, Any], changes: ev.ConversationChanges
) -> Conversation:
    team_id = str(action["team"])
    org_id = conv.org_id
    if not await team_store.existing_teams(unit.tx, org_id, [team_id]):
        return conv  # deleted since the rule was saved
    users: tuple[str, ...] = ()
    if action.get("roundRobin"):
        member = await team_store.next_member(unit.tx, org_id, team_id, unit.now)
        users = (member,) if member else ()  # nobody available: the team's queue
    return await assign(unit, conv, Assignment(users, (team_id,)), changes)


async def _add_tags(
    unit: Unit, conv: Conversation, action: dict[str, Any], changes: ev.ConversationChanges
) -> Conversation:
    names = [str(name) for name in action.get("tags") or ()]
    tags = merged(conv.tags, await resolve_tags(unit, names, create=True))
    if len(tags) > MAX_TAGS:
        return conv
    return await write_conversation_tags(unit, conv, tags, changes)


async def _set_attribute(
    unit: Unit, conv: Conversation, action: dict[str, Any], changes: ev.ConversationChanges
) -> Conversation:
    name = str(action["attribute"])
    try:
        values = check_values(
            "conversation", unit.defs["conversation"], {name: action.get("value")}, from_sdk=False
        )
    except KlatchError:
        return conv  # the attribute changed type or went since the rule was saved
    moved = ev.changes_between(conv.custom, values)
    if not moved:
        return conv
    merged_values = merged_custom(conv.custom, values)
    version = conv.version + 1
    await conversation_store.set_custom(
        unit.tx, conv.org_id, conv.id, merged_values, version, unit.now
    )
    changes.setdefault("custom", {}).update(moved)
    return replace(conv, custom=merged_values, version=version, updated_at=unit.now)


def record_of(conv: Conversation, customer: Customer | None) -> Record:
    """What a rule's criteria read of a conversation and its customer."""
    fields = {
        "status": conv.status,
        "title": conv.title,
        "customer_id": conv.customer_id,
        "external_id": conv.external_id,
        "brand_id": conv.brand_id,
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
        "last_message_at": conv.last_message_at,
        "ended_at": conv.ended_at,
        "ended": conv.ended,
        "message_count": conv.message_count,
        "direction": "in",
        "channel": "chat",
        "assigned_users": list(conv.assigned_users),
        "assigned_teams": list(conv.assigned_teams),
    }
    people: dict[str, Any] = {}
    if customer is not None:
        people = {
            "name": customer.name,
            "email": customer.email,
            "phones": customer.phones,
            "external_id": customer.external_id,
            "verified": customer.verified,
            "created_at": customer.created_at,
            "updated_at": customer.updated_at,
        }
    return Record(fields, conv.custom, people, customer.custom if customer else {})
