"""Stopping the server's background tasks (committers, pollers, loops)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("klatch.tasks")


async def stop_task(task: asyncio.Task[Any] | None, *, poll: float = 0.1) -> None:
    """Cancel ``task`` until it is done.

    One ``cancel()`` is not always enough: a cancellation that lands as the
    task's own wait completes can be swallowed (Python 3.11's ``wait_for``, a
    shielded write, redis-py's pubsub while it reconnects), and awaiting the task
    then waits for ever. So it is cancelled again every ``poll`` seconds until it
    has ended. An error it ended with is logged, not raised: stopping goes on.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=poll)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("background task %s failed", task.get_name(), exc_info=exc)
