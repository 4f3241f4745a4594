"""Agent console logins: password check with a lockout after repeated failures,
and server-side sessions (the browser holds a random token in an HttpOnly
cookie; the database holds its hash, the user and the session's CSRF token)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from klatch.domain import events as ev
from klatch.domain.models import Actor, ActorType, ConsoleSession
from klatch.errors import LoginLocked, Unauthorized
from klatch.ids import hash_secret, new_secret, now_ms
from klatch.services.context import Context
from klatch.services.orgs import OrgService, system_actor
from klatch.services.unit import Unit
from klatch.storage import console as store

SESSION_MS = 12 * 3600 * 1000
MAX_FAILURES = 5  # in a row; then the email is locked for LOCK_MS
LOCK_MS = 5 * 60 * 1000
FORGET_FAILURES_MS = 15 * 60 * 1000

# Failed logins are counted by email and sessions found by token, before any org is
# known (an email may belong to none): these writes are no org's and emit no events.
_NO_ORG = system_actor("")


@dataclass(frozen=True, slots=True)
class Login:
    token: str  # goes into the cookie, never stored
    session: ConsoleSession


class ConsoleService:
    def __init__(self, ctx: Context, orgs: OrgService) -> None:
        self.ctx = ctx
        self.orgs = orgs

    async def login(self, email: str, password: str) -> Login:
        """Check the password (refused while the email is locked out) and start a session."""
        address = email.strip().lower()[:320]
        now = now_ms()
        failures, _, locked_until = await self.ctx.db.read(lambda tx: store.failures(tx, address))
        if locked_until is not None and locked_until > now:
            minutes = max(1, round((locked_until - now) / 60_000))
            raise LoginLocked(
                f"Too many failed logins for this email; try again in {minutes} minute(s)"
            )
        try:
            user = await self.orgs.authenticate_user(address, password)
        except Unauthorized:
            await self.ctx.uow.write(_NO_ORG, lambda unit: _count_failure(unit, address))
            raise
        token = new_secret("kc")
        session = ConsoleSession(user, secrets.token_urlsafe(32), now + SESSION_MS)

        async def work(unit: Unit) -> None:
            if failures or locked_until:
                await store.clear_failures(unit.tx, address)
            await store.insert_session(unit.tx, session, hash_secret(token), now)

        await self.ctx.uow.write(Actor(ActorType.USER, user.id, user.org_id), work)
        return Login(token, session)

    async def session(self, token: str | None) -> ConsoleSession | None:
        """The live session of a cookie's token, if its user is still enabled."""
        if not token or len(token) > 128:
            return None
        found = await self.ctx.db.read(
            lambda tx: store.get_session(tx, hash_secret(token), now_ms())
        )
        if found is None or found.user.disabled_at is not None:
            return None
        return found

    async def logout(self, token: str | None) -> None:
        """End the session; its sockets close (``credential.revoked``)."""
        if token:
            await self.ctx.uow.write(_NO_ORG, lambda unit: _end_session(unit, token))


def session_ref(token: str) -> str:
    """A console session's name in ``credential.revoked`` and on its sockets: derived
    from the cookie's token, but neither the token nor the hash the table keeps."""
    return hash_secret("console-session:" + hash_secret(token))[:32]


async def _end_session(unit: Unit, token: str) -> None:
    token_hash = hash_secret(token)
    session = await store.get_session(unit.tx, token_hash, unit.now)
    await store.delete_session(unit.tx, token_hash)
    if session is not None:  # now the org is known: the event goes to its log
        unit.actor = Actor(ActorType.USER, session.user.id, session.user.org_id)
        unit.emit(ev.credential_revoked("console_session", session_ref(token)))


async def _count_failure(unit: Unit, address: str) -> None:
    count = await store.count_failure(unit.tx, address, unit.now, unit.now - FORGET_FAILURES_MS)
    if count >= MAX_FAILURES:
        await store.lock_login(unit.tx, address, unit.now + LOCK_MS)
