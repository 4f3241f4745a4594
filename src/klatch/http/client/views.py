"""Answers of the client API, with the Kustomer SDK's field names
(``conversationId``, ``createdAt``, ``sentBy`` ...) so the SDKs hand them to
callbacks unchanged."""

from __future__ import annotations

from typing import Any

from klatch.domain.events import iso
from klatch.domain.models import Brand, Conversation, Customer, Message


def conversation_view(conv: Conversation) -> dict[str, Any]:
    return {
        "conversationId": conv.id,
        "createdAt": iso(conv.created_at),
        "updatedAt": iso(conv.updated_at),
        "lastMessageAt": iso(conv.last_message_at),
        "preview": conv.preview,
        "title": conv.title,
        "status": conv.status,
        "ended": conv.ended,
        "endedAt": iso(conv.ended_at),
        "isInAssistantMode": False,
        "brandId": conv.brand_id,
        "custom": conv.custom,
    }


def ended_view(conv: Conversation) -> dict[str, Any]:
    return {
        "conversationId": conv.id,
        "createdAt": iso(conv.created_at),
        "ended": conv.ended,
        "endedAt": iso(conv.ended_at),
    }


def message_view(m: Message) -> dict[str, Any]:
    return {
        "messageId": m.id,
        "conversationId": m.conversation_id,
        "body": m.body,
        "payload": m.payload,
        "direction": m.direction,
        "createdAt": iso(m.created_at),
        "attachments": [],
        "meta": {},
        "sentBy": {
            "type": m.sent_by_type,
            "id": m.sent_by_id,
            "displayName": m.sent_by_name,
            "avatarUrl": None,
        },
    }


def customer_view(c: Customer) -> dict[str, Any]:
    return {
        "customerId": c.id,
        "identified": c.verified,
        "email": c.email,
        "externalId": c.external_id,
        "name": c.name,
        "attributes": {
            "sharedEmails": c.emails,
            "sharedPhones": c.phones,
            "sharedSocials": c.socials,
        },
        "custom": c.custom,
    }


def chat_settings_view(
    brand: Brand, availability: str, pre_chat_form: dict[str, Any]
) -> dict[str, Any]:
    """A brand's chat settings and availability, as the SDKs receive them; the
    pre-chat form with each question's input and choices (``form_view``)."""
    return {
        "settings": {"brandId": brand.id, **brand.settings, "preChatForm": pre_chat_form},
        "availability": availability,
    }


def pages(page: int, has_next: bool) -> dict[str, Any]:
    return {
        "current": page,
        "first": 1,
        "next": page + 1 if has_next else None,
        "previous": page - 1 if page > 1 else None,
    }
