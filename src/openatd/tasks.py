"""Periodic background work in the server's event loop.

Lives here: :class:`PeriodicTask`, the one loop behind the missed-check-in sweeper, the
participants' alert notices, the audit checkpointer and the notification outbox. Each runs its
``run_once`` in a worker thread (they use the database), every ``interval_s`` seconds; a
failing pass is logged and retried at the next interval, never stopping the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.05
"""Shortest interval accepted (seconds): tests run the loops fast, nothing spins."""


class PeriodicTask:
    """Runs :meth:`run_once` every *interval_s* seconds in a worker thread.

    Subclasses implement :meth:`run_once`; *name* names the asyncio task, *what* the work in
    the log line of a failed pass.

    >>> task = CheckInSweeper(container.uow, container.clock, 30.0)  # doctest: +SKIP
    >>> task.start(); ...; await task.stop()                          # doctest: +SKIP
    """

    def __init__(self, interval_s: float, name: str, what: str) -> None:
        self._interval_s = max(MIN_INTERVAL_S, float(interval_s))
        self._name = name
        self._what = what
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> Any:
        """One pass (in a worker thread). Raises: whatever the work raises (logged)."""
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("%s failed; retrying at the next interval", self._what)
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        """Start on the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
