"""``Client``: the REST API, blocking. Its resources are ``_resources.py``'s, the
same as ``AsyncClient``'s; here is only how a call is sent and a list walked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx

from klatch.client._base import BaseClient, Call, LinkWalk, Walk
from klatch.client._resources import Blocking, Resources
from klatch.client.models import Page

T = TypeVar("T")


class Client(BaseClient[httpx.BaseTransport], Resources[Blocking]):
    """The Klatch REST API (``/v1``) with one API key::

        with Client(base_url="https://chat.example.com", api_key="ka_...") as klatch:
            conversation = klatch.conversations.get("...")

    ``transport`` is handed to httpx (e.g. ``httpx.HTTPTransport(retries=2)``).
    Errors are ``klatch.client.ApiError`` subclasses; see ``BaseClient`` for retries.
    """

    def _open(self, transport: httpx.BaseTransport | None) -> None:
        self._http = httpx.Client(timeout=self.timeout, transport=transport)
        self._open_resources(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Make one request, retrying a 429 within the bounds; its result."""
        request = self._request(call)
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                raise self._unreachable(call, exc) from exc
            delay = self._retry_delay(response, attempt)
            if delay is None:
                return self._result(call, response)
            response.close()
            time.sleep(delay)
            attempt += 1

    def walk(self, call: Call[Page[T]]) -> Iterator[T]:
        """Every item of a list, page after page along ``links.next``."""
        yield from self._walk(LinkWalk(call))

    def _walk(self, walk: Walk) -> Iterator[Any]:
        while not walk.done:
            yield from walk.take(self.send(walk.call()))


__all__ = ["Client"]
