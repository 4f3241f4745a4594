"""Admin pages of routing rules: the ordered list (move up and down, enable and
disable, delete), a form to create a rule, and a page per rule to edit it.

A rule's criteria are the search API's (``{"and": [{"conversation_custom_…":
{"equals": …}}]}``), typed as JSON; its actions are picked in the form (assign a
team, round-robin within it; add tags; set an attribute). The server checks
everything when the rule is saved, and each refusal is shown on the field it
names (its JSON pointer), with nothing saved."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from klatch.console.admin.forms import (
    NOTHING,
    Refused,
    admin_page,
    admin_write,
    chosen_notice,
    text,
)
from klatch.console.editors import value_from_form
from klatch.console.session import Agent
from klatch.console.web import PageError, page, render, see_other, services_of
from klatch.domain.attributes import AttributeDef
from klatch.domain.routing import ADD_TAGS, ASSIGN_TEAM, ATTRIBUTES_CHANGED, CREATED, Rule
from klatch.errors import InvalidArguments, KlatchError

NOTICES = {
    "created": "Created the rule.",
    "saved": "Saved.",
    "moved": "Moved.",
    "enabled": "Enabled.",
    "disabled": "Disabled: it is not tried until it is enabled again.",
    "deleted": "Deleted the rule.",
}
EXAMPLE = '{"and": [{"conversation_custom_issueTypeStr": {"equals": "billing"}}]}'
TRIGGER_LABELS = (
    (CREATED, "A conversation is created"),
    (ATTRIBUTES_CHANGED, "Its custom attributes change"),
)
FIELDS = ("name", "when", "criteria", "team", "tags", "attribute", "actions")


def _form(form: FormData) -> dict[str, Any]:
    """The rule form as sent (shown again when it is refused)."""
    return {
        "name": text(form, "name").strip(),
        "when": [w for w in form.getlist("when") if isinstance(w, str)],
        "criteria": text(form, "criteria").strip(),
        "enabled": form.get("enabled") == "on",
        "team": text(form, "team"),
        "roundRobin": form.get("roundRobin") == "on",
        "tags": text(form, "tags"),
        "attribute": text(form, "attribute"),
        "value": text(form, "value"),
    }


def _of(rule: Rule) -> dict[str, Any]:
    """A saved rule as its form shows it."""
    values: dict[str, Any] = {
        "name": rule.name,
        "when": list(rule.triggers),
        "criteria": json.dumps(rule.criteria),
        "enabled": rule.enabled,
    }
    values |= {"team": "", "roundRobin": False, "tags": "", "attribute": "", "value": ""}
    for action in rule.actions:
        if action["type"] == ASSIGN_TEAM:
            values |= {"team": action["team"], "roundRobin": bool(action.get("roundRobin"))}
        elif action["type"] == ADD_TAGS:
            values["tags"] = ", ".join(action.get("tags") or [])
        else:
            value = action.get("value")
            shown = json.dumps(value) if isinstance(value, bool) else str(value)
            values |= {"attribute": action["attribute"], "value": shown}
    return values


Body = tuple[dict[str, Any], list[str]]


def _body(values: dict[str, Any], defs: dict[str, AttributeDef]) -> Body:
    """The REST body of the form, and which form field each action came from (a
    refusal at ``/actions/1/…`` is shown on that field)."""
    try:
        criteria = json.loads(values["criteria"]) if values["criteria"] else {}
    except ValueError as exc:
        raise InvalidArguments(
            f"The criteria are not JSON ({exc.args[0]}); for example {EXAMPLE}",
            pointer="/criteria",
        ) from None
    actions: list[dict[str, Any]] = []
    fields: list[str] = []
    if values["team"]:
        actions.append({"type": ASSIGN_TEAM, "team": values["team"]})
        actions[-1]["roundRobin"] = values["roundRobin"]
        fields.append("team")
    if values["tags"].strip():
        tags = [t.strip() for t in values["tags"].split(",")]
        actions.append({"type": ADD_TAGS, "tags": tags})
        fields.append("tags")
    if values["attribute"]:
        d = defs.get(values["attribute"])
        value = value_from_form(d, values["value"]) if d else values["value"]
        actions.append({"type": "setAttribute", "attribute": values["attribute"], "value": value})
        fields.append("attribute")
    body = {
        "name": values["name"],
        "when": values["when"],
        "criteria": criteria,
        "actions": actions,
        "enabled": values["enabled"],
    }
    return body, fields


def field_refused(
    exc: KlatchError, fields: list[str], values: dict[str, Any] | None = None
) -> Refused:
    """The refusal, keyed by the form field its pointer names ("" for the top of the
    form)."""
    pointer = exc.pointer or (exc.details[0].pointer if exc.details else None) or ""
    parts = pointer.strip("/").split("/")
    where = parts[0] if parts[0] in FIELDS else ""
    if where == "actions" and len(parts) > 1 and parts[1].isdigit():
        where = fields[int(parts[1])] if int(parts[1]) < len(fields) else "actions"
    if where == "actions" and not fields:
        where = "team"  # no action chosen: the first of them says so
    return Refused(exc.status, (exc.detail,), values, key=where)


async def _context(request: Request, agent: Agent, refused: Refused) -> dict[str, Any]:
    """What both pages show; the refusal by the field it is shown on."""
    services = services_of(request)
    definitions = await services.attributes.list(agent.user.org_id, "conversation")
    return {
        "agent": agent,
        "teams": await services.teams.list(agent.actor),
        "definitions": definitions,
        "triggers": TRIGGER_LABELS,
        "example": EXAMPLE,
        "notice": chosen_notice(request, NOTICES, refused),
        "errors": {refused.key or "": refused.messages[0]} if refused.messages else {},
    }


async def _list_page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    context = await _context(request, agent, refused)
    rules = await services_of(request).routing.list(agent.actor)
    fresh = {"name": "", "when": [CREATED, ATTRIBUTES_CHANGED], "criteria": "", "enabled": True}
    fresh |= {"team": "", "roundRobin": True, "tags": "", "attribute": "", "value": ""}
    context |= {
        "rules": rules,
        "team_names": {t.id: t.display_name for t in context["teams"]},
        "values": refused.values or fresh,
    }
    return render(request, "admin_rules.html", context, status_code=refused.status)


async def _rule_page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    """The page of the rule the path names."""
    try:
        rule = await services_of(request).routing.get(agent.actor, request.path_params["id"])
    except KlatchError:
        raise PageError(404, "Not found", "There is no such routing rule.") from None
    context = await _context(request, agent, refused)
    context |= {"rule": rule, "values": refused.values or _of(rule)}
    return render(request, "admin_rule.html", context, status_code=refused.status)


async def _definitions(request: Request, agent: Agent) -> dict[str, AttributeDef]:
    found = await services_of(request).attributes.list(agent.user.org_id, "conversation")
    return {d.name: d for d in found}


rules = admin_page(_list_page)


@page
async def create_rule(request: Request) -> Response:
    agent, form = await admin_write(request)
    values = _form(form)
    fields: list[str] = []
    try:
        body, fields = _body(values, await _definitions(request, agent))
        rule = await services_of(request).routing.create(agent.actor, body)
    except KlatchError as exc:
        return await _list_page(request, agent, field_refused(exc, fields, values))
    return see_other(f"/console/admin/rules/{rule.id}", notice="created")


rule = admin_page(_rule_page)


@page
async def save_rule(request: Request) -> Response:
    agent, form = await admin_write(request)
    rule_id = request.path_params["id"]
    values = _form(form)
    fields: list[str] = []
    try:
        body, fields = _body(values, await _definitions(request, agent))
        await services_of(request).routing.update(agent.actor, rule_id, body)
    except KlatchError as exc:
        if exc.code == "rule_not_found":
            raise PageError(404, "Not found", "There is no such routing rule.") from None
        return await _rule_page(request, agent, field_refused(exc, fields, values))
    return see_other(f"/console/admin/rules/{rule_id}", notice="saved")


async def _change(request: Request, notice: str, changes: Any) -> Response:
    """A change from the list's buttons; back to the list."""
    agent, form = await admin_write(request)
    rule_id = request.path_params["id"]
    service = services_of(request).routing
    try:
        found = await service.get(agent.actor, rule_id)
        if notice == "deleted":
            await service.delete(agent.actor, rule_id)
        else:
            await service.update(agent.actor, rule_id, changes(found, form))
    except KlatchError as exc:
        if exc.code == "rule_not_found":
            raise PageError(404, "Not found", "There is no such routing rule.") from None
        return await _list_page(request, agent, Refused(exc.status, (exc.detail,)))
    return see_other("/console/admin/rules", notice=notice)


@page
async def move_rule(request: Request) -> Response:
    def moved(found: Rule, form: FormData) -> dict[str, Any]:
        step = -1 if form.get("direction") == "up" else 1
        return {"position": max(1, found.position + step)}

    return await _change(request, "moved", moved)


@page
async def enable_rule(request: Request) -> Response:
    return await _change(request, "enabled", lambda found, form: {"enabled": True})


@page
async def disable_rule(request: Request) -> Response:
    return await _change(request, "disabled", lambda found, form: {"enabled": False})


@page
async def delete_rule(request: Request) -> Response:
    return await _change(request, "deleted", None)
