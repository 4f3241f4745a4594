"""Routing rules: what a rule says, checked; and whether a conversation matches it.

A rule is ordered (``position``), runs *when* a conversation is created and/or
its custom attributes change, *if* its criteria match (the search API's
criteria language over the conversation's fields and its customer's, e.g.
``{"and": [{"conversation_custom_issueTypeStr": {"equals": "billing"}}]}``),
and *then* applies its actions:

- ``{"type": "assignTeam", "team": "<id>", "roundRobin": true}``: the
  conversation belongs to that team; with ``roundRobin`` it is assigned to the
  team's available member whose turn it is (nobody available: it waits in the
  team's queue, unassigned);
- ``{"type": "addTags", "tags": ["vip", …]}``: tags by name (those the org does
  not have yet are created when the rule first applies);
- ``{"type": "setAttribute", "attribute": "<conversation attribute>", "value": …}``.

The first rule (in order) whose criteria match decides; on an attribute change
it acts only when the conversation has just come to match it, so an unrelated
change never re-routes. The criteria are evaluated here, in Python, over the
records the unit of work holds (the change and the state before it), with the
same meaning as the SQL search gives them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from klatch.domain.attributes import AttributeDef, AttrType, check_values, parse_datetime
from klatch.domain.search import (
    All,
    AnyOf,
    Condition,
    Field,
    Kind,
    Node,
    Not,
    fields_of,
    parse_criteria,
)
from klatch.domain.tags import MAX_TAGS, check_tag_name
from klatch.domain.text import text_problem
from klatch.errors import InvalidArguments

CREATED = "created"
ATTRIBUTES_CHANGED = "attributesChanged"
TRIGGERS = (CREATED, ATTRIBUTES_CHANGED)
ASSIGN_TEAM = "assignTeam"
ADD_TAGS = "addTags"
SET_ATTRIBUTE = "setAttribute"
ACTIONS = (ASSIGN_TEAM, ADD_TAGS, SET_ATTRIBUTE)
MAX_ACTIONS = 10
MAX_RULES = 200
_WORD_RE = re.compile(r"\w+")
_CRITERIA_KEYS = ("and", "or", "not")

Definitions = Mapping[str, Mapping[str, AttributeDef]]  # klass -> name -> definition


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    org_id: str
    name: str
    position: int
    enabled: bool
    triggers: tuple[str, ...]
    criteria: dict[str, Any]
    actions: tuple[dict[str, Any], ...]
    created_at: int
    updated_at: int


# ---------------------------------------------------------------- checking a rule


def rule_fields(defs: Definitions) -> dict[str, Field]:
    """What a rule's criteria may name: the conversation's fields (standard and
    ``conversation_custom_*``) and its customer's (``customer_*``)."""
    return {**fields_of("customer", defs.get("customer", {})),
            **fields_of("conversation", defs.get("conversation", {}))}  # fmt: skip


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise InvalidArguments("A rule needs a name of 1 to 255 characters", pointer="/name")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidArguments(f"The name {problem}", code="invalid_text", pointer="/name")
    return value.strip()


