"""The periodic task that signs audit checkpoints (:mod:`openatd.safeguards.checkpoints`).

Runs when both ``OPENATD_AUDIT_SIGNING_KEY`` and ``OPENATD_AUDIT_CHECKPOINT_DIR`` are set:
once at start-up and then every ``OPENATD_AUDIT_CHECKPOINT_INTERVAL_S`` seconds, it signs the
log's head if entries were appended since the last checkpoint. A failing run is logged and
retried at the next interval; it never stops the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from openatd.domain.clock import Clock
from openatd.safeguards.checkpoints import Checkpoint, checkpoint_now, load_signing_key
from openatd.storage.repositories import UnitOfWork
from openatd.tasks import PeriodicTask

log = logging.getLogger(__name__)


class AuditCheckpointer(PeriodicTask):
    """Writes a signed checkpoint every *interval_s* seconds (when the log has grown).

    Raises (at construction):
        ConfigurationError: the signing key does not load, so a bad key stops the start-up
            instead of silently leaving the log unsigned.
    """

    def __init__(
        self,
        new_uow: Callable[[], UnitOfWork],
        clock: Clock,
        signing_key: str,
        directory: Path,
        interval_s: float,
    ) -> None:
        load_signing_key(signing_key)
        self._new_uow = new_uow
        self._clock = clock
        self._key = signing_key
        self._dir = directory
        super().__init__(interval_s, "openatd-audit-checkpointer", "audit checkpoint")

    def run_once(self) -> Checkpoint | None:
        """Sign the head now if it moved; returns the checkpoint written, if any."""
        with self._new_uow() as uow:
            cp = checkpoint_now(uow, self._key, self._dir, self._clock.now())
        if cp is not None:
            log.info("audit checkpoint #%d: %d entries, key %s", cp.seq, cp.entries, cp.key_id)
        return cp
