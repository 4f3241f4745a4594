"""Erasure: what an event of the log keeps once the person it is about is deleted.

Deleting a customer (or a conversation) deletes the rows, and rewrites the
payload of each event about them so that the log keeps *that* it happened --
its type, id, time, actor, the ids it names, which fields and attributes
changed, statuses -- and none of the personal data: names, addresses, message
bodies, attribute values, titles. A scrubbed payload still matches its type's
schema in ``domain/events.py``, so whatever replays the log reads it as before.

Every stored event type has a rule here (a test checks it): an event type added
to the catalogue must say what of its payload is personal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from klatch.domain import events as ev

Payload = Mapping[str, Any]

# Keys of a stored customer record that hold personal data, and their erased value.
_CUSTOMER_BLANKS: dict[str, Any] = {
    "name": None,
    "externalId": None,
    "email": None,
    "emails": [],
    "phones": [],
    "socials": [],
    "custom": {},
}


def _blank_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: {before, after}}`` (custom: per attribute) with every value gone:
    the names of what changed stay."""
    out: dict[str, Any] = {}
    for key, change in changes.items():
        if key == "custom" and isinstance(change, Mapping):
            out[key] = {name: {"before": None, "after": None} for name in change}
        elif key == "status":
            out[key] = change  # open/done: not personal
        else:
            out[key] = {"before": None, "after": None}
    return out


def _conversation(data: Payload) -> dict[str, Any]:
    return {**data, "title": None, "externalId": None, "custom": {}, "preview": None}


def _customer(data: Payload) -> dict[str, Any]:
    return {**data, **_CUSTOMER_BLANKS}


def _conversation_created(p: Payload) -> dict[str, Any]:
    return {**p, "conversation": _conversation(p["conversation"])}


def _conversation_updated(p: Payload) -> dict[str, Any]:
    return {**p, "changes": _blank_changes(p.get("changes", {})), "custom": {}}


def _message_created(p: Payload) -> dict[str, Any]:
    message = dict(p["message"])
    sent_by = dict(message.get("sentBy") or {})
    if sent_by.get("type") == "customer":
        sent_by["displayName"] = None
    message.update(body="", payload=None, sentBy=sent_by)
    return {**p, "message": message}


def _message_updated(p: Payload) -> dict[str, Any]:
    """Which of the message's attributes changed stays; their values go."""
    return {**p, "changes": _blank_changes(p["changes"]), "custom": {}}


def _customer_created(p: Payload) -> dict[str, Any]:
    return {**p, "customer": _customer(p["customer"])}


def _customer_updated(p: Payload) -> dict[str, Any]:
    return {
        **p,
        "changes": _blank_changes(p.get("changes", {})),
        "customer": _customer(p["customer"]),
    }


def _note_created(p: Payload) -> dict[str, Any]:
    """An internal note is about the customer: its text goes, its author stays."""
    return {**p, "note": {**p["note"], "body": ""}}


def _kept(p: Payload) -> dict[str, Any]:
    """Nothing personal in it: ids, statuses, times."""
    return dict(p)


RULES: dict[str, Callable[[Payload], dict[str, Any]]] = {
    ev.CONVERSATION_CREATED: _conversation_created,
    ev.CONVERSATION_UPDATED: _conversation_updated,
    ev.CONVERSATION_ENDED: _kept,
    ev.CONVERSATION_DELETED: _kept,
    ev.MESSAGE_CREATED: _message_created,
    ev.MESSAGE_UPDATED: _message_updated,
    ev.CUSTOMER_CREATED: _customer_created,
    ev.CUSTOMER_UPDATED: _customer_updated,
    ev.CUSTOMER_DELETED: _kept,
    ev.TYPING_STARTED: _kept,  # never stored
    ev.TYPING_STOPPED: _kept,
    ev.CREDENTIAL_REVOKED: _kept,
    # About a webhook, never about a customer or a conversation.
    ev.OUTBOUND_WEBHOOK_DISABLED: _kept,
    ev.OUTBOUND_WEBHOOK_CHANGED: _kept,
    ev.ROUTING_RULE_CHANGED: _kept,  # about a rule
    ev.NOTE_CREATED: _note_created,
    # About the org's teams, tags and users, never about a customer.
    **dict.fromkeys(ev.ORG_OBJECTS, _kept),
}


def scrubbed(event_type: str, payload: Payload) -> dict[str, Any]:
    """``payload`` of an event of ``event_type`` without its personal data. A type
    without a rule keeps only its ids (keys ``id`` or ending in ``Id``/``Ids``)."""
    rule = RULES.get(event_type)
    if rule is not None:
        return rule(payload)
    return {k: v for k, v in payload.items() if k == "id" or k.endswith(("Id", "Ids"))}
