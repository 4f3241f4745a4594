"""``/v1/outbound-webhooks`` (admin): Kustomer's outbound webhook subscriptions, the
events they may name, the delivery log ("transactions"), a redeliver action and
a test event. Also the renderers that make a delivery's ``data`` exactly what
``GET`` returns."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field, StrictBool

from klatch.domain import webhooks as rules
from klatch.domain.events import iso
from klatch.domain.webhooks import Delivery, OutboundWebhook
from klatch.errors import InvalidArguments
from klatch.http.requests import PAGE, PAGE_SIZE, CheckedRoute, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Admin
from klatch.http.rest.notes import note_resource
from klatch.http.rest.tags import tag_resource
from klatch.http.rest.teams import team_resource
from klatch.services.webhooks import Renderers

router = APIRouter(prefix="/v1/outbound-webhooks", tags=["webhooks"], route_class=CheckedRoute)


def renderers() -> Renderers:
    """The REST views, for the outbox to render ``data`` with."""
    return Renderers(
        conversation=views.conversation_resource,
        customer=views.customer_resource,
        message=views.message_resource,
        note=note_resource,
        team=team_resource,
        tag=tag_resource,
        user=views.user_resource,
    )


class Header(StrictBody):
    name: str = Field(..., max_length=rules.MAX_HEADER_NAME)
    value: str = Field(..., max_length=rules.MAX_HEADER_VALUE)


class WebhookCreate(StrictBody):
    name: str = Field(..., max_length=rules.MAX_NAME)
    url: str = Field(..., max_length=rules.MAX_URL, description="https:// and a public address")
    events: list[str] = Field(..., max_length=rules.MAX_EVENTS, description="Event names")
    headers: list[Header] = Field(default_factory=list, max_length=rules.MAX_HEADERS)
    enabled: StrictBool = True


class WebhookUpdate(StrictBody):
    name: str | None = Field(None, max_length=rules.MAX_NAME)
    url: str | None = Field(None, max_length=rules.MAX_URL)
    events: list[str] | None = Field(None, max_length=rules.MAX_EVENTS)
    headers: list[Header] | None = Field(None, max_length=rules.MAX_HEADERS)
    enabled: StrictBool | None = None


def webhook_resource(hook: OutboundWebhook) -> dict[str, Any]:
    return {
        "type": "outboundWebhook",
        "id": hook.id,
        "attributes": {
            "name": hook.name,
            "url": hook.url,
            "events": hook.events,
            "headers": hook.headers,
            "enabled": hook.enabled,
            "token": hook.token,
            "disabledReason": hook.disabled_reason,
            "disabledAt": iso(hook.disabled_at),
            "createdAt": iso(hook.created_at),
            "updatedAt": iso(hook.updated_at),
        },
        "links": {"self": f"/v1/outbound-webhooks/{hook.id}"},
    }


def transaction_resource(delivery: Delivery) -> dict[str, Any]:
    base = f"/v1/outbound-webhooks/{delivery.webhook_id}/transactions/{delivery.seq}"
    return {
        "type": "outboundWebhookTransaction",
        "id": str(delivery.seq),
        "attributes": {
            "event": delivery.name,
            "eventId": delivery.envelope_id,
            "dataId": delivery.data_id,
            "status": delivery.state,
            "attemptCount": delivery.attempts,
            "nextAttemptAt": iso(delivery.due_at) if delivery.state == "pending" else None,
            "lastStatusCode": delivery.last_status,
            "lastError": delivery.last_error,
            "createdAt": iso(delivery.created_at),
            "deliveredAt": iso(delivery.delivered_at),
            "attempts": [
                {
                    "at": iso(t.at),
                    "statusCode": t.status_code,
                    "durationMs": t.duration_ms,
                    "error": t.error,
                    "response": t.response,
                }
                for t in delivery.log
            ],
        },
        "links": {"self": base, "redeliver": f"{base}/redeliver"},
    }


def _fields(body: StrictBody) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


@router.get("/events", description="The events a webhook may subscribe to (a plain list).")
async def list_events(actor: Admin) -> dict[str, Any]:
    return {"events": list(rules.EVENTS)}


@router.post("", status_code=201)
async def create_webhook(request: Request, body: WebhookCreate, actor: Admin) -> dict[str, Any]:
    hook = await services_of(request).webhooks.check_create(actor, body.model_dump())
    return {"data": webhook_resource(hook)}


@router.get("")
async def list_webhooks(
    request: Request, actor: Admin, page: int = PAGE, page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    result = await services_of(request).webhooks.list(actor, page=page, page_size=page_size)
    return views.page_document(result, webhook_resource, "/v1/outbound-webhooks")


@router.get("/{webhook_id}")
async def get_webhook(request: Request, webhook_id: str, actor: Admin) -> dict[str, Any]:
    hook = await services_of(request).webhooks.get(actor, webhook_id)
    return {"data": webhook_resource(hook)}


@router.patch(
    "/{webhook_id}",
    description="Change the fields given. Enabling a webhook that Klatch disabled "
    "sends the deliveries that waited, in order, on a fresh retry schedule.",
)
async def update_webhook(
    request: Request, webhook_id: str, body: WebhookUpdate, actor: Admin
) -> dict[str, Any]:
    fields = _fields(body)
    nulls = [k for k, v in fields.items() if v is None]
    if nulls:
        raise InvalidArguments(f"{nulls[0]} cannot be null", pointer=f"/{nulls[0]}")
    hook = await services_of(request).webhooks.check_update(actor, webhook_id, fields)
    return {"data": webhook_resource(hook)}


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(request: Request, webhook_id: str, actor: Admin) -> None:
    await services_of(request).webhooks.check_delete(actor, webhook_id)


@router.get(
    "/{webhook_id}/transactions",
    description="The delivery log, newest first: each delivery with its attempts "
    "(time, status code, duration, error, the start of the response).",
)
async def list_transactions(
    request: Request,
    webhook_id: str,
    actor: Admin,
    page: int = PAGE,
    page_size: int = PAGE_SIZE,
) -> dict[str, Any]:
    result = await services_of(request).webhooks.transactions(
        actor, webhook_id, page=page, page_size=page_size
    )
    return views.page_document(
        result, transaction_resource, f"/v1/outbound-webhooks/{webhook_id}/transactions"
    )


@router.post("/{webhook_id}/transactions/{transaction_id}/redeliver", status_code=202)
async def redeliver(
    request: Request, webhook_id: str, transaction_id: str, actor: Admin
) -> dict[str, Any]:
    if not transaction_id.isdigit() or len(transaction_id) > 18:
        raise InvalidArguments("A transaction id is a number", pointer="/path/transaction_id")
    delivery = await services_of(request).webhooks.check_redeliver(
        actor, webhook_id, int(transaction_id)
    )
    return {"data": transaction_resource(delivery)}


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    description=f"Send a `{rules.TEST_EVENT}` envelope to this webhook (see its transactions).",
)
async def send_test(request: Request, webhook_id: str, actor: Admin) -> dict[str, Any]:
    delivery = await services_of(request).webhooks.check_send_test(actor, webhook_id)
    return {"data": transaction_resource(delivery)}
