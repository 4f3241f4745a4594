"""Teams, tags and users in outbound webhooks: creating and renaming each reaches
a real receiver as Kustomer's ``kustomer.<object>.create`` / ``.update``, signed,
with ``data`` exactly as ``GET /v1/<objects>/{id}`` returns it; no body ever holds
a password or its hash. Both backends."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from klatch.domain.models import Actor, ActorType, Role, UserRole
from klatch.services import Services
from klatch.services.orgs import Setup
from support import Receiver, Rest, eventually

OBJECT_EVENTS = [
    "kustomer.team.create",
    "kustomer.team.update",
    "kustomer.tag.create",
    "kustomer.tag.update",
    "kustomer.user.create",
    "kustomer.user.update",
]
PASSWORD = "correct horse battery"


async def _subscribe(admin: Rest, receiver: Receiver, events: list[str]) -> str:
    made = await admin.post(
        "/v1/outbound-webhooks", json={"name": "Directory", "url": receiver.url, "events": events}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["data"]["attributes"]["token"])


async def _one(receiver: Receiver, name: str, data_id: str) -> dict[str, Any]:
    def found() -> list[dict[str, Any]]:
        return [e for e in receiver.envelopes(name) if e["dataId"] == data_id]

    (envelope,) = await eventually(found, name)
    return dict(envelope)


def _signed(receiver: Receiver, token: str) -> None:
    for headers, body in receiver.received:
        expected = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-kustomer-webhook-signature"] == expected
        assert headers["x-kustomer-webhook-event"].encode() in body


async def test_a_team_created_and_renamed_arrives_as_get_returns_it(
    admin: Rest, receiver: Receiver
) -> None:
    token = await _subscribe(admin, receiver, OBJECT_EVENTS)
    made = await admin.post("/v1/teams", json={"name": "billing"})
    assert made.status_code == 201, made.text
    team_id = made.json()["data"]["id"]
    created = await _one(receiver, "kustomer.team.create", team_id)
    assert created["changes"] is None and created["client"] == "api"
    renamed = await admin.patch(f"/v1/teams/{team_id}", json={"name": "payments"})
    assert renamed.status_code == 200, renamed.text
    update = await _one(receiver, "kustomer.team.update", team_id)
    assert update["data"] == (await admin.get(f"/v1/teams/{team_id}")).json()["data"]
    assert update["changes"]["attributes"]["name"] == {
        "op": "replace",
        "before": "billing",
        "after": "payments",
    }
    assert created["data"]["attributes"]["name"] == "billing"
    _signed(receiver, token)


async def test_a_tag_created_and_renamed_arrives_as_get_returns_it(
    admin: Rest, receiver: Receiver
) -> None:
    token = await _subscribe(admin, receiver, OBJECT_EVENTS)
    made = await admin.post("/v1/tags", json={"name": "vip", "color": "#ff0000"})
    assert made.status_code == 201, made.text
    tag_id = made.json()["data"]["id"]
    created = await _one(receiver, "kustomer.tag.create", tag_id)
    assert created["data"] == made.json()["data"] and created["changes"] is None
    renamed = await admin.patch(f"/v1/tags/{tag_id}", json={"name": "gold"})
    assert renamed.status_code == 200, renamed.text
    update = await _one(receiver, "kustomer.tag.update", tag_id)
    assert update["data"] == (await admin.get(f"/v1/tags/{tag_id}")).json()["data"]
    assert update["changes"]["attributes"] == {
        "name": {"op": "replace", "before": "vip", "after": "gold"}
    }
    _signed(receiver, token)


async def test_a_user_created_renamed_and_disabled_arrives_without_secrets(
    admin: Rest, receiver: Receiver
) -> None:
    token = await _subscribe(admin, receiver, OBJECT_EVENTS)
    made = await admin.post(
        "/v1/users",
        json={
            "email": f"grace-{uuid.uuid4().hex}@example.com",
            "password": PASSWORD,
            "name": "Grace",
        },
    )
    assert made.status_code == 201, made.text
    user_id = made.json()["data"]["id"]
    created = await _one(receiver, "kustomer.user.create", user_id)
    assert created["data"] == made.json()["data"] and created["changes"] is None
    assert created["client"] == "api"  # made with an API key, not by the system
    renamed = await admin.patch(f"/v1/users/{user_id}", json={"name": "Grace H."})
    assert renamed.status_code == 200, renamed.text
    update = await _one(receiver, "kustomer.user.update", user_id)
    assert update["data"] == (await admin.get(f"/v1/users/{user_id}")).json()["data"]
    assert update["changes"]["attributes"]["displayName"]["after"] == "Grace H."
    # A password reset is not announced; disabling is an update (``deleted``).
    reset = await admin.patch(f"/v1/users/{user_id}", json={"password": PASSWORD + "!"})
    assert reset.status_code == 200, reset.text
    disabled = await admin.patch(f"/v1/users/{user_id}", json={"disabled": True})
    assert disabled.status_code == 200, disabled.text

    def updates() -> list[dict[str, Any]]:
        found = receiver.envelopes("kustomer.user.update")
        return found if len(found) >= 2 else []

    off = (await eventually(updates, "the disabling"))[-1]
    assert off["client"] == "api"
    assert off["changes"]["attributes"]["deleted"] == {
        "op": "replace",
        "before": False,
        "after": True,
    }
    assert off["data"]["attributes"]["deleted"] is True
    assert len(receiver.envelopes("kustomer.user.update")) == 2  # the reset made none
    for _, body in receiver.received:
        lowered = body.lower()
        assert PASSWORD.encode() not in body
        assert b"argon2" not in lowered and b"password" not in lowered and b"hash" not in lowered
    _signed(receiver, token)


async def test_a_subscription_without_object_events_gets_none(
    admin: Rest, receiver: Receiver
) -> None:
    await _subscribe(admin, receiver, ["kustomer.tag.update"])
    await admin.post("/v1/teams", json={"name": "ops"})
    made = await admin.post("/v1/tags", json={"name": "later"})
    tag_id = made.json()["data"]["id"]
    await admin.patch(f"/v1/tags/{tag_id}", json={"color": "#00ff00"})
    update = await _one(receiver, "kustomer.tag.update", tag_id)
    assert update["changes"]["attributes"]["color"]["after"] == "#00ff00"
    assert [h["x-kustomer-webhook-event"] for h, _ in receiver.received] == ["kustomer.tag.update"]


async def test_a_user_an_admin_makes_in_the_console_says_console(
    services: Services, setup: Setup, admin: Rest, receiver: Receiver
) -> None:
    # What the console's Users page calls: the admin who acts is the writer.
    await _subscribe(admin, receiver, OBJECT_EVENTS)
    boss = await services.orgs.create_user(
        setup.org.id, f"boss-{uuid.uuid4().hex}@example.com", PASSWORD, role=UserRole.ADMIN
    )
    in_console = Actor(ActorType.USER, boss.id, setup.org.id, role=Role.ADMIN)
    made = await services.orgs.create_user(
        setup.org.id, f"ada-{uuid.uuid4().hex}@example.com", PASSWORD, role=UserRole.AGENT,
        by=in_console,
    )  # fmt: skip
    await services.orgs.disable_user(setup.org.id, made.id, by=in_console)
    created = await _one(receiver, "kustomer.user.create", made.id)
    disabled = await _one(receiver, "kustomer.user.update", made.id)
    assert created["client"] == disabled["client"] == "console"
    system_made = await _one(receiver, "kustomer.user.create", boss.id)
    assert system_made["client"] == "system"  # as the CLI makes users
