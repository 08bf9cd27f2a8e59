"""Stopping the server's loops: a loop that swallows a cancellation still stops."""

from __future__ import annotations

import asyncio
import logging

import pytest

from openatd.tasks import stop_tasks


def test_a_task_that_swallows_cancellations_is_cancelled_until_it_ends() -> None:
    # What Python 3.11's asyncio.wait_for does when its future completes as the cancellation
    # arrives (CPython gh-86296): the loop around it goes on. `cancel(); await task` hung.
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed == 3:
                    raise

    async def main() -> bool:
        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        return await stop_tasks([task], timeout_s=5)

    assert asyncio.run(main()) is True
    assert swallowed == 3


def test_a_task_that_will_not_end_is_reported_and_does_not_hold_the_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released = False

    async def deaf() -> None:
        while not released:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    async def main() -> tuple[bool, float]:
        nonlocal released
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(deaf(), name="deaf-loop")
        await asyncio.sleep(0)
        started = loop.time()
        ok = await stop_tasks([task], timeout_s=0.3, what="test loop")
        took = loop.time() - started
        released = True  # let asyncio.run's clean-up end it
        task.cancel()
        return ok, took

    with caplog.at_level(logging.ERROR, logger="openatd.tasks"):
        ok, took = asyncio.run(main())
    assert ok is False
    assert 0.3 <= took < 2.0
    assert "test loop(s) still running 0.3s after cancellation: deaf-loop" in caplog.text
