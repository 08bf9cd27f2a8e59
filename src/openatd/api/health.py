"""``/health``: is this process able to take and store data right now?

Checks, each answered within :data:`CHECK_TIMEOUT_S` (the whole answer stays well under a
second, however the database behaves):

- ``database``: ``SELECT 1`` on a pooled connection, in a thread (never on the event loop);
- ``pipeline``: the position pipeline's writer is running (when this process runs it);
- ``bus``: with ingest processes (``openatd serve --workers N``), a ping over the local bus
  answers and every ingest process is alive (a dead one is not restarted: restart the
  service);
- ``nats_bus``: with the NATS bus (``--bus``), which pipeline worker this process is
  (``worker``, ``K/N``) and which ``partitions`` it consumes; failed while the connection to
  NATS is down (it reconnects by itself; the partitions' messages wait in the stream).

The answer carries no secret and no personal data: the database dialect, counts, and a
failure's one-line reason (the driver's first line, which names no password and no row).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from openatd.api.container import Container
from openatd.errors import OpenATDError

CHECK_TIMEOUT_S = 0.5
"""Seconds each check may take before it counts as failed."""

Check = dict[str, Any]


class HealthCheck:
    """The checks of one process; see the module docstring.

    A database check that hangs (a PostgreSQL host that drops packets) is not started
    again while it runs: later requests wait on the same attempt, up to the timeout, so a
    probe every 100 ms does not pile up threads.

    Args:
        container: the process's wiring (database, pipeline, ingest processes).
        timeout_s: seconds each check may take (> 0).
    """

    def __init__(self, container: Container, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self.container = container
        self.timeout_s = timeout_s
        self._db_attempt: asyncio.Future[None] | None = None

    async def run(self) -> tuple[bool, dict[str, Check]]:
        """Run every check; returns ``(all ok, {check name: {"status": "ok"|"failed", ...}})``."""
        checks: dict[str, Check] = {"database": await self._database()}
        pipeline = self.container.pipeline
        if pipeline is not None and pipeline.running:
            problem = pipeline.writer_problem()
            checks["pipeline"] = _ok() if problem is None else _failed(problem)
        if self.container.ingest_workers is not None:
            checks["bus"] = await self._bus()
        consumer = self.container.bus_consumer
        if consumer is not None:
            where = {
                "worker": consumer.config.share.label,
                "partitions": list(consumer.partitions),
            }
            checks["nats_bus"] = (
                _ok(**where)
                if consumer.connected
                else _failed("not connected to NATS (reconnecting)", **where)
            )
        return all(c["status"] == "ok" for c in checks.values()), checks

    async def _database(self) -> Check:
        db = self.container.db
        attempt = self._db_attempt
        if attempt is None or attempt.done():
            attempt = _in_daemon_thread(db.ping)
            # An attempt that outlived its requests still has its outcome read (no warning).
            attempt.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._db_attempt = attempt
        try:
            await asyncio.wait_for(asyncio.shield(attempt), self.timeout_s)
        except TimeoutError:
            return _failed(f"no answer within {self.timeout_s:g} s", dialect=db.dialect)
        except OpenATDError as exc:
            return _failed(str(exc), dialect=db.dialect)
        return _ok(dialect=db.dialect)

    async def _bus(self) -> Check:
        workers = self.container.ingest_workers
        assert workers is not None
        alive, total = workers.alive(), workers.workers
        try:
            await workers.ping(self.timeout_s)
        except OpenATDError as exc:
            return _failed(str(exc), ingest_processes=alive, expected=total)
        restarts = workers.restarts
        if alive < total:
            return _failed(
                f"{total - alive} of {total} ingest processes have stopped (being restarted)",
                ingest_processes=alive,
                expected=total,
                restarts=restarts,
            )
        return _ok(ingest_processes=alive, expected=total, restarts=restarts)


def _in_daemon_thread(fn: Callable[[], None]) -> asyncio.Future[None]:
    """Run *fn* in its own daemon thread; a future of the running loop gets its outcome.

    Not the loop's default executor: a check hung on an unanswering database must not hold
    the service's shutdown (the default executor is joined at exit), and it holds no thread
    another task needs.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def settle(exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)

    def target() -> None:
        try:
            fn()
        except BaseException as exc:
            outcome: BaseException | None = exc
        else:
            outcome = None
        # RuntimeError: the loop closed meanwhile, and nobody waits any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=target, name="openatd-health-db", daemon=True).start()
    return future


def _ok(**details: Any) -> Check:
    return {"status": "ok", **details}


def _failed(error: str, **details: Any) -> Check:
    return {"status": "failed", "error": error, **details}
