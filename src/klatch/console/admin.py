"""Admin pages of the console (admins only): klass attributes, API keys, users,
brand chat settings.

Every page is for admins (``require_agent(request, admin=True)``), every write
checks the session's CSRF token, and every error of the services is shown in the
page it came from (status 400/404/409) with nothing changed; a write that worked
redirects back (303) with a notice. The notices are chosen by a code in the
query string, and the names in them are looked up or checked, so a link cannot
make the console say something of its own.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from klatch.console.web import (
    Agent,
    PageError,
    check_csrf,
    page,
    render,
    require_agent,
    services_of,
)
from klatch.domain.attributes import KLASSES, AttributeDef, AttrType, is_http_url
from klatch.domain.brands import DEFAULT_BRAND_SETTINGS
from klatch.domain.models import Brand, Role, UserRole
from klatch.errors import InvalidArguments, KlatchError
from klatch.services.orgs import CreatedKey

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
_COLOR_RE = re.compile(r"^#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")

TYPE_CHOICES = [
    ("", "By name suffix (Str, Txt, Num, Bool, At, Url)"),
    (AttrType.STR.value, "Str: short text"),
    (AttrType.TXT.value, "Txt: long text"),
    (AttrType.NUM.value, "Num: number"),
    (AttrType.BOOL.value, "Bool: yes or no"),
    (AttrType.AT.value, "At: date and time"),
    (AttrType.URL.value, "Url: web address"),
]
KEY_ROLES = [
    (Role.TRACKING.value, "org.tracking: chat SDK in browsers (public)"),
    (Role.USER.value, "org.user: integrations (conversations, customers, messages)"),
    (Role.ADMIN.value, "org.admin: everything, including attributes and keys"),
]
USER_ROLES = [(UserRole.AGENT.value, "Agent"), (UserRole.ADMIN.value, "Admin")]
AVAILABILITY_MODES = [
    ("always", "Always online"),
    ("hours", "Opening hours (UTC)"),
    ("offline", "Offline"),
]


def routes() -> list[BaseRoute]:
    return [
        Route("/admin", admin_home, methods=["GET"]),
        Route("/admin/attributes", attributes, methods=["GET"]),
        Route("/admin/attributes", define_attribute, methods=["POST"]),
        Route("/admin/attributes/{klass}/{name}", update_attribute, methods=["POST"]),
        Route("/admin/attributes/{klass}/{name}/delete", confirm_delete, methods=["GET"]),
        Route("/admin/attributes/{klass}/{name}/delete", delete_attribute, methods=["POST"]),
        Route("/admin/keys", keys, methods=["GET"]),
        Route("/admin/keys", create_key, methods=["POST"]),
        Route("/admin/keys/{id}/revoke", revoke_key, methods=["POST"]),
        Route("/admin/users", users, methods=["GET"]),
        Route("/admin/users", create_user, methods=["POST"]),
        Route("/admin/brands", brands, methods=["GET"]),
        Route("/admin/brands/{id}", save_brand, methods=["POST"]),
    ]


# ------------------------------------------------------------------ helpers


async def _admin_write(request: Request) -> tuple[Agent, Any]:
    """The signed-in admin and the posted form, its CSRF token checked."""
    agent = await require_agent(request, admin=True)
    form = await request.form()
    await check_csrf(request, agent, form)
    return agent, form


def _text(form: Any, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _messages(exc: KlatchError) -> list[str]:
    """What the services said, one line per offending item."""
    return [d.message for d in exc.details] or [exc.detail]


def _back(path: str, **params: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(params)}" if params else path, status_code=303)


@page
async def admin_home(request: Request) -> Response:
    await require_agent(request, admin=True)
    return RedirectResponse("/console/admin/attributes", status_code=303)


# ------------------------------------------------------------------ attributes


def _edit_values(d: AttributeDef) -> dict[str, Any]:
    return {
        "display_name": d.display_name,
        "allowed": "\n".join(d.enumeration or ()),
        "tree": "\n".join(d.tree or ()),
        "sdk_writable": d.sdk_writable,
    }


def _attribute_notice(request: Request) -> str | None:
    q = request.query_params
    klass, name = q.get("klass", ""), q.get("name", "")
    if klass not in KLASSES or not _NAME_RE.match(name):
        return None
    return {
        "defined": f"Defined the {klass} attribute {name}.",
        "saved": f"Saved the {klass} attribute {name}.",
        "deleted": f"Deleted the definition of the {klass} attribute {name}; "
        "values already stored were kept.",
    }.get(q.get("notice", ""))


async def _attributes_page(
    request: Request,
    agent: Agent,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    define: dict[str, Any] | None = None,
    define_errors: list[str] | None = None,
    edit: tuple[str, dict[str, Any], list[str]] | None = None,
) -> Response:
    """The page; ``edit`` is the key (klass.name), submitted values and errors of
    the edit form that failed."""
    defs = await services_of(request).attributes.list(agent.user.org_id)
    by_klass = {k: sorted((d for d in defs if d.klass == k), key=lambda d: d.name) for k in KLASSES}
    edit_values = {f"{d.klass}.{d.name}": _edit_values(d) for d in defs}
    edit_errors: dict[str, list[str]] = {}
    if edit is not None:
        key, values, messages = edit
        if key in edit_values:
            edit_values[key] = values
            edit_errors[key] = messages
        else:
            errors = [*(errors or []), *messages]
    context = {
        "agent": agent,
        "klasses": KLASSES,
        "by_klass": by_klass,
        "type_choices": TYPE_CHOICES,
        "notice": _attribute_notice(request) if status == 200 else None,
        "errors": errors or [],
        "define": define
        or {
            "klass": "conversation",
            "name": "",
            "type": "",
            "display_name": "",
            "allowed": "",
            "tree": "",
            "sdk_writable": True,
        },
        "define_errors": define_errors or [],
        "edit_values": edit_values,
        "edit_errors": edit_errors,
    }
    return render(request, "admin_attributes.html", context, status_code=status)


@page
async def attributes(request: Request) -> Response:
    agent = await require_agent(request, admin=True)
    return await _attributes_page(request, agent)


@page
async def define_attribute(request: Request) -> Response:
    agent, form = await _admin_write(request)
    submitted: dict[str, Any] = {
        "klass": _text(form, "klass"),
        "name": _text(form, "name").strip(),
        "type": _text(form, "type").strip(),
        "display_name": _text(form, "display_name").strip(),
        "allowed": _text(form, "allowed"),
        "tree": _text(form, "tree"),
        "sdk_writable": form.get("sdk_writable") is not None,
    }
    try:
        await services_of(request).attributes.define(
            agent.user.org_id,
            submitted["klass"],
            submitted["name"],
            type_=submitted["type"] or None,
            display_name=submitted["display_name"] or None,
            sdk_writable=submitted["sdk_writable"],
            enumeration=_lines(submitted["allowed"]) or None,
            tree=_lines(submitted["tree"]) or None,
        )
    except KlatchError as exc:
        return await _attributes_page(
            request,
            agent,
            status=exc.status,
            define=submitted,
            define_errors=_messages(exc),
        )
    return _back(
        "/console/admin/attributes",
        notice="defined",
        klass=submitted["klass"],
        name=submitted["name"],
    )


@page
async def update_attribute(request: Request) -> Response:
    agent, form = await _admin_write(request)
    klass, name = request.path_params["klass"], request.path_params["name"]
    submitted: dict[str, Any] = {
        "display_name": _text(form, "display_name").strip(),
        "allowed": _text(form, "allowed"),
        "tree": _text(form, "tree"),
        "sdk_writable": form.get("sdk_writable") is not None,
    }
    changes: dict[str, Any] = {
        "display_name": submitted["display_name"],
        "sdk_writable": submitted["sdk_writable"],
    }
    # Allowed values and trees are only offered (and so only changed) on Str attributes.
    if "allowed" in form:
        changes["enumeration"] = _lines(submitted["allowed"]) or None
    if "tree" in form:
        changes["tree"] = _lines(submitted["tree"]) or None
    try:
        await services_of(request).attributes.update(agent.user.org_id, klass, name, **changes)
    except KlatchError as exc:
        return await _attributes_page(
            request, agent, status=exc.status, edit=(f"{klass}.{name}", submitted, _messages(exc))
        )
    return _back("/console/admin/attributes", notice="saved", klass=klass, name=name)


async def _definition(request: Request, agent: Agent) -> AttributeDef:
    klass, name = request.path_params["klass"], request.path_params["name"]
    try:
        return await services_of(request).attributes.get(agent.user.org_id, klass, name)
    except KlatchError:
        # Not echoing the name: a crafted link must not put words on a console page.
        raise PageError(404, "Not found", "There is no such attribute.") from None


@page
async def confirm_delete(request: Request) -> Response:
    agent = await require_agent(request, admin=True)
    definition = await _definition(request, agent)
    return render(
        request,
        "admin_attribute_delete.html",
        {"agent": agent, "d": definition, "errors": []},
    )


@page
async def delete_attribute(request: Request) -> Response:
    agent, _ = await _admin_write(request)
    klass, name = request.path_params["klass"], request.path_params["name"]
    try:
        await services_of(request).attributes.delete(agent.user.org_id, klass, name)
    except KlatchError as exc:
        return await _attributes_page(request, agent, status=exc.status, errors=_messages(exc))
    return _back("/console/admin/attributes", notice="deleted", klass=klass, name=name)


# ------------------------------------------------------------------ API keys


async def _keys_page(
    request: Request,
    agent: Agent,
    *,
    status: int = 200,
    created: CreatedKey | None = None,
    errors: list[str] | None = None,
    form_errors: list[str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    services = services_of(request)
    all_keys = await services.orgs.list_keys(agent.user.org_id)
    brand_names = {b.id: b.name for b in await services.orgs.list_brands(agent.user.org_id)}
    notice = None
    q = request.query_params
    if status == 200 and created is None and q.get("notice") == "revoked":
        revoked = next((k for k in all_keys if k.id == q.get("id")), None)
        if revoked is not None:
            notice = f"Revoked the key “{revoked.name}”: it no longer works."
    context = {
        "agent": agent,
        "keys": sorted(all_keys, key=lambda k: (k.revoked_at is not None, -k.created_at)),
        "brand_names": brand_names,
        "roles": KEY_ROLES,
        "created": created,
        "notice": notice,
        "errors": errors or [],
        "form_errors": form_errors or [],
        "values": values or {"name": "", "role": Role.USER.value},
    }
    return render(request, "admin_keys.html", context, status_code=status)


@page
async def keys(request: Request) -> Response:
    agent = await require_agent(request, admin=True)
    return await _keys_page(request, agent)


@page
async def create_key(request: Request) -> Response:
    agent, form = await _admin_write(request)
    values = {"name": _text(form, "name"), "role": _text(form, "role")}
    try:
        try:
            role = Role(values["role"])
        except ValueError:
            raise InvalidArguments(
                "Choose a role: org.tracking, org.user or org.admin", pointer="/role"
            ) from None
        created = await services_of(request).orgs.create_key(
            agent.user.org_id, role=role, name=values["name"]
        )
    except KlatchError as exc:
        return await _keys_page(
            request, agent, status=exc.status, form_errors=_messages(exc), values=values
        )
    # The secret is in this response only: no redirect, and render() sends no-store.
    return await _keys_page(request, agent, created=created)


@page
async def revoke_key(request: Request) -> Response:
    agent, _ = await _admin_write(request)
    key_id = request.path_params["id"]
    try:
        await services_of(request).orgs.revoke_key(agent.user.org_id, key_id)
    except KlatchError as exc:
        return await _keys_page(request, agent, status=exc.status, errors=_messages(exc))
    return _back("/console/admin/keys", notice="revoked", id=key_id)


# ------------------------------------------------------------------ users


async def _users_page(
    request: Request,
    agent: Agent,
    *,
    status: int = 200,
    form_errors: list[str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    all_users = await services_of(request).orgs.list_users(agent.user.org_id)
    notice = None
    q = request.query_params
    if status == 200 and q.get("notice") == "created":
        user = next((u for u in all_users if u.id == q.get("id")), None)
        if user is not None:
            notice = f"Created the {user.role.value} {user.email}; they can log in now."
    context = {
        "agent": agent,
        "users": sorted(all_users, key=lambda u: u.email),
        "roles": USER_ROLES,
        "notice": notice,
        "form_errors": form_errors or [],
        "values": values or {"email": "", "display_name": "", "role": UserRole.AGENT.value},
    }
    return render(request, "admin_users.html", context, status_code=status)


@page
async def users(request: Request) -> Response:
    agent = await require_agent(request, admin=True)
    return await _users_page(request, agent)


@page
async def create_user(request: Request) -> Response:
    agent, form = await _admin_write(request)
    values = {
        "email": _text(form, "email").strip(),
        "display_name": _text(form, "display_name").strip(),
        "role": _text(form, "role"),
    }
    try:
        try:
            role = UserRole(values["role"])
        except ValueError:
            raise InvalidArguments("Choose a role: agent or admin", pointer="/role") from None
        user = await services_of(request).orgs.create_user(
            agent.user.org_id,
            values["email"],
            _text(form, "password"),
            role=role,
            display_name=values["display_name"] or None,
        )
    except KlatchError as exc:
        return await _users_page(
            request, agent, status=exc.status, form_errors=_messages(exc), values=values
        )
    return _back("/console/admin/users", notice="created", id=user.id)


# ------------------------------------------------------------------ brands


def _six_digit(color: Any) -> str:
    """A colour as <input type="color"> takes it: #rrggbb (alpha dropped)."""
    if not isinstance(color, str) or not _COLOR_RE.match(color):
        return "#000000"
    digits = color[1:].lower()
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits[:3])
    return "#" + digits[:6]


