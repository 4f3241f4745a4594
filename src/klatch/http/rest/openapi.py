"""``/openapi.json``: FastAPI's document of the REST API plus the chat client API.

The client API is plain Starlette, so its entries come from its routes
(:class:`~klatch.http.client.routing.ClientRoute`): each says its method, path,
body, answers and credentials, and the document is made from those objects.
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


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The whole document: the REST app's routes, then the client API's."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema["paths"].update(client_paths(client.routes))
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    components.setdefault("schemas", {})["Errors"] = ERROR_SCHEMA
    return schema


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
        "responses": _responses(route.statuses),
    }
    if route.sdk:
        operation["description"] = f"Serves the SDK method `{route.sdk}`."
    if route.body is not None:
        operation["requestBody"] = {"required": route.body == "required", "content": _JSON_OBJECT}
    return operation


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]


def _responses(statuses: tuple[int, ...]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(status): {"description": "No content"}
        if status == 204
        else {"description": "Success", "content": _JSON_OBJECT}
        for status in statuses
    }
    responses["4XX"] = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
    }
    return responses