def check_triggers(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(v not in TRIGGERS for v in value):
        raise InvalidArguments(
            f"when is a non-empty list of: {', '.join(TRIGGERS)}", pointer="/when"
        )
    return tuple(dict.fromkeys(value))


def check_criteria(value: Any, defs: Definitions) -> tuple[dict[str, Any], Node | None]:
    """The criteria object (``and`` / ``or`` / ``not``) and its parsed form; a 400
    naming the offending field when it names an attribute the klass does not
    define, an operator its type does not take, or a value it cannot hold."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidArguments(
            'criteria is an object such as {"and": [{"conversation_custom_issueTypeStr": '
            '{"equals": "billing"}}]}',
            pointer="/criteria",
        )
    unknown = [k for k in value if k not in _CRITERIA_KEYS]
    if unknown:
        raise InvalidArguments(
            f"criteria takes and, or, not; not '{unknown[0][:40]}'",
            code="invalid_search",
            pointer=f"/criteria/{unknown[0][:40]}",
        )
    return value, parse_criteria(value, rule_fields(defs), "conversation", "/criteria")


def check_actions(value: Any, defs: Definitions, teams: set[str]) -> tuple[dict[str, Any], ...]:
    """The actions, each checked: a team of the org; an attribute defined on the
    conversation klass with a value its type takes."""
    if not isinstance(value, list) or not value or len(value) > MAX_ACTIONS:
        raise InvalidArguments(
            f"actions is a list of 1 to {MAX_ACTIONS} actions", pointer="/actions"
        )
    return tuple(_action(a, i, defs, teams) for i, a in enumerate(value))


def _action(action: Any, i: int, defs: Definitions, teams: set[str]) -> dict[str, Any]:
    here = f"/actions/{i}"
    kind = action.get("type") if isinstance(action, dict) else None
    if kind == ADD_TAGS:
        assert isinstance(action, dict)
        return {"type": ADD_TAGS, "tags": _tag_names(action.get("tags"), f"{here}/tags")}
    if kind == ASSIGN_TEAM:
        assert isinstance(action, dict)
        team = action.get("team")
        if not isinstance(team, str) or team not in teams:
            raise InvalidArguments(
                f"No team with id '{str(team)[:40]}' in this org", code="team_not_found",
                pointer=f"{here}/team",
            )  # fmt: skip
        round_robin = action.get("roundRobin", False)
        if not isinstance(round_robin, bool):
            raise InvalidArguments("roundRobin is true or false", pointer=f"{here}/roundRobin")
        return {"type": ASSIGN_TEAM, "team": team, "roundRobin": round_robin}
    if kind == SET_ATTRIBUTE:
        assert isinstance(action, dict)
        name = action.get("attribute")
        if not isinstance(name, str):
            raise InvalidArguments("attribute names a conversation attribute", pointer=here)
        values = check_values(
            "conversation", defs.get("conversation", {}), {name: action.get("value")},
            from_sdk=False, pointer=f"{here}/value",
        )  # fmt: skip
        return {"type": SET_ATTRIBUTE, "attribute": name, "value": values[name]}
    raise InvalidArguments(
        f"An action's type is one of: {', '.join(ACTIONS)}", pointer=f"{here}/type"
    )


def _tag_names(value: Any, pointer: str) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > MAX_TAGS:
        raise InvalidArguments(
            f"tags is a list of 1 to {MAX_TAGS} tag names", code="invalid_tags", pointer=pointer
        )
    names = [check_tag_name(v, f"{pointer}/{i}") for i, v in enumerate(value)]
    return list(dict.fromkeys(names))


def fields_read(node: Node | None) -> list[Field]:
    """Every field the criteria read (a field read twice is listed twice)."""
    if node is None:
        return []
    if isinstance(node, All | AnyOf):
        return [f for item in node.items for f in fields_read(item)]
    if isinstance(node, Not):
        return fields_read(node.item)
    return [node.field]


# ---------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class Record:
    """What criteria read: the conversation's standard fields (by column) and custom
    attributes, and its customer's."""

    conversation: Mapping[str, Any]
    conversation_custom: Mapping[str, Any]
    customer: Mapping[str, Any]
    customer_custom: Mapping[str, Any]

    def value(self, field: Field) -> Any:
        if field.attribute is not None:
            custom = (
                self.customer_custom
                if field.attribute.klass == "customer"
                else self.conversation_custom
            )
            return custom.get(field.attribute.name)
        source = self.customer if field.name.startswith("customer_") else self.conversation
        return source.get(field.column or "")


def matches(node: Node | None, record: Record) -> bool:
    """Whether ``record`` meets the criteria (none: everything does)."""
    if node is None:
        return True
    if isinstance(node, All):
        return all(matches(n, record) for n in node.items)
    if isinstance(node, AnyOf):
        return any(matches(n, record) for n in node.items)
    if isinstance(node, Not):
        return not matches(node.item, record)
    return _condition(node, record.value(node.field))


def _condition(cond: Condition, value: Any) -> bool:
    values = value if isinstance(value, list | tuple) else [] if value is None else [value]
    if cond.op == "exists":
        return bool(values)
    if cond.op == "missing":
        return not values
    return any(_one(cond, _comparable(cond.field, v)) for v in values)


def _one(cond: Condition, value: Any) -> bool:
    if value is None:
        return False
    if cond.op == "words":
        words = set(_WORD_RE.findall(str(value).lower()))
        return all(w in words for w in cond.value)
    if cond.op == "eq":
        return _same(value, cond.value)
    if cond.op == "in":
        return any(_same(value, v) for v in cond.value)
    if cond.op == "between":
        lo, hi = cond.value
        return _ordered(value) and lo <= value < hi
    if not _ordered(value) or not _ordered(cond.value):
        return False
    ops = {"gt": value > cond.value, "gte": value >= cond.value}
    ops |= {"lt": value < cond.value, "lte": value <= cond.value}
    return bool(ops.get(cond.op, False))


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) is isinstance(b, bool)


def _ordered(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparable(field: Field, value: Any) -> Any:
    """A stored value as the criteria compare it: an At attribute's ISO text as
    epoch milliseconds; a boolean column stored as 0/1 as a boolean."""
    d = field.attribute
    if d is not None and d.type is AttrType.AT and isinstance(value, str):
        try:
            return int(parse_datetime(value).timestamp() * 1000)
        except ValueError:
            return None
    if field.kind is Kind.BOOLEAN and isinstance(value, int) and not isinstance(value, bool):
        return bool(value)
    return value
