"""The periodic task that runs :func:`~openatd.checkins.service.sweep_missed_check_ins`.

It asks the injected clock for "now" on every run, so a window is judged as soon as a run
happens after its closing instant (end + grace); runs are idempotent. A failing run is logged
and retried at the next interval; it never stops the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from openatd.checkins.service import sweep_missed_check_ins
from openatd.domain.clock import Clock
from openatd.storage.repositories import UnitOfWork
from openatd.tasks import PeriodicTask

log = logging.getLogger(__name__)


class CheckInSweeper(PeriodicTask):
    """Runs the missed-check-in sweep every *interval_s* seconds in a worker thread.

    >>> sweeper = CheckInSweeper(container.uow, container.clock, 30.0)  # doctest: +SKIP
    >>> sweeper.start(); ...; await sweeper.stop()                      # doctest: +SKIP
    """

    def __init__(self, new_uow: Callable[[], UnitOfWork], clock: Clock, interval_s: float) -> None:
        super().__init__(interval_s, "openatd-checkin-sweeper", "missed-check-in sweep")
        self._new_uow = new_uow
        self._clock = clock

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
