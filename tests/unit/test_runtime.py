"""The service processes' collector tuning (openatd.runtime; issue 11)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref
from collections.abc import Iterator

import pytest

from openatd.runtime import COLLECTOR_THRESHOLDS, tune_collector


@pytest.fixture
def saved_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_tune_collector_sets_a_young_generation_far_larger_than_cpythons(
    saved_thresholds: None,
) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's default
    tune_collector()
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS == (10_000, 10, 10)
    tune_collector()  # idempotent
    assert gc.get_threshold() == (10_000, 10, 10)


def test_the_tuned_collector_still_frees_cyclic_garbage_by_itself(saved_thresholds: None) -> None:
    """No explicit gc.collect(): the young generation's threshold is reached by
    allocations and the cycle is freed."""
    tune_collector()

    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    assert alive() is not None  # reference counting alone cannot free a cycle
    kept = [[i] for i in range(3 * COLLECTOR_THRESHOLDS[0])]  # net container allocations
    assert alive() is None
    assert len(kept) == 30_000


def test_freeze_startup_heap_takes_the_live_heap_out_of_collections_and_cycles_still_go() -> None:
    """In a child process, not to freeze the test run's own heap."""
    code = textwrap.dedent(
        """
        import gc, weakref
        from openatd.runtime import freeze_startup_heap, tune_collector
        tune_collector()
        kept = [[i] for i in range(50_000)]  # the start-up heap
        frozen = freeze_startup_heap()
        assert frozen >= 50_000, frozen
        assert gc.get_freeze_count() == frozen
        assert sum(gc.get_count()) < 100  # nothing young left to scan
        class Node:
            other = None
        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        assert gc.collect() >= 2 and alive() is None  # a cycle made later is still freed
        print("ok", frozen)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
