"""Agent console sessions and failed-login counts. Sessions are looked up by the
hash of the cookie's token, so the table never holds a usable credential."""

from __future__ import annotations

import sqlalchemy as sa

from klatch.domain.models import ConsoleSession
from klatch.storage.db import Query, Tx
from klatch.storage.orgs import user_from_row
from klatch.storage.tables import console_session, login_failure, user

b = sa.bindparam


_INSERT_SESSION = Query(sa.insert(console_session))
_SESSION = Query(
    sa.select(
        console_session.c.csrf_token,
        console_session.c.expires_at,
        *[c for c in user.c if c.name != "password_hash"],
    )
    .select_from(console_session.join(user, user.c.id == console_session.c.user_id))
    .where(console_session.c.token_hash == b("token_hash"), console_session.c.expires_at > b("now"))
)
_DELETE_SESSION = Query(sa.delete(console_session).where(console_session.c.token_hash == b("h")))
_DELETE_EXPIRED = Query(sa.delete(console_session).where(console_session.c.expires_at <= b("now")))
_DELETE_USER_SESSIONS = Query(sa.delete(console_session).where(console_session.c.user_id == b("u")))

_FAILURE = Query(sa.select(login_failure).where(login_failure.c.email == b("email")))
# INSERT … ON CONFLICT DO UPDATE … RETURNING: the same text on SQLite and PostgreSQL.
_COUNT_FAILURE = Query(
    sa.text(
        "INSERT INTO login_failure (email, failures, last_failure_at) "
        "VALUES (:email, 1, :now) "
        "ON CONFLICT (email) DO UPDATE SET "
        "failures = CASE WHEN login_failure.last_failure_at < :forget_before THEN 1 "
        "ELSE login_failure.failures + 1 END, "
        "last_failure_at = :now "
        "RETURNING failures"
    )
)
_LOCK = Query(
    sa.update(login_failure)
    .where(login_failure.c.email == b("email"))
    .values(failures=0, locked_until=b("until"))
)
_CLEAR_FAILURES = Query(sa.delete(login_failure).where(login_failure.c.email == b("email")))


async def insert_session(tx: Tx, session: ConsoleSession, token_hash: str, now: int) -> None:
    await tx.execute(_DELETE_EXPIRED, {"now": now})  # housekeeping, on the rare login
    await tx.execute(
        _INSERT_SESSION,
        {
            "token_hash": token_hash,
            "org_id": session.user.org_id,
            "user_id": session.user.id,
            "csrf_token": session.csrf_token,
            "created_at": now,
            "expires_at": session.expires_at,
        },
    )


async def get_session(tx: Tx, token_hash: str, now: int) -> ConsoleSession | None:
    row = await tx.one(_SESSION, {"token_hash": token_hash, "now": now})
    if row is None:
        return None
    return ConsoleSession(user_from_row(row), row["csrf_token"], row["expires_at"])


async def delete_session(tx: Tx, token_hash: str) -> None:
    await tx.execute(_DELETE_SESSION, {"h": token_hash})


async def delete_user_sessions(tx: Tx, user_id: str) -> None:
    await tx.execute(_DELETE_USER_SESSIONS, {"u": user_id})


async def failures(tx: Tx, email: str) -> tuple[int, int, int | None]:
    """(failures, last failure, locked until) for a login email."""
    row = await tx.one(_FAILURE, {"email": email})
    if row is None:
        return 0, 0, None
    return row["failures"], row["last_failure_at"], row["locked_until"]


async def count_failure(tx: Tx, email: str, now: int, forget_before: int) -> int:
    """Count one more failed login of ``email`` in one statement (so parallel failures
    are never counted as one), restarting from 1 after a quiet spell; the new count.
    The row stays locked until the transaction ends."""
    row = await tx.one(_COUNT_FAILURE, {"email": email, "now": now, "forget_before": forget_before})
    assert row is not None
    return int(row[0])


async def lock_login(tx: Tx, email: str, until: int) -> None:
    """Lock the email out until ``until`` and start counting afresh."""
    await tx.execute(_LOCK, {"email": email, "until": until})


async def clear_failures(tx: Tx, email: str) -> None:
    await tx.execute(_CLEAR_FAILURES, {"email": email})
