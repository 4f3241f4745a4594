"""What the admin pages share: the admin's posted form, its fields as text, the
services' refusals as lines, a refused form shown again as it was sent, and the
notice a redirect asks for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request

from klatch.console.session import Agent
from klatch.console.web import check_csrf, require_agent
from klatch.errors import InvalidArguments, KlatchError

R = TypeVar("R", bound=StrEnum)


async def admin_write(request: Request) -> tuple[Agent, FormData]:
    """The signed-in admin and the posted form, its CSRF token checked."""
    agent = await require_agent(request, admin=True)
    form = await request.form()
    await check_csrf(request, agent, form)
    return agent, form


def text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def role(kind: type[R], value: str, choices: str) -> R:
    """The role a form's menu chose; a crafted one is refused like the services would."""
    try:
        return kind(value)
    except ValueError:
        raise InvalidArguments(f"Choose a role: {choices}", pointer="/role") from None


def messages(exc: KlatchError) -> list[str]:
    """What the services said, one line per offending item."""
    return [d.message for d in exc.details] or [exc.detail]


@dataclass(frozen=True, slots=True)
class Refused:
    """A form the services refused, on a page with one form per item (attribute, brand)."""

    key: str  # the item's
    values: dict[str, Any]  # as submitted
    messages: list[str]


def show_refused(
    values: dict[str, dict[str, Any]], refused: Refused | None
) -> tuple[dict[str, list[str]], list[str]]:
    """Put the refused form's submitted values in place of its item's; return its
    errors by item, and the errors for the top of the page when its item is gone
    (deleted meanwhile, or a crafted address)."""
    if refused is None:
        return {}, []
    if refused.key not in values:
        return {}, refused.messages
    values[refused.key] = refused.values
    return {refused.key: refused.messages}, []


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def noticed(request: Request, notice: str, items: Iterable[T]) -> T | None:
    """The item a redirect's ``?notice=…&id=…`` speaks of, looked up rather than
    taken from the link, so a link cannot make the page say something of its own."""
    q = request.query_params
    if q.get("notice") != notice:
        return None
    return next((item for item in items if item.id == q.get("id")), None)
