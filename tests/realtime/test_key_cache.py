"""A key revoked in one process stops authenticating in another at once, not after
the key cache's lifetime (the processes share a database and a Redis bus)."""

from __future__ import annotations

import asyncio
import time
import uuid

from klatch.config import Settings
from klatch.runtime import running
from support import REDIS_URL, need_service


async def test_a_key_revoked_elsewhere_is_refused_here_within_a_second(
    settings: Settings,
) -> None:
    bus = need_service("Redis", REDIS_URL, "KLATCH_TEST_REDIS_URL")
    shared = settings.model_copy(update={"bus_url": bus})
    async with running(shared) as here, running(shared) as elsewhere:
        setup = await here.orgs.create_org(f"Cache org {uuid.uuid4().hex[:12]}")
        secret = setup.admin_key.secret
        assert await here.orgs.resolve_key(secret) is not None  # now cached here (5 s)

        await elsewhere.orgs.revoke_key(setup.org.id, setup.admin_key.key.id)
        revoked_at = time.monotonic()

        while await here.orgs.resolve_key(secret) is not None:
            assert time.monotonic() - revoked_at < 1.0, "the revoked key still works here"
            await asyncio.sleep(0.02)
