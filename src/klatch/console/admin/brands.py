"""Admin page of the brands' chat settings: per brand a form for the team name,
greeting, colours, allowed origins, whether chat is on, its availability and the
pre-chat form (one question a line, see ``questions_text``). The rules are the
domain's (``klatch.domain.brands``, ``klatch.domain.prechat``), the same as the
REST API's; what the form does not show (opening hours, other colours) is kept
as it is."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from klatch.console.admin.forms import (
    NOTHING,
    Refused,
    admin_page,
    admin_write,
    lines,
    noticed,
    show_refused,
    text,
)
from klatch.console.session import Agent
from klatch.console.web import page, render, see_other, services_of
from klatch.domain.attributes import AttributeDef
from klatch.domain.brands import WEEKDAYS, rgb_hex, with_defaults
from klatch.domain.models import Brand
from klatch.domain.prechat import form_view
from klatch.errors import InvalidArguments, KlatchError

AVAILABILITY_MODES = [
    ("always", "Always online"),
    ("hours", "Opening hours (UTC)"),
    ("offline", "Offline"),
]


def _input_color(color: Any) -> str:
    """A colour as <input type="color"> takes it: #rrggbb (alpha dropped)."""
    return rgb_hex(color) or "#000000"


def _kept_color(submitted: str, current: Any) -> str:
    """The submitted colour, or the stored one when the input showed it unchanged
    (a stored #abc or #rrggbbaa is not rewritten by saving other settings)."""
    if isinstance(current, str) and _input_color(current) == submitted.lower():
        return current
    return submitted


def questions_text(form: Any) -> str:
    """The pre-chat form as the console edits it, one question a line:
    ``klass.attribute | label | required or optional | value=Label, value=Label``
    (the choices part only for a question with choices of its own)."""
    questions = form.get("questions", []) if isinstance(form, dict) else []
    return "\n".join(_question_line(q) for q in questions)


def _question_line(question: dict[str, Any]) -> str:
    parts = [
        f"{question['klass']}.{question['attribute']}",
        question["label"],
        "required" if question.get("required") else "optional",
    ]
    if question.get("choices"):
        parts.append(", ".join(f"{c['value']}={c['label']}" for c in question["choices"]))
    return " | ".join(parts)


def parse_questions(text_value: str) -> list[dict[str, Any]]:
    """The questions of ``questions_text``'s lines, for the domain to check."""
    return [_parse_line(line, n) for n, line in enumerate(lines(text_value), 1)]


def _parse_line(line: str, number: int) -> dict[str, Any]:
    parts = [p.strip() for p in line.split("|")]
    bound, _, attribute = parts[0].partition(".")
    if len(parts) not in (3, 4) or not attribute or parts[2] not in ("required", "optional"):
        raise InvalidArguments(
            f"Pre-chat form, line {number}: write klass.attribute | label | required "
            "(or optional), and choices as value=Label, value=Label if any",
            pointer="/preChatForm",
        )
    question: dict[str, Any] = {
        "klass": bound,
        "attribute": attribute,
        "label": parts[1],
        "required": parts[2] == "required",
    }
    if len(parts) == 4 and parts[3]:
        question["choices"] = [_choice(c) for c in parts[3].split(",") if c.strip()]
    return question


def _choice(text_value: str) -> dict[str, str]:
    value, _, label = text_value.partition("=")
    return {"value": value.strip(), "label": (label or value).strip()}


def _askable(definitions: list[AttributeDef]) -> str:
    """The attributes a question may ask for, as the hint lists them."""
    by_klass: dict[str, dict[str, AttributeDef]] = {}
    for d in definitions:
        by_klass.setdefault(d.klass, {})[d.name] = d
    everything = {
        "questions": [{"klass": d.klass, "attribute": d.name, "label": d.name} for d in definitions]
    }
    return ", ".join(q["id"] for q in form_view(everything, by_klass)["questions"])


