"""The console's sign-in as the browser holds it: the cookies (the session's is also
read by the agents' WebSocket, ``http/realtime.py``) and who the signed-in user is
to the services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.responses import Response

from klatch.domain.models import Actor, ActorType, ConsoleSession, Role, User, UserRole
from klatch.domain.webhooks import OutboundWebhook

SESSION_COOKIE = "klatch_console"
LOGIN_CSRF_COOKIE = "klatch_login_csrf"


@dataclass(frozen=True, slots=True)
class Agent:
    """The signed-in console user, and who they are to the services."""

    user: User
    csrf_token: str
    availability: str = "available"  # for round-robin: available or away (the header's toggle)
    # Admins: webhooks Klatch disabled, whose alert this browser has not dismissed.
    disabled_webhooks: tuple[OutboundWebhook, ...] = ()
    # The org's newest event id before the page read anything: console.js re-reads
    # the page's live parts when its socket opens on a newer one (an event between
    # the page's reads and the socket's start would otherwise never show).
    events_seen: int = 0

    @classmethod
    def of(cls, session: ConsoleSession) -> Agent:
        return cls(session.user, session.csrf_token)

    @property
    def actor(self) -> Actor:
        role = Role.ADMIN if self.user.role is UserRole.ADMIN else Role.USER
        return Actor(
            ActorType.USER, self.user.id, self.user.org_id, name=self.user.display_name, role=role
        )

    @property
    def is_admin(self) -> bool:
        return self.user.role is UserRole.ADMIN


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf(response: Response, token: str, *, secure: bool) -> None:
    """The login form's CSRF token, also in a cookie: there is no session yet to hold it."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/console",
        max_age=3600,
    )


def start_session(response: Response, token: str, session: ConsoleSession, *, secure: bool) -> None:
    """The session's cookie, for as long as the session lasts; the login's CSRF
    cookie has served its purpose."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
        max_age=(session.expires_at // 1000) - int(datetime.now(UTC).timestamp()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