def _kept_color(submitted: str, current: Any) -> str:
    """The submitted colour, or the stored one when the input showed it unchanged
    (a stored #abc or #rrggbbaa is not rewritten by saving other settings)."""
    if isinstance(current, str) and _six_digit(current) == submitted.lower():
        return current
    return submitted


def _settings(brand: Brand) -> dict[str, Any]:
    settings = {**DEFAULT_BRAND_SETTINGS, **brand.settings}
    settings["colors"] = {**DEFAULT_BRAND_SETTINGS["colors"], **(settings.get("colors") or {})}
    settings["availability"] = {
        **DEFAULT_BRAND_SETTINGS["availability"],
        **(settings.get("availability") or {}),
    }
    return settings


def _brand_values(brand: Brand) -> dict[str, Any]:
    settings = _settings(brand)
    return {
        "team_name": settings.get("teamName") or "",
        "greeting": settings.get("greeting") or "",
        "primary_color": _six_digit(settings["colors"].get("primary")),
        "text_color": _six_digit(settings["colors"].get("text")),
        "allowed_origins": "\n".join(settings.get("allowedOrigins") or []),
        "enabled": bool(settings.get("enabled", True)),
        "mode": settings["availability"].get("mode", "always"),
    }


def _hours_text(hours: Any) -> str:
    if not isinstance(hours, dict):
        return ""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return "; ".join(
        f"{day.capitalize()} {hours[day][0]}-{hours[day][1]}"
        for day in days
        if isinstance(hours.get(day), list) and len(hours[day]) == 2
    )


