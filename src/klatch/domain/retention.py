"""Event-log retention: what is kept of the events older than the retention period.

Pruning deletes every event older than ``KLATCH_EVENT_RETENTION_DAYS`` from the
start of an org's log (ids stay increasing: what is left begins after the last
pruned id, so a socket resuming from before it gets ``resync``). Of what it
deletes, only the attribute history is used later (the console's history panel
and ``GET /v1/conversations/{id}/events``); it is *summarised*: per conversation
one ``conversation.history_summary`` record holds, for every attribute, status and
title that changed in the pruned events, the value before the first of those
changes and after the last, and the attributes as they were after it. The
record is stored under a negative id, outside the sequence, so it is never
replayed to a socket and sorts before the conversation's remaining events.

Dropped for good: the events' individual steps (values in between, who made each
change and when: the summary's actor is ``system``, its time the last pruned
change's), ``message.created`` (the messages themselves stay),
``conversation.created``'s snapshot, ``conversation.ended``, customer events
(the customer record keeps its current state), ``credential.revoked`` and
webhook events. Webhook deliveries keep their own copy of what they send
(``webhook_delivery.body``), so retention takes nothing from the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from klatch.domain import events as ev
from klatch.domain.models import Event

HISTORY_SUMMARY = ev.CONVERSATION_HISTORY_SUMMARY
HISTORY = (ev.CONVERSATION_CREATED, ev.CONVERSATION_UPDATED)
DAY_MS = 86_400_000


@with_config(ConfigDict(extra="forbid", strict=True))
class Summarised(TypedDict):
    events: int  # attribute-history events folded into this record
    firstAt: str
    lastAt: str


@with_config(ConfigDict(extra="forbid", strict=True))
class HistorySummaryPayload(TypedDict):
    conversationId: str
    customerId: str | None
    version: int | None
    changes: dict[str, Any]  # as conversation.updated's: custom per attribute, status, title
    custom: dict[str, Any]
    summarised: Summarised


def cutoff(now_ms: int, days: float) -> int:
    """Events created before this (epoch ms) are pruned."""
    return now_ms - int(days * DAY_MS)


def _fold_change(changes: dict[str, Any], key: str, before: Any, after: Any) -> None:
    earlier = changes.get(key)
    changes[key] = {"before": earlier["before"] if earlier else before, "after": after}
    if changes[key]["before"] == after:
        del changes[key]  # changed and changed back: nothing to tell


def _changes_of(event: Event) -> dict[str, Any]:
    """An event's changes as conversation.updated names them."""
    if event.type == ev.CONVERSATION_CREATED:
        created = event.payload.get("conversation") or {}
        custom = created.get("custom") or {}
        return {"custom": {k: {"before": None, "after": v} for k, v in custom.items()}}
    changes: dict[str, Any] = event.payload.get("changes") or {}
    return changes


def _state_of(event: Event) -> tuple[dict[str, Any], int | None]:
    if event.type == ev.CONVERSATION_CREATED:
        created = event.payload.get("conversation") or {}
        return dict(created.get("custom") or {}), created.get("version")
    return dict(event.payload.get("custom") or {}), event.payload.get("version")


def summarise(summary: Mapping[str, Any] | None, event: Event) -> dict[str, Any]:
    """``summary`` (or nothing yet) with one more attribute-history event folded in."""
    changes: dict[str, Any] = {
        key: (dict(value) if key == "custom" else value)
        for key, value in ((summary or {}).get("changes") or {}).items()
    }
    for key, change in _changes_of(event).items():
        if key == "custom":
            custom_changes = changes.setdefault("custom", {})
            for name, step in change.items():
                _fold_change(custom_changes, name, step.get("before"), step.get("after"))
            if not custom_changes:
                del changes["custom"]
        elif isinstance(change, Mapping):
            _fold_change(changes, key, change.get("before"), change.get("after"))
    custom, version = _state_of(event)
    at = ev.iso(event.created_at)
    folded = (summary or {}).get("summarised") or {"events": 0, "firstAt": at}
    return {
        "conversationId": event.conversation_id,
        "customerId": event.customer_id,
        "version": version,
        "changes": changes,
        "custom": custom,
        "summarised": {"events": folded["events"] + 1, "firstAt": folded["firstAt"], "lastAt": at},
    }
