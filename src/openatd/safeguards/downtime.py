"""Server downtime is recorded as an incident, so that it never counts against a participant.

A running server writes its ``alive`` instant every tick. At start-up, a gap
since the last ``alive`` longer than :data:`GRACE_S` is recorded as a
``server_down`` incident covering the gap. Alerts derived from missing data
(device offline, no GPS fix, missed check-in) that overlap an incident are
not raised against participants, or are classified technical (DESIGN
principle 5; case B29).
"""

from __future__ import annotations

from datetime import datetime

from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

ALIVE = "alive"
SERVER_DOWN = "server_down"
GRACE_S = 120.0
"""A gap up to this long (seconds) between heartbeats is a restart, not an outage."""


def record_start(uow: UnitOfWork, now: datetime, grace_s: float = GRACE_S) -> t.Incident | None:
    """Record the downtime before this start (if any) and mark the server alive at *now*.

    Several pipeline workers (``--bus-worker``) each call this at start and each write the
    ``alive`` instant (the service is up while one of them is): the ``alive`` row is read
    locked, so workers starting together after an outage record it once (the second reads
    the first's *now*). On a database that has no ``alive`` row yet, two first starts at
    once can both insert it: one fails (an integrity error) and is retried by its caller.
    """
    last = uow.service_state.get(ALIVE, lock=True)
    incident = None
    if last is not None and (now - last).total_seconds() > grace_s:
        incident = uow.incidents.add(
            kind=SERVER_DOWN,
            started_at=last,
            ended_at=now,
            details={"down_s": round((now - last).total_seconds())},
        )
    uow.service_state.set(ALIVE, now)
    return incident


def heartbeat(uow: UnitOfWork, now: datetime) -> None:
    """Mark the server alive at *now*."""
    uow.service_state.set(ALIVE, now)
