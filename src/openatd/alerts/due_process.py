"""Due process before consequences (DESIGN principle 5, issue 8 item 1).

An alert moves: open → the participant is told and may answer during the response window
(policy, default 72 hours) → a person decides. ``technical`` and ``no_violation`` may be
recorded at any time by staff with access. ``violation_confirmed`` is refused (409) until
the participant has been told and their window has closed; it needs a supervisor (policy
``supervisor``) or a staff member other than the one who proposed it (policy
``second_staff``), a written reason, and the evidence packet the system assembles
(:mod:`openatd.alerts.evidence`), which is frozen on the alert. The participant is told of
every decision and may ask for a review (the alert reopens, with their reason). Every step
is an audit entry, readable by staff (:func:`history`) and by the participant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from openatd.alerts import evidence
from openatd.alerts.notices import NoticeKind, notify_participant
from openatd.domain.audit import AuditAction
from openatd.errors import Conflict, NotFound, PermissionDenied
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access, require_reason, require_role
from openatd.safeguards.auth import Role, TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

CONFIRM_REASON_MIN = 20
"""A violation is confirmed with a written reason of at least this many characters."""


@dataclass(frozen=True, slots=True)
class DueProcessPolicy:
    """The program's due-process policy (settings ``OPENATD_RESPONSE_WINDOW_H`` and
    ``OPENATD_VIOLATION_CONFIRMATION``).

    Attributes:
        response_window_s: seconds the participant may answer, counted from the notice.
        confirmation: ``"supervisor"`` (a supervisor confirms) or ``"second_staff"`` (a
            staff member other than the proposer confirms a proposed violation).
    """

    response_window_s: float = 72 * 3600.0
    confirmation: Literal["supervisor", "second_staff"] = "supervisor"

    @classmethod
    def from_settings(cls, settings: Any) -> DueProcessPolicy:
        """From :class:`~openatd.settings.Settings`."""
        return cls(settings.response_window_h * 3600.0, settings.violation_confirmation)


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_confirmation(
    alert: t.Alert, user: TokenClaims, now: datetime, policy: DueProcessPolicy
) -> None:
    """Whether *user* may confirm a violation on *alert* now.

    Raises:
        Conflict: the participant has not been told yet, or their response window is open,
            or (second_staff) no violation was proposed.
        PermissionDenied: not a supervisor (supervisor policy), or the proposer confirming
            their own proposal (second_staff policy).
    """
    if alert.notified_at is None or alert.response_due_at is None:
        raise Conflict(
            f"alert {alert.id}: the participant has not been told of this alert yet; a "
            "violation can be confirmed only after they were told and could answer"
        )
    if now < alert.response_due_at:
        raise Conflict(
            f"alert {alert.id}: the participant may answer until {_utc(alert.response_due_at)}; "
            "a violation cannot be confirmed before their response window closes"
        )
    if policy.confirmation == "supervisor":
        if user.role is not Role.SUPERVISOR:
            raise PermissionDenied(
                "confirming a violation needs a supervisor; propose it instead "
                f"(POST /api/alerts/{alert.id}/propose-violation)"
            )
        return
    if alert.violation_proposed_by is None:
        raise Conflict(
            f"alert {alert.id}: a violation must first be proposed by one staff member and "
            "then confirmed by another"
        )
    if alert.violation_proposed_by == user.user_id:
        raise PermissionDenied("a second staff member must confirm the violation you proposed")


def propose_violation(
    uow: UnitOfWork, user: TokenClaims, now: datetime, alert_id: int, *, reason: str
) -> t.Alert:
    """Record one staff member's proposal that *alert_id* is a violation (not a decision).

    Raises:
        PermissionDenied / NotFound: no access. InvalidInput: reason too short.
        Conflict: the alert is resolved.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    alert = uow.alerts.get(alert_id)
    require_participant_access(uow, user, alert.participant_id)
    reason = require_reason(reason, purpose="to propose a violation", minimum=CONFIRM_REASON_MIN)
    if alert.status == "resolved":
        raise Conflict(f"alert {alert_id} is already resolved")
    alert.violation_proposed_by = user.user_id
    alert.violation_proposed_at = now
    alert.violation_proposal_reason = reason
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ALERT_PROPOSE_VIOLATION,
        participant_id=alert.participant_id,
        subject_type="alert",
        subject_id=alert.id,
        reason=reason,
    )
    return alert


def decision_text(alert: t.Alert) -> str:
    """The plain-language notice of a decision on *alert*."""
    words = {
        "technical": "a fault of the technology, not something you did",
        "no_violation": "not a violation",
        "violation_confirmed": "a violation",
    }.get(alert.resolution or "", alert.resolution or "decided")
    text = (
        f"A decision was made on the alert of {_utc(alert.at)} ({alert.type.replace('_', ' ')}): "
        f"it was judged {words}. The reason given: {alert.resolution_reason}"
    )
    if alert.resolution == "violation_confirmed":
        text += (
            " You can ask for a review of this decision in the app, saying why; the alert is then "
            "looked at again."
        )
    return text


