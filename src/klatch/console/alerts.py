"""The console's alert of outbound webhooks Klatch disabled (their receiver failed
through the whole retry schedule): shown to admins at the top of every console
page until it is dismissed in this browser or the webhook is enabled again.

A dismissal is kept in a cookie as ``<webhook id>-<disabled at>``, so a webhook
that is enabled and later disabled again shows its alert again.
"""

from __future__ import annotations

import re

from klatch.domain.models import Actor
from klatch.domain.webhooks import OutboundWebhook
from klatch.services import Services

DISMISSED_COOKIE = "klatch_webhook_alerts"
MAX_DISMISSED = 20
_ENTRY = re.compile(r"^[0-9a-f]{24}-[0-9]{1,15}$")
_NEXT = re.compile(r"^/console(/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$")


def _key(hook: OutboundWebhook) -> str:
    return f"{hook.id}-{hook.disabled_at}"


def dismissed(cookie: str | None) -> list[str]:
    """The dismissals a cookie holds (malformed entries dropped), oldest first."""
    entries = [e for e in (cookie or "").split(".") if _ENTRY.match(e)]
    return entries[-MAX_DISMISSED:]


async def disabled_webhooks(
    services: Services, actor: Actor, cookie: str | None
) -> tuple[OutboundWebhook, ...]:
    """The org's webhooks Klatch disabled whose alert this browser has not dismissed."""
    listed = await services.webhooks.list(actor, page=1, page_size=100)
    gone = set(dismissed(cookie))
    hooks: list[OutboundWebhook] = list(listed.items)
    return tuple(h for h in hooks if h.disabled_reason and _key(h) not in gone)


def dismiss(cookie: str | None, hook: OutboundWebhook) -> str:
    """The cookie's value with ``hook``'s current alert dismissed too."""
    entries = [e for e in dismissed(cookie) if not e.startswith(f"{hook.id}-")]
    return ".".join([*entries, _key(hook)][-MAX_DISMISSED:])


def safe_next(value: str) -> str:
    """Where to go back after a dismissal: a console path, never another site."""
    return value if _NEXT.match(value) and "//" not in value else "/console/inbox"
