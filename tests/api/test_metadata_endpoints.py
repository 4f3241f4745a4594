"""The endpoints Kustomer integrations call besides search (reference §13.2) that
used to be 404s: ``GET /v1/klasses``, ``GET /v1/routing/queues`` and
``GET /v1/conversations/{id}/attachments``, each a list in the shape of every list
(``meta`` and ``links`` with every key), org-scoped, for API keys only. Real SQLite
and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from klatch.domain.models import Actor, ActorType, Role
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Rest, start_chat

LINK_KEYS = {"self", "first", "prev", "next", "last"}


def api_actor(setup: Setup) -> Actor:
    return Actor(ActorType.API_KEY, setup.admin_key.key.id, setup.org.id, role=Role.ADMIN)


async def listed(rest: Rest, path: str) -> dict[str, Any]:
    response = await rest.get(path)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    assert set(document["links"]) == LINK_KEYS and document["links"]["next"] is None
    assert {"page", "pageSize", "total", "totalPages"} <= set(document["meta"])
    return document


async def test_klasses_lists_what_klatch_holds_with_its_attribute_counts(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    await services.attributes.define(setup.org.id, "conversation", "priorityNum")
    await services.attributes.define(setup.org.id, "message", "sentimentNum")

    document = await listed(admin, "/v1/klasses")

    by_name = {k["id"]: k for k in document["data"]}
    assert set(by_name) == {"customer", "conversation", "message"}
    assert by_name["conversation"]["attributes"]["attributeCount"] == 2
    assert by_name["message"]["attributes"]["attributeCount"] == 1
    assert by_name["customer"]["attributes"]["attributeCount"] == 0
    for klass in document["data"]:
        assert klass["type"] == "klass"
        assert klass["attributes"]["updatedAt"].endswith("Z")
        metadata = await admin.get(klass["links"]["self"])
        assert metadata.status_code == 200, metadata.text
    assert document["meta"]["total"] == 3


async def test_queues_are_the_org_teams_and_an_empty_page_without_teams(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    empty = await listed(admin, "/v1/routing/queues")
    assert empty["data"] == []
    assert empty["meta"]["total"] == 0

    team = await services.teams.create(api_actor(setup), "Returns", display_name="Returns desk")
    other = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:8]}")
    await services.teams.create(api_actor(other), "Elsewhere")

    queues = await listed(admin, "/v1/routing/queues")
    assert [q["id"] for q in queues["data"]] == [team.id]
    queue = queues["data"][0]
    assert queue["type"] == "queue"
    assert queue["attributes"]["name"] == "Returns"
    assert queue["attributes"]["displayName"] == "Returns desk"
    assert queue["attributes"]["teams"] == [team.id]
    assert queue["attributes"]["updatedAt"].endswith("Z")
    assert (await admin.get(queue["links"]["self"])).status_code == 200  # the team


async def test_attachments_of_a_conversation_are_an_empty_page_and_404_elsewhere(
    services: Services, setup: Setup, admin: Rest, http: httpx.AsyncClient
) -> None:
    actor = api_actor(setup)
    customer = await services.customers.check_create(actor, {"name": "Files"})
    conv = await services.conversations.check_create_for_customer(actor, customer.id, brand_id=None)
    await services.messages.check_send(actor, conv.id, "See the attached invoice")

    found = await listed(admin, f"/v1/conversations/{conv.id}/attachments?pageSize=0")
    assert found["data"] == []
    # An empty list counts 0 pages, as an empty search does.
    assert found["meta"] == {"page": 1, "pageSize": 100, "total": 0, "totalPages": 0}
    assert found["links"]["first"] == (
        f"/v1/conversations/{conv.id}/attachments?page=1&pageSize=100"
    )
    assert found["links"]["last"] == found["links"]["first"]
    assert found["links"]["next"] is None

    other = await services.orgs.create_org(f"Other {uuid.uuid4().hex[:8]}")
    theirs = Rest(http, other.admin_key.secret)
    for rest, path in (
        (theirs, f"/v1/conversations/{conv.id}/attachments"),
        (admin, "/v1/conversations/0123456789abcdef01234567/attachments"),
    ):
        missing = await rest.get(path)
        assert missing.status_code == 404, missing.text
        assert missing.json()["errors"][0]["code"] == "conversation_not_found"


async def test_a_tracking_key_and_a_chat_session_cannot_read_them(
    setup: Setup, http: httpx.AsyncClient
) -> None:
    chat = await start_chat(http, setup.tracking_key.secret)
    own = (await chat.create_conversation())["conversationId"]
    for path in ("/v1/klasses", "/v1/routing/queues", f"/v1/conversations/{own}/attachments"):
        for secret in (setup.tracking_key.secret, chat.token):
            response = await Rest(http, secret).get(path)
            assert response.status_code in (401, 403), (path, response.text)
