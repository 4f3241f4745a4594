"""``/v1/conversations`` (and a customer's): create, list, get (by id or externalId),
update, end, delete."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from klatch.domain.models import Actor
from klatch.errors import InvalidArguments
from klatch.http.requests import PAGE, CheckedRoute, PageSize, StrictBody, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import Agent

router = APIRouter(prefix="/v1", tags=["conversations"], route_class=CheckedRoute)


class ConversationCreate(StrictBody):
    name: str | None = Field(None, max_length=256, description="The conversation's title")
    status: Literal["open", "done"] = "open"
    custom: dict[str, Any] | None = Field(None, description="Custom attributes (all or nothing)")
    brand: str | None = Field(None, description="Brand id; the org's default when absent")
    customer: str | None = Field(None, description="Customer id (POST /v1/conversations only)")
    externalId: str | None = Field(
        None, min_length=1, max_length=256, description="Your id for it; unique per org"
    )


class ConversationUpdate(StrictBody):
    name: str | None = Field(None, max_length=256)
    status: Literal["open", "done"] | None = None
    custom: dict[str, Any] | None = Field(
        None, description="Merged per key; null clears a key; all valid or nothing stored"
    )
    externalId: str | None = Field(
        None, min_length=1, max_length=256, description="Unique per org; null clears it"
    )
    assignedUsers: list[str] | None = Field(
        None, max_length=10, description="User ids it is assigned to (the whole list; [] none)"
    )
    assignedTeams: list[str] | None = Field(
        None, max_length=10, description="Team ids it is assigned to (the whole list; [] none)"
    )
    tags: list[str] | None = Field(
        None, max_length=50, description="Tag ids (or names) it carries: the whole list; [] none"
    )


@router.post("/customers/{customer_id}/conversations", status_code=201)
async def create_customer_conversation(
    request: Request, customer_id: str, body: ConversationCreate, actor: Agent
) -> dict[str, Any]:
    return await _create(request, actor, customer_id, body)


@router.get("/customers/{customer_id}/conversations")
async def list_customer_conversations(
    request: Request,
    customer_id: str,
    actor: Agent,
    page_size: PageSize,
    page: int = PAGE,
) -> dict[str, Any]:
    result = await services_of(request).conversations.list_for_customer(
        actor, customer_id, page=page, page_size=page_size
    )
    return views.page_document(
        result, views.conversation_resource, f"/v1/customers/{customer_id}/conversations"
    )


@router.post("/conversations", status_code=201)
async def create_conversation(
    request: Request, body: ConversationCreate, actor: Agent
) -> dict[str, Any]:
    if not body.customer:
        raise InvalidArguments("customer (a customer id) is required", pointer="/customer")
    return await _create(request, actor, body.customer, body)


async def _create(
    request: Request, actor: Actor, customer_id: str, body: ConversationCreate
) -> dict[str, Any]:
    conv = await services_of(request).conversations.check_create_for_customer(
        actor,
        customer_id,
        brand_id=body.brand,
        title=body.name,
        custom=body.custom,
        status=body.status,
        external_id=body.externalId,
    )
    return {"data": views.conversation_resource(conv)}


@router.get(
    "/conversations",
    description=(
        "Conversations of the org, most recently updated first. Filter with `status`, "
        "`customer`, and any custom attribute as `custom.<name>=<value>` (typed by the "
        "attribute's definition: `custom.priorityNum=3`, `custom.vipBool=true`). "
        "Follow `links.next`: its cursor reads the next page by keyset, as fast however "
        "deep, and rows added meanwhile neither shift nor repeat the pages; `page=N` "
        "alone reads by offset."
    ),
)
async def list_conversations(
    request: Request,
    actor: Agent,
    page_size: PageSize,
    page: int = PAGE,
    status: Literal["open", "done"] | None = None,
    customer: str | None = Query(None, max_length=64, description="A customer id"),
    cursor: str | None = Query(None, max_length=1024, description="From links.next; opaque"),
) -> dict[str, Any]:
    query = request.query_params
    result = await services_of(request).conversations.list(
        actor,
        page=page,
        page_size=page_size,
        customer_id=customer,
        status=status,
        custom_filters={
            k.removeprefix("custom."): v for k, v in query.items() if k.startswith("custom.")
        },
        cursor=cursor,
    )
    return views.page_document(
        result,
        views.conversation_resource,
        "/v1/conversations",
        {k: v for k, v in query.items() if k not in ("page", "pageSize", "cursor")},
    )


# Before /conversations/{conversation_id}, which would take "externalId=..." for an id.
@router.get(
    "/conversations/externalId={external_id}",
    description="The conversation with this externalId (unique per org).",
)
async def get_conversation_by_external_id(
    request: Request, external_id: str, actor: Agent
) -> dict[str, Any]:
    conv = await services_of(request).conversations.get_by_external_id(actor, external_id)
    return {"data": views.conversation_resource(conv)}


@router.get("/conversations/{conversation_id}")
async def get_conversation(request: Request, conversation_id: str, actor: Agent) -> dict[str, Any]:
    conv = await services_of(request).conversations.get(actor, conversation_id)
    return {"data": views.conversation_resource(conv)}


@router.patch(
    "/conversations/{conversation_id}",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json-patch+json": {
                    "schema": {"$ref": "#/components/schemas/ConversationUpdate"}
                }
            }
        }
    },
)
async def patch_conversation(
    request: Request, conversation_id: str, body: ConversationUpdate, actor: Agent
) -> dict[str, Any]:
    return await _update(request, actor, conversation_id, body, replace=False)


@router.put(
    "/conversations/{conversation_id}",
    description="As PATCH; with `replace=true`, `custom` replaces all custom "
    "attributes (keys not given are cleared).",
)
async def put_conversation(
    request: Request,
    conversation_id: str,
    body: ConversationUpdate,
    actor: Agent,
    replace: bool = False,
) -> dict[str, Any]:
    return await _update(request, actor, conversation_id, body, replace=replace)


async def _update(
    request: Request, actor: Actor, conversation_id: str, body: ConversationUpdate, *, replace: bool
) -> dict[str, Any]:
    conv = await services_of(request).conversations.check_update(
        actor, conversation_id, body.model_dump(exclude_unset=True), replace_custom=replace
    )
    return {"data": views.conversation_resource(conv)}


@router.post(
    "/conversations/{conversation_id}/end",
    description="End the conversation (status done); the customer's widget is told at once.",
)
async def end_conversation(request: Request, conversation_id: str, actor: Agent) -> dict[str, Any]:
    conv = await services_of(request).conversations.check_end(actor, conversation_id)
    return {"data": views.conversation_resource(conv)}


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    description=(
        "Delete the conversation and its messages. Its events stay in the log without "
        "their personal data, and `conversation.deleted` says it went."
    ),
)
async def delete_conversation(request: Request, conversation_id: str, actor: Agent) -> None:
    await services_of(request).conversations.delete(actor, conversation_id)
