"""The baseline: a bare Starlette app whose PATCH handler only reads the body."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def patch(request: Request) -> Response:
    await request.body()
    return Response(b"{}", media_type="application/json")


app = Starlette(routes=[Route("/c/v1/conversations/{conversation_id}", patch, methods=["PATCH"])])
