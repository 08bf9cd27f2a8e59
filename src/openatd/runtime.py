"""Process-wide settings of the Python runtime for the long-running service processes.

What lives here: tuning that every ``openatd serve`` process (the serving/pipeline process
and each ingest process) applies once at start. What does not: logging
(:mod:`openatd.logs`), task helpers (:mod:`openatd.tasks`).
"""

from __future__ import annotations

import gc

COLLECTOR_THRESHOLDS = (10_000, 10, 10)
"""CPython's cyclic garbage collector thresholds for service processes: (young generation,
middle, old), in net allocations of container objects and in collections of the younger
generation (see :func:`gc.set_threshold`). CPython's default is (700, 10, 10).

Why (issue 11, ``bench/ingest.py --parts latency --ingest-workers 1``, 6,300 devices × one
fix a second, 2 cores, 2026-12-06): with the default the pipeline process ran 53 full
collections in 30 s, 118 ms each over the heap of 6,300 rule engines, 6.2 s of its 28 s
of CPU, and each one stalled every batch behind it (ingest-to-alert p99 1.6-3.8 s). With
a young generation of 10,000 it ran 2 (0.14 s): 126 instead of 152 µs of CPU a position,
p99 0.12-0.17 s. Garbage without cycles is still freed at once by reference counting;
only cyclic garbage waits a little longer.
"""


def tune_collector() -> None:
    """Set :data:`COLLECTOR_THRESHOLDS` for this process (idempotent)."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def freeze_startup_heap() -> int:
    """Move every object alive now into the collector's permanent generation
    (:func:`gc.freeze`), so that no later collection scans it again; returns how many
    objects that was.

    Called once a service process has built what it keeps for its whole life (modules,
    the web apps, one rule engine per device). A full collection of the pipeline process
    at 6,300 devices otherwise walks that whole heap: 0.1-0.7 s with the GIL held, which
    every batch behind it waits for (issue 11). The trade-off, bounded by that heap: a
    reference *cycle* among these objects that later becomes garbage is never freed
    (garbage without cycles still is, by reference counting).
    """
    gc.collect()  # what is garbage already is not frozen
    gc.freeze()
    return gc.get_freeze_count()
