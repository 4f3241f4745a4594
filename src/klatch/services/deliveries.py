"""The webhook delivery worker: one per process, started by ``klatch.runtime``.

It claims due deliveries from the outbox (``storage/webhooks.claim``: a lease,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two replicas never hold the same
delivery and a killed one's claims pass to another when the lease ends), POSTs
each, and records the attempt. It wakes when a commit published events (here or,
through the bus, on another replica), after each delivery (the next one of the
same object may be due now), and at the latest every ``webhook_poll_seconds``
or when the next retry is due.

Each POST is checked again where it goes: the URL's host is resolved, every
address must be allowed (no loopback, private, link-local or metadata address
unless configured), and the connection is made to the checked address (TLS still
verifies the host name), so DNS that changes between the check and the connect
cannot redirect it. Redirects are not followed; the response body is read up to
64 KiB and 1 KiB of it kept in the log.

Each attempt moves ``klatch_webhook_deliveries_total`` (and, failed,
``klatch_webhook_failures_total`` by reason); the loop counts the pending
deliveries for ``klatch_webhook_queue_depth`` about once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import httpx

from klatch import __version__, metrics
from klatch.domain import events as ev
from klatch.domain import webhooks as rules
from klatch.domain.models import Event
from klatch.domain.webhooks import Attempt, Target
from klatch.errors import KlatchError
from klatch.ids import now_ms
from klatch.realtime.bus import Bus
from klatch.services.context import Context
from klatch.services.unit import Unit
from klatch.services.webhooks import WebhookService, reachable_addresses, system_actor
from klatch.storage import webhooks as store
from klatch.storage.webhooks import Claimed, Outcome
from klatch.tasks import stop_task

log = logging.getLogger("klatch.webhooks")
_READ_BYTES = 64 * 1024
_EXCERPT = 1024
_STOP_GRACE = 2.0
_PRUNE_SECONDS = 600.0
_ERROR_PAUSE = 1.0
_MEASURE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int | None
    response: str | None
    error: str | None
    reason: str = "status"  # why it failed: status, timeout, connection, refused_address

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Deliverer:
    """Claims due deliveries and POSTs them, ``webhook_concurrency`` at a time."""

    def __init__(self, ctx: Context, webhooks: WebhookService, bus: Bus) -> None:
        self.ctx = ctx
        self.webhooks = webhooks
        self.bus = bus
        self.settings = ctx.settings
        self.worker_id = secrets.token_hex(8)
        self._wake = asyncio.Event()
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._last_prune = 0.0
        self._last_measure = 0.0

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=self.settings.webhook_timeout_seconds,
            limits=httpx.Limits(max_connections=self.settings.webhook_concurrency),
        )
        self._unsubscribe = self.bus.subscribe(self._on_events)
        self.webhooks.wake = self.wake
        self._loop_task = asyncio.create_task(self._run(), name="klatch-webhooks")

    async def stop(self) -> None:
        """Stop claiming; give deliveries in flight a moment, then cancel the rest and
        hand their claims back so the next worker need not wait out the lease."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.webhooks.wake = lambda: None
        await stop_task(self._loop_task)
        self._loop_task = None
        tasks = list(self._inflight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_GRACE)
        left = list(self._inflight)
        for task in self._inflight.values():
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        if left:
            with contextlib.suppress(Exception):
                await self.ctx.db.write(lambda tx: store.release(tx, self.worker_id, left))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        self._wake.set()

    def _done(self, seq: int, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(seq, None)
        metrics.WEBHOOK_IN_FLIGHT.set(len(self._inflight))

    def _on_events(self, events: Sequence[Event]) -> None:
        # Only a write of this process that enqueued deliveries (they are committed
        # now); another replica's deliveries are its own worker's, and this one's
        # poll takes them over if that worker is gone.
        if self.webhooks.outbox.enqueued(events):
            self._wake.set()

    # -- the loop

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            room = self.settings.webhook_concurrency - len(self._inflight)
            claimed: list[Claimed] = []
            if room > 0 and await self._due():
                claimed = await self._claim(room)
                for c in claimed:
                    task = asyncio.create_task(self._deliver(c), name=f"klatch-webhook-{c.seq}")
                    self._inflight[c.seq] = task
                    task.add_done_callback(partial(self._done, c.seq))
            await self._prune()
            await self._measure()
            if room > 0 and len(claimed) == room:
                continue  # there may be more due right now
            await self._wait(room > 0)

    async def _due(self) -> bool:
        """Whether a delivery may be due: a read, so an idle worker never writes (on
        SQLite a write every poll would keep the WAL from being truncated)."""
        try:
            due = await self.ctx.db.read(store.next_due)
        except Exception:  # the claim reports the database's trouble
            return True
        return due is not None and due <= now_ms()

    async def _claim(self, room: int) -> list[Claimed]:
        now = now_ms()
        until = now + int(self.settings.webhook_lease_seconds * 1000)
        try:
            return await self.ctx.db.write(
                lambda tx: store.claim(tx, worker=self.worker_id, now=now, until=until, limit=room)
            )
        except Exception as exc:  # the database is away: try again shortly
            log.warning("webhook claim failed: %s", exc)
            await asyncio.sleep(_ERROR_PAUSE)
            return []

    async def _wait(self, idle: bool) -> None:
        timeout = self.settings.webhook_poll_seconds
        if idle:
            with contextlib.suppress(Exception):
                due = await self.ctx.db.read(store.next_due)
                if due is not None:
                    timeout = min(timeout, max(0.0, (due - now_ms()) / 1000))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _measure(self) -> None:
        """The queue depth gauge, read at most once a second (a read: no WAL growth)."""
        metrics.WEBHOOK_IN_FLIGHT.set(len(self._inflight))
        if time.monotonic() - self._last_measure < _MEASURE_SECONDS:
            return
        self._last_measure = time.monotonic()
        with contextlib.suppress(Exception):  # the claim reports the database's trouble
            metrics.WEBHOOK_QUEUE_DEPTH.set(await self.ctx.db.read(store.pending_count))

    async def _prune(self) -> None:
        if time.monotonic() - self._last_prune < _PRUNE_SECONDS:
            return
        self._last_prune = time.monotonic()
        before = now_ms() - int(self.settings.webhook_log_days * 86_400_000)
        try:
            removed = await self.ctx.db.write(lambda tx: store.prune(tx, before))
        except Exception as exc:
            log.warning("webhook log pruning failed: %s", exc)
            return
        if removed:
            log.info("webhook log: %d old deliveries removed", removed)

    # -- one delivery

    async def _deliver(self, c: Claimed) -> None:
        at = now_ms()
        started = time.perf_counter()
        if c.name != rules.TEST_EVENT and c.name not in c.events:
            answer = _Answer(None, None, "not sent: the webhook no longer subscribes to it")
            delivered = True
            metrics.WEBHOOK_DELIVERIES.labels("skipped").inc()
        else:
            answer = await self._post(c)
            delivered = answer.ok
            _count(answer, time.perf_counter() - started)
        attempt = Attempt(
            at=at,
            status_code=answer.status,
            duration_ms=int((time.perf_counter() - started) * 1000),
            error=answer.error,
            response=answer.response,
        )
        await self._record(c, attempt, delivered)
        self._wake.set()  # the next delivery of the same object may be due now

    async def _record(self, c: Claimed, attempt: Attempt, delivered: bool) -> None:
        tries = 0 if delivered else c.tries + 1
        delay = 0.0 if delivered else rules.retry_delay(self.settings.webhook_retry_schedule, tries)
        spent = delay is None
        outcome = Outcome(attempt, delivered, tries, attempt.at + int((delay or 0) * 1000))

        async def work(unit: Unit) -> None:
            kept = await store.record_try(unit.tx, self.worker_id, c, outcome)
            if spent and kept:
                await self._disable(unit, c, attempt)

        try:
            await self.ctx.uow.write(system_actor(c.org_id), work)
        except Exception as exc:  # its lease runs out and it is tried again
            log.warning("webhook delivery %d: the outcome was not stored: %s", c.seq, exc)

    async def _disable(self, unit: Unit, c: Claimed, attempt: Attempt) -> None:
        steps = len(self.settings.webhook_retry_schedule) + 1
        last = attempt.error or f"HTTP {attempt.status_code}"
        reason = f"Disabled after {steps} failed attempts of one delivery; the last: {last}"[:1024]
        if await store.disable_webhook(unit.tx, c.org_id, c.webhook_id, reason, unit.now):
            log.warning("outbound webhook %s disabled: %s", c.webhook_id, reason)
            metrics.WEBHOOK_DISABLED.inc()
            unit.emit(ev.outbound_webhook_disabled(c.webhook_id, c.webhook_name, reason, unit.now))

    async def _post(self, c: Claimed) -> _Answer:
        settings = self.settings
        try:
            target = rules.check_url(c.url, allow_http=settings.webhook_allow_http)
            addresses = await reachable_addresses(
                target, self.webhooks.resolver, allow_private=settings.webhook_allow_private
            )
        except KlatchError as exc:
            return _Answer(None, None, f"refused: {exc.detail}"[:1024], "refused_address")
        body = c.body.encode()
        headers = {h["name"]: h["value"] for h in c.headers}
        headers.update(
            {
                "Host": _host_header(target),
                "Content-Type": "application/json",
                "User-Agent": f"Klatch-Webhooks/{__version__}",
                "X-Kustomer-Webhook-Event": c.name,
                "X-Kustomer-Webhook-Signature": rules.signature(c.token, body),
            }
        )
        try:
            async with asyncio.timeout(settings.webhook_timeout_seconds):
                return await self._send(_pinned(c.url, target, addresses[0]), target, headers, body)
        except TimeoutError:
            timeout = settings.webhook_timeout_seconds
            return _Answer(None, None, f"timed out after {timeout:g} s", "timeout")
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1024] or type(exc).__name__
            return _Answer(None, None, error, "connection")

    async def _send(
        self, url: str, target: Target, headers: dict[str, str], body: bytes
    ) -> _Answer:
        assert self._client is not None
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            "POST", url, content=body, headers=headers, extensions=extensions
        )
        response = await self._client.send(request, stream=True)
        try:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) >= _READ_BYTES:
                    break
        finally:
            await response.aclose()
        excerpt = bytes(data[: _EXCERPT * 4]).decode("utf-8", "replace")[:_EXCERPT]
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}"
        if response.is_redirect:
            error = f"HTTP {response.status_code}: redirects are not followed"
        return _Answer(response.status_code, excerpt or None, error)


def _count(answer: _Answer, seconds: float) -> None:
    metrics.WEBHOOK_DURATION_SECONDS.observe(seconds)
    metrics.WEBHOOK_DELIVERIES.labels("delivered" if answer.ok else "failed").inc()
    if not answer.ok:
        metrics.WEBHOOK_FAILURES.labels(answer.reason).inc()


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _pinned(url: str, target: Target, address: str) -> str:
    """``url`` with its host replaced by the checked address."""
    parts = httpx.URL(url)
    return str(parts.copy_with(host=address.split("%", 1)[0], port=target.port))
