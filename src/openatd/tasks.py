"""Periodic background work in the server's event loop.

Lives here: :class:`PeriodicTask`, the one loop behind the missed-check-in sweeper, the
participants' alert notices, the audit checkpointer and the notification outbox. Each runs its
``run_once`` in a worker thread (they use the database), every ``interval_s`` seconds; a
failing pass is logged and retried at the next interval, never stopping the server. And
:func:`stop_tasks`, the one way the server's loops are stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
"""How long :func:`stop_tasks` waits by default for cancelled tasks to end (seconds)."""


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any]], timeout_s: float = STOP_TIMEOUT_S, *, what: str = "task"
) -> bool:
    """Cancel *tasks* and wait until they have ended, cancelling again every 0.1 s.

    Python 3.11's :func:`asyncio.wait_for` can swallow a cancellation that arrives as its
    inner future completes (CPython gh-86296): a loop that uses it (nats-py's fetch, a
    batching queue read) then goes on running, and ``task.cancel(); await task`` waits for
    ever. Seen in a test whose NATS consumer never stopped. Returns True when every task
    ended within *timeout_s* seconds; otherwise logs the ones left running and returns False.
    Never raises their exceptions or cancellations.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            names = ", ".join(sorted(t.get_name() for t in pending))
            log.error("%s(s) still running %ss after cancellation: %s", what, timeout_s, names)
            return False
        _, pending = await asyncio.wait(pending, timeout=min(0.1, left))
    return True


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
            await stop_tasks([task], what=self._what)
