"""The agent console at ``/console``: server-rendered pages (Jinja2) with a small
script for live updates; no build step and no requests to other hosts."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from klatch.console import admin, pages
from klatch.console.web import HERE


def console_routes() -> list[BaseRoute]:
    return [
        Route("/console", pages.home),  # the address `klatch demo` prints
        Mount(
            "/console",
            routes=[
                Route("/", pages.home),
                Route("/login", pages.login_form, methods=["GET"]),
                Route("/login", pages.login, methods=["POST"]),
                Route("/logout", pages.logout, methods=["POST"]),
                Route("/inbox", pages.inbox),
                Route("/conversations/{id}", pages.conversation),
                Route("/conversations/{id}/reply", pages.reply, methods=["POST"]),
                Route("/conversations/{id}/attributes", pages.set_attributes, methods=["POST"]),
                Route("/conversations/{id}/status", pages.set_status, methods=["POST"]),
                Route("/conversations/{id}/typing", pages.typing, methods=["POST"]),
                *admin.routes(),
                Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
            ],
        ),
    ]
