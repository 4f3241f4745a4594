"""What ``Client`` and ``AsyncClient`` share, without I/O: a ``Call`` describes
one request and how to read its answer; ``BaseClient`` takes the constructor's
arguments, turns a call into an ``httpx.Request``, an answer into a result or an
error, and decides whether a 429 is retried and after how long. The two clients
only send.

Following a list's ``links.next`` (``LinkWalk``) and walking a search by
``updated_at`` (``UpdatedAtWalk``) are state machines here too (``Walk``), so
both clients walk pages the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Generic, Protocol, Self, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from klatch import __version__
from klatch.client.errors import ApiError, ConnectionFailed, api_error, retry_after_seconds
from klatch.client.models import Json, Page, parse_time

T = TypeVar("T")
Transport = TypeVar("Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)
Params = tuple[tuple[str, str], ...]

# Kustomer's search takes at most 20 criteria in one list.
MAX_CRITERIA = 20


def segment(value: str) -> str:
    """``value`` as one path segment: an id can never reach another endpoint."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"an id must be a non-empty string, not {value!r}")
    return quote(value, safe="")


def params(**values: Any) -> Params:
    """Query parameters without the ones not given (None)."""
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append((name, str(value)))
    return tuple(out)


def page_params(page: int | None, page_size: int | None) -> Params:
    return params(page=page, pageSize=page_size)


def without_none(**values: Any) -> Json:
    return {k: v for k, v in values.items() if v is not None}


def encode(body: Any) -> bytes:
    """A request body as JSON; ``datetime`` values (an ``…At`` attribute, a search
    bound) as UTC ISO-8601 with milliseconds, ``date`` values as ``YYYY-MM-DD``."""
    return json.dumps(body, default=_json_value, ensure_ascii=False, allow_nan=False).encode()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r}")


def iso_time(value: datetime) -> str:
    """``value`` as the API writes times; a naive datetime is refused (which zone?)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"a datetime sent to Klatch needs a time zone: {value!r}")
    utc = value.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AsyncClosing:
    """``async with`` and ``aclose()`` for a client of asyncio that sends with one
    ``httpx.AsyncClient`` (``AsyncClient``, ``klatch.chat.AsyncChatClient``)."""

    _http: httpx.AsyncClient

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request (``method``, ``path`` under the base URL, query ``params``, a
    JSON ``body`` or None) and ``parse``, which reads the answer's JSON."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Params = ()
    body: Any = None

    def follow(self, link: str) -> Call[T]:
        """The same call for another page: the path and query of ``link`` (a
        ``links.next``), the body kept (search pages are POSTs with the same
        body). Only the link's path is used, so a key never leaves the server."""
        parts = urlsplit(link)
        return replace(self, path=parts.path or self.path, params=tuple(parse_qsl(parts.query)))


def single(parse: Callable[[Json], T]) -> Callable[[Any], T]:
    """The reader of a ``{"data": {...}}`` document."""

    def read(document: Any) -> T:
        return parse(_data(document))

    return read


def listed(parse: Callable[[Json], T]) -> Callable[[Any], list[T]]:
    """The reader of a ``{"data": [...]}`` document that is not paged."""

    def read(document: Any) -> list[T]:
        data = document.get("data") if isinstance(document, dict) else None
        return [parse(r) for r in data or [] if isinstance(r, dict)]

    return read


def paged(parse: Callable[[Json], T]) -> Callable[[Any], Page[T]]:
    """The reader of a paged list document."""

    def read(document: Any) -> Page[T]:
        return Page.parse(document if isinstance(document, dict) else {}, parse)

    return read


def listing(
    path: str, parse: Callable[[Json], T], page: int | None, page_size: int | None
) -> Call[Page[T]]:
    """``GET`` of one page of the list at ``path``, each item read by ``parse``."""
    return Call("GET", path, paged(parse), params=page_params(page, page_size))


def nothing(document: Any) -> None:
    return None


def _data(document: Any) -> Json:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise ApiError("unexpected_response", "The answer has no data object")
    return data


