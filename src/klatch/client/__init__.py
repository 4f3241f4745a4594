"""``klatch.client``: the Klatch REST API (``/v1``) from Python.

``Client`` blocks, ``AsyncClient`` is for asyncio; they share one base (every
request is built and every answer read in ``klatch.client._base``, only sending
differs) and the same resources, each method written once
(``klatch.client._resources``)::

    from klatch.client import Client, InvalidAttributes

    with Client(base_url="https://chat.example.com", api_key="ka_...") as klatch:
        conversation = klatch.conversations.update(
            conversation_id, custom={"orderNumberStr": "A-1042"}
        )
        for conv in klatch.search.walk(
            "conversation", {"and": [{"conversation_custom_tierStr": {"equals": "gold"}}]}
        ):
            print(conv.id, conv.custom)

Resources: ``customers``, ``conversations``, ``messages``, ``metadata`` (klass
definitions), ``keys``, ``search``, ``webhooks`` (outbound), ``users``. Errors
are one tree under ``ApiError`` (``klatch.client.errors``); a 429 is retried
after its ``Retry-After`` within bounds. Receivers of outbound webhooks check a
delivery with ``verify_webhook``. See ``docs/client.md``.
"""

from __future__ import annotations

import hashlib
import hmac

from klatch.client._async import AsyncClient
from klatch.client._base import Call
from klatch.client._sync import Client
from klatch.client.errors import (
    ApiError,
    Conflict,
    ConnectionFailed,
    ErrorDetail,
    Forbidden,
    InvalidArguments,
    InvalidAttributes,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ServerError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from klatch.client.models import (
    ApiKey,
    Attempt,
    Conversation,
    Customer,
    Event,
    Message,
    Metadata,
    Page,
    Property,
    Resource,
    Transaction,
    User,
    Webhook,
)

__all__ = [
    "ApiError",
    "ApiKey",
    "AsyncClient",
    "Attempt",
    "Call",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Conversation",
    "Customer",
    "ErrorDetail",
    "Event",
    "Forbidden",
    "InvalidArguments",
    "InvalidAttributes",
    "Message",
    "Metadata",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "Property",
    "RateLimited",
    "RequestTimeout",
    "Resource",
    "ServerError",
    "Transaction",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "User",
    "Webhook",
    "sign_webhook",
    "verify_webhook",
]

SIGNATURE_HEADER = "X-Kustomer-Webhook-Signature"
EVENT_HEADER = "X-Kustomer-Webhook-Event"


def sign_webhook(token: str, raw_body: bytes | bytearray | memoryview) -> str:
    """The signature of a delivery: lowercase hex HMAC-SHA256 of the raw body,
    keyed by the subscription's token."""
    return hmac.new(token.encode("utf-8"), bytes(raw_body), hashlib.sha256).hexdigest()


def verify_webhook(token: str, raw_body: bytes | bytearray | memoryview, signature: str) -> bool:
    """Whether ``signature`` (the ``X-Kustomer-Webhook-Signature`` header) was made
    with ``token`` over exactly ``raw_body`` — the bytes as received, before any
    JSON parsing. Constant-time; a missing or malformed signature is False."""
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        raise TypeError("raw_body must be the request body's bytes, as received")
    if not token or not isinstance(signature, str):
        return False
    expected = sign_webhook(token, bytes(raw_body)).encode("ascii")
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)
