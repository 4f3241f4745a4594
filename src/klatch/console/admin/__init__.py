"""Admin pages of the console (admins only): klass attributes, API keys, users,
brand chat settings; one module each.

Every page is for admins (``require_agent(request, admin=True)``), every write
checks the session's CSRF token, and every error of the services is shown in the
page it came from (status 400/404/409) with nothing changed; a write that worked
redirects back (303) with a notice. The notices are chosen by a code in the
query string, and the names in them are looked up or checked, so a link cannot
make the console say something of its own.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from klatch.console.admin import (
    attributes,
    brands,
    keys,
    routing,
    shortcuts,
    tags,
    teams,
    users,
    webhooks,
)
from klatch.console.web import page, require_agent


@page
async def admin_home(request: Request) -> Response:
    await require_agent(request, admin=True)
    return RedirectResponse("/console/admin/attributes", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/admin", admin_home, methods=["GET"]),
        Route("/admin/attributes", attributes.attributes, methods=["GET"]),
        Route("/admin/attributes", attributes.define_attribute, methods=["POST"]),
        Route("/admin/attributes/{klass}/{name}", attributes.update_attribute, methods=["POST"]),
        Route(
            "/admin/attributes/{klass}/{name}/delete", attributes.confirm_delete, methods=["GET"]
        ),
        Route(
            "/admin/attributes/{klass}/{name}/delete", attributes.delete_attribute, methods=["POST"]
        ),
        Route("/admin/keys", keys.keys, methods=["GET"]),
        Route("/admin/keys", keys.create_key, methods=["POST"]),
        Route("/admin/keys/{id}/revoke", keys.revoke_key, methods=["POST"]),
        Route("/admin/users", users.users, methods=["GET"]),
        Route("/admin/users", users.create_user, methods=["POST"]),
        Route("/admin/users/{id}/{action}", users.user_action, methods=["POST"]),
        Route("/admin/shortcuts", shortcuts.shortcuts, methods=["GET"]),
        Route("/admin/shortcuts", shortcuts.create_shortcut, methods=["POST"]),
        Route("/admin/shortcuts/{id}", shortcuts.save_shortcut, methods=["POST"]),
        Route("/admin/shortcuts/{id}/delete", shortcuts.delete_shortcut, methods=["POST"]),
        Route("/admin/macros", shortcuts.macros, methods=["GET"]),
        Route("/admin/tags", tags.tags, methods=["GET"]),
        Route("/admin/tags", tags.create_tag, methods=["POST"]),
        Route("/admin/tags/{id}", tags.save_tag, methods=["POST"]),
        Route("/admin/tags/{id}/delete", tags.delete_tag, methods=["POST"]),
        Route("/admin/teams", teams.teams, methods=["GET"]),
        Route("/admin/teams", teams.create_team, methods=["POST"]),
        Route("/admin/teams/{id}", teams.team, methods=["GET"]),
        Route("/admin/teams/{id}", teams.save_team, methods=["POST"]),
        Route("/admin/teams/{id}/delete", teams.delete_team, methods=["POST"]),
        Route("/admin/rules", routing.rules, methods=["GET"]),
        Route("/admin/rules", routing.create_rule, methods=["POST"]),
        Route("/admin/rules/{id}", routing.rule, methods=["GET"]),
        Route("/admin/rules/{id}", routing.save_rule, methods=["POST"]),
        Route("/admin/rules/{id}/move", routing.move_rule, methods=["POST"]),
        Route("/admin/rules/{id}/enable", routing.enable_rule, methods=["POST"]),
        Route("/admin/rules/{id}/disable", routing.disable_rule, methods=["POST"]),
        Route("/admin/rules/{id}/delete", routing.delete_rule, methods=["POST"]),
        Route("/admin/brands", brands.brands, methods=["GET"]),
        Route("/admin/brands/{id}", brands.save_brand, methods=["POST"]),
        Route("/admin/webhooks", webhooks.webhooks, methods=["GET"]),
        Route("/admin/webhooks", webhooks.create_webhook, methods=["POST"]),
        Route("/admin/webhooks/{id}", webhooks.webhook, methods=["GET"]),
        Route("/admin/webhooks/{id}", webhooks.save_webhook, methods=["POST"]),
        Route("/admin/webhooks/{id}/enable", webhooks.enable_webhook, methods=["POST"]),
        Route("/admin/webhooks/{id}/disable", webhooks.disable_webhook, methods=["POST"]),
        Route("/admin/webhooks/{id}/test", webhooks.test_webhook, methods=["POST"]),
        Route("/admin/webhooks/{id}/delete", webhooks.delete_webhook, methods=["POST"]),
        Route("/admin/webhooks/{id}/dismiss", webhooks.dismiss_alert, methods=["POST"]),
        Route(
            "/admin/webhooks/{id}/transactions/{seq}/redeliver",
            webhooks.redeliver,
            methods=["POST"],
        ),
    ]
