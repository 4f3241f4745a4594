"""Webhook tests run with a retry schedule of fractions of a second, and with the
SSRF rules lifted: their receiver is plain http on 127.0.0.1 (the rules themselves
are tested with the flags off, in test_safety.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from klatch.config import Settings
from support import Receiver, make_settings

FAST: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_allow_http": True,
    "webhook_retry_schedule": (0.2, 0.2, 0.3),
    "webhook_poll_seconds": 0.2,
    "webhook_timeout_seconds": 2.0,
    "webhook_lease_seconds": 4.0,
}


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return make_settings(tmp_path, database_url, **FAST)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    try:
        yield started
    finally:
        started.stop()
