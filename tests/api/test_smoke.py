from __future__ import annotations

from klatch.services import Services
from klatch.services.orgs import Setup
from support import Chat


async def test_describe_round_trip(services: Services, setup: Setup, chat: Chat) -> None:
    await services.attributes.define(setup.org.id, "conversation", "orderNumberStr")
    conv = await chat.create_conversation(message="hi")
    response = await chat.describe(conv["conversationId"], {"orderNumberStr": "A1"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "conversationId": conv["conversationId"],
        "custom": {"orderNumberStr": "A1"},
    }