def _form_values(brand: Brand) -> dict[str, Any]:
    settings = with_defaults(brand.settings)
    return {
        "team_name": settings.get("teamName") or "",
        "greeting": settings.get("greeting") or "",
        "primary_color": _input_color(settings["colors"].get("primary")),
        "text_color": _input_color(settings["colors"].get("text")),
        "allowed_origins": "\n".join(settings.get("allowedOrigins") or []),
        "enabled": bool(settings.get("enabled", True)),
        "mode": settings["availability"].get("mode", "always"),
        "questions": questions_text(settings.get("preChatForm")),
    }


def _hours_text(brand: Brand) -> str:
    hours = with_defaults(brand.settings)["availability"].get("hours")
    if not isinstance(hours, dict):
        return ""
    return "; ".join(
        f"{day.capitalize()} {hours[day][0]}-{hours[day][1]}"
        for day in WEEKDAYS
        if isinstance(hours.get(day), list) and len(hours[day]) == 2
    )


def _changes(submitted: dict[str, Any], brand: Brand) -> dict[str, Any]:
    """The settings the form sets, over the brand's current ones."""
    current = with_defaults(brand.settings)
    colors = current["colors"]
    changes = {
        "teamName": submitted["team_name"],
        "greeting": submitted["greeting"],
        "colors": {
            **colors,
            "primary": _kept_color(submitted["primary_color"], colors.get("primary")),
            "text": _kept_color(submitted["text_color"], colors.get("text")),
        },
        "allowedOrigins": lines(submitted["allowed_origins"]),
        "enabled": submitted["enabled"],
        # Opening hours and the off-hours display stay as they are.
        "availability": {**current["availability"], "mode": submitted["mode"]},
    }
    # Saved only when edited: a question whose attribute was deleted since would
    # otherwise refuse every other change.
    if lines(submitted["questions"]) != lines(questions_text(current.get("preChatForm"))):
        changes["preChatForm"] = {"questions": parse_questions(submitted["questions"])}
    return changes


def _submitted(form: FormData) -> dict[str, Any]:
    return {
        "team_name": text(form, "team_name"),
        "greeting": text(form, "greeting"),
        "primary_color": text(form, "primary_color").strip(),
        "text_color": text(form, "text_color").strip(),
        "allowed_origins": text(form, "allowed_origins"),
        "enabled": form.get("enabled") is not None,
        "mode": text(form, "mode"),
        "questions": text(form, "questions"),
    }


async def _page(request: Request, agent: Agent, refused: Refused = NOTHING) -> Response:
    """The page; a refused form's ``key`` is its brand's id."""
    all_brands = await services_of(request).orgs.list_brands(agent.user.org_id)
    all_brands.sort(key=lambda b: (not b.is_default, b.name))
    values = {b.id: _form_values(b) for b in all_brands}
    definitions = await services_of(request).attributes.list(agent.user.org_id)
    brand_errors, gone = show_refused(values, refused)
    saved = noticed(request, "saved", all_brands) if refused is NOTHING else None
    context = {
        "agent": agent,
        "brands": all_brands,
        "hours": {b.id: _hours_text(b) for b in all_brands},
        "values": values,
        "modes": AVAILABILITY_MODES,
        "askable": _askable(definitions),
        "notice": f"Saved the chat settings of {saved.name}." if saved else None,
        "errors": gone,
        "brand_errors": brand_errors,
    }
    return render(request, "admin_brands.html", context, status_code=refused.status)


brands = admin_page(_page)


@page
async def save_brand(request: Request) -> Response:
    agent, form = await admin_write(request)
    brand_id = request.path_params["id"]
    submitted = _submitted(form)
    orgs = services_of(request).orgs
    try:
        brand = await orgs.brand_for(agent.user.org_id, brand_id)
        await orgs.update_brand_settings(agent.user.org_id, brand.id, _changes(submitted, brand))
    except KlatchError as exc:
        return await _page(request, agent, Refused.of(exc, submitted, key=brand_id))
    return see_other("/console/admin/brands", notice="saved", id=brand_id)
