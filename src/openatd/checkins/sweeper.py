"""The periodic task that runs :func:`~openatd.checkins.service.sweep_missed_check_ins`.

It asks the injected clock for "now" on every run, so a window is judged as soon as a run
happens after its closing instant (end + grace); runs are idempotent. A failing run is logged
and retried at the next interval; it never stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from openatd.checkins.service import sweep_missed_check_ins
from openatd.domain.clock import Clock
from openatd.storage.repositories import UnitOfWork

log = logging.getLogger(__name__)


class CheckInSweeper:
    """Runs the missed-check-in sweep every *interval_s* seconds in a worker thread.

    >>> sweeper = CheckInSweeper(container.uow, container.clock, 30.0)  # doctest: +SKIP
    >>> sweeper.start(); ...; await sweeper.stop()                      # doctest: +SKIP
    """

    def __init__(self, new_uow: Callable[[], UnitOfWork], clock: Clock, interval_s: float) -> None:
        self._new_uow = new_uow
        self._clock = clock
        self._interval_s = max(0.05, float(interval_s))
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> int:
        """One sweep at the clock's current instant; returns the number of alerts raised."""
        with self._new_uow() as uow:
            raised = sweep_missed_check_ins(uow, self._clock.now())
        for alert in raised:
            log.info(
                "missed check-in: participant %s, %s alert %s",
                alert.participant_id,
                alert.category,
                alert.id,
            )
        return len(raised)

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("missed-check-in sweep failed; retrying at the next interval")
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        """Start the periodic task on the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="openatd-checkin-sweeper")

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
