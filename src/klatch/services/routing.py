"""Routing rules: kept in order by admins, applied inside the unit of work of the
change that triggers them.

:func:`route` is a hook of the unit of work (``UnitOfWork.before_append``): when
a write's function has returned, it looks at the events the write emitted. A
``conversation.created``, or a ``conversation.updated`` whose custom attributes
changed, has the org's enabled rules tried in order (``domain/routing.py`` says
how they match); the first that matches applies its actions in the same
transaction, and its own ``conversation.updated`` names it (``rule``). The hook
runs once per write, over the events the write itself made, so a rule's own
changes never trigger rules again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from klatch.domain import events as ev
from klatch.domain.attributes import check_values
from klatch.domain.models import Actor, Conversation, Customer
from klatch.domain.routing import (
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
    matches,
)
from klatch.errors import InvalidArguments, KlatchError, NotFound
from klatch.ids import new_id
from klatch.services.context import Context
from klatch.services.conversations import merged_custom
from klatch.services.teams import Assignment, assign
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage import customers as customer_store
from klatch.storage import routing as store
from klatch.storage import teams as team_store

log = logging.getLogger(__name__)
RULE_KEYS = ("name", "when", "criteria", "actions", "enabled", "position")


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound("No routing rule with this id", code="rule_not_found", pointer="/path/ruleId")


class RoutingService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list(self, actor: Actor) -> list[Rule]:
        return await self.ctx.db.read(lambda tx: store.list_rules(tx, actor.org_id))

    async def get(self, actor: Actor, rule_id: str) -> Rule:
        found = await self.ctx.db.read(lambda tx: store.get_rule(tx, actor.org_id, rule_id))
        if found is None:
            raise rule_not_found(rule_id)
        return found

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
            return rule

        return await self.ctx.uow.write(actor, work, schema=True)

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
            return await store.get_rule(unit.tx, actor.org_id, rule_id) or rule

        return await self.ctx.uow.write(actor, work, schema=True)

    async def delete(self, actor: Actor, rule_id: str) -> None:
        async def work(unit: Unit) -> None:
            if not await store.delete_rule(unit.tx, actor.org_id, rule_id):
                raise rule_not_found(rule_id)
            rules = await store.list_rules(unit.tx, actor.org_id)
            await store.set_positions(unit.tx, actor.org_id, [r.id for r in rules])

        await self.ctx.uow.write(actor, work)


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


async def route(unit: Unit) -> None:
    """The unit of work's hook: apply the first matching rule to each conversation
    this write created or re-described."""
    if not unit.defs or not unit.drafts:
        return
    triggers = _triggers(unit.drafts)
    if not triggers:
        return
    rules = await store.list_rules(unit.tx, unit.actor.org_id, enabled_only=True)
    if not rules:
        return
    for conversation_id, trigger in triggers.items():
        await _route_one(unit, rules, conversation_id, trigger)


async def _route_one(unit: Unit, rules: Sequence[Rule], conversation_id: str, t: _Trigger) -> None:
    org_id = unit.actor.org_id
    conv = await conversation_store.get_conversation(
        unit.tx, org_id, conversation_id, for_update=True
    )
    if conv is None:
        return
    customer = await customer_store.get_customer(unit.tx, org_id, conv.customer_id)
    after = record_of(conv, customer)
    before = replace(after, conversation_custom=merged_custom(conv.custom, dict(t.before)))
    kind = CREATED if t.created else ATTRIBUTES_CHANGED
    for rule in rules:
        if kind not in rule.triggers:
            continue
        node = _parsed(rule, unit.defs)
        if node is False or not matches(node, after):
            continue
        if t.created or not matches(node, before):
            await _apply(unit, rule, conv)
        return  # the first rule that matches decides


def _parsed(rule: Rule, defs: Definitions) -> Any:
    """The rule's criteria; False when they no longer fit the definitions (an
    attribute was deleted since): such a rule is skipped."""
    try:
        return check_criteria(rule.criteria, defs)[1]
    except KlatchError as exc:
        log.warning("routing rule %s skipped: %s", rule.id, exc.detail)
        return False


async def _apply(unit: Unit, rule: Rule, conv: Conversation) -> None:
    changes: ev.ConversationChanges = {}
    for action in rule.actions:
        if action["type"] == ASSIGN_TEAM:
            conv = await _assign_team(unit, conv, action, changes)
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
    merged = merged_custom(conv.custom, values)
    version = conv.version + 1
    await conversation_store.set_custom(unit.tx, conv.org_id, conv.id, merged, version, unit.now)
    changes.setdefault("custom", {}).update(moved)
    return replace(conv, custom=merged, version=version, updated_at=unit.now)


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
