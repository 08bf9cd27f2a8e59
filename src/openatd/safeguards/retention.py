"""Retention enforced by the system (DESIGN principle 4).

Raw positions and device events older than ``position_retention_days`` are
deleted unless they are held for an open review (``positions.in_review``).
Every purge is itself recorded in the audit log, with the cut-off and the
counts, so an auditor can see that retention runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from openatd.domain.audit import AuditAction
from openatd.errors import InvalidInput
from openatd.safeguards import audit
from openatd.storage.repositories import UnitOfWork


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one retention run deleted, and the cut-off instant (UTC)."""

    cutoff: datetime
    positions: int
    events: int


def purge(uow: UnitOfWork, now: datetime, position_retention_days: int) -> PurgeReport:
    """Delete positions and events received before ``now - position_retention_days``.

    Positions flagged ``in_review`` are kept. Raises InvalidInput for a
    retention period below one day (a typo must not wipe the data).
    """
    if position_retention_days < 1:
        raise InvalidInput("position_retention_days must be at least 1")
    cutoff = now - timedelta(days=position_retention_days)
    positions = uow.positions.purge_before(cutoff)
    events = uow.events.purge_before(cutoff)
    audit.record(
        uow,
        at=now,
        actor="system:retention",
        action=AuditAction.RETENTION_PURGE,
        subject_type="positions",
        details={"cutoff": cutoff.isoformat(), "positions": positions, "events": events},
    )
    return PurgeReport(cutoff, positions, events)
