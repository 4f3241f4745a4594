"""Messages of the session's conversations: list, send, typing, read and unread."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from klatch.http.client.auth import session_actor
from klatch.http.client.conversations import PATH
from klatch.http.client.routing import PAGING, ClientRoute
from klatch.http.client.views import message_view, pages
from klatch.http.requests import json_response, page_args, read_object, services_of


async def list_messages(request: Request) -> Response:
    actor = await session_actor(request)
    page, size = page_args(request)
    conv, result = await services_of(request).messages.list(
        actor, request.path_params["conversation_id"], page=page, page_size=size
    )
    return json_response(
        {
            "conversationId": conv.id,
            "messages": [message_view(m) for m in result.items],
            "pages": pages(page, result.has_next),
        }
    )


async def send_message(request: Request) -> Response:
    actor = await session_actor(request)
    body = await read_object(request)
    message = await services_of(request).messages.check_send(
        actor,
        request.path_params["conversation_id"],
        body.get("body"),
        payload=body.get("payload"),
    )
    return json_response(message_view(message), 201)


async def send_typing(request: Request) -> Response:
    actor = await session_actor(request)
    body = await read_object(request)
    await services_of(request).messages.check_typing(
        actor, request.path_params["conversation_id"], body.get("typing")
    )
    return Response(status_code=204)


async def mark_read(request: Request) -> Response:
    actor = await session_actor(request)
    conv = await services_of(request).messages.mark_read(
        actor, request.path_params["conversation_id"]
    )
    return json_response({"conversationId": conv.id})


async def unread(request: Request) -> Response:
    actor = await session_actor(request)
    counts, newest = await services_of(request).messages.unread_counts(actor)
    return json_response(
        {"total": sum(counts.values()), "conversations": counts, "lastEventId": newest}
    )


routes = [
    ClientRoute(
        "GET",
        PATH + "/messages",
        list_messages,
        "Messages of a conversation",
        sdk="getMessages",
        parameters=PAGING,
    ),
    ClientRoute(
        "POST",
        PATH + "/messages",
        send_message,
        "Send a message",
        sdk="sendMessage",
        statuses=(201,),
        body="required",
    ),
    ClientRoute("POST", PATH + "/read", mark_read, "Mark a conversation read", sdk="markRead"),
    ClientRoute(
        "POST",
        PATH + "/typing",
        send_typing,
        'Typing activity: {"typing": true|false}',
        sdk="sendTypingActivity",
        statuses=(204,),
        body="required",
    ),
    ClientRoute(
        "GET",
        "/c/v1/unread",
        unread,
        "Unread agent messages per conversation",
        sdk="getUnreadCount",
    ),
]
