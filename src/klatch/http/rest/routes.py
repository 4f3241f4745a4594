"""REST API endpoints (``/v1``): parse, authenticate, call one service, serialise.

Bodies are plain attribute objects as in Kustomer's API
(``{"custom": {"orderNumberStr": "A1"}}``); answers are JSON:API documents.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from klatch.domain.attributes import check_klass
from klatch.domain.models import Actor, Role
from klatch.errors import InvalidArguments
from klatch.http.rest import views
from klatch.http.rest.auth import RestAuth
from klatch.services import Services

PageArg = Query(1, ge=1, le=1_000_000, description="Page number, from 1")
PageSizeArg = Query(100, ge=1, le=100, alias="pageSize", description="Items per page (max 100)")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(_Body):
    name: str | None = Field(None, max_length=256, description="The conversation's title")
    status: Literal["open", "done"] = "open"
    custom: dict[str, Any] | None = Field(None, description="Custom attributes (all or nothing)")
    brand: str | None = Field(None, description="Brand id; the org's default when absent")
    customer: str | None = Field(None, description="Customer id (POST /v1/conversations only)")


class ConversationUpdate(_Body):
    name: str | None = Field(None, max_length=256)
    status: Literal["open", "done"] | None = None
    custom: dict[str, Any] | None = Field(
        None, description="Merged per key; null clears a key; all valid or nothing stored"
    )


class MessageCreate(_Body):
    body: str | None = Field(None, description="The text; `preview` is accepted as its alias")
    preview: str | None = None
    direction: Literal["out"] = "out"
    channel: Literal["chat"] = "chat"
    app: str | None = None
    payload: str | None = None


class TypingActivity(_Body):
    typing: bool = Field(description="true while typing, false when stopped")


class CustomerCreate(_Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str | None = None
    externalId: str | None = None
    email: str | None = None
    emails: list[Any] | None = None
    sharedEmails: list[Any] | None = None
    phones: list[Any] | None = None
    sharedPhones: list[Any] | None = None
    socials: list[Any] | None = None
    sharedSocials: list[Any] | None = None
    custom: dict[str, Any] | None = None


class CustomerUpdate(_Body):
    name: str | None = None
    emails: list[Any] | None = None
    sharedEmails: list[Any] | None = None
    phones: list[Any] | None = None
    sharedPhones: list[Any] | None = None
    socials: list[Any] | None = None
    sharedSocials: list[Any] | None = None
    custom: dict[str, Any] | None = None


class MetadataUpdate(_Body):
    properties: dict[str, dict[str, Any]] = Field(
        ..., description="name -> {type?, displayName?, enumeration?, tree?, sdkWritable?}"
    )


class KeyCreate(_Body):
    name: str = Field(..., min_length=1, max_length=255)
    roles: list[Literal["org.tracking", "org.user", "org.admin"]] = Field(
        ..., min_length=1, max_length=1
    )
    brand: str | None = None


def build_router(services: Services) -> APIRouter:
    auth = RestAuth(services)
    router = APIRouter(prefix="/v1")
    agent = Depends(auth.actor)
    admin = Depends(auth.admin)
    conversations = services.conversations
    customers = services.customers

    # -- customers

    @router.post("/customers", status_code=201, tags=["customers"])
    async def create_customer(body: CustomerCreate, actor: Actor = agent) -> dict[str, Any]:
        customer = await customers.check_create(actor, body.model_dump(exclude_none=True))
        return {"data": views.customer_resource(customer)}

    @router.get("/customers", tags=["customers"])
    async def list_customers(
        page: int = PageArg, page_size: int = PageSizeArg, actor: Actor = agent
    ) -> dict[str, Any]:
        result = await customers.list(actor, page=page, page_size=page_size)
        return views.list_document(
            [views.customer_resource(c) for c in result.items], result, "/v1/customers", {}
        )

    @router.get("/customers/{customer_id}", tags=["customers"])
    async def get_customer(customer_id: str, actor: Actor = agent) -> dict[str, Any]:
        return {"data": views.customer_resource(await customers.get(actor, customer_id))}

    @router.patch("/customers/{customer_id}", tags=["customers"])
    async def update_customer(
        customer_id: str, body: CustomerUpdate, actor: Actor = agent
    ) -> dict[str, Any]:
        given = body.model_dump(exclude_unset=True)
        attributes = {k: v for k, v in given.items() if k not in ("name", "custom")}
        customer = await customers.check_describe(
            actor,
            customer_id,
            attributes=attributes,
            custom=given.get("custom"),
            name=given.get("name", ...),
        )
        return {"data": views.customer_resource(customer)}

    @router.post("/customers/{customer_id}/conversations", status_code=201, tags=["conversations"])
    async def create_customer_conversation(
        customer_id: str, body: ConversationCreate, actor: Actor = agent
    ) -> dict[str, Any]:
        return await _create_conversation(customer_id, body, actor)

    @router.get("/customers/{customer_id}/conversations", tags=["conversations"])
    async def list_customer_conversations(
        customer_id: str,
        page: int = PageArg,
        page_size: int = PageSizeArg,
        actor: Actor = agent,
    ) -> dict[str, Any]:
        await customers.get(actor, customer_id)
        result = await conversations.list(
            actor, page=page, page_size=page_size, customer_id=customer_id
        )
        return views.list_document(
            [views.conversation_resource(c) for c in result.items],
            result,
            f"/v1/customers/{customer_id}/conversations",
            {},
        )

    async def _create_conversation(
        customer_id: str, body: ConversationCreate, actor: Actor
    ) -> dict[str, Any]:
        customer = await customers.get(actor, customer_id)
        brand = await services.orgs.brand_for(actor.org_id, body.brand)
        conv, _ = await conversations.check_create(
            actor,
            customer_id=customer.id,
            brand_id=brand.id,
            title=body.name,
            custom=body.custom,
            status=body.status,
        )
        return {"data": views.conversation_resource(conv)}

    # -- conversations

    @router.post("/conversations", status_code=201, tags=["conversations"])
    async def create_conversation(body: ConversationCreate, actor: Actor = agent) -> dict[str, Any]:
        if not body.customer:
            raise InvalidArguments("customer (a customer id) is required", pointer="/customer")
        return await _create_conversation(body.customer, body, actor)

    @router.get(
        "/conversations",
        tags=["conversations"],
        description=(
            "Conversations of the org, most recently updated first. Filter with `status`, "
            "`customer`, and any custom attribute as `custom.<name>=<value>` (typed by the "
            "attribute's definition: `custom.priorityNum=3`, `custom.vipBool=true`)."
        ),
    )
    async def list_conversations(
        request: Request,
        page: int = PageArg,
        page_size: int = PageSizeArg,
        status: Literal["open", "done"] | None = None,
        customer: str | None = None,
        actor: Actor = agent,
    ) -> dict[str, Any]:
        custom = {
            k.removeprefix("custom."): v
            for k, v in request.query_params.items()
            if k.startswith("custom.")
        }
        result = await conversations.list(
            actor,
            page=page,
            page_size=page_size,
            customer_id=customer,
            status=status,
            custom_filters=custom,
        )
        query = {k: v for k, v in request.query_params.items() if k not in ("page", "pageSize")}
        return views.list_document(
            [views.conversation_resource(c) for c in result.items],
            result,
            "/v1/conversations",
            query,
        )

    @router.get("/conversations/{conversation_id}", tags=["conversations"])
    async def get_conversation(conversation_id: str, actor: Actor = agent) -> dict[str, Any]:
        return {
            "data": views.conversation_resource(await conversations.get(actor, conversation_id))
        }

    async def _update(
        conversation_id: str, body: ConversationUpdate, actor: Actor, replace: bool
    ) -> dict[str, Any]:
        given = body.model_dump(exclude_unset=True)
        conv = await conversations.check_update(
            actor,
            conversation_id,
            custom=given.get("custom"),
            replace_custom=replace,
            status=given.get("status"),
            title=given.get("name", ...),
        )
        return {"data": views.conversation_resource(conv)}

    @router.patch(
        "/conversations/{conversation_id}",
        tags=["conversations"],
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
        conversation_id: str, body: ConversationUpdate, actor: Actor = agent
    ) -> dict[str, Any]:
        return await _update(conversation_id, body, actor, replace=False)

    @router.put(
        "/conversations/{conversation_id}",
        tags=["conversations"],
        description="As PATCH; with `replace=true`, `custom` replaces all custom "
        "attributes (keys not given are cleared).",
    )
    async def put_conversation(
        conversation_id: str,
        body: ConversationUpdate,
        replace: bool = False,
        actor: Actor = agent,
    ) -> dict[str, Any]:
        return await _update(conversation_id, body, actor, replace=replace)

    @router.post("/conversations/{conversation_id}/messages", status_code=201, tags=["messages"])
    async def create_message(
        conversation_id: str, body: MessageCreate, actor: Actor = agent
    ) -> dict[str, Any]:
        message = await conversations.check_send(
            actor,
            conversation_id,
            body.body if body.body is not None else body.preview,
            payload=body.payload,
        )
        return {"data": views.message_resource(message)}

    @router.post(
        "/conversations/{conversation_id}/end",
        tags=["conversations"],
        description="End the conversation (status done); the customer's widget is told at once.",
    )
    async def end_conversation(conversation_id: str, actor: Actor = agent) -> dict[str, Any]:
        conv = await conversations.check_end(actor, conversation_id)
        return {"data": views.conversation_resource(conv)}

    @router.post(
        "/conversations/{conversation_id}/typing",
        status_code=204,
        tags=["conversations"],
        description='Agent typing activity, `{"typing": true}` or `false`; shown live in '
        "the customer's widget, not stored.",
    )
    async def typing(conversation_id: str, body: TypingActivity, actor: Actor = agent) -> None:
        await conversations.check_typing(actor, conversation_id, body.typing)

    @router.get("/conversations/{conversation_id}/messages", tags=["messages"])
    async def list_messages(
        conversation_id: str,
        page: int = PageArg,
        page_size: int = PageSizeArg,
        actor: Actor = agent,
    ) -> dict[str, Any]:
        _, result = await conversations.messages(
            actor, conversation_id, page=page, page_size=page_size
        )
        return views.list_document(
            [views.message_resource(m) for m in result.items],
            result,
            f"/v1/conversations/{conversation_id}/messages",
            {},
        )

    @router.get(
        "/conversations/{conversation_id}/events",
        tags=["conversations"],
        description="The conversation's attribute history, oldest first.",
    )
    async def conversation_history(conversation_id: str, actor: Actor = agent) -> dict[str, Any]:
        events = await conversations.history(actor, conversation_id)
        return {"data": [views.event_resource(e) for e in events]}

    # -- metadata (klass attribute definitions)

    @router.get("/metadata/{klass}", tags=["metadata"])
    async def get_metadata(klass: str, actor: Actor = agent) -> dict[str, Any]:
        check_klass(klass)
        return views.metadata_document(klass, await services.attributes.list(actor.org_id, klass))

    @router.put(
        "/metadata/{klass}",
        tags=["metadata"],
        description="Create or update the named properties, all or nothing. Types "
        "follow the name's suffix (Str, Txt, Num, Bool, At, Url); a name "
        "without one needs `type`.",
    )
    async def put_metadata(
        klass: str, body: MetadataUpdate, actor: Actor = admin
    ) -> dict[str, Any]:
        await services.attributes.put_properties(actor.org_id, klass, body.properties)
        return views.metadata_document(klass, await services.attributes.list(actor.org_id, klass))

    @router.delete("/metadata/{klass}/properties/{name}", status_code=204, tags=["metadata"])
    async def delete_property(klass: str, name: str, actor: Actor = admin) -> None:
        await services.attributes.delete(actor.org_id, klass, name)

    # -- keys and secrets (admin)

    @router.get("/keys", tags=["admin"])
    async def list_keys(actor: Actor = admin) -> dict[str, Any]:
        keys = await services.orgs.list_keys(actor.org_id)
        return {"data": [views.key_resource(k) for k in keys]}

    @router.post("/keys", status_code=201, tags=["admin"])
    async def create_key(body: KeyCreate, actor: Actor = admin) -> dict[str, Any]:
        created = await services.orgs.create_key(
            actor.org_id, role=Role(body.roles[0]), name=body.name, brand_id=body.brand
        )
        return {"data": views.key_resource(created.key, created.secret)}

    @router.delete("/keys/{key_id}", status_code=204, tags=["admin"])
    async def revoke_key(key_id: str, actor: Actor = admin) -> None:
        await services.orgs.revoke_key(actor.org_id, key_id)

    @router.get("/brands", tags=["admin"])
    async def list_brands(actor: Actor = admin) -> dict[str, Any]:
        brands = await services.orgs.list_brands(actor.org_id)
        return {"data": [views.brand_resource(b) for b in brands]}

    @router.patch(
        "/brands/{brand_id}",
        tags=["admin"],
        description="Change a brand's chat settings: `teamName`, `greeting`, `colors`, "
        "`allowedOrigins` (the pages that may use the SDK; empty: any), `enabled`, "
        "`closableChat`, `availability`.",
    )
    async def update_brand(
        brand_id: str, body: dict[str, Any], actor: Actor = admin
    ) -> dict[str, Any]:
        settings = body.get("settings", body)
        brand = await services.orgs.update_brand_settings(actor.org_id, brand_id, settings)
        return {"data": views.brand_resource(brand)}

    @router.get(
        "/auth/customer/settings",
        tags=["admin"],
        description="The secret your server signs login JWTs with (HS256).",
    )
    async def customer_auth_settings(actor: Actor = admin) -> dict[str, Any]:
        secret = await services.chat.org_secret(actor.org_id)
        return {
            "data": {
                "type": "customerAuthSettings",
                "id": actor.org_id,
                "attributes": {"secret": secret, "algorithm": "HS256"},
            }
        }

    return router
