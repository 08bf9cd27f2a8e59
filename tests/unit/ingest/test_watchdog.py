"""The event-loop watchdog sees a loop blocked by a callback, from its own thread."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from openatd.ingest.watchdog import LoopWatchdog


def _stuck_in_a_decoder() -> None:
    time.sleep(0.6)  # stands for a callback that does not return


def test_a_blocked_loop_is_logged_with_its_stack_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()

    async def main() -> None:
        dog = LoopWatchdog(registry, stall_s=0.2)
        dog.start()
        try:
            await asyncio.sleep(0.1)
            _stuck_in_a_decoder()
            await asyncio.sleep(0.3)  # the loop answers again
        finally:
            dog.stop()

    with caplog.at_level(logging.WARNING, logger="openatd.watchdog"):
        asyncio.run(main())
    stalls = registry.get_sample_value("openatd_event_loop_stalls_total")
    assert stalls is not None and stalls >= 1  # more only if the machine itself stalls
    longest = registry.get_sample_value("openatd_event_loop_longest_stall_seconds")
    assert longest is not None and 0.3 <= longest <= 3.0
    stalled = [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]
    assert stalled and "_stuck_in_a_decoder" in stalled[0]
    assert any("answered again" in r.getMessage() for r in caplog.records)


def test_stall_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopWatchdog(CollectorRegistry(), stall_s=0)
