"""Admin page of API keys: every key of the org, a form to create one (its secret
is shown once, in that response only) and a revoke button per live key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from klatch.console.admin.forms import (
    NOTHING,
    Refused,
    admin_page,
    admin_write,
    noticed,
    role,
    text,
)
from klatch.console.session import Agent
from klatch.console.web import page, render, see_other, services_of
from klatch.domain.models import Role
from klatch.errors import KlatchError
from klatch.services.orgs import CreatedKey

KEY_ROLES = [
    (Role.TRACKING.value, "org.tracking: chat SDK in browsers (public)"),
    (Role.USER.value, "org.user: integrations (conversations, customers, messages)"),
    (Role.ADMIN.value, "org.admin: everything, including attributes and keys"),
]


async def _page(
    request: Request, agent: Agent, refused: Refused = NOTHING, created: CreatedKey | None = None
) -> Response:
    """The page; a refused revoke's ``key`` is its key's id (none: the create form)."""
    services = services_of(request)
    all_keys = await services.orgs.list_keys(agent.user.org_id)
    brand_names = {b.id: b.name for b in await services.orgs.list_brands(agent.user.org_id)}
    plain = refused is NOTHING and created is None  # the page as a GET shows it
    revoked = noticed(request, "revoked", all_keys) if plain else None
    context = {
        "agent": agent,
        "keys": sorted(all_keys, key=lambda k: (k.revoked_at is not None, -k.created_at)),
        "brand_names": brand_names,
        "roles": KEY_ROLES,
        "created": created,
        "notice": f"Revoked the key “{revoked.name}”: it no longer works." if revoked else None,
        "errors": refused.messages if refused.key else (),
        "form_errors": () if refused.key else refused.messages,
        "values": refused.values or {"name": "", "role": Role.USER.value},
    }
    return render(request, "admin_keys.html", context, status_code=refused.status)


keys = admin_page(_page)


@page
async def create_key(request: Request) -> Response:
    agent, form = await admin_write(request)
    values = {"name": text(form, "name"), "role": text(form, "role")}
    try:
        chosen = role(Role, values["role"], "org.tracking, org.user or org.admin")
        created = await services_of(request).orgs.create_key(
            agent.user.org_id, role=chosen, name=values["name"]
        )
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, values))
    # The secret is in this response only: no redirect, and render() sends no-store.
    return await _page(request, agent, created=created)


@page
async def revoke_key(request: Request) -> Response:
    agent, _ = await admin_write(request)
    key_id = request.path_params["id"]
    try:
        await services_of(request).orgs.revoke_key(agent.user.org_id, key_id)
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, key=key_id))
    return see_other("/console/admin/keys", notice="revoked", id=key_id)
