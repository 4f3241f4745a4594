"""What the admin pages share: the page as a GET shows it, the admin's posted form,
its fields as text, the services' refusals as lines, a refused form shown again
as it was sent, and the notice a redirect asks for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from klatch.console.session import Agent
from klatch.console.web import Handler, agent_write, page, require_agent
from klatch.errors import InvalidArguments, KlatchError

R = TypeVar("R", bound=StrEnum)


async def admin_write(request: Request) -> tuple[Agent, FormData]:
    """The signed-in admin and the posted form, its CSRF token checked."""
    return await agent_write(request, admin=True)


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
    """A write the services refused, shown again on the page it came from: its
    status and messages, the form as it was sent, and which of the page's forms
    it was (``key``, as each page names them: an item's, the create form's …)."""

    status: int
    messages: tuple[str, ...]
    values: dict[str, Any] | None = None  # as submitted
    key: str | None = None

    @classmethod
    def of(
        cls, exc: KlatchError, values: dict[str, Any] | None = None, key: str | None = None
    ) -> Refused:
        return cls(exc.status, tuple(messages(exc)), values, key)


NOTHING = Refused(200, ())  # a page as a GET shows it: nothing was refused


def show_refused(
    values: dict[str, dict[str, Any]], refused: Refused
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """On a page with one form per item (attribute, brand), put the refused form's
    submitted values in place of its item's; return its errors by item, and the
    errors for the top of the page when its item is gone (deleted meanwhile, or a
    crafted address)."""
    if refused.key not in values:
        return {}, refused.messages
    values[refused.key] = refused.values or {}
    return {refused.key: refused.messages}, ()


Show = Callable[[Request, Agent], Awaitable[Response]]


def admin_page(show: Show) -> Handler:
    """An admin page's GET: ``show`` it to the signed-in admin."""

    @page
    async def get(request: Request) -> Response:
        return await show(request, await require_agent(request, admin=True))

    return get


def chosen_notice(request: Request, notices: Mapping[str, str], refused: Refused) -> str | None:
    """The notice a redirect's ``?notice=…`` chose from ``notices``; none on the page
    of a refused write."""
    return notices.get(request.query_params.get("notice", "")) if refused is NOTHING else None


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
