"""Event-loop watchdog: a thread that notices when the asyncio loop stops turning.

Everything in ``openatd serve`` (API, intake, tracker listeners, rules) runs on one
event loop, so one callback that does not return stalls all of it. The loop stamps a
heartbeat every ``stall_s / 4`` seconds; a daemon thread compares the stamp with the
clock. When the loop has not answered for ``stall_s`` seconds the thread logs a
warning with the stack the loop thread is stuck in, counts the stall and keeps the
current lag on a gauge; when the loop answers again it logs how long the stall lasted.
The thread never touches the loop (it only reads a float), so it works while the loop
is stuck, and costs one wake-up per interval.

Metrics (on the registry passed in, the one ``/metrics`` shows):

- ``openatd_event_loop_lag_seconds``: seconds since the loop last answered (gauge);
- ``openatd_event_loop_stalls_total``: stalls of at least ``stall_s`` seconds;
- ``openatd_event_loop_longest_stall_seconds``: the longest stall since start (gauge).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["LoopWatchdog"]

log = logging.getLogger("openatd.watchdog")


class LoopWatchdog:
    """Watch the running event loop from a thread; see the module docstring.

    Args:
        registry: where the metrics go.
        stall_s: seconds without an answer from the loop that count as a stall (> 0).

    Use ``start()`` from inside the loop and ``stop()`` at shutdown.
    """

    def __init__(self, registry: CollectorRegistry, stall_s: float = 1.0) -> None:
        if stall_s <= 0:
            raise ValueError(f"stall_s must be positive, got {stall_s}")
        self.stall_s = stall_s
        self.interval_s = stall_s / 4
        self.lag = Gauge(
            "openatd_event_loop_lag_seconds",
            "Seconds since the event loop last answered the watchdog.",
            registry=registry,
        )
        self.stalls = Counter(
            "openatd_event_loop_stalls",
            "Times the event loop did not answer for OPENATD_LOOP_STALL_S seconds or more.",
            registry=registry,
        )
        self.longest = Gauge(
            "openatd_event_loop_longest_stall_seconds",
            "Longest event-loop stall since start, in seconds.",
            registry=registry,
        )
        self._beat = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread_id = 0
        self._stop = threading.Event()
        self._longest = 0.0

    def start(self) -> None:
        """Begin watching the running loop (call from inside it)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        self._beat = time.monotonic()
        self._tick()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (idempotent)."""
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval_s + 1)
            self._thread = None

    def _tick(self) -> None:
        self._beat = time.monotonic()
        assert self._loop is not None
        self._handle = self._loop.call_later(self.interval_s, self._tick)

    def _watch(self) -> None:
        stalled_since: float | None = None
        while not self._stop.wait(self.interval_s):
            now = time.monotonic()
            lag = max(0.0, now - self._beat - self.interval_s)
            self.lag.set(lag)
            if lag >= self.stall_s and stalled_since is None:
                stalled_since = self._beat
                self.stalls.inc()
                log.warning(
                    "event loop stalled: no answer for %.1f s; it is running:\n%s",
                    lag,
                    self._loop_stack(),
                )
            elif lag < self.stall_s and stalled_since is not None:
                lasted = self._beat - stalled_since
                if lasted > self._longest:
                    self._longest = lasted
                    self.longest.set(lasted)
                log.warning("event loop answered again after a %.1f s stall", lasted)
                stalled_since = None

    def _loop_stack(self) -> str:
        frame = sys._current_frames().get(self._loop_thread_id)
        if frame is None:
            return "  (stack not available)"
        return "".join(traceback.format_stack(frame, limit=12))
