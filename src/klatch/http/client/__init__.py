"""The client API (``/c/v1``), called by the browser SDKs and ``klatch.chat``.

Plain Starlette endpoints: this is the chat hot path, so each request is parsed
with orjson and dispatched to one service call without framework layers.
Authentication: ``Authorization: Bearer <tracking key>`` (the public
``org.tracking`` key from the script tag) plus ``X-Klatch-Session: <token>``
from ``POST /c/v1/sessions``. Each module is one resource; ``routes`` is every
operation, which ``/openapi.json`` documents from the same objects.
"""

from __future__ import annotations

from klatch.http.client import conversations, customers, messages, sessions
from klatch.http.client.routing import ClientRoute

routes: list[ClientRoute] = [
    *sessions.routes,
    *conversations.routes,
    *messages.routes,
    *customers.routes,
]
