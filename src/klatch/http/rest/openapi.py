"""``/openapi.json``: FastAPI's document of the REST API plus the chat client API.

The client API is plain Starlette, so its entries come from its routes
(:class:`~klatch.http.client.routing.ClientRoute`): each says its method, path,
body, answers and credentials, and the document is made from those objects.

Every operation declares the error statuses it can answer, each with the one
error schema: those every request can get (400 for a bad parameter or header,
401 and 403 for credentials, 503), those its shape implies (a body: 408, 413, and
415 on the client API; an id in the path: 404; a rate limit: 429), and the few
that depend on what it does (``CONFLICTS``, ``REFERENCES``). FastAPI's 422 is
replaced: validation errors are 400s here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from klatch.http import client
from klatch.http.client.routing import ClientRoute

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "status": {"type": "string"},
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "detail": {"type": "string"},
                    "source": {"type": "object", "properties": {"pointer": {"type": "string"}}},
                    "meta": {"type": "object"},
                },
                "required": ["status", "code", "title", "detail"],
            },
        }
    },
    "required": ["errors"],
}
SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer"},
    "trackingKey": {"type": "http", "scheme": "bearer"},
    "chatSession": {"type": "apiKey", "in": "header", "name": "X-Klatch-Session"},
}
_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_TEXT = {"type": "string"}
_VALUES = {"type": "object", "description": "Custom attribute values by name; null clears one"}
# The fields each client API body is read for (others are ignored; the SDKs send
# Kustomer's names, ``customAttributes`` beside ``custom``). The endpoints check
# the values; this says which fields there are, so clients and fuzzers know.
CLIENT_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/c/v1/sessions"): {"brandId": _TEXT},
    ("post", "/c/v1/login"): {"jwtToken": _TEXT},
    ("post", "/c/v1/conversations"): {
        "title": _TEXT,
        "message": _TEXT,
        "custom": _VALUES,
        "customAttributes": _VALUES,
    },
    ("patch", "/c/v1/conversations/{conversation_id}"): {
        "custom": _VALUES,
        "customAttributes": _VALUES,
    },
    ("post", "/c/v1/conversations/{conversation_id}/messages"): {
        "body": _TEXT,
        "payload": {"type": "object"},
    },
    ("post", "/c/v1/conversations/{conversation_id}/typing"): {"typing": {"type": "boolean"}},
    ("patch", "/c/v1/customers/current"): {
        "attributes": {
            "type": "object",
            "properties": {
                name: {"type": "array", "description": "Strings or Kustomer's objects"}
                for plain in ("emails", "phones", "socials")
                for name in (plain, "shared" + plain.capitalize())
            },
        },
        "custom": _VALUES,
        "customAttributes": _VALUES,
    },
}
_ERRORS = {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}
ERROR_DESCRIPTIONS = {
    400: "Invalid arguments: which field or parameter, and which rule, is in each error",
    401: "The credentials are missing, unknown or revoked",
    403: "The credential's role, or the page's origin, may not do this",
    404: "Not found, or not the caller's (the same answer)",
    408: "The request body did not arrive in time",
    409: "Conflicts with what is stored (taken, or the conversation has ended)",
    413: "The request body is larger than the server takes",
    415: "The body is not JSON",
    429: "Rate limited: Retry-After says in how many seconds to try again",
    503: "Unavailable: the database cannot be reached, or the write could not be stored",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the limit's window resets",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
# Operations that answer 409, besides what their shape implies.
CONFLICTS = frozenset(
    {
        ("post", "/v1/customers"),  # email or externalId taken
        ("post", "/v1/conversations"),  # externalId taken
        ("post", "/v1/customers/{customer_id}/conversations"),
        ("patch", "/v1/conversations/{conversation_id}"),
        ("put", "/v1/conversations/{conversation_id}"),
        ("post", "/v1/conversations/{conversation_id}/messages"),  # ended
        ("post", "/v1/conversations/{conversation_id}/typing"),
        ("post", "/c/v1/conversations/{conversation_id}/messages"),
        ("post", "/c/v1/conversations/{conversation_id}/typing"),
        ("post", "/v1/users"),  # email taken
        ("post", "/v1/teams"),  # names are unique in the org
        ("patch", "/v1/teams/{team_id}"),
        ("post", "/v1/tags"),
        ("patch", "/v1/tags/{tag_id}"),
        ("post", "/v1/shortcuts"),
        ("patch", "/v1/shortcuts/{shortcut_id}"),
        ("post", "/v1/outbound-webhooks"),  # the org's limit is reached
    }
)
# Operations without an id in the path that answer 404 for an id they are given.
REFERENCES = frozenset(
    {
        ("post", "/v1/conversations"),  # customer, brand
        ("post", "/v1/keys"),  # brand
        ("post", "/c/v1/sessions"),  # brandId
        ("get", "/c/v1/settings"),  # brandId
    }
)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The whole document: the REST app's routes, then the client API's."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            _declare_rest_errors(method, path, operation)
    schema["paths"].update(client_paths(client.routes))
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Errors"] = ERROR_SCHEMA
    return schema


def _declare_rest_errors(method: str, path: str, operation: dict[str, Any]) -> None:
    """A REST operation needs an API key, is rate limited per key, and answers
    validation errors with 400 (not FastAPI's 422)."""
    responses = operation["responses"]
    responses.pop("422", None)
    operation["security"] = [{"apiKey": []}]
    statuses = error_statuses(
        method,
        path,
        body="requestBody" in operation,
        limited=True,
        json_only=False,  # FastAPI reads any body as JSON: a non-JSON one is a 400
    )
    responses.update(error_responses(statuses))


def error_statuses(
    method: str, path: str, *, body: bool, limited: bool, json_only: bool
) -> list[int]:
    """The error statuses an operation of this shape can answer."""
    statuses = {400, 401, 403, 503}
    if body:
        statuses |= {408, 413}
        if json_only:
            statuses.add(415)
    if "{" in path or (method, path) in REFERENCES:
        statuses.add(404)
    if (method, path) in CONFLICTS:
        statuses.add(409)
    if limited:
        statuses.add(429)
    return sorted(statuses)


def error_responses(statuses: Iterable[int]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in statuses:
        response: dict[str, Any] = {"description": ERROR_DESCRIPTIONS[status], "content": _ERRORS}
        if status == 429:
            response["headers"] = _RETRY_AFTER
        responses[str(status)] = response
    return responses


def client_paths(routes: Iterable[ClientRoute]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return paths


def _operation(route: ClientRoute) -> dict[str, Any]:
    credentials: dict[str, list[str]] = {"trackingKey": []}
    if route.session:
        credentials["chatSession"] = []
    operation: dict[str, Any] = {
        "tags": ["chat client API"],
        "summary": route.summary,
        "operationId": "client_" + route.method.lower() + re.sub(r"\W+", "_", route.path),
        "security": [credentials],
        "parameters": [*_path_parameters(route.path), *route.parameters],
        "responses": _responses(route),
    }
    if route.sdk:
        operation["description"] = f"Serves the SDK method `{route.sdk}`."
    if route.body is not None:
        operation["requestBody"] = {"required": route.body == "required", "content": _body(route)}
    return operation


def _body(route: ClientRoute) -> dict[str, Any]:
    fields = CLIENT_BODIES.get((route.method.lower(), route.path), {})
    return {"application/json": {"schema": {"type": "object", "properties": fields}}}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]


def _responses(route: ClientRoute) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): {"description": "No content"}
        if status == 204
        else {"description": "Success", "content": _JSON_OBJECT}
        for status in route.statuses
    }
    method = route.method.lower()
    statuses = error_statuses(
        method,
        route.path,
        body=route.body is not None,
        # Per session; starting one counts against the new-session limits.
        limited=route.session or route.path == "/c/v1/sessions",
        json_only=True,
    )
    responses.update(error_responses(statuses))
    return responses
