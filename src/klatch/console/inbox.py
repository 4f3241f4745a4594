"""The inbox: the org's conversations, newest activity first, filtered by status
or by one custom attribute's value, a page at a time. Its rows are also served
alone (``?partial=rows``) for the live refresh."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from klatch.console import criteria as search_builder
from klatch.console import views as inbox_views
from klatch.console.editors import editor_for
from klatch.console.session import Agent
from klatch.console.web import PageError, page, render, require_agent, services_of
from klatch.domain.events import iso
from klatch.domain.models import Conversation, Customer
from klatch.domain.text import MAX_PAGE
from klatch.errors import KlatchError

PAGE_SIZE = 25


@page
async def home(request: Request) -> Response:
    return RedirectResponse("/console/inbox", status_code=303)


@dataclass(frozen=True, slots=True)
class _Filters:
    status: str | None
    attribute: str | None
    value: str
    page: int
    tag: str | None = None  # agents' tools: a tag id
    view: str = inbox_views.ALL  # Mine, Unassigned, a team's, All (console/views.py)

    @classmethod
    def of(cls, q: QueryParams) -> _Filters:
        try:
            page_number = max(1, int(q.get("page", "1")))
        except ValueError:
            page_number = 1
        if page_number > MAX_PAGE:  # its offset would not fit the databases' integers
            raise PageError(400, "No such page", f"The inbox has pages 1 to {MAX_PAGE}.")
        return cls(
            q.get("status") or None,
            q.get("attribute") or None,
            q.get("value", ""),
            page_number,
            q.get("tag") or None,
            view=inbox_views.view_of(q),
        )

    def url(self, page_number: int, cursor: str | None = None) -> str:
        """This list's address at another page (``cursor``: where it starts, keyset)."""
        params: dict[str, Any] = {
            k: v for k, v in (("status", self.status), ("attribute", self.attribute)) if v
        }
        if self.attribute:
            params["value"] = self.value
        if self.tag:
            params["tag"] = self.tag
        if self.view != inbox_views.ALL:
            params["view"] = self.view
        if cursor:
            params["cursor"] = cursor
        return "?" + urlencode({**params, "page": page_number})


async def _customers(
    request: Request, agent: Agent, conversations: list[Conversation]
) -> dict[str, Customer]:
    """The customer of each conversation, in one read for the page; one that is gone
    is left out (shown as Unknown)."""
    ids = [conv.customer_id for conv in conversations]
    return await services_of(request).customers.get_many(agent.actor, ids)


@page
async def inbox(request: Request) -> Response:
    agent = await require_agent(request)
    services = services_of(request)
    f = _Filters.of(request.query_params)
    if request.query_params.get("partial") == "views":  # the live counts
        views = await inbox_views.context(request, agent, f.view)
        return render(request, "_inbox_views.html", {"agent": agent, **views})
    definitions = await services.attributes.list(agent.user.org_id, "conversation")
    error = None
    conversations: list[Conversation] = []
    has_next = False
    next_cursor = None
    try:
        if search_builder.rows_of(request.query_params):  # agents' tools: console/criteria.py
            return await _searched(request, agent, f, definitions)
        if f.tag or f.view != inbox_views.ALL:  # through search's criteria
            return await _tagged(request, agent, f, definitions)
        result = await services.conversations.list(
            agent.actor,
            page=f.page,
            page_size=PAGE_SIZE,
            status=f.status,
            custom_filters={f.attribute: f.value} if f.attribute else None,
            cursor=request.query_params.get("cursor"),
            count=False,  # the inbox shows no total: spare it a count of the org
        )
        conversations, has_next = list(result.items), result.has_next
        next_cursor = result.next_cursor
    except KlatchError as exc:
        error = exc.detail
    context = await _context(
        request,
        agent,
        f,
        definitions,
        conversations,
        has_next=has_next,
        next_url=f.url(f.page + 1, next_cursor),
        error=error,
    )
    return await _render(request, agent, f, context, 400 if error else 200)


async def _tagged(request: Request, agent: Agent, f: _Filters, definitions: list[Any]) -> Response:
    """The inbox of a view (``f.view``) or of the conversations carrying the tag
    ``f.tag`` (with the status and attribute filters), newest activity first."""
    services = services_of(request)
    criteria = inbox_views.criteria(f.view, agent)
    if f.tag:  # agents' tools
        criteria.append({"conversation_tags": {"equals": f.tag}})
    if f.attribute:
        known = next((d for d in definitions if d.name == f.attribute), None)
        criteria.extend(inbox_views.attribute_criteria(known, f.value))
    if f.status:
        criteria.append({"conversation_status": {"equals": f.status}})
    found = await services.search.search(
        agent.actor,
        {"queryContext": "conversation", "and": criteria},
        page=f.page,
        page_size=PAGE_SIZE,
    )
    conversations = [c for c in found.items if isinstance(c, Conversation)]
    context = await _context(
        request, agent, f, definitions, conversations, has_next=found.next_cursor is not None
    )
    return await _render(request, agent, f, context)


async def _searched(
    request: Request, agent: Agent, f: _Filters, definitions: list[Any]
) -> Response:
    """Agents' tools: the inbox of the conversations matching the criteria builder's
    rows (in the view ``f.view``), newest activity first."""
    q = request.query_params
    rows = search_builder.rows_of(q)
    extra = inbox_views.criteria(f.view, agent)
    found = await search_builder.search(request, agent, rows, f.page, PAGE_SIZE, extra)
    context = await _context(
        request,
        agent,
        replace(f, status=None, attribute=None, value="", tag=None),  # the rows stand for them
        definitions,
        found.conversations,
        has_next=found.has_next,
        prev_url=search_builder.page_url(q, f.page - 1),
        next_url=search_builder.page_url(q, f.page + 1),
        error=found.error,
    )
    context.update(await search_builder.builder(request, agent, found.rows))
    return await _render(request, agent, f, context, 400 if found.error else 200)


async def _context(
    request: Request,
    agent: Agent,
    f: _Filters,
    definitions: list[Any],
    conversations: list[Conversation],
    *,
    has_next: bool,
    prev_url: str | None = None,
    next_url: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """What the inbox shows of one page of ``conversations`` under the filters ``f``;
    the pages before and after are ``f``'s own unless given."""
    return {
        "agent": agent,
        "conversations": conversations,
        "customers": await _customers(request, agent, conversations),
        "definitions": definitions,
        "editors": {d.name: editor_for(d) for d in definitions},
        "status": f.status or "",
        "attribute": f.attribute or "",
        "value": f.value,
        "page": f.page,
        "has_next": has_next,
        "prev_url": prev_url or f.url(f.page - 1),
        "next_url": next_url or f.url(f.page + 1),
        "error": error,
        "iso": iso,
        "tags": await services_of(request).tags.all(agent.user.org_id),
        "tag": f.tag or "",
    }


async def _render(
    request: Request, agent: Agent, f: _Filters, context: dict[str, Any], status_code: int = 200
) -> Response:
    """The rows alone (``?partial=rows``), or the page with its views."""
    if request.query_params.get("partial") == "rows":
        return render(request, "_inbox_rows.html", context, status_code=status_code)
    context.update(await inbox_views.context(request, agent, f.view))
    if "search_rows" not in context:  # the criteria builder's block, empty
        context.update(await search_builder.builder(request, agent, []))
    return render(request, "inbox.html", context, status_code=status_code)
