"""Admin page of klass attributes: the definitions of both klasses, a form to
define one, one to edit each (display name, allowed values and tree on the types
that take them, SDK-writable) and a confirmed delete."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from klatch.console.admin.forms import (
    NOTHING,
    Refused,
    admin_page,
    admin_write,
    lines,
    show_refused,
    text,
)
from klatch.console.session import Agent
from klatch.console.web import PageError, page, render, require_agent, see_other, services_of
from klatch.domain.attributes import KLASSES, TYPES, AttributeDef
from klatch.errors import KlatchError

PATH = "/console/admin/attributes"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")

TYPE_CHOICES = [
    ("", f"By name suffix ({', '.join(spec.suffix for spec in TYPES)})"),
    *((spec.type.value, f"{spec.suffix}: {spec.label}") for spec in TYPES),
]
_WITH_ALLOWED_VALUES = frozenset(spec.type for spec in TYPES if spec.takes_allowed_values)
_NEW = {
    "klass": "conversation",
    "name": "",
    "type": "",
    "display_name": "",
    "allowed": "",
    "tree": "",
    "sdk_writable": True,
}


def _edit_values(d: AttributeDef) -> dict[str, Any]:
    return {
        "display_name": d.display_name,
        "allowed": "\n".join(d.enumeration or ()),
        "tree": "\n".join(d.tree or ()),
        "sdk_writable": d.sdk_writable,
    }


def _submitted(form: FormData) -> dict[str, Any]:
    """What the define and edit forms share, as submitted."""
    return {
        "display_name": text(form, "display_name").strip(),
        "allowed": text(form, "allowed"),
        "tree": text(form, "tree"),
        "sdk_writable": form.get("sdk_writable") is not None,
    }


def _notice(request: Request) -> str | None:
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


async def _page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    """The page; a refused form's ``key`` is "" for the define form, klass.name for
    an edit form (none: the error goes on top)."""
    defs = await services_of(request).attributes.list(agent.user.org_id)
    edit_values = {f"{d.klass}.{d.name}": _edit_values(d) for d in defs}
    define, edit = (refused, NOTHING) if refused.key == "" else (NOTHING, refused)
    edit_errors, gone = show_refused(edit_values, edit)
    context = {
        "agent": agent,
        "klasses": KLASSES,
        "by_klass": {
            k: sorted((d for d in defs if d.klass == k), key=lambda d: d.name) for k in KLASSES
        },
        "type_choices": TYPE_CHOICES,
        "with_allowed_values": _WITH_ALLOWED_VALUES,
        "notice": _notice(request) if refused is NOTHING else None,
        "errors": gone,
        "define": define.values or _NEW,
        "define_errors": define.messages,
        "edit_values": edit_values,
        "edit_errors": edit_errors,
    }
    return render(request, "admin_attributes.html", context, status_code=refused.status)


def _done(notice: str, klass: str, name: str) -> RedirectResponse:
    return see_other(PATH, notice=notice, klass=klass, name=name)


attributes = admin_page(_page)


@page
async def define_attribute(request: Request) -> Response:
    agent, form = await admin_write(request)
    submitted: dict[str, Any] = {
        "klass": text(form, "klass"),
        "name": text(form, "name").strip(),
        "type": text(form, "type").strip(),
        **_submitted(form),
    }
    try:
        await services_of(request).attributes.define(
            agent.user.org_id,
            submitted["klass"],
            submitted["name"],
            type_=submitted["type"] or None,
            display_name=submitted["display_name"] or None,
            sdk_writable=submitted["sdk_writable"],
            enumeration=lines(submitted["allowed"]) or None,
            tree=lines(submitted["tree"]) or None,
        )
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, submitted, key=""))
    return _done("defined", submitted["klass"], submitted["name"])


@page
async def update_attribute(request: Request) -> Response:
    agent, form = await admin_write(request)
    klass, name = request.path_params["klass"], request.path_params["name"]
    submitted = _submitted(form)
    changes: dict[str, Any] = {
        "display_name": submitted["display_name"],
        "sdk_writable": submitted["sdk_writable"],
    }
    # Allowed values and trees are only offered (and so only changed) on the types
    # that take them.
    if "allowed" in form:
        changes["enumeration"] = lines(submitted["allowed"]) or None
    if "tree" in form:
        changes["tree"] = lines(submitted["tree"]) or None
    try:
        await services_of(request).attributes.update(agent.user.org_id, klass, name, **changes)
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, submitted, key=f"{klass}.{name}"))
    return _done("saved", klass, name)


@page
async def confirm_delete(request: Request) -> Response:
    agent = await require_agent(request, admin=True)
    klass, name = request.path_params["klass"], request.path_params["name"]
    try:
        definition = await services_of(request).attributes.get(agent.user.org_id, klass, name)
    except KlatchError:
        # Not echoing the name: a crafted link must not put words on a console page.
        raise PageError(404, "Not found", "There is no such attribute.") from None
    return render(
        request, "admin_attribute_delete.html", {"agent": agent, "d": definition, "errors": []}
    )


@page
async def delete_attribute(request: Request) -> Response:
    agent, _ = await admin_write(request)
    klass, name = request.path_params["klass"], request.path_params["name"]
    try:
        await services_of(request).attributes.delete(agent.user.org_id, klass, name)
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc))
    return _done("deleted", klass, name)
