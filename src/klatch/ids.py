"""Identifiers, secrets and the clock.

Ids are 24-hex object ids, like Kustomer's (integrations validate that format):
4 bytes of seconds, so they sort roughly by creation, then 8 random bytes.
Secrets (API keys, session tokens) are random, shown once, and stored only as
their SHA-256, so a stolen database does not yield working credentials.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

_ID_RE = re.compile(r"^[0-9a-f]{24}$")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id() -> str:
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.match(value) is not None


def new_secret(prefix: str) -> str:
    """A bearer credential such as ``kt_...`` (tracking key) or ``ks_...`` (session)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
