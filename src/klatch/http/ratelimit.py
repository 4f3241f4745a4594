"""Fixed-window rate limits per credential (API key, chat session), in process.

With several replicas each enforces its own window, so the effective limit is
per replica; the headers always describe the window of the replica answering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from klatch.config import Settings
from klatch.errors import RateLimited

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
class Limits:
    """The app's limiters: one window table per kind of credential."""

    rest: RateLimiter  # per REST API key
    session: RateLimiter  # per chat session

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            rest=RateLimiter(settings.rate_limit_rest, what="requests of this API key"),
            session=RateLimiter(settings.rate_limit_session, what="requests of this chat session"),
        )
