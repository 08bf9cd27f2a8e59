"""The notification worker inside ``openatd serve``: every ``OPENATD_OUTBOX_INTERVAL_S``
(default 10 s) it

1. plans the morning reminders of the check-in windows of the next 36 hours (each exactly once:
   the outbox key names the schedule, the window's UTC start and the channel);
2. notifies each new alert's case managers per their preference (``notify_channel``), or
   leaves it for their daily digest (``notify_digest``, sent at ``OPENATD_DIGEST_HOUR_UTC``);
3. escalates an alert nobody acknowledged within ``OPENATD_ESCALATE_AFTER_S`` to the
   supervisors;
4. forwards what participants were told in their portal (an alert raised about them, a
   decision, a review) by e-mail and SMS too (:func:`forward_participant_notices`);
5. sends every due message (:func:`openatd.notify.outbox.send_due`).

A message due at ``t`` is therefore sent by ``t + interval`` (well within 60 s). A failing
step is logged and retried at the next run; it never stops the server or the other steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from openatd.checkins.service import plan_of
from openatd.domain.clock import Clock
from openatd.domain.obligations import ReminderPolicy, plan_reminders, quiet_hours
from openatd.notify import messages
from openatd.notify.channels import Channel
from openatd.notify.outbox import (
    SendReport,
    enqueue,
    participant_channels,
    send_due,
    staff_channels,
)
from openatd.settings import Settings
from openatd.storage.repositories import UnitOfWork
from openatd.tasks import PeriodicTask

log = logging.getLogger(__name__)

CHECKIN_HORIZON = timedelta(hours=36)
ALERT_LOOKBACK = timedelta(days=1)


def plan_checkin_reminders(uow: UnitOfWork, now: datetime, policy: ReminderPolicy) -> int:
    """Enqueue the morning reminder of every weekly check-in window starting within 36 h
    (local morning time, on the window's own local date; DST-correct). Returns how many are
    new."""
    n = 0
    for row in uow.checkin_schedules.all_active():
        if row.kind != "weekly":
            continue
        p = uow.participants.get(row.participant_id)
        channels = participant_channels(p)
        if not p.active or not channels:
            continue
        tz = ZoneInfo(p.timezone)
        quiet = quiet_hours(p.quiet_start, p.quiet_end)
        for w in plan_of(row, p.timezone).upcoming(now, CHECKIN_HORIZON):
            planned = plan_reminders("check_in", w.start, tz, policy, now, quiet)
            if not planned:
                continue
            text = messages.reminder(
                kind="check_in",
                title=messages.checkin_title(p.language),
                start=w.start,
                tz=tz,
                location=None,
                language=p.language,
                name=p.name,
            )
            for channel, recipient in channels:
                got = enqueue(
                    uow,
                    kind="reminder",
                    channel=channel,
                    recipient=recipient,
                    subject=text.subject,
                    body=text.body,
                    due_at=planned[0].at,
                    now=now,
                    dedupe_key=f"checkin:{row.id}:{w.start:%Y%m%dT%H%M%SZ}:{channel}",
                    participant_id=p.id,
                    language=p.language,
                )
                n += got is not None
    return n


NOTICE_SUBJECTS = {
    "alert_raised": "An alert was raised about you: you can answer",
    "decision": "A decision about an alert",
    "review_requested": "Your request for a review",
    "case_closed": "Your case was closed",
}


def forward_participant_notices(uow: UnitOfWork, now: datetime) -> int:
    """Enqueue each portal notice not yet forwarded (``participant_notices.outbox_queued_at``
    null) to every channel the participant has (e-mail, SMS), once per notice and channel.

    Due at once, or at the end of the participant's quiet hours when *now* falls in them (the
    response window is days long; a 3 a.m. text helps no one). An inactive participant's or
    an unreachable one's notices stay in the portal only and are marked handled. Returns how
    many messages were enqueued.
    """
    from openatd.alerts.notices import mark_queued, pending_for_outbox

    notices = pending_for_outbox(uow)
    n = 0
    for notice in notices:
        p = uow.participants.get(notice.participant_id)
        channels = participant_channels(p) if p.active else []
        due = now
        quiet = quiet_hours(p.quiet_start, p.quiet_end)
        if quiet is not None:
            period = quiet.period_around(now, ZoneInfo(p.timezone))
            if period is not None:
                due = period[1]
        for channel, recipient in channels:
            got = enqueue(
                uow,
                kind="notice",
                channel=channel,
                recipient=recipient,
                subject=NOTICE_SUBJECTS.get(notice.kind, "A message about your supervision"),
                body=notice.text,
                due_at=due,
                now=now,
                dedupe_key=f"notice:{notice.id}:{channel}",
                participant_id=p.id,
                alert_id=notice.alert_id,
                language=p.language,
            )
            n += got is not None
    mark_queued(uow, notices, now)
    return n


def notify_staff(uow: UnitOfWork, now: datetime, since: datetime, escalate_after_s: int) -> int:
    """Enqueue alert notifications for case managers (new alerts since *since*) and
    escalations to supervisors (open alerts older than *escalate_after_s*). Returns how many
    messages are new."""
    n = 0
    for alert in uow.staff.alerts_since(since):
        p = uow.participants.get(alert.participant_id)
        text = messages.staff_alert(
            alert_id=alert.id, participant=p.name, kind=alert.type, explanation=alert.explanation
        )
        for user in uow.staff.case_managers(alert.participant_id):
            if user.notify_digest:
                continue
            for channel, recipient in staff_channels(user):
                got = enqueue(
                    uow,
                    kind="staff_alert",
                    channel=channel,
                    recipient=recipient,
                    subject=text.subject,
                    body=text.body,
                    due_at=now,
                    now=now,
                    dedupe_key=f"alert:{alert.id}:{user.id}:{channel}",
                    user_id=user.id,
                    alert_id=alert.id,
                )
                n += got is not None
    cutoff = now - timedelta(seconds=escalate_after_s)
    for alert in uow.staff.unacknowledged_before(cutoff):
        p = uow.participants.get(alert.participant_id)
        text = messages.staff_escalation(
            alert_id=alert.id,
            participant=p.name,
            kind=alert.type,
            explanation=alert.explanation,
            waited_s=int((now - alert.raised_at).total_seconds()),
        )
        for user in uow.staff.supervisors():
            for channel, recipient in staff_channels(user):
                got = enqueue(
                    uow,
                    kind="escalation",
                    channel=channel,
                    recipient=recipient,
                    subject=text.subject,
                    body=text.body,
                    due_at=now,
                    now=now,
                    dedupe_key=f"escalate:{alert.id}:{user.id}:{channel}",
                    user_id=user.id,
                    alert_id=alert.id,
                )
                n += got is not None
    return n


def send_digests(uow: UnitOfWork, now: datetime, hour_utc: int) -> int:
    """At *hour_utc* (or later that day), one digest per digest-preferring case manager with
    the open alerts of their caseload (once per UTC date)."""
    if now.hour < hour_utc:
        return 0
    n = 0
    for user in uow.users.list():
        if user.role != "case_manager" or not user.notify_digest or not user.active:
            continue
        ids = [p.id for p in uow.participants.list(user_id=user.id)]
        alerts = uow.staff.open_alerts(ids) if ids else []
        lines = [f"- alert {a.id} ({a.type}, {a.category}): {a.explanation}" for a in alerts]
        body = f"{len(alerts)} open alert(s) on your caseload.\n" + "\n".join(lines)
        for channel, recipient in staff_channels(user):
            got = enqueue(
                uow,
                kind="digest",
                channel=channel,
                recipient=recipient,
                subject=f"OpenATD daily digest {now:%Y-%m-%d}: {len(alerts)} open alert(s)",
                body=body,
                due_at=now,
                now=now,
                dedupe_key=f"digest:{user.id}:{now:%Y-%m-%d}:{channel}",
                user_id=user.id,
            )
            n += got is not None
    return n


class NotificationWorker(PeriodicTask):
    """Runs the steps of the module docstring every *interval_s* seconds in a worker thread."""

    def __init__(
        self,
        new_uow: Callable[[], UnitOfWork],
        clock: Clock,
        settings: Settings,
        channels: Mapping[str, Channel],
    ) -> None:
        self._new_uow = new_uow
        self._clock = clock
        self._settings = settings
        self._channels = channels
        self._policy = ReminderPolicy.parse(settings.reminder_offsets, settings.reminder_morning)
        super().__init__(settings.outbox_interval_s, "openatd-notify", "outbox run")
        self._since: datetime | None = None

    def run_once(self) -> SendReport:
        """One run at the clock's instant; each step isolated from the others' failures."""
        now = self._clock.now()
        since = self._since or now - ALERT_LOOKBACK
        steps: list[tuple[str, Callable[[UnitOfWork], object]]] = [
            ("check-in reminders", lambda u: plan_checkin_reminders(u, now, self._policy)),
            (
                "staff notifications",
                lambda u: notify_staff(u, now, since, self._settings.escalate_after_s),
            ),
            ("digests", lambda u: send_digests(u, now, self._settings.digest_hour_utc)),
            ("participant notices", lambda u: forward_participant_notices(u, now)),
        ]
        for name, step in steps:
            try:
                with self._new_uow() as uow:
                    step(uow)
            except Exception:
                log.exception("notification step %r failed; retrying at the next run", name)
        self._since = now - timedelta(seconds=self._interval_s * 2 + 5)
        return send_due(
            self._new_uow,
            self._channels,
            now,
            max_attempts=self._settings.outbox_max_attempts,
            retry_base_s=self._settings.outbox_retry_base_s,
        )