class BaseClient(Generic[Transport]):
    """Settings and request handling of both clients; ``Transport`` is the kind
    of httpx transport the client sends with.

    ``max_retries`` answers 429 may be retried, each after the answer's
    ``Retry-After`` — and only when that is at most ``max_retry_wait`` seconds;
    past either bound the ``RateLimited`` error is raised with its
    ``retry_after``. Nothing else is retried: a write that failed midway is the
    caller's to repeat.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        transport: Transport | None = None,
        max_retries: int = 2,
        max_retry_wait: float = 30.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {base_url!r}")
        if not api_key:
            raise ValueError("api_key is required (a REST API key, org.user or org.admin)")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.max_retry_wait = max(0.0, max_retry_wait)
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": f"klatch-python/{__version__}",
        }
        self._open(transport)

    def _open(self, transport: Transport | None) -> None:
        """Open the client's connections (and its resources) with ``transport``."""
        raise NotImplementedError

    def _request(self, call: Call[Any]) -> httpx.Request:
        headers = self._headers
        content = None
        if call.body is not None:
            content = encode(call.body)
            headers = {**headers, "Content-Type": "application/json"}
        return httpx.Request(
            call.method,
            self.base_url + call.path,
            params=list(call.params),
            content=content,
            headers=headers,
            extensions={"timeout": httpx.Timeout(self.timeout).as_dict()},
        )

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending again, or None to take this answer."""
        if response.status_code != 429 or attempt >= self.max_retries:
            return None
        wait = retry_after_seconds(response)
        if wait is None:
            wait = 1.0
        return wait if wait <= self.max_retry_wait else None

    @staticmethod
    def _result(call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise api_error(response)
        if not response.content:
            return call.parse(None)
        try:
            document = response.json()
        except ValueError as exc:
            raise ApiError(
                "unexpected_response",
                f"The answer to {call.method} {call.path} is not JSON",
                status=response.status_code,
            ) from exc
        return call.parse(document)

    @staticmethod
    def _unreachable(call: Call[Any], exc: httpx.TransportError) -> ConnectionFailed:
        reason = str(exc) or type(exc).__name__
        return ConnectionFailed("connection_failed", f"{call.method} {call.path}: {reason}")


class Walk(Protocol):
    """Pages read one after another, without I/O: while not ``done``, send
    ``call()`` and hand its answer to ``take``, which gives the items to hand
    out and moves the walk on."""

    @property
    def done(self) -> bool: ...

    def call(self) -> Call[Page[Any]]: ...

    def take(self, page: Page[Any]) -> list[Any]: ...


class LinkWalk(Generic[T]):
    """Every item of a list, page after page along ``links.next``: a server
    answering the same link twice ends the walk rather than looping."""

    def __init__(self, call: Call[Page[T]]) -> None:
        self._call = call
        self._seen: set[str] = set()
        self.done = False

    def call(self) -> Call[Page[T]]:
        return self._call

    def take(self, page: Page[T]) -> list[T]:
        if page.next is None or not page.items or page.next in self._seen:
            self.done = True
        else:
            self._seen.add(page.next)
            self._call = self._call.follow(page.next)
        return page.items


def search_body(
    context: str,
    criteria: Mapping[str, Any] | None,
    *,
    sort: Sequence[Mapping[str, str]] | Mapping[str, str] | None,
    time_zone: str | None,
) -> Json:
    body: Json = dict(criteria or {})
    body["queryContext"] = context
    if sort is not None:
        body["sort"] = sort
    if time_zone is not None:
        body["timeZone"] = time_zone
    return body


def with_criterion(body: Json, criterion: Json) -> Json:
    """``body`` with one more criterion that must hold too."""
    given = body.get("and")
    if given is None:
        conjunction = [criterion]
    elif isinstance(given, Mapping):
        conjunction = [dict(given), criterion]
    elif len(given) < MAX_CRITERIA:
        conjunction = [*given, criterion]
    else:
        conjunction = [{"and": list(given)}, criterion]
    return {**body, "and": conjunction}


class UpdatedAtWalk:
    """Every record of a search, however many, the way Kustomer's sync tools read
    them: sorted by ``<context>_updated_at`` ascending, each query filtered to
    ``updated_at >= the last updatedAt seen``, re-queried from its first page
    whenever the cursor moves, so no query goes deep and nothing is skipped.
    Records at the cursor are seen again by the next query and dropped by id;
    a page whose records all share one updatedAt is followed by its
    ``links.next``. A record changed during the walk comes again, changed.
    ``parse`` reads each record handed out (by default, as it came).
    """

    def __init__(
        self,
        context: str,
        criteria: Mapping[str, Any] | None,
        *,
        page_size: int,
        since: str | datetime | None,
        time_zone: str | None,
        parse: Callable[[Json], Any] = dict,
    ) -> None:
        self.field = f"{context}_updated_at"
        self.body = search_body(context, criteria, sort=[{self.field: "asc"}], time_zone=time_zone)
        self.page_size = page_size
        # the updatedAt reached so far, as the server wrote it
        self.cursor = iso_time(since) if isinstance(since, datetime) else since
        self._at_cursor: set[str] = set()  # ids seen whose updatedAt is the cursor
        self._link: str | None = None
        self._links_seen: set[str] = set()
        self._parse = parse
        self.done = False

    def call(self) -> Call[Page[Json]]:
        body = self.body
        if self.cursor is not None:
            body = with_criterion(body, {self.field: {"gte": self.cursor}})
        call = Call(
            "POST",
            "/v1/customers/search",
            paged(dict),
            params=page_params(None, self.page_size),
            body=body,
        )
        return call.follow(self._link) if self._link is not None else call

    def take(self, page: Page[Json]) -> list[Any]:
        """The records of ``page`` not handed out before; moves the walk on."""
        cursor_time = parse_time(self.cursor)
        fresh = [
            r
            for r in page.items
            if not (str(r.get("id")) in self._at_cursor and _updated(r) == cursor_time)
        ]
        self._move_on(page, cursor_time)
        return [self._parse(r) for r in fresh]

    def _move_on(self, page: Page[Json], cursor_time: datetime | None) -> None:
        if page.next is None or not page.items:
            self.done = True
            return
        last = _updated_text(page.items[-1])
        if last is None:
            raise ApiError(
                "unexpected_response", "A search record has no attributes.updatedAt to page by"
            )
        if parse_time(last) != cursor_time:
            self.cursor, self._link = last, None
            self._at_cursor = {
                str(r.get("id")) for r in page.items if _updated(r) == parse_time(last)
            }
        else:  # a whole page at one instant: read on in the same query
            self._at_cursor |= {str(r.get("id")) for r in page.items}
            self._link = page.next
            if page.next in self._links_seen:
                self.done = True
            self._links_seen.add(page.next)


def _updated_text(record: Json) -> str | None:
    attributes = record.get("attributes")
    value = attributes.get("updatedAt") if isinstance(attributes, dict) else None
    return value if isinstance(value, str) else None


def _updated(record: Json) -> datetime | None:
    return parse_time(_updated_text(record))
