"""Alert lifecycle: open → acknowledged → resolved (DESIGN principle 5).

Rules raise alerts, never violations. Only a person resolving an alert with a
recorded reason can write ``violation_confirmed``; a technical fault is
resolved as ``technical``. The participant sees every alert raised about them
with its explanation and may respond.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from openatd.alerts import due_process, evidence
from openatd.alerts.due_process import DueProcessPolicy
from openatd.domain.audit import AuditAction
from openatd.errors import Conflict, InvalidInput
from openatd.safeguards import audit
from openatd.safeguards.access import (
    require_participant_access,
    require_reason,
    require_role,
    visible_participant_ids,
)
from openatd.safeguards.auth import Role, TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Resolution(StrEnum):
    """How a person closed an alert."""

    TECHNICAL = "technical"
    """A fault of the technology (battery, signal, app, server, poor photo)."""
    NO_VIOLATION = "no_violation"
    VIOLATION_CONFIRMED = "violation_confirmed"


MIN_REASON = 10


def list_alerts(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    *,
    participant_id: int | None = None,
    status: str | None = None,
) -> Sequence[t.Alert]:
    """Alerts *user* may see, newest first; audited as a read of personal data."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    if status is not None and status not in {s.value for s in AlertStatus}:
        raise InvalidInput(f"status must be one of {', '.join(s.value for s in AlertStatus)}")
    if participant_id is not None:
        require_participant_access(uow, user, participant_id)
        ids: Sequence[int] | None = [participant_id]
    else:
        ids = visible_participant_ids(uow, user)
    rows = uow.alerts.list(participant_ids=ids, status=status)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ALERTS_READ,
        what="alerts",
        participant_ids={a.participant_id for a in rows}
        | ({participant_id} if participant_id is not None else set()),
        details={"count": len(rows), "status": status},
    )
    return rows


def acknowledge(uow: UnitOfWork, user: TokenClaims, now: datetime, alert_id: int) -> t.Alert:
    """Mark an open alert as seen by a person. Raises Conflict unless it is open."""
    alert = uow.alerts.get(alert_id)
    require_participant_access(uow, user, alert.participant_id)
    if alert.status != AlertStatus.OPEN:
        raise Conflict(f"alert {alert_id} is {alert.status}, not open")
    alert.status = AlertStatus.ACKNOWLEDGED.value
    alert.acknowledged_by = user.user_id
    alert.acknowledged_at = now
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ALERT_ACKNOWLEDGE,
        participant_id=alert.participant_id,
        subject_type="alert",
        subject_id=alert.id,
    )
    return alert


def resolve(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    alert_id: int,
    *,
    resolution: str,
    reason: str,
    policy: DueProcessPolicy | None = None,
) -> t.Alert:
    """Close an alert with a resolution and a recorded reason; the participant is told.

    ``violation_confirmed`` follows :mod:`openatd.alerts.due_process`: refused (409) while
    the participant has not been told or their response window is open; it needs a
    supervisor (or a second staff member, per *policy*), a reason of at least 20
    characters (30 for an alert the rules classified technical: a dead battery or a lost
    signal is not by itself a violation), and the system's evidence packet, frozen on the
    alert and summarised in the audit entry.

    Raises:
        InvalidInput: unknown resolution, reason too short.
        Conflict: the alert is already resolved; the response window is open.
        PermissionDenied: not allowed to confirm a violation.
    """
    policy = policy or DueProcessPolicy()
    alert = uow.alerts.get(alert_id)
    require_participant_access(uow, user, alert.participant_id)  # before anything else is said
    try:
        res = Resolution(resolution)
    except ValueError as exc:
        raise InvalidInput(
            f"resolution must be one of {', '.join(r.value for r in Resolution)}"
        ) from exc
    reason = require_reason(reason, purpose="to resolve an alert", minimum=MIN_REASON)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"alert {alert_id} is already resolved")
    packet = None
    if res is Resolution.VIOLATION_CONFIRMED:
        due_process.check_confirmation(alert, user, now, policy)
        reason = require_reason(
            reason, purpose="to confirm a violation", minimum=due_process.CONFIRM_REASON_MIN
        )
        if alert.category == "technical" and len(reason) < 30:
            raise InvalidInput(
                "this alert was classified technical; confirming a violation needs a reason of "
                "at least 30 characters saying why it is not a fault of the technology"
            )
        packet = evidence.assemble(uow, alert, now)
        alert.evidence = packet
    alert.status = AlertStatus.RESOLVED.value
    alert.resolution = res.value
    alert.resolution_reason = reason
    alert.resolved_by = user.user_id
    alert.resolved_at = now
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = user.user_id
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ALERT_RESOLVE,
        participant_id=alert.participant_id,
        subject_type="alert",
        subject_id=alert.id,
        reason=reason,
        details={"resolution": res.value}
        | ({"evidence": evidence.summary(packet)} if packet is not None else {}),
    )
    due_process.notify_decision(uow, alert, now)
    return alert
