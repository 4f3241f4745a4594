"""The client API (``/c/v1``), called by the browser SDKs and ``klatch.chat``.

Plain Starlette endpoints: this is the chat hot path, so each request is parsed
with orjson and dispatched to one service call without framework layers.
Authentication: ``Authorization: Bearer <tracking key>`` (the public
``org.tracking`` key from the script tag) plus ``X-Klatch-Session: <token>``
from ``POST /c/v1/sessions``. Response bodies use the Kustomer SDK's field
names (``conversationId``, ``createdAt``, ``sentBy`` ...) so the SDKs hand them
to callbacks unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from klatch.domain.brands import availability
from klatch.domain.events import iso
from klatch.domain.models import Actor, Conversation, Customer, Message
from klatch.errors import AttributeErrors, InvalidArguments, PayloadTooLarge, UnsupportedMediaType
from klatch.http.ratelimit import RateLimiter
from klatch.services import Services

SESSION_HEADER = "x-klatch-session"
JSON_TYPES = ("application/json", "application/vnd.api+json", "application/json-patch+json")
Endpoint = Callable[[Request], Awaitable[Response]]
MAX_PAGE = 1_000_000


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request's JSON body (size is capped by ``BodyLimit``); clear 4xx otherwise."""
    body = await request.body()
    if not body:
        if required:
            raise InvalidArguments("The request needs a JSON body", code="invalid_json")
        return {}
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(JSON_TYPES):
        raise UnsupportedMediaType(
            f"Send JSON with Content-Type: application/json (got '{content_type or 'none'}')"
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArguments(f"The body is not valid JSON: {exc}", code="invalid_json") from None


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidArguments("The body must be a JSON object")
    return body


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _page_args(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("pageSize", "100"))
    except ValueError:
        raise InvalidArguments("page and pageSize must be whole numbers") from None
    # The offset, (page - 1) * pageSize, must fit the databases' 64-bit integers.
    if not 1 <= page <= MAX_PAGE or not 1 <= size <= 100:
        raise InvalidArguments(f"page is 1 to {MAX_PAGE}; pageSize is 1 to 100")
    return page, size


# ---------------------------------------------------------------- views


def conversation_view(conv: Conversation) -> dict[str, Any]:
    return {
        "conversationId": conv.id,
        "createdAt": iso(conv.created_at),
        "updatedAt": iso(conv.updated_at),
        "lastMessageAt": iso(conv.last_message_at),
        "preview": conv.preview,
        "title": conv.title,
        "status": conv.status,
        "ended": conv.ended,
        "endedAt": iso(conv.ended_at),
        "isInAssistantMode": False,
        "brandId": conv.brand_id,
        "custom": conv.custom,
    }


def message_view(m: Message) -> dict[str, Any]:
    return {
        "messageId": m.id,
        "conversationId": m.conversation_id,
        "body": m.body,
        "payload": m.payload,
        "direction": m.direction,
        "createdAt": iso(m.created_at),
        "attachments": [],
        "meta": {},
        "sentBy": {
            "type": m.sent_by_type,
            "id": m.sent_by_id,
            "displayName": m.sent_by_name,
            "avatarUrl": None,
        },
    }


def customer_view(c: Customer) -> dict[str, Any]:
    return {
        "customerId": c.id,
        "identified": c.verified,
        "email": c.email,
        "externalId": c.external_id,
        "name": c.name,
        "attributes": {
            "sharedEmails": c.emails,
            "sharedPhones": c.phones,
            "sharedSocials": c.socials,
        },
        "custom": c.custom,
    }


def _pages(page: int, has_next: bool) -> dict[str, Any]:
    return {
        "current": page,
        "first": 1,
        "next": page + 1 if has_next else None,
        "previous": page - 1 if page > 1 else None,
    }


# ---------------------------------------------------------------- endpoints


@dataclass(frozen=True, slots=True)
class ClientEndpoint:
    """One client API operation, also the source of its OpenAPI entry."""

    method: str
    path: str
    handler: Endpoint
    summary: str
    sdk: str | None = None  # the SDK method it serves
    status: int = 200


def client_endpoints(services: Services) -> list[ClientEndpoint]:
    chat = services.chat
    conversations = services.conversations
    settings = services.settings
    limiter = RateLimiter(settings.rate_limit_session, what="requests of this chat session")

    async def actor_for(request: Request) -> Actor:
        token = request.headers.get(SESSION_HEADER)
        actor = await chat.authenticate(bearer(request), token)
        limiter.hit(token or "")
        return actor

    async def start_session(request: Request) -> Response:
        body = _object(await read_json(request, required=False))
        brand_id = body.get("brandId")
        if brand_id is not None and not isinstance(brand_id, str):
            raise InvalidArguments("brandId must be a string", pointer="/brandId")
        key = await chat.tracking_key(bearer(request))
        started = await chat.start(
            key, brand_id=brand_id, token=request.headers.get(SESSION_HEADER)
        )
        return json_response(
            {
                "sessionToken": started.token,
                "customerId": started.session.customer_id,
                "orgId": started.session.org_id,
                "brandId": started.brand.id,
                "resumed": started.resumed,
                "settings": {"brandId": started.brand.id, **started.brand.settings},
                "availability": availability(started.brand.settings),
            },
            200 if started.resumed else 201,
        )

    async def get_settings(request: Request) -> Response:
        key = await chat.tracking_key(bearer(request))
        brand, state = await chat.settings(key, request.query_params.get("brandId"))
        return json_response(
            {
                "brandId": brand.id,
                "settings": {"brandId": brand.id, **brand.settings},
                "availability": state,
            }
        )

    async def list_conversations(request: Request) -> Response:
        actor = await actor_for(request)
        page, size = _page_args(request)
        result = await conversations.list(actor, page=page, page_size=size)
        return json_response(
            {
                "conversations": [conversation_view(c) for c in result.items],
                "pages": _pages(page, result.has_next),
            }
        )

    async def create_conversation(request: Request) -> Response:
        actor = await actor_for(request)
        body = _object(await read_json(request, required=False))
        assert actor.customer_id is not None and actor.brand_id is not None
        conv, message = await conversations.check_create(
            actor,
            customer_id=actor.customer_id,
            brand_id=actor.brand_id,
            title=body.get("title"),
            body=body.get("message", body.get("body")),
            custom=body.get("customAttributes", body.get("custom")),
        )
        view = conversation_view(conv)
        if message is not None:
            view["message"] = message_view(message)
        return json_response(view, 201)

    async def get_conversation(request: Request) -> Response:
        actor = await actor_for(request)
        conv = await conversations.get(actor, request.path_params["conversation_id"])
        return json_response(conversation_view(conv))

    async def describe_conversation(request: Request) -> Response:
        # The hot path: the session is checked inside the write (see
        # ConversationService.describe_for_session), not by actor_for.
        key = await chat.tracking_key(bearer(request))
        token = request.headers.get(SESSION_HEADER)
        limiter.hit(token or "")
        conversation_id = request.path_params["conversation_id"]
        try:
            body = _object(await read_json(request))
            custom = body.get("custom", body.get("customAttributes"))
            if custom is None:
                raise InvalidArguments(
                    'Send {"custom": {attribute: value, ...}}', pointer="/custom"
                )
            merged = await conversations.describe_for_session(key, token, conversation_id, custom)
        except (InvalidArguments, AttributeErrors, UnsupportedMediaType, PayloadTooLarge):
            # Without a valid session, that is the problem to report, not the body.
            await chat.check_session(key, token)
            raise
        return json_response({"conversationId": conversation_id, "custom": merged})

    async def end_conversation(request: Request) -> Response:
        actor = await actor_for(request)
        conv = await conversations.check_end(actor, request.path_params["conversation_id"])
        return json_response(
            {
                "conversationId": conv.id,
                "createdAt": iso(conv.created_at),
                "ended": conv.ended,
                "endedAt": iso(conv.ended_at),
            }
        )

    async def list_messages(request: Request) -> Response:
        actor = await actor_for(request)
        page, size = _page_args(request)
        conv, result = await conversations.messages(
            actor, request.path_params["conversation_id"], page=page, page_size=size
        )
        return json_response(
            {
                "conversationId": conv.id,
                "messages": [message_view(m) for m in result.items],
                "pages": _pages(page, result.has_next),
            }
        )

    async def send_message(request: Request) -> Response:
        actor = await actor_for(request)
        body = _object(await read_json(request))
        message = await conversations.check_send(
            actor,
            request.path_params["conversation_id"],
            body.get("body"),
            payload=body.get("payload"),
        )
        return json_response(message_view(message), 201)

    async def send_typing(request: Request) -> Response:
        actor = await actor_for(request)
        body = _object(await read_json(request))
        await conversations.check_typing(
            actor, request.path_params["conversation_id"], body.get("typing")
        )
        return Response(status_code=204)

    async def mark_read(request: Request) -> Response:
        actor = await actor_for(request)
        conv = await conversations.mark_read(actor, request.path_params["conversation_id"])
        return json_response({"conversationId": conv.id})

    async def unread(request: Request) -> Response:
        actor = await actor_for(request)
        counts = await conversations.unread_counts(actor)
        return json_response({"total": sum(counts.values()), "conversations": counts})

    async def get_customer(request: Request) -> Response:
        actor = await actor_for(request)
        return json_response(customer_view(await chat.customer(actor)))

    async def describe_customer(request: Request) -> Response:
        actor = await actor_for(request)
        body = _object(await read_json(request))
        assert actor.customer_id is not None
        customer = await services.customers.check_describe(
            actor,
            actor.customer_id,
            attributes=body.get("attributes"),
            custom=body.get("customAttributes", body.get("custom")),
        )
        return json_response(customer_view(customer))

    async def login(request: Request) -> Response:
        actor = await actor_for(request)
        body = _object(await read_json(request))
        result = await chat.login(actor, body.get("jwtToken"))
        c = result.customer
        return json_response(
            {
                "identified": True,
                "customerId": c.id,
                "email": c.email,
                "externalId": c.external_id,
                "mergedConversationIds": result.merged_conversations,
            }
        )

    async def logout(request: Request) -> Response:
        actor = await actor_for(request)
        await chat.logout(actor)
        return json_response({"loggedOut": True})

    conv = "/c/v1/conversations/{conversation_id}"
    return [
        ClientEndpoint(
            "POST",
            "/c/v1/sessions",
            start_session,
            "Start (or resume) a chat session with the tracking key",
            "start/init",
        ),
        ClientEndpoint(
            "GET",
            "/c/v1/settings",
            get_settings,
            "Chat settings and availability of a brand",
            "getChatSettings",
        ),
        ClientEndpoint(
            "GET",
            "/c/v1/conversations",
            list_conversations,
            "The session's conversations, newest activity first",
            "getConversations",
        ),
        ClientEndpoint(
            "POST",
            "/c/v1/conversations",
            create_conversation,
            "Create a conversation, optionally with a first message",
            "createConversation",
            201,
        ),
        ClientEndpoint("GET", conv, get_conversation, "One of the session's conversations"),
        ClientEndpoint(
            "PATCH",
            conv,
            describe_conversation,
            "Set custom attributes of a conversation",
            "describeConversation",
        ),
        ClientEndpoint(
            "POST", conv + "/end", end_conversation, "End a conversation", "endConversation"
        ),
        ClientEndpoint(
            "GET", conv + "/messages", list_messages, "Messages of a conversation", "getMessages"
        ),
        ClientEndpoint(
            "POST", conv + "/messages", send_message, "Send a message", "sendMessage", 201
        ),
        ClientEndpoint("POST", conv + "/read", mark_read, "Mark a conversation read", "markRead"),
        ClientEndpoint(
            "POST",
            conv + "/typing",
            send_typing,
            'Typing activity: {"typing": true|false}',
            "sendTypingActivity",
            204,
        ),
        ClientEndpoint(
            "GET",
            "/c/v1/unread",
            unread,
            "Unread agent messages per conversation",
            "getUnreadCount",
        ),
        ClientEndpoint("GET", "/c/v1/customers/current", get_customer, "The session's customer"),
        ClientEndpoint(
            "PATCH",
            "/c/v1/customers/current",
            describe_customer,
            "Describe the session's customer",
            "describeCustomer",
        ),
        ClientEndpoint(
            "POST",
            "/c/v1/login",
            login,
            "Identify the customer with a JWT signed by the org secret",
            "login",
        ),
        ClientEndpoint("POST", "/c/v1/logout", logout, "End the chat session", "logout"),
    ]


def client_routes(endpoints: list[ClientEndpoint]) -> list[Route]:
    return [Route(e.path, e.handler, methods=[e.method]) for e in endpoints]
