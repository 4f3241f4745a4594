"""The agent console at ``/console``: server-rendered pages (Jinja2) with a small
script for live updates; no build step and no requests to other hosts."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from klatch.console import admin, assignment, conversation, inbox, login, tools
from klatch.console import customer as customer_page
from klatch.console.web import HERE


def console_routes() -> list[BaseRoute]:
    return [
        Route("/console", inbox.home),  # the address `klatch demo` prints
        Mount(
            "/console",
            routes=[
                Route("/", inbox.home),
                Route("/login", login.login_form, methods=["GET"]),
                Route("/login", login.login, methods=["POST"]),
                Route("/logout", login.logout, methods=["POST"]),
                Route("/inbox", inbox.inbox),
                Route("/conversations/{id}", conversation.conversation),
                Route("/conversations/{id}/reply", conversation.reply, methods=["POST"]),
                Route(
                    "/conversations/{id}/attributes", conversation.set_attributes, methods=["POST"]
                ),
                Route("/conversations/{id}/status", conversation.set_status, methods=["POST"]),
                Route("/conversations/{id}/typing", conversation.typing, methods=["POST"]),
                # Teams and routing: assignment, the agent's availability.
                Route("/conversations/{id}/assign", assignment.assign, methods=["POST"]),
                Route("/availability", assignment.set_availability, methods=["POST"]),
                # Agents' tools: notes, tags, shortcuts, the customer page.
                Route("/conversations/{id}/notes", tools.add_note, methods=["POST"]),
                Route("/conversations/{id}/tags", tools.change_tags, methods=["POST"]),
                Route("/conversations/{id}/shortcuts", tools.shortcuts, methods=["GET"]),
                Route("/customers/{id}", customer_page.customer_page, methods=["GET"]),
                Route("/customers/{id}/attributes", customer_page.set_attributes, methods=["POST"]),
                *admin.routes(),
                Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
            ],
        ),
    ]