def notify_decision(uow: UnitOfWork, alert: t.Alert, now: datetime) -> None:
    """Tell the participant the decision on *alert* (portal, then outbox)."""
    notify_participant(
        uow,
        now,
        participant_id=alert.participant_id,
        kind=NoticeKind.DECISION,
        text=decision_text(alert),
        alert_id=alert.id,
    )


def read_evidence(
    uow: UnitOfWork, user: TokenClaims, now: datetime, alert_id: int, *, reason: str
) -> dict[str, Any]:
    """The evidence packet of one alert, assembled now (frozen copy: ``alert.evidence``).

    The packet holds locations, so it is a reasoned, audited read: staff assigned to the
    participant, or a supervisor deciding the alert (recorded as ``cross_caseload``).

    Raises:
        InvalidInput: no reason. PermissionDenied / NotFound: no access.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    alert = uow.alerts.get(alert_id)
    require_participant_access(uow, user, alert.participant_id)
    reason = require_reason(reason, purpose="to read an alert's evidence")
    cross = not uow.participants.is_assigned(user.user_id, alert.participant_id)
    packet = evidence.assemble(uow, alert, now)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ALERT_EVIDENCE_READ,
        participant_ids=[alert.participant_id],
        what="alert",
        subject_id=alert.id,
        reason=reason,
        details={**evidence.summary(packet), "cross_caseload": cross},
    )
    return packet


def history_of(uow: UnitOfWork, alert: t.Alert) -> dict[str, Any]:
    """Every recorded step of one alert: audit entries and notices, oldest first."""
    return {
        "alert_id": alert.id,
        "status": alert.status,
        "notified_at": _iso(alert.notified_at),
        "response_due_at": _iso(alert.response_due_at),
        "steps": [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "reason": e.reason,
                "details": e.details,
            }
            for e in uow.evidence.alert_audit(alert.id)
        ],
        "notices": [
            {"at": n.created_at.isoformat(), "kind": n.kind, "text": n.text}
            for n in uow.notices.for_alert(alert.id)
        ],
    }


def _iso(v: datetime | None) -> str | None:
    return None if v is None else v.isoformat()


def history(uow: UnitOfWork, user: TokenClaims, now: datetime, alert_id: int) -> dict[str, Any]:
    """Staff view of :func:`history_of`; audited as a read."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    alert = uow.alerts.get(alert_id)
    require_participant_access(uow, user, alert.participant_id)
    out = history_of(uow, alert)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ALERT_HISTORY_READ,
        participant_ids=[alert.participant_id],
        what="alert_history",
        subject_id=alert.id,
    )
    return out


def participant_alert(uow: UnitOfWork, participant_id: int, alert_id: int) -> t.Alert:
    """The participant's own alert. Raises NotFound for any other."""
    try:
        alert = uow.alerts.get(alert_id)
    except NotFound:
        alert = None
    if alert is None or alert.participant_id != participant_id:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def request_review(
    uow: UnitOfWork,
    participant_id: int,
    now: datetime,
    alert_id: int,
    reason: str,
    policy: DueProcessPolicy,
) -> t.Alert:
    """The participant asks for a review of a decision: the alert reopens with their reason.

    The earlier decision stays in the audit log (and in :func:`history_of`); the alert is
    open again, with a fresh response window, and staff see ``review_request_reason``.

    Raises:
        NotFound: not their alert. Conflict: the alert is not decided (nothing to review).
        InvalidInput: reason too short.
    """
    alert = participant_alert(uow, participant_id, alert_id)
    reason = require_reason(reason, purpose="to ask for a review")
    if alert.status != "resolved":
        raise Conflict(f"alert {alert_id} has no decision to review yet")
    previous = {
        "resolution": alert.resolution,
        "resolution_reason": alert.resolution_reason,
        "resolved_by": alert.resolved_by,
        "resolved_at": _iso(alert.resolved_at),
    }
    alert.status = "open"
    alert.resolution = None
    alert.resolution_reason = None
    alert.resolved_by = None
    alert.resolved_at = None
    alert.acknowledged_at = None
    alert.acknowledged_by = None
    alert.violation_proposed_by = None
    alert.violation_proposed_at = None
    alert.violation_proposal_reason = None
    alert.review_requested_at = now
    alert.review_request_reason = reason
    alert.notified_at = now
    alert.response_due_at = now + timedelta(seconds=policy.response_window_s)
    audit.record(
        uow,
        at=now,
        actor=f"participant:{participant_id}",
        action=AuditAction.ALERT_REVIEW_REQUEST,
        participant_id=participant_id,
        subject_type="alert",
        subject_id=alert.id,
        reason=reason,
        details={"previous": previous},
    )
    notify_participant(
        uow,
        now,
        participant_id=participant_id,
        kind=NoticeKind.REVIEW_REQUESTED,
        text=(
            "Your request for a review was received. The alert is open again and a person will "
            f"look at it; you can add to your answer until {_utc(alert.response_due_at)}."
        ),
        alert_id=alert.id,
    )
    return alert
