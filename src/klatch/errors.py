"""The one exception tree of Klatch.

Services raise these; only ``klatch.http`` turns them into responses, so every
error a client sees has a stable ``code`` and the JSON:API error shape::

    KlatchError                      500 internal_error
    ├── InvalidArguments             400 invalid_arguments  (also invalid_json, ...)
    ├── AttributeErrors              400 first offending attribute's code, one
    │                                    detail per attribute: unknown_attribute,
    │                                    type_mismatch, value_too_long,
    │                                    value_not_allowed, attribute_read_only,
    │                                    too_many_attributes
    ├── Unauthorized                 401 unauthorized / invalid_session / invalid_token
    ├── Forbidden                    403 forbidden
    ├── NotFound                     404 not_found / conversation_not_found / ...
    ├── RequestTimeout               408 request_timeout (a body that did not arrive)
    ├── Conflict                     409 conflict / already_exists
    ├── PayloadTooLarge              413 payload_too_large
    ├── UnsupportedMediaType         415 unsupported_media_type
    ├── RateLimited                  429 rate_limited (carries retry_after)
    └── Unavailable                  503 unavailable

The codes are part of the public contract (the browser SDKs hand them to
integrators' callbacks); add new ones, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One offending item of a request: which attribute or field, and why."""

    code: str
    message: str
    attribute: str | None = None
    pointer: str | None = None


class KlatchError(Exception):
    """Base of every error Klatch reports to a client."""

    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        pointer: str | None = None,
        details: list[ErrorDetail] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.pointer = pointer
        self.details: list[ErrorDetail] = details or []
        super().__init__(self.detail)


class InvalidArguments(KlatchError):
    status = 400
    code = "invalid_arguments"
    title = "Invalid arguments"


class AttributeErrors(KlatchError):
    """Custom attribute values broke their klass definitions; nothing was written."""

    status = 400
    code = "invalid_attributes"
    title = "Invalid custom attributes"

    def __init__(self, klass: str, details: list[ErrorDetail]) -> None:
        self.klass = klass
        first = details[0]
        if len(details) == 1:
            summary = first.message
        else:
            summary = f"{len(details)} custom attributes were rejected: " + "; ".join(
                d.message for d in details
            )
        super().__init__(summary, code=first.code, pointer=first.pointer, details=details)


class Unauthorized(KlatchError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(KlatchError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(KlatchError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(KlatchError):
    status = 409
    code = "conflict"
    title = "Conflict"


class RequestTimeout(KlatchError):
    status = 408
    code = "request_timeout"
    title = "Request timeout"


class PayloadTooLarge(KlatchError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(KlatchError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RateLimited(KlatchError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, limit: int, reset: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.limit = limit
        self.reset = reset


class LoginLocked(KlatchError):
    status = 429
    code = "login_locked"
    title = "Too many failed logins"


class Unavailable(KlatchError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"


def conversation_not_found(conversation_id: str) -> NotFound:
    """The one answer for a conversation that is missing *or* not the caller's."""
    return NotFound(
        f"No conversation with id '{conversation_id}' was found for this session",
        code="conversation_not_found",
        pointer="/conversationId",
    )


def invalid_session() -> Unauthorized:
    """The chat session token is missing, unknown, ended, or of another org."""
    return Unauthorized(
        "The chat session is missing or has ended; start a new one", code="invalid_session"
    )
