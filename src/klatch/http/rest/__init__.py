"""The REST API (``/v1``, FastAPI): one module per resource, the OpenAPI document
(with the chat client API's entries) and the docs page.

FastAPI stays for its request models: the pydantic bodies and query parameters
parse the input and are also the schemas ``/openapi.json`` publishes, so the
document cannot drift from what the endpoints accept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from klatch import __version__
from klatch.errors import KlatchError
from klatch.http.errors import handle_http_exception, handle_klatch_error, handle_unexpected
from klatch.http.rest import (
    attachments,
    brands,
    conversations,
    customer_auth,
    customers,
    docs,
    events,
    keys,
    klasses,
    messages,
    metadata,
    notes,
    queues,
    routing,
    search,
    shortcuts,
    tags,
    teams,
    users,
    webhooks,
)
from klatch.http.rest.openapi import openapi_document
from klatch.http.rest.validation import handle_validation_error

RESOURCES = (
    search,  # before customers: /v1/customers/search is no customer id
    customers,
    conversations,
    messages,
    events,
    metadata,
    keys,
    brands,
    customer_auth,
    users,
    teams,  # /v1/users/{id}/availability
    routing,
    webhooks,
    klasses,  # what integrations call (issue 12)
    queues,
    attachments,
    notes,  # agents' tools
    tags,
    shortcuts,
)
DESCRIPTION = (
    "Self-hosted customer chat. `/v1` is the REST API for agents and integrations "
    "(Bearer API key with role org.user or org.admin); `/c/v1` is the chat client API "
    "used by the browser SDKs (Bearer org.tracking key + X-Klatch-Session)."
)


class RestApp(FastAPI):
    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = openapi_document(self)
        return self.openapi_schema


def build_rest_app() -> FastAPI:
    """The REST app; its endpoints find the services in ``request.app.state``."""
    app = RestApp(
        title="Klatch",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # docs.router serves /docs and /redoc without a CDN
        redoc_url=None,
        openapi_url=docs.OPENAPI_PATH,
    )
    app.include_router(docs.router)
    for resource in RESOURCES:
        app.include_router(resource.router)
    app.add_exception_handler(KlatchError, handle_klatch_error)
    app.add_exception_handler(HTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected)
    return app
