"""Internal notes in outbound webhooks: a note written on a conversation reaches
a real receiver as Kustomer's ``kustomer.note.create``, signed, with ``data`` as
``GET /v1/conversations/{id}/notes`` lists it; a subscription without the event
gets nothing of the note. Both backends."""

from __future__ import annotations

import hashlib
import hmac

from support import Chat, Receiver, Rest, eventually

NOTE = "kustomer.note.create"
UPDATE = "kustomer.conversation.update"


async def _subscribe(admin: Rest, receiver: Receiver, events: list[str]) -> str:
    made = await admin.post(
        "/v1/outbound-webhooks", json={"name": "CRM", "url": receiver.url, "events": events}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["data"]["attributes"]["token"])


async def test_a_note_arrives_as_kustomers_note_create(
    admin: Rest, chat: Chat, receiver: Receiver
) -> None:
    token = await _subscribe(admin, receiver, [NOTE, UPDATE])
    conversation_id = (await chat.create_conversation(message="Hi"))["conversationId"]
    written = await admin.post(
        f"/v1/conversations/{conversation_id}/notes", json={"body": "Refund approved"}
    )
    assert written.status_code == 201, written.text
    (envelope,) = await eventually(lambda: receiver.envelopes(NOTE), "a note webhook")
    listed = await admin.get(f"/v1/conversations/{conversation_id}/notes")
    assert envelope["data"] == listed.json()["data"][0]
    assert envelope["dataId"] == written.json()["data"]["id"]
    assert envelope["changes"] is None
    assert envelope["client"] == "api"
    assert envelope["data"]["relationships"]["conversation"]["data"]["id"] == conversation_id
    headers, body = next(r for r in receiver.received if b'"kustomer.note.create"' in r[1])
    assert headers["x-kustomer-webhook-event"] == NOTE
    expected = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-kustomer-webhook-signature"] == expected


async def test_a_subscription_without_note_events_gets_nothing_of_a_note(
    admin: Rest, chat: Chat, receiver: Receiver
) -> None:
    await _subscribe(admin, receiver, [UPDATE])
    conversation_id = (await chat.create_conversation(message="Hi"))["conversationId"]
    await admin.post(f"/v1/conversations/{conversation_id}/notes", json={"body": "Secret"})
    # A later change of the conversation arrives: whatever the note made would be first.
    await admin.patch(f"/v1/conversations/{conversation_id}", json={"status": "done"})
    await eventually(lambda: receiver.envelopes(UPDATE), "the conversation's update")
    assert receiver.envelopes(NOTE) == []
    assert not [b for _, b in receiver.received if b"Secret" in b]


async def test_the_note_event_is_one_a_subscription_may_name(admin: Rest) -> None:
    events = await admin.get("/v1/outbound-webhooks/events")
    assert events.status_code == 200, events.text
    assert NOTE in events.json()["events"]
