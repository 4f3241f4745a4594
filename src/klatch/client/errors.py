"""The errors of Klatch's HTTP APIs as a client sees them, one tree for both
clients (``klatch.client`` and ``klatch.chat``)::

    ApiError                        any refusal; .status .code .detail .details
    ├── InvalidArguments            400 invalid_arguments, invalid_json, invalid_text, ...
    │   └── InvalidAttributes       400 unknown_attribute, type_mismatch, ... (one
    │                                   detail per offending attribute)
    ├── Unauthorized                401 unauthorized, invalid_api_key, ...
    ├── Forbidden                   403 forbidden, forbidden_role
    ├── NotFound                    404 not_found, customer_not_found, ...
    ├── RequestTimeout              408 request_timeout
    ├── Conflict                    409 conflict, already_exists, conversation_ended
    ├── PayloadTooLarge             413 payload_too_large
    ├── UnsupportedMediaType        415 unsupported_media_type
    ├── RateLimited                 429 rate_limited (.retry_after, .limit, .reset)
    ├── ServerError                 5xx internal_error
    │   └── Unavailable             503 unavailable
    └── ConnectionFailed            the server could not be reached (.status None)

The class follows the HTTP status, ``code`` is the server's stable code (see
``docs/api.md``), so ``except NotFound`` and ``error.code == "customer_not_found"``
both work. The error body is JSON:API's ``{"errors": [{status, code, title,
detail, source: {pointer | parameter}, meta}]}``; an answer that is not (a proxy's
HTML page) still becomes the class of its status, with code ``http_<status>``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx

from klatch.errors import ErrorDetail

__all__ = [
    "ApiError",
    "Conflict",
    "ConnectionFailed",
    "ErrorDetail",
    "Forbidden",
    "InvalidArguments",
    "InvalidAttributes",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "error_from",
    "retry_after_seconds",
]


class ApiError(Exception):
    """A request the server refused or could not answer.

    ``status`` is the HTTP status (None when no answer came), ``code`` the first
    error's stable code, ``detail`` its message, ``details`` one ``ErrorDetail``
    (``code``, ``message``, ``attribute``, ``pointer``) per error entry — a write
    with three bad attributes has three — and ``errors`` the entries as sent.
    ``retry_after`` is the answer's ``Retry-After`` in seconds, when it had one.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status
        self.errors = errors or []
        self.details = [_detail_of(e) for e in self.errors]
        self.retry_after: float | None = None


class InvalidArguments(ApiError):
    """400: the request was refused as it stands; nothing was changed."""


class InvalidAttributes(InvalidArguments):
    """400: custom attribute values broke their definitions; ``details`` names
    each attribute (``detail.attribute``) and why (``detail.code``)."""


class Unauthorized(ApiError):
    """401: the API key is missing, unknown or revoked."""


class Forbidden(ApiError):
    """403: the key's role may not do this (e.g. an ``org.user`` key on an admin
    endpoint, or a tracking key on the REST API)."""


class NotFound(ApiError):
    """404: no such object in the key's org."""


class RequestTimeout(ApiError):
    """408: the request body did not arrive in time."""


class Conflict(ApiError):
    """409: e.g. ``already_exists``, ``conversation_ended``."""


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit."""


class UnsupportedMediaType(ApiError):
    """415: the body was not sent as JSON."""


class RateLimited(ApiError):
    """429: past a rate limit; ``retry_after`` seconds until it resets, ``limit``
    and ``reset`` (UTC epoch seconds) from the ``x-ratelimit-*`` headers."""

    limit: int | None = None
    reset: int | None = None


class ServerError(ApiError):
    """5xx: the server failed; a read may be retried."""


class Unavailable(ServerError):
    """503: the server's database is not reachable for now."""


class ConnectionFailed(ApiError):
    """The server could not be reached, or did not answer in time."""


BY_STATUS: Mapping[int, type[ApiError]] = {
    400: InvalidArguments,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
    503: Unavailable,
}
# The codes of attribute errors (klatch.domain.attributes), all 400.
ATTRIBUTE_CODES = frozenset(
    {
        "unknown_attribute",
        "type_mismatch",
        "value_too_long",
        "value_not_allowed",
        "attribute_read_only",
        "too_many_attributes",
    }
)

E = TypeVar("E", bound=ApiError)


def error_from(response: httpx.Response, kinds: Mapping[int, type[E]], default: type[E]) -> E:
    """The error a refused ``response`` stands for: the class ``kinds`` gives its
    status (``default`` otherwise), carrying the server's code and entries."""
    errors = _entries(response)
    if errors:
        first = errors[0]
        code = str(first.get("code") or f"http_{response.status_code}")
        detail = str(first.get("detail") or first.get("message") or first.get("title") or code)
    else:
        code, detail = f"http_{response.status_code}", response.text[:200]
    error = kinds.get(response.status_code, default)(
        code, detail, status=response.status_code, errors=errors
    )
    error.retry_after = retry_after_seconds(response)
    return error


def api_error(response: httpx.Response) -> ApiError:
    """The REST client's error for a refused ``response``."""
    error = error_from(response, BY_STATUS, ApiError)
    status = response.status_code
    if status == 400 and error.code in ATTRIBUTE_CODES:
        error = _as(InvalidAttributes, error)
    elif status >= 500 and not isinstance(error, ServerError):
        error = _as(ServerError, error)
    if isinstance(error, RateLimited):
        error.limit = _int_header(response, "x-ratelimit-limit")
        error.reset = _int_header(response, "x-ratelimit-reset")
    return error


def _as(kind: type[ApiError], error: ApiError) -> ApiError:
    again = kind(error.code, error.detail, status=error.status, errors=error.errors)
    again.retry_after = error.retry_after
    return again


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), if the answer has one."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _entries(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        errors = response.json()["errors"]
    except (ValueError, KeyError, TypeError):
        return []
    if isinstance(errors, dict):
        errors = [errors]
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict)]


def _detail_of(entry: Mapping[str, Any]) -> ErrorDetail:
    source = _mapping(entry.get("source"))
    meta = _mapping(entry.get("meta"))
    pointer = source.get("pointer") or source.get("parameter")
    attribute = meta.get("attribute")
    return ErrorDetail(
        code=str(entry.get("code") or ""),
        message=str(entry.get("detail") or entry.get("message") or entry.get("title") or ""),
        attribute=str(attribute) if attribute is not None else None,
        pointer=str(pointer) if pointer is not None else None,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None