def _check_origins(lines: list[str]) -> list[str]:
    """Origins only: the browser sends scheme://host[:port], so a URL with a path
    would never match and would shut the chat out of every page."""
    for line in lines:
        parts = urlsplit(line)
        if (
            not is_http_url(line)
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
        ):
            raise InvalidArguments(
                f"'{line}' is not an origin: use scheme://host[:port], "
                "such as https://shop.example.com",
                pointer="/allowedOrigins",
            )
    return lines


async def _brands_page(
    request: Request,
    agent: Agent,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    failed: tuple[str, dict[str, Any], list[str]] | None = None,
) -> Response:
    all_brands = await services_of(request).orgs.list_brands(agent.user.org_id)
    all_brands.sort(key=lambda b: (not b.is_default, b.name))
    values = {b.id: _brand_values(b) for b in all_brands}
    brand_errors: dict[str, list[str]] = {}
    if failed is not None:
        brand_id, submitted, messages = failed
        if brand_id in values:
            values[brand_id] = submitted
            brand_errors[brand_id] = messages
        else:
            errors = [*(errors or []), *messages]
    notice = None
    q = request.query_params
    if status == 200 and q.get("notice") == "saved":
        saved = next((b for b in all_brands if b.id == q.get("id")), None)
        if saved is not None:
            notice = f"Saved the chat settings of {saved.name}."
    context = {
        "agent": agent,
        "brands": all_brands,
        "hours": {b.id: _hours_text(_settings(b)["availability"].get("hours")) for b in all_brands},
        "values": values,
        "modes": AVAILABILITY_MODES,
        "notice": notice,
        "errors": errors or [],
        "brand_errors": brand_errors,
    }
    return render(request, "admin_brands.html", context, status_code=status)


