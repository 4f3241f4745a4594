"""Chat sessions: start or resume one, the brand's settings, login and logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from klatch.domain.brands import availability
from klatch.domain.models import ApiKey
from klatch.errors import InvalidArguments, Unauthorized
from klatch.http.client.auth import session_actor, tracking_key
from klatch.http.client.routing import BRAND_QUERY, RESUME_HEADER, ClientRoute
from klatch.http.client.views import chat_settings_view
from klatch.http.requests import (
    SESSION_HEADER,
    json_response,
    limits_of,
    read_object,
    services_of,
)


async def start_session(request: Request) -> Response:
    body = await read_object(request, required=False)
    brand_id = body.get("brandId")
    if brand_id is not None and not isinstance(brand_id, str):
        raise InvalidArguments("brandId must be a string", pointer="/brandId")
    key = await tracking_key(request)
    token = request.headers.get(SESSION_HEADER)
    if not await _resumes(request, key, token):
        # Refused before anything is created: each new session is a customer row.
        limits_of(request).new_session(request.scope, key.id)
    started = await services_of(request).chat.start(key, brand_id=brand_id, token=token)
    brand = started.brand
    return json_response(
        {
            "sessionToken": started.token,
            "customerId": started.session.customer_id,
            "orgId": started.session.org_id,
            "brandId": brand.id,
            "resumed": started.resumed,
            **chat_settings_view(brand, availability(brand.settings), started.pre_chat_form),
        },
        200 if started.resumed else 201,
    )


async def _resumes(request: Request, key: ApiKey, token: str | None) -> bool:
    """Does ``token`` name a live session of ``key``'s org (a resume, not counted)?"""
    if not token:
        return False
    try:
        await services_of(request).chat.check_session(key, token)
    except Unauthorized:
        return False
    return True


async def get_settings(request: Request) -> Response:
    key = await tracking_key(request)
    found = await services_of(request).chat.settings(key, request.query_params.get("brandId"))
    view = chat_settings_view(found.brand, found.availability, found.pre_chat_form)
    return json_response({"brandId": found.brand.id, **view})


async def login(request: Request) -> Response:
    actor = await session_actor(request)
    body = await read_object(request)
    result = await services_of(request).chat.login(actor, body.get("jwtToken"))
    customer = result.customer
    return json_response(
        {
            "identified": True,
            "customerId": customer.id,
            "email": customer.email,
            "externalId": customer.external_id,
            "mergedConversationIds": result.merged_conversations,
        }
    )


async def logout(request: Request) -> Response:
    actor = await session_actor(request)
    await services_of(request).chat.logout(actor)
    return json_response({"loggedOut": True})


routes = [
    ClientRoute(
        "POST",
        "/c/v1/sessions",
        start_session,
        "Start (or resume) a chat session with the tracking key",
        sdk="start/init",
        statuses=(201, 200),
        body="optional",
        session=False,
        parameters=RESUME_HEADER,
    ),
    ClientRoute(
        "GET",
        "/c/v1/settings",
        get_settings,
        "Chat settings and availability of a brand",
        sdk="getChatSettings",
        session=False,
        parameters=BRAND_QUERY,
    ),
    ClientRoute(
        "POST",
        "/c/v1/login",
        login,
        "Identify the customer with a JWT signed by the org secret",
        sdk="login",
        body="required",
    ),
    ClientRoute("POST", "/c/v1/logout", logout, "End the chat session", sdk="logout"),
]
