"""The REST API application (FastAPI): ``/v1`` routes, OpenAPI document and docs page."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from klatch import __version__
from klatch.errors import ErrorDetail, InvalidArguments, KlatchError
from klatch.http.client_api import ClientEndpoint
from klatch.http.errors import (
    error_response,
    handle_http_exception,
    handle_klatch_error,
    handle_unexpected,
)
from klatch.http.rest.routes import build_router
from klatch.services import Services

_ERROR_SCHEMA = {
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


async def _validation_error(request: Request, exc: Exception) -> Response:
    """Pydantic's complaints in our error shape, one entry per field."""
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc else "body"
        path = "/" + "/".join(loc[1:]) if where == "body" else "/" + "/".join(loc)
        if err.get("type") == "extra_forbidden":
            message = f"'{loc[-1]}' is not a field Klatch supports here"
            code = "unsupported_field"
        elif err.get("type") == "json_invalid":
            message = f"The body is not valid JSON: {err.get('msg')}"
            code = "invalid_json"
        else:
            message = f"{path.lstrip('/') or where}: {err.get('msg')}"
            code = "invalid_arguments"
        details.append(ErrorDetail(code, message, pointer=path))
    error = InvalidArguments(
        details[0].message if details else "Invalid request",
        code=details[0].code if details else "invalid_arguments",
        details=details,
    )
    return error_response(error)


def _client_paths(endpoints: list[ClientEndpoint]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for e in endpoints:
        path = e.path
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in re.findall(r"\{(\w+)\}", e.path)
        ]
        op: dict[str, Any] = {
            "tags": ["chat client API"],
            "summary": e.summary,
            "operationId": "client_" + e.method.lower() + re.sub(r"\W+", "_", e.path),
            "security": [{"trackingKey": [], "chatSession": []}],
            "parameters": params,
            "responses": {
                str(e.status): {
                    "description": "Success",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "4XX": {
                    "description": "Error",
                    "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                },
            },
        }
        if e.sdk:
            op["description"] = f"Serves the SDK method `{e.sdk}`."
        if e.method in ("POST", "PATCH"):
            op["requestBody"] = {
                "required": e.method == "PATCH",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        paths.setdefault(path, {})[e.method.lower()] = op
    return paths


def build_rest_app(services: Services, client: list[ClientEndpoint]) -> FastAPI:
    app = FastAPI(
        title="Klatch",
        version=__version__,
        description=(
            "Self-hosted customer chat. `/v1` is the REST API for agents and integrations "
            "(Bearer API key with role org.user or org.admin); `/c/v1` is the chat client API "
            "used by the browser SDKs (Bearer org.tracking key + X-Klatch-Session)."
        ),
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.include_router(build_router(services))
    app.add_exception_handler(KlatchError, handle_klatch_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, handle_unexpected)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema["paths"].update(_client_paths(client))
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {}).update(
                {
                    "apiKey": {"type": "http", "scheme": "bearer"},
                    "trackingKey": {"type": "http", "scheme": "bearer"},
                    "chatSession": {"type": "apiKey", "in": "header", "name": "X-Klatch-Session"},
                }
            )
            components.setdefault("schemas", {})["Errors"] = _ERROR_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
