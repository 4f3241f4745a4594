"""The session's conversations: list, create, get, describe (custom attributes), end."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from klatch.errors import InvalidArguments, KlatchError
from klatch.http.client.auth import session_actor, tracking_key
from klatch.http.client.routing import PAGING, ClientRoute
from klatch.http.client.views import conversation_view, ended_view, message_view, pages
from klatch.http.requests import (
    SESSION_HEADER,
    json_response,
    limits_of,
    page_args,
    read_object,
    services_of,
)

PATH = "/c/v1/conversations/{conversation_id}"


async def list_conversations(request: Request) -> Response:
    actor = await session_actor(request)
    page, size = page_args(request)
    result = await services_of(request).conversations.list(actor, page=page, page_size=size)
    return json_response(
        {
            "conversations": [conversation_view(c) for c in result.items],
            "pages": pages(page, result.has_next),
        }
    )


async def create_conversation(request: Request) -> Response:
    actor = await session_actor(request)
    body = await read_object(request, required=False)
    conv, message = await services_of(request).chat.check_create_conversation(
        actor,
        title=body.get("title"),
        body=body.get("message", body.get("body")),
        custom=body.get("customAttributes", body.get("custom")),
        pre_chat_form=body.get("preChatForm"),
    )
    view = conversation_view(conv)
    if message is not None:
        view["message"] = message_view(message)
    return json_response(view, 201)


async def get_conversation(request: Request) -> Response:
    actor = await session_actor(request)
    conv = await services_of(request).conversations.get(
        actor, request.path_params["conversation_id"]
    )
    return json_response(conversation_view(conv))


async def describe_conversation(request: Request) -> Response:
    # The hot path: the session is checked inside the write (see
    # ConversationService.describe_for_session), not by session_actor.
    key = await tracking_key(request)
    token = request.headers.get(SESSION_HEADER)
    limits_of(request).session.hit(token or "")
    conversation_id = request.path_params["conversation_id"]
    custom, body_error = await _custom_of(request)
    merged = await services_of(request).conversations.describe_for_session(
        key, token, conversation_id, custom, body_error=body_error
    )
    return json_response({"conversationId": conversation_id, "custom": merged})


async def _custom_of(request: Request) -> tuple[Any, KlatchError | None]:
    """The attributes to set, or why the body has none: that is reported only once
    the session is known to be valid, so a stale session hears about the session."""
    try:
        body = await read_object(request)
    except KlatchError as exc:  # bad JSON, not an object, too large, not JSON at all
        return None, exc
    custom = body.get("custom", body.get("customAttributes"))
    if custom is None:
        return None, InvalidArguments('Send {"custom": {attribute: value, ...}}', pointer="/custom")
    return custom, None


async def end_conversation(request: Request) -> Response:
    actor = await session_actor(request)
    conv = await services_of(request).conversations.check_end(
        actor, request.path_params["conversation_id"]
    )
    return json_response(ended_view(conv))


routes = [
    ClientRoute(
        "GET",
        "/c/v1/conversations",
        list_conversations,
        "The session's conversations, newest activity first",
        sdk="getConversations",
        parameters=PAGING,
    ),
    ClientRoute(
        "POST",
        "/c/v1/conversations",
        create_conversation,
        "Create a conversation, optionally with a first message, custom attributes and "
        'the answers of the brand\'s pre-chat form ({"preChatForm": {"conversation": '
        '{...}, "customer": {...}}}), in one write',
        sdk="createConversation",
        statuses=(201,),
        body="optional",
    ),
    ClientRoute("GET", PATH, get_conversation, "One of the session's conversations"),
    ClientRoute(
        "PATCH",
        PATH,
        describe_conversation,
        "Set custom attributes of a conversation",
        sdk="describeConversation",
        body="required",
    ),
    ClientRoute(
        "POST", PATH + "/end", end_conversation, "End a conversation", sdk="endConversation"
    ),
]
