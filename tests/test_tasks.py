"""Stopping background tasks: a task that swallows a cancellation still stops."""

from __future__ import annotations

import asyncio
import logging

import pytest

from klatch.tasks import stop_task


async def _swallows_one_cancellation(started: asyncio.Event) -> None:
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        pass  # as a wait_for whose inner wait completed as it was cancelled (3.11)
    await asyncio.sleep(3600)


def test_a_task_that_swallows_a_cancellation_is_cancelled_until_it_ends() -> None:
    async def scenario() -> asyncio.Task[None]:
        started = asyncio.Event()
        task = asyncio.create_task(_swallows_one_cancellation(started))
        await started.wait()
        await asyncio.wait_for(stop_task(task, poll=0.05), timeout=5)
        return task

    task = asyncio.run(scenario())
    assert task.cancelled()


def test_a_failed_task_is_logged_and_stopping_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("the loop broke")

    async def scenario() -> None:
        task = asyncio.create_task(fails(), name="klatch-test-loop")
        await asyncio.sleep(0)
        await stop_task(task)
        await stop_task(None)

    with caplog.at_level(logging.WARNING, logger="klatch.tasks"):
        asyncio.run(scenario())
    assert "klatch-test-loop failed" in caplog.text
    assert "the loop broke" in caplog.text
