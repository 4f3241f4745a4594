"""``POST /v1/customers/search``: Kustomer's search over customers, conversations
and messages (the criteria language is ``klatch.domain.search``; docs/api.md).

Role org.user or org.admin; a public tracking key and a chat session token are
refused with 403. Searches have their own per-key limit (``KLATCH_RATE_LIMIT_SEARCH``,
100/min as Kustomer's for machine users) besides the REST one, reported in the
same ``x-ratelimit-*`` headers. The records are exactly what ``GET /v1/<plural>/{id}``
returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from klatch.domain.models import Actor
from klatch.errors import Forbidden
from klatch.http.requests import CheckedRoute, bearer, limits_of, services_of
from klatch.http.rest import views
from klatch.http.rest.auth import agent
from klatch.http.rest.notes import note_resource
from klatch.services.chat import SESSION_PREFIX
from klatch.services.search import SearchPage

router = APIRouter(prefix="/v1/customers", tags=["search"], route_class=CheckedRoute)
PATH = "/v1/customers/search"
_RENDER: dict[str, Callable[[Any], dict[str, Any]]] = {
    "customer": views.customer_resource,
    "conversation": views.conversation_resource,
    "message": views.message_resource,
    "note": note_resource,
}


async def searcher(request: Request, response: Response) -> Actor:
    """An org.user or org.admin key, within its search limit."""
    secret = bearer(request)
    if secret is not None and secret.startswith(f"{SESSION_PREFIX}_"):
        raise Forbidden(
            "A chat session token only reaches the chat API (/c/v1); search with an "
            "org.user or org.admin API key",
            code="forbidden_role",
        )
    actor = await agent(request, response)
    quota = limits_of(request).search.hit(actor.id or "")
    if quota is not None:  # the tighter of the two windows is the one to report
        response.headers["x-ratelimit-limit"] = str(quota.limit)
        response.headers["x-ratelimit-remaining"] = str(quota.remaining)
        response.headers["x-ratelimit-reset"] = str(quota.reset)
    return actor


Searcher = Annotated[Actor, Depends(searcher)]
EXAMPLE = {
    "queryContext": "conversation",
    "and": [
        {"conversation_custom_orderNumberStr": {"equals": "A-1001"}},
        {"conversation_updated_at": {"gte": "2024-01-01"}},
    ],
    "sort": [{"conversation_updated_at": "asc"}],
    "timeZone": "Europe/Paris",
}


@router.post(
    "/search",
    description=(
        "Kustomer's search. `queryContext` customer | conversation | message (other "
        "Kustomer contexts answer an empty page); `and`/`or`/`not` criteria "
        '`{"<field>": {"<operator>": value}}` over standard fields and custom attributes '
        "`<context>_custom_<name>`; `sort`; `timeZone` for local dates. `meta` "
        "{page, pageSize, total, totalPages}; `links` {self, first, prev, next, last}: "
        "follow `links.next` (its cursor makes deep pages as fast as the first)."
    ),
)
async def search(
    request: Request,
    actor: Searcher,
    body: Annotated[dict[str, Any], Body(examples=[EXAMPLE])],
    page: Annotated[int | None, Query(ge=0, description="From 1; 0 is the first")] = None,
    page_size: Annotated[
        int | None, Query(alias="pageSize", ge=0, le=500, description="Up to 500; 0 is 100")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=4096, description="From links.next; opaque")
    ] = None,
    ids_only: Annotated[bool, Query(alias="idsOnly")] = False,
) -> dict[str, Any]:
    found = await services_of(request).search.search(
        actor, body, page=page, page_size=page_size, cursor=cursor
    )
    return search_document(found, ids_only=ids_only)


def search_document(found: SearchPage, *, ids_only: bool = False) -> dict[str, Any]:
    render = _RENDER.get(found.context)
    data = [
        {"type": found.context, "id": item.id} if ids_only or render is None else render(item)
        for item in found.items
    ]
    last = max(1, found.total_pages)
    meta: dict[str, Any] = {
        "page": found.page,
        "pageSize": found.page_size,
        "total": found.total,
        "totalPages": found.total_pages,
    }
    if found.total_capped:  # more than 10,000: what is known to exist (docs/api.md)
        meta["totalRelation"] = "gte"
    return {
        "data": data,
        "meta": meta,
        "links": {
            "self": _link(found.page, found.page_size),
            "first": _link(1, found.page_size),
            "prev": _link(found.page - 1, found.page_size) if found.page > 1 else None,
            "next": (
                _link(found.page + 1, found.page_size, found.next_cursor)
                if found.next_cursor
                else None
            ),
            "last": _link(last, found.page_size),
        },
    }


def _link(page: int, page_size: int, cursor: str | None = None) -> str:
    query: dict[str, Any] = {"page": page, "pageSize": page_size}
    if cursor is not None:
        query["cursor"] = cursor
    return f"{PATH}?{urlencode(query)}"
