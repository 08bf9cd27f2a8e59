"""Telling the participant (DESIGN principle 5): an alert raised, a decision, a review.

Every notice is a ``participant_notices`` row, which *is* its delivery to the portal (the
participant reads it at ``GET /api/portal/notices``), plus an audit entry. SMS and e-mail go
through the notification outbox: its worker
(:func:`openatd.notify.worker.forward_participant_notices`) takes the rows that
:func:`pending_for_outbox` returns, enqueues them per channel the participant has (after
their quiet hours) and calls :func:`mark_queued`, so a notice is handed over exactly once.

Item 6 of issue 8: a ``strap_tamper`` alert is a compliance alert, but strap sensors fail
too; before the participant is told, :func:`notify_new_alerts` attaches the device's own
fault indicators and recent history (:func:`openatd.alerts.evidence.device_health`) to the
alert's details and explanation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from openatd.alerts.evidence import device_health, health_sentence
from openatd.domain.audit import AuditAction
from openatd.domain.clock import Clock
from openatd.safeguards import audit
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork
from openatd.tasks import PeriodicTask

log = logging.getLogger(__name__)


class NoticeKind(StrEnum):
    ALERT_RAISED = "alert_raised"
    DECISION = "decision"
    REVIEW_REQUESTED = "review_requested"
    CASE_CLOSED = "case_closed"


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def notify_participant(
    uow: UnitOfWork,
    now: datetime,
    *,
    participant_id: int,
    kind: NoticeKind,
    text: str,
    alert_id: int | None = None,
) -> t.ParticipantNotice:
    """Write one notice to the participant's portal (and for the outbox); audited."""
    row = uow.notices.add(
        participant_id=participant_id,
        alert_id=alert_id,
        kind=kind.value,
        text=text,
        created_at=now,
    )
    audit.record(
        uow,
        at=now,
        actor="system:notices",
        action=AuditAction.NOTICE_SEND,
        participant_id=participant_id,
        subject_type="alert" if alert_id is not None else "notice",
        subject_id=alert_id if alert_id is not None else row.id,
        details={"notice_id": row.id, "kind": kind.value, "channel": "portal"},
    )
    return row


def pending_for_outbox(uow: UnitOfWork, limit: int = 500) -> Sequence[t.ParticipantNotice]:
    """Notices the outbox has not taken yet, oldest first (the outbox's hand-over point)."""
    return uow.notices.pending_outbox(limit)


def mark_queued(uow: UnitOfWork, notices: Sequence[t.ParticipantNotice], now: datetime) -> None:
    """Record that the outbox has queued *notices* for SMS / e-mail."""
    for n in notices:
        n.outbox_queued_at = now


def alert_notice_text(alert: t.Alert, due: datetime) -> str:
    """The plain-language notice of a raised alert."""
    return (
        f"An alert was raised about you: {alert.explanation} "
        "This is not a decision that you broke a rule. "
        f"You can answer in the app until {_utc(due)}; a person reads your answer before "
        "anything is decided, and you will be told the decision."
    )


def notify_new_alerts(
    uow: UnitOfWork, now: datetime, response_window_s: float, participant_id: int | None = None
) -> list[t.Alert]:
    """Tell each participant about every alert not yet notified; open its response window.

    Sets ``notified_at = now`` and ``response_due_at = now + response_window_s`` (the
    window starts when the participant is told, not when the rule fired). Strap tamper
    alerts get the device's fault indicators first (item 6). Idempotent.
    """
    done: list[t.Alert] = []
    for alert in uow.evidence.alerts_unnotified(participant_id):
        if alert.type == "strap_tamper" and alert.device_id is not None:
            health = device_health(uow, alert.device_id, alert.at)
            alert.details = {**(alert.details or {}), "device_health": health}
            alert.explanation = f"{alert.explanation} {health_sentence(health)}"
        due = now + timedelta(seconds=response_window_s)
        alert.notified_at = now
        alert.response_due_at = due
        notify_participant(
            uow,
            now,
            participant_id=alert.participant_id,
            kind=NoticeKind.ALERT_RAISED,
            text=alert_notice_text(alert, due),
            alert_id=alert.id,
        )
        done.append(alert)
    return done


class AlertNoticeTask(PeriodicTask):
    """Runs :func:`notify_new_alerts` every *interval_s* seconds in a worker thread, so a
    participant is told of an alert within seconds of it being raised, whatever raised it
    (the position pipeline, the missed-check-in sweep). A failing run is logged and retried.
    """

    def __init__(
        self,
        new_uow: Callable[[], UnitOfWork],
        clock: Clock,
        response_window_s: float,
        interval_s: float,
    ) -> None:
        super().__init__(interval_s, "openatd-alert-notices", "alert notices")
        self._new_uow = new_uow
        self._clock = clock
        self._window_s = response_window_s

    def run_once(self) -> int:
        """One pass at the clock's now; returns how many alerts were notified."""
        with self._new_uow() as uow:
            return len(notify_new_alerts(uow, self._clock.now(), self._window_s))
