"""Admin pages of outbound webhooks: the list (with a banner for each webhook Klatch
disabled because its receiver kept failing), a form to create one, and a page per
webhook to edit it, enable or disable it, send a test event, delete it, and
browse its delivery log (each delivery's attempts, with a redeliver button)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from klatch.console import alerts
from klatch.console.admin.forms import (
    NOTHING,
    Refused,
    admin_page,
    admin_write,
    chosen_notice,
    lines,
    text,
)
from klatch.console.session import Agent
from klatch.console.web import (
    PageError,
    page,
    render,
    secure_cookies,
    see_other,
    services_of,
)
from klatch.domain.webhooks import EVENTS, OutboundWebhook
from klatch.errors import KlatchError

LOG_PAGE = 25
NOTICES = {
    "created": "Created the webhook. Its signing token is below.",
    "saved": "Saved.",
    "enabled": "Enabled: deliveries that waited go out now, in order.",
    "disabled": "Disabled: nothing is sent until it is enabled again.",
    "tested": "A test event is on its way; it shows in the log below.",
    "redelivered": "The delivery is sent again.",
    "deleted": "Deleted the webhook and its delivery log.",
}


def _form_values(form: FormData) -> dict[str, Any]:
    headers = []
    for line in lines(text(form, "headers")):
        name, _, value = line.partition(":")
        headers.append({"name": name.strip(), "value": value.strip()})
    return {
        "name": text(form, "name"),
        "url": text(form, "url"),
        "events": [e for e in form.getlist("events") if isinstance(e, str)],
        "headers": headers,
    }


def _shown(values: dict[str, Any]) -> dict[str, Any]:
    """Form values as the form shows them (headers as lines)."""
    headers = "\n".join(f"{h['name']}: {h['value']}" for h in values.get("headers", []))
    return {**values, "headers": headers}


def _of(hook: OutboundWebhook) -> dict[str, Any]:
    return _shown(
        {"name": hook.name, "url": hook.url, "events": hook.events, "headers": hook.headers}
    )


async def _list_page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    listed = await services_of(request).webhooks.list(agent.actor, page=1, page_size=100)
    hooks: list[OutboundWebhook] = list(listed.items)
    context = {
        "agent": agent,
        "hooks": hooks,
        "failing": [h for h in hooks if h.disabled_reason],
        "events": EVENTS,
        "notice": chosen_notice(request, NOTICES, refused),
        "form_errors": refused.messages,
        "values": refused.values
        or {"name": "", "url": "https://", "events": list(EVENTS), "headers": ""},
    }
    return render(request, "admin_webhooks.html", context, status_code=refused.status)


async def _hook_page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    """The page of the webhook the path names."""
    services = services_of(request)
    webhook_id = request.path_params["id"]
    try:
        hook = await services.webhooks.get(agent.actor, webhook_id)
    except KlatchError:
        raise PageError(404, "Not found", "There is no such webhook.") from None
    number = _page_number(request)
    log = await services.webhooks.transactions(
        agent.actor, webhook_id, page=number, page_size=LOG_PAGE
    )
    context = {
        "agent": agent,
        "hook": hook,
        "events": EVENTS,
        "log": log,
        "pending": await services.webhooks.pending(agent.actor, webhook_id),
        "notice": chosen_notice(request, NOTICES, refused),
        "errors": refused.messages,
        "values": refused.values or _of(hook),
    }
    return render(request, "admin_webhook.html", context, status_code=refused.status)


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 10_000 else 1


webhooks = admin_page(_list_page)


@page
async def create_webhook(request: Request) -> Response:
    agent, form = await admin_write(request)
    values = _form_values(form)
    try:
        hook = await services_of(request).webhooks.check_create(agent.actor, values)
    except KlatchError as exc:
        return await _list_page(request, agent, Refused.of(exc, _shown(values)))
    return see_other(f"/console/admin/webhooks/{hook.id}", notice="created")


webhook = admin_page(_hook_page)


@page
async def save_webhook(request: Request) -> Response:
    agent, form = await admin_write(request)
    webhook_id = request.path_params["id"]
    values = _form_values(form)
    try:
        await services_of(request).webhooks.check_update(agent.actor, webhook_id, values)
    except KlatchError as exc:
        return await _hook_page(request, agent, Refused.of(exc, _shown(values)))
    return see_other(f"/console/admin/webhooks/{webhook_id}", notice="saved")


async def _act(request: Request, notice: str, action: Any) -> Response:
    agent, _ = await admin_write(request)
    webhook_id = request.path_params["id"]
    try:
        await action(agent, webhook_id)
    except KlatchError as exc:
        if exc.status == 404 and notice != "redelivered":
            raise PageError(404, "Not found", "There is no such webhook.") from None
        return await _hook_page(request, agent, Refused.of(exc))
    target = (
        "/console/admin/webhooks"
        if notice == "deleted"
        else f"/console/admin/webhooks/{webhook_id}"
    )
    return see_other(target, notice=notice)


@page
async def enable_webhook(request: Request) -> Response:
    service = services_of(request).webhooks
    return await _act(
        request, "enabled", lambda a, i: service.check_update(a.actor, i, {"enabled": True})
    )


@page
async def disable_webhook(request: Request) -> Response:
    service = services_of(request).webhooks
    return await _act(
        request, "disabled", lambda a, i: service.check_update(a.actor, i, {"enabled": False})
    )


@page
async def test_webhook(request: Request) -> Response:
    service = services_of(request).webhooks
    return await _act(request, "tested", lambda a, i: service.check_send_test(a.actor, i))


@page
async def delete_webhook(request: Request) -> Response:
    service = services_of(request).webhooks
    return await _act(request, "deleted", lambda a, i: service.check_delete(a.actor, i))


@page
async def redeliver(request: Request) -> Response:
    service = services_of(request).webhooks
    raw = request.path_params["seq"]
    seq = int(raw) if raw.isdigit() and len(raw) <= 18 else 0
    return await _act(request, "redelivered", lambda a, i: service.check_redeliver(a.actor, i, seq))


@page
async def dismiss_alert(request: Request) -> Response:
    """Hide the alert of a webhook Klatch disabled, in this browser, until it is
    disabled again; back to the page the alert was dismissed on."""
    agent, form = await admin_write(request)
    back = see_other(alerts.safe_next(text(form, "next")))
    hook = next((h for h in agent.disabled_webhooks if h.id == request.path_params["id"]), None)
    if hook is not None:
        back.set_cookie(
            alerts.DISMISSED_COOKIE,
            alerts.dismiss(request.cookies.get(alerts.DISMISSED_COOKIE), hook),
            max_age=365 * 86_400,
            path="/console",
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
        )
    return back
