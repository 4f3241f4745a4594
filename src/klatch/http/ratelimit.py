"""Fixed-window rate limits, in process: requests per credential (API key, chat
session), and new chat sessions per client address and per tracking key.

With several replicas each enforces its own window, so the effective limit is
per replica; the headers always describe the window of the replica answering.
The client address is the peer's, or, when the peer is a trusted proxy, the one
that proxy wrote into ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import Scope

from klatch import metrics
from klatch.config import Settings
from klatch.errors import RateLimited

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Anyone holds a whole IPv6 /64, so its addresses count as one.
IPV6_PREFIX = 64

WINDOW_SECONDS = 60


@dataclass(slots=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # UTC epoch seconds when the window ends


@dataclass(slots=True)
class RateLimiter:
    limit: int  # requests per window; 0 disables
    what: str = "requests"
    name: str = "requests"  # the limit's label in klatch_rate_limit_refusals_total
    _windows: dict[str, list[int]] = field(default_factory=dict)

    def hit(self, key: str) -> Quota | None:
        """Count one request for ``key``; raise ``RateLimited`` past the limit."""
        if self.limit <= 0:
            return None
        now = int(time.time())
        window = now - now % WINDOW_SECONDS
        entry = self._windows.get(key)
        if entry is None or entry[0] != window:
            if len(self._windows) > 100_000:
                self._prune(window)
            entry = self._windows[key] = [window, 0]
        entry[1] += 1
        reset = window + WINDOW_SECONDS
        if entry[1] > self.limit:
            metrics.RATE_LIMIT_REFUSALS.labels(self.name).inc()
            raise RateLimited(
                f"More than {self.limit} {self.what} per minute; retry after the window resets",
                retry_after=max(1, reset - now),
                limit=self.limit,
                reset=reset,
            )
        return Quota(self.limit, self.limit - entry[1], reset)

    def _prune(self, window: int) -> None:
        for key in [k for k, v in self._windows.items() if v[0] != window]:
            del self._windows[key]


@dataclass(frozen=True, slots=True)
class Proxies:
    """The peers trusted to say, in ``X-Forwarded-For``, whom they forward."""

    networks: tuple[IPNetwork, ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Proxies:
        entries = list(entries)
        networks = tuple(ipaddress.ip_network(e) for e in entries if e != "*")
        return cls(networks, everyone="*" in entries)

    def trusts(self, host: str) -> bool:
        if self.everyone:
            return True
        address = _ip(host)
        return address is not None and any(address in network for network in self.networks)

    def client(self, scope: Scope) -> str:
        """The client's address. Each proxy appends the peer it heard from, so the
        nearest entry that is not a trusted proxy is the client; anything left of
        it was written by that client and proves nothing."""
        peer = scope.get("client")
        host = peer[0] if peer else ""
        if not self.trusts(host):
            return host
        forwarded = [
            _host_of(entry)
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
            for entry in value.decode("latin-1").split(",")
            if entry.strip()
        ]
        for entry in reversed(forwarded):
            if not self.trusts(entry):
                return entry
        return forwarded[0] if forwarded else host


def _host_of(entry: str) -> str:
    """The address of an ``X-Forwarded-For`` entry: ``1.2.3.4``, ``1.2.3.4:5``,
    ``2001:db8::1`` or ``[2001:db8::1]:5``."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells (an IPv4-mapped IPv6 one as IPv4), if it is one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_key(host: str) -> str:
    """What the limit counts for a client address: the address, an IPv6 one's /64."""
    address = _ip(host)
    if address is None:
        return host[:64]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class Limits:
    """The app's limiters: one window table per kind of credential, two for new
    chat sessions, and the proxies trusted to name a client's address."""

    rest: RateLimiter  # per REST API key
    search: RateLimiter  # searches per REST API key (POST /v1/customers/search)
    session: RateLimiter  # per chat session
    new_session_address: RateLimiter  # new chat sessions per client address
    new_session_key: RateLimiter  # new chat sessions per tracking key
    proxies: Proxies

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            rest=RateLimiter(settings.rate_limit_rest, "requests of this API key", "rest"),
            search=RateLimiter(settings.rate_limit_search, "searches of this API key", "search"),
            session=RateLimiter(
                settings.rate_limit_session, "requests of this chat session", "session"
            ),
            new_session_address=RateLimiter(
                settings.rate_limit_new_sessions_per_address,
                "new chat sessions from this address",
                "new_session_address",
            ),
            new_session_key=RateLimiter(
                settings.rate_limit_new_sessions_per_key,
                "new chat sessions of this tracking key",
                "new_session_key",
            ),
            proxies=Proxies.parse(settings.trusted_proxies),
        )

    def new_session(self, scope: Scope, key_id: str) -> None:
        """Count a chat session about to be created; ``RateLimited`` past a limit.

        The address is counted first, so one address past its limit does not use
        up the tracking key's allowance for everyone else.
        """
        self.new_session_address.hit(address_key(self.proxies.client(scope)))
        self.new_session_key.hit(key_id)