@page
async def brands(request: Request) -> Response:
    agent = await require_agent(request, admin=True)
    return await _brands_page(request, agent)


@page
async def save_brand(request: Request) -> Response:
    agent, form = await _admin_write(request)
    brand_id = request.path_params["id"]
    submitted: dict[str, Any] = {
        "team_name": _text(form, "team_name"),
        "greeting": _text(form, "greeting"),
        "primary_color": _text(form, "primary_color").strip(),
        "text_color": _text(form, "text_color").strip(),
        "allowed_origins": _text(form, "allowed_origins"),
        "enabled": form.get("enabled") is not None,
        "mode": _text(form, "mode"),
    }
    services = services_of(request)
    try:
        brand = await services.orgs.brand_for(agent.user.org_id, brand_id)
        current = _settings(brand)
        colors = current["colors"]
        changes = {
            "teamName": submitted["team_name"],
            "greeting": submitted["greeting"],
            "colors": {
                **colors,
                "primary": _kept_color(submitted["primary_color"], colors.get("primary")),
                "text": _kept_color(submitted["text_color"], colors.get("text")),
            },
            "allowedOrigins": _check_origins(_lines(submitted["allowed_origins"])),
            "enabled": submitted["enabled"],
            # Opening hours and the off-hours display stay as they are.
            "availability": {**current["availability"], "mode": submitted["mode"]},
        }
        await services.orgs.update_brand_settings(agent.user.org_id, brand.id, changes)
    except KlatchError as exc:
        return await _brands_page(
            request, agent, status=exc.status, failed=(brand_id, submitted, _messages(exc))
        )
    return _back("/console/admin/brands", notice="saved", id=brand_id)
