"""The participant's safeguards view (DESIGN principles 5 and 6, issue 8 items 1 and 5):
notices they were sent, the history of an alert about them, asking for a review of a
decision, "who read my data and why", and their positions as GPX.

Every function acts for the one participant named by their verified token and leaves one
audit entry (the participant's own reads are recorded too, with ``by: participant``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openatd.alerts import due_process
from openatd.alerts.due_process import DueProcessPolicy
from openatd.alerts.notices import notify_new_alerts
from openatd.domain.audit import AuditAction
from openatd.participants import portal
from openatd.participants.tracks import to_gpx
from openatd.safeguards import audit
from openatd.safeguards.auth import ParticipantClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

ACCESS_LOG_LIMIT = 5000


def _actor(pid: int) -> str:
    return f"participant:{pid}"


def catch_up_notices(
    uow: UnitOfWork, claims: ParticipantClaims, now: datetime, policy: DueProcessPolicy
) -> None:
    """Notify the participant at once of alerts the periodic task has not reached yet."""
    notify_new_alerts(uow, now, policy.response_window_s, claims.participant_id)


def notices(
    uow: UnitOfWork, claims: ParticipantClaims, now: datetime, policy: DueProcessPolicy
) -> Sequence[t.ParticipantNotice]:
    """The participant's notices, newest first; unread ones are marked read. Audited."""
    p = portal.current_participant(uow, claims)
    catch_up_notices(uow, claims, now, policy)
    rows = uow.notices.for_participant(p.id)
    for n in rows:
        if n.read_at is None:
            n.read_at = now
    record_read(
        uow,
        at=now,
        actor=_actor(p.id),
        action=AuditAction.NOTICES_READ,
        participant_ids=[p.id],
        what="notices",
        details={"count": len(rows), "by": "participant"},
    )
    return rows


def alert_history(
    uow: UnitOfWork, claims: ParticipantClaims, now: datetime, alert_id: int
) -> dict[str, Any]:
    """Every recorded step of one alert about the participant. Raises NotFound otherwise."""
    p = portal.current_participant(uow, claims)
    alert = due_process.participant_alert(uow, p.id, alert_id)
    out = due_process.history_of(uow, alert)
    record_read(
        uow,
        at=now,
        actor=_actor(p.id),
        action=AuditAction.ALERT_HISTORY_READ,
        participant_ids=[p.id],
        what="alert_history",
        subject_id=alert.id,
        details={"by": "participant"},
    )
    return out


def request_review(
    uow: UnitOfWork,
    claims: ParticipantClaims,
    now: datetime,
    alert_id: int,
    reason: str,
    policy: DueProcessPolicy,
) -> t.Alert:
    """Ask for a review of a decision (see :func:`openatd.alerts.due_process.request_review`)."""
    p = portal.current_participant(uow, claims)
    return due_process.request_review(uow, p.id, now, alert_id, reason, policy)


def access_log(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> list[dict[str, Any]]:
    """Who among the staff read or changed the participant's data, when, what and why,
    newest first (at most 5,000 entries). Audited."""
    p = portal.current_participant(uow, claims)
    rows = uow.evidence.staff_reads(p.id, ACCESS_LOG_LIMIT)
    out = [
        {
            "at": e.at.isoformat(),
            "who": e.actor.removeprefix("user:"),
            "action": e.action,
            "what": e.subject_type,
            "reason": e.reason,
            "cross_caseload": bool((e.details or {}).get("cross_caseload")),
        }
        for e in rows
    ]
    record_read(
        uow,
        at=now,
        actor=_actor(p.id),
        action=AuditAction.ACCESS_LOG_READ,
        participant_ids=[p.id],
        what="access_log",
        details={"count": len(out), "by": "participant"},
    )
    return out


def export_gpx(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> str:
    """Every stored fix of the participant as a GPX 1.1 document. Audited."""
    p = portal.current_participant(uow, claims)
    fixes = list(uow.exports.positions(p.id))
    body = to_gpx(fixes, name=f"OpenATD positions of participant {p.id}")
    audit.record(
        uow,
        at=now,
        actor=_actor(p.id),
        action=AuditAction.PARTICIPANT_EXPORT,
        participant_id=p.id,
        subject_type="positions",
        details={"format": "gpx", "count": len(fixes), "by": "participant"},
    )
    return body
