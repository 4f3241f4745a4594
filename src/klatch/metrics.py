"""The process's Prometheus metrics: every metric object, in one place.

Other modules import the objects (or the small helpers below) and move them;
``klatch.http.metrics`` serves them at ``/metrics`` in the text format. A
Prometheus server scrapes each process (each replica) on its own and adds them
up, so the numbers are per process by design: like a log, they belong to the
process, not to an app instance, and live in one registry of our own (not the
client library's global one) that nothing else writes into.

Names follow Prometheus' conventions: ``_total`` counters (the suffix is added
by the client library), ``_seconds`` histograms, labels with a small, fixed set
of values (route *templates*, never raw paths; event types from the catalogue).

What is here, by the part of Klatch that moves it:

- HTTP (``http/middleware.py``): ``klatch_http_requests_total`` and
  ``klatch_http_request_duration_seconds`` by route template, method, status.
- describes (services): ``klatch_describes_total`` by klass, caller, outcome.
- storage (``storage/db.py``): commit batch sizes and commit latency.
- the event log (``services/unit.py``): ``klatch_events_appended_total`` by type.
- realtime (``http/realtime.py``, ``realtime/bus.py``): open sockets by kind,
  bus lag, reconnects, dropped bus messages.
- rate limits (``http/ratelimit.py``): refusals by limit.
- webhooks: the section at the end is where their metrics go (deliveries,
  failures, queue depth), defined here like the rest and imported by the
  delivery code.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from typing import Any, TypeVar

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

from klatch import __version__
from klatch.errors import KlatchError

T = TypeVar("T")

REGISTRY = CollectorRegistry(auto_describe=True)
# The process's memory, CPU, open files and garbage collections, as the client
# library measures them (the same collectors its global registry has).
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# Latency buckets for requests and commits: the chat hot path answers in a few
# milliseconds, a slow disk or a stalled PostgreSQL in seconds.
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

BUILD_INFO = Gauge(
    "klatch_build_info",
    "The Klatch version this process runs (always 1)",
    ["version"],
    registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__).set(1)

# ---------------------------------------------------------------- HTTP

HTTP_REQUESTS = Counter(
    "klatch_http_requests",
    "HTTP requests answered, by route template (e.g. /c/v1/conversations/{conversationId}; "
    "<unmatched> for no route), method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "klatch_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method",
    ["route", "method"],
    buckets=_SECONDS,
    registry=REGISTRY,
)

# ---------------------------------------------------------------- describes

DESCRIBES = Counter(
    "klatch_describes",
    "describeConversation / describeCustomer writes (SDK and REST), by klass, caller "
    "(sdk or rest) and outcome (stored; refused: a 4xx such as an invalid attribute; "
    "failed: the write could not be stored)",
    ["klass", "caller", "outcome"],
    registry=REGISTRY,
)


async def counted_describe(klass: str, from_sdk: bool, write: Awaitable[T]) -> T:
    """Await the describe ``write`` and count it by its outcome."""
    caller = "sdk" if from_sdk else "rest"
    try:
        result = await write
    except KlatchError as exc:
        _describes(klass, caller, "refused" if exc.status < 500 else "failed").inc()
        raise
    except Exception:
        _describes(klass, caller, "failed").inc()
        raise
    _describes(klass, caller, "stored").inc()
    return result


@functools.cache
def _describes(klass: str, caller: str, outcome: str) -> Any:
    """The series of one label set, looked up once (``labels`` costs a lock and a
    dict of tuples per call, on the describe hot path)."""
    return DESCRIBES.labels(klass, caller, outcome)


# ---------------------------------------------------------------- storage

COMMIT_BATCH_UNITS = Histogram(
    "klatch_db_commit_batch_units",
    "Units of work (writes) made durable by one commit: both backends commit in groups, "
    "many under load, one when idle",
    ["backend"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "klatch_db_commit_duration_seconds",
    "Time a write transaction took, from BEGIN to a durable COMMIT (SQLite: the whole "
    "batch, fsync included)",
    ["backend"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
COMMIT_FAILURES = Counter(
    "klatch_db_commit_failures",
    "Write transactions that failed as a whole (answered 503: full disk, read-only or "
    "unreachable database)",
    ["backend"],
    registry=REGISTRY,
)

# ---------------------------------------------------------------- the event log

EVENTS_APPENDED = Counter(
    "klatch_events_appended",
    "Events appended to the durable event log and committed, by event type",
    ["type"],
    registry=REGISTRY,
)


@functools.cache
def events_appended(event_type: str) -> Any:
    """The counter of one event type (looked up once: every write counts its events)."""
    return EVENTS_APPENDED.labels(event_type)


# ---------------------------------------------------------------- realtime

WEBSOCKETS = Gauge(
    "klatch_websocket_connections",
    "Open WebSocket connections streaming events, by kind (chat_session: a browser's "
    "chat; api_key: an integration on /v1/realtime; console: an agent's console)",
    ["kind"],
    registry=REGISTRY,
)
WEBSOCKETS_OPENED = Counter(
    "klatch_websocket_connections_opened",
    "WebSocket connections that started streaming events, by kind",
    ["kind"],
    registry=REGISTRY,
)
BUS_LAG_SECONDS = Histogram(
    "klatch_bus_lag_seconds",
    "Redis bus: from publishing on one process to receipt on this one (includes the "
    "clock difference between hosts)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
    registry=REGISTRY,
)
BUS_RECONNECTS = Counter(
    "klatch_bus_reconnects",
    "Times the Redis bus subscription came back after a loss (sockets then catch up from "
    "the event log)",
    registry=REGISTRY,
)
BUS_CONNECTED = Gauge(
    "klatch_bus_connected",
    "1 while the bus reaches other processes (the in-process bus: always 1)",
    registry=REGISTRY,
)
BUS_DROPPED = Counter(
    "klatch_bus_dropped_messages",
    "Bus messages not delivered to other processes, by reason (outbox_full, "
    "publish_failed); their sockets catch up from the event log",
    ["reason"],
    registry=REGISTRY,
)

# ---------------------------------------------------------------- rate limits

RATE_LIMIT_REFUSALS = Counter(
    "klatch_rate_limit_refusals",
    "Requests refused with 429, by limit (rest, session, new_session_address, new_session_key)",
    ["limit"],
    registry=REGISTRY,
)

# ---------------------------------------------------------------- webhooks
# Moved by the delivery worker (services/deliveries.py), one per process.

WEBHOOK_DELIVERIES = Counter(
    "klatch_webhook_deliveries",
    "Outbound webhook delivery attempts made by this process, by outcome (delivered: "
    "a 2xx; failed: retried on the schedule; skipped: no longer subscribed)",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_FAILURES = Counter(
    "klatch_webhook_failures",
    "Failed outbound webhook attempts, by reason (status: not a 2xx, redirects "
    "included; timeout; connection: refused, reset, TLS; refused_address: the URL's "
    "host resolves where webhooks may not go)",
    ["reason"],
    registry=REGISTRY,
)
WEBHOOK_DISABLED = Counter(
    "klatch_webhook_disabled",
    "Outbound webhooks this process disabled after a delivery failed the whole schedule",
    registry=REGISTRY,
)
WEBHOOK_DURATION_SECONDS = Histogram(
    "klatch_webhook_delivery_duration_seconds",
    "One delivery attempt: from the POST to the receiver's answer (or the failure)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
WEBHOOK_IN_FLIGHT = Gauge(
    "klatch_webhook_deliveries_in_flight",
    "Deliveries this process is sending now",
    registry=REGISTRY,
)
WEBHOOK_QUEUE_DEPTH = Gauge(
    "klatch_webhook_queue_depth",
    "Deliveries not yet delivered, of every org and replica (due, waiting for a retry, "
    "or held while their webhook is disabled), as this process last counted them "
    "(about once a second while its worker runs)",
    registry=REGISTRY,
)
