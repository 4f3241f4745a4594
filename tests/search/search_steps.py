"""Shared steps of the search tests: data made through the real services, searches
made as an integration makes them (HTTP, an API key)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from klatch.domain.models import Actor, ActorType, Role
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest

SEARCH = "/v1/customers/search"


def api_actor(setup: Setup) -> Actor:
    return Actor(ActorType.API_KEY, setup.admin_key.key.id, setup.org.id, role=Role.ADMIN)


async def define(services: Services, setup: Setup, name: str, **options: Any) -> None:
    klass = options.pop("klass", "conversation")
    await services.attributes.define(setup.org.id, klass, name, **options)


async def conversations(
    services: Services, setup: Setup, customs: list[dict[str, Any]], **fields: Any
) -> list[str]:
    """One customer with a conversation for each ``custom``; their ids, in order."""
    actor = api_actor(setup)
    customer = await services.customers.check_create(actor, {"name": "Ada Lovelace"})
    ids = []
    for custom in customs:
        conv = await services.conversations.check_create_for_customer(
            actor, customer.id, brand_id=None, custom=custom, **fields
        )
        ids.append(conv.id)
    return ids


async def search(rest: Rest, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await rest.post(SEARCH, json=body, params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def ids(found: dict[str, Any]) -> list[str]:
    return [item["id"] for item in found["data"]]


async def search_ids(rest: Rest, context: str, *criteria: dict[str, Any], **body: Any) -> set[str]:
    found = await search(
        rest, {"queryContext": context, "and": list(criteria), **body}, pageSize=500
    )
    return set(ids(found))


def next_params(found: dict[str, Any]) -> dict[str, str] | None:
    """The query string of ``links.next``, as sync code reuses it; None on the last page."""
    link = found["links"]["next"]
    return None if link is None else dict(parse_qsl(urlsplit(link).query))


async def every_page(rest: Rest, body: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    """Every page, following ``links.next`` from a first request without a query string."""
    pages = [await search(rest, body, **params)]
    while (query := next_params(pages[-1])) is not None:
        pages.append(await search(rest, body, **query))
    return pages
