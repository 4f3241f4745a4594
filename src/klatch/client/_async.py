"""``AsyncClient``: the REST API for asyncio. Its resources are ``_resources.py``'s,
the same as ``Client``'s; here is only how a call is sent and a list walked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx

from klatch.client._base import AsyncClosing, BaseClient, Call, LinkWalk, Walk
from klatch.client._resources import Awaiting, Resources
from klatch.client.models import Page

T = TypeVar("T")


class AsyncClient(BaseClient[httpx.AsyncBaseTransport], Resources[Awaiting], AsyncClosing):
    """The Klatch REST API (``/v1``) with one API key::

        async with AsyncClient(base_url="https://chat.example.com", api_key="ka_...") as klatch:
            conversation = await klatch.conversations.get("...")

    ``transport`` is handed to httpx (e.g. ``httpx.AsyncHTTPTransport(retries=2)``).
    Errors are ``klatch.client.ApiError`` subclasses; see ``BaseClient`` for retries.
    """

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> None:
        self._http = httpx.AsyncClient(timeout=self.timeout, transport=transport)
        self._open_resources(self)

    async def send(self, call: Call[T]) -> T:
        """Make one request, retrying a 429 within the bounds; its result."""
        request = self._request(call)
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                raise self._unreachable(call, exc) from exc
            delay = self._retry_delay(response, attempt)
            if delay is None:
                return self._result(call, response)
            await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    async def walk(self, call: Call[Page[T]]) -> AsyncIterator[T]:
        """Every item of a list, page after page along ``links.next``."""
        async for item in self._walk(LinkWalk(call)):
            yield item

    async def _walk(self, walk: Walk) -> AsyncIterator[Any]:
        while not walk.done:
            for item in walk.take(await self.send(walk.call())):
                yield item


__all__ = ["AsyncClient"]
