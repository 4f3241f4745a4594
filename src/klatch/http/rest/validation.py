"""FastAPI's request validation errors in Klatch's error shape, one entry per field."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from klatch.errors import ErrorDetail, InvalidArguments
from klatch.http.errors import error_response


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [_detail(err) for err in exc.errors()]
    error = InvalidArguments(
        details[0].message if details else "Invalid request",
        code=details[0].code if details else "invalid_arguments",
        details=details,
    )
    return error_response(error)


def _detail(err: Any) -> ErrorDetail:
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
    return ErrorDetail(code, message, pointer=path)
