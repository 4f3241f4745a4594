"""Assignment and tags in webhooks, as a real receiver on 127.0.0.1 gets them: a
REST PATCH that assigns a conversation to a user and a team and tags it arrives
as one ``kustomer.conversation.update`` whose ``changes`` lists the id lists in
``attributes`` and the ``{type, id}`` references in ``relationships`` (as the
resource holds them), before and after. Both backends."""

from __future__ import annotations

import uuid
from typing import Any

from klatch.domain.models import UserRole
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Receiver, Rest, eventually

UPDATE = "kustomer.conversation.update"


async def _conversation(admin: Rest) -> str:
    customer = await admin.post("/v1/customers", json={"name": "Ada"})
    assert customer.status_code == 201, customer.text
    conv = await admin.post(
        f"/v1/customers/{customer.json()['data']['id']}/conversations", json={"name": "Help"}
    )
    assert conv.status_code == 201, conv.text
    return str(conv.json()["data"]["id"])


async def _updates(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await eventually(
        lambda: len(receiver.envelopes(UPDATE)) >= count and receiver.envelopes(UPDATE),
        f"{count} conversation updates",
    )
    return found


async def test_assigning_and_tagging_a_conversation_lists_the_assignees_before_and_after(
    services: Services, setup: Setup, admin: Rest, receiver: Receiver
) -> None:
    ann = await services.orgs.create_user(
        setup.org.id, f"ann-{uuid.uuid4().hex[:8]}@example.com", "password1", role=UserRole.AGENT
    )
    team = await admin.post("/v1/teams", json={"name": "Billing", "members": [ann.id]})
    assert team.status_code == 201, team.text
    team_id = team.json()["data"]["id"]
    tag = await admin.post("/v1/tags", json={"name": f"vip-{uuid.uuid4().hex[:6]}"})
    assert tag.status_code == 201, tag.text
    tag_id = tag.json()["data"]["id"]
    conv_id = await _conversation(admin)
    hook = await admin.post(
        "/v1/outbound-webhooks", json={"name": "CRM", "url": receiver.url, "events": [UPDATE]}
    )
    assert hook.status_code == 201, hook.text

    assigned = await admin.patch(
        f"/v1/conversations/{conv_id}",
        json={"assignedUsers": [ann.id], "assignedTeams": [team_id], "tags": [tag_id]},
    )
    assert assigned.status_code == 200, assigned.text
    (update,) = await _updates(receiver, 1)
    assert update["dataId"] == conv_id and update["client"] == "api"
    attributes = update["changes"]["attributes"]
    assert attributes["assignedUsers"] == {"op": "add", "before": [], "after": [ann.id]}
    assert attributes["assignedTeams"] == {"op": "add", "before": [], "after": [team_id]}
    assert attributes["tags"] == {"op": "add", "before": [], "after": [tag_id]}
    relationships = update["changes"]["relationships"]
    assert relationships["assignedUsers"] == {
        "op": "add",
        "before": [],
        "after": [{"type": "user", "id": ann.id}],
    }
    assert relationships["assignedTeams"]["after"] == [{"type": "team", "id": team_id}]
    assert relationships["tags"]["after"] == [{"type": "tag", "id": tag_id}]
    assert update["meta"] == {"customChanged": False}
    current = await admin.get(f"/v1/conversations/{conv_id}")
    assert update["data"] == current.json()["data"]  # as GET gives it, assignees included

    # Unassigning the user (the team stays) is a "remove" of that list alone.
    unassigned = await admin.patch(f"/v1/conversations/{conv_id}", json={"assignedUsers": []})
    assert unassigned.status_code == 200, unassigned.text
    _, second = await _updates(receiver, 2)
    assert second["changes"]["attributes"] == {
        "assignedUsers": {"op": "remove", "before": [ann.id], "after": []}
    }
    assert second["changes"]["relationships"] == {
        "assignedUsers": {"op": "remove", "before": [{"type": "user", "id": ann.id}], "after": []}
    }
    assert second["data"]["attributes"]["assignedTeams"] == [team_id]
