"""Agent console logins: password check with a lockout after repeated failures,
and server-side sessions (the browser holds a random token in an HttpOnly
cookie; the database holds its hash, the user and the session's CSRF token).

The cookie's token is signed with ``KLATCH_SECRET_KEY`` (``<token>.<HMAC>``): a
cookie another key signed is refused before the database is asked, so every
replica needs the same key, and changing the key ends every console session.
Without a key (demo mode, tests) each process signs with a random one of its own.
"""

from __future__ import annotations

import hashlib
import hmac
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
    token: str  # the signed token: goes into the cookie, never stored
    session: ConsoleSession


class ConsoleService:
    def __init__(self, ctx: Context, orgs: OrgService) -> None:
        self.ctx = ctx
        self.orgs = orgs
        key = ctx.settings.secret_key
        self._key = key.encode() if key else secrets.token_bytes(32)

    def _mac(self, token: str) -> str:
        message = b"klatch-console-session:" + token.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _verified(self, cookie: str | None) -> str | None:
        """The token of a cookie this server's key signed, else None."""
        if not cookie or len(cookie) > 192:
            return None
        token, _, mac = cookie.rpartition(".")
        return token if token and hmac.compare_digest(mac, self._mac(token)) else None

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
        return Login(f"{token}.{self._mac(token)}", session)

    async def session(self, cookie: str | None) -> ConsoleSession | None:
        """The live session of a cookie (signed by this key), if its user is still
        enabled."""
        token = self._verified(cookie)
        if token is None:
            return None
        found = await self.ctx.db.read(
            lambda tx: store.get_session(tx, hash_secret(token), now_ms())
        )
        if found is None or found.user.disabled_at is not None:
            return None
        return found

    async def logout(self, cookie: str | None) -> None:
        """End the session; its sockets close (``credential.revoked``)."""
        token = self._verified(cookie)
        if token is not None and cookie is not None:
            ref = session_ref(cookie)
            await self.ctx.uow.write(_NO_ORG, lambda unit: _end_session(unit, token, ref))


def session_ref(cookie: str) -> str:
    """A console session's name in ``credential.revoked`` and on its sockets: derived
    from the cookie, but neither the token nor the hash the table keeps."""
    return hash_secret("console-session:" + hash_secret(cookie))[:32]


async def _end_session(unit: Unit, token: str, ref: str) -> None:
    token_hash = hash_secret(token)
    session = await store.get_session(unit.tx, token_hash, unit.now)
    await store.delete_session(unit.tx, token_hash)
    if session is not None:  # now the org is known: the event goes to its log
        unit.actor = Actor(ActorType.USER, session.user.id, session.user.org_id)
        unit.emit(ev.credential_revoked("console_session", ref))


async def _count_failure(unit: Unit, address: str) -> None:
    count = await store.count_failure(unit.tx, address, unit.now, unit.now - FORGET_FAILURES_MS)
    if count >= MAX_FAILURES:
        await store.lock_login(unit.tx, address, unit.now + LOCK_MS)
