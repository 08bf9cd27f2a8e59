"""Obligation services: create, change, cancel, list, record the outcome; reminders planned
into the outbox exactly once; an immediate notice when a date changes; missed-obligation alerts
that carry the reminders sent and their delivery status (a failed delivery is never the
participant's fault).

Every function takes a unit of work, the acting staff member and "now"; reads of personal data
and every change are audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openatd.checkins.service import problem_reports
from openatd.domain.audit import AuditAction
from openatd.domain.obligations import (
    KINDS,
    ReminderPolicy,
    plan_reminders,
    quiet_hours,
    read_start,
)
from openatd.errors import Conflict, InvalidInput
from openatd.notify import messages
from openatd.notify.outbox import enqueue, participant_channels
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access
from openatd.safeguards.auth import TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

OUTCOMES = ("attended", "missed", "excused")
MAX_TITLE = 200
MAX_LOCATION = 500
MAX_NOTES = 4000
MAX_DURATION = timedelta(days=2)


def _text(value: Any, what: str, limit: int, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(f"{what} is required")
        return None
    text = " ".join(str(value).split()) if what != "notes" else str(value).strip()
    if required and not text:
        raise InvalidInput(f"{what} must not be empty")
    if len(text) > limit:
        raise InvalidInput(f"{what} may have at most {limit} characters")
    return text or None


def _kind(value: Any) -> str:
    if value not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, got {value!r}")
    return str(value)


def _end(start: datetime, end: Any, tz: ZoneInfo) -> datetime | None:
    if end is None:
        return None
    got = read_start(end, tz, start)  # after the start, same local reading
    if got - start > MAX_DURATION:
        raise InvalidInput("an obligation lasts at most 2 days")
    return got


def plan_obligation_reminders(
    uow: UnitOfWork, p: t.Participant, ob: t.Obligation, policy: ReminderPolicy, now: datetime
) -> int:
    """Enqueue the reminders still ahead for *ob* on each of the participant's channels,
    each exactly once (key ``reminder:<id>:v<version>:<label>:<channel>``); returns how many
    were new."""
    if ob.status != "scheduled":
        return 0
    tz = ZoneInfo(p.timezone)
    text = messages.reminder(
        kind=ob.kind,
        title=ob.title,
        start=ob.start,
        tz=tz,
        location=ob.location,
        language=p.language,
        name=p.name,
    )
    n = 0
    for r in plan_reminders(
        ob.kind, ob.start, tz, policy, now, quiet_hours(p.quiet_start, p.quiet_end)
    ):
        for channel, recipient in participant_channels(p):
            row = enqueue(
                uow,
                kind="reminder",
                channel=channel,
                recipient=recipient,
                subject=text.subject,
                body=text.body,
                due_at=r.at,
                now=now,
                dedupe_key=f"reminder:{ob.id}:v{ob.version}:{r.label}:{channel}",
                participant_id=p.id,
                obligation_id=ob.id,
                language=p.language,
            )
            n += row is not None
    return n


def _notice(
    uow: UnitOfWork,
    p: t.Participant,
    ob: t.Obligation,
    text: messages.Text,
    key: str,
    now: datetime,
) -> None:
    for channel, recipient in participant_channels(p):
        enqueue(
            uow,
            kind="notice",
            channel=channel,
            recipient=recipient,
            subject=text.subject,
            body=text.body,
            due_at=now,
            now=now,
            dedupe_key=f"{key}:{channel}",
            participant_id=p.id,
            obligation_id=ob.id,
            language=p.language,
        )


def create_obligation(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    policy: ReminderPolicy,
    *,
    kind: str,
    title: str,
    start: str | datetime,
    end: str | datetime | None = None,
    location: str | None = None,
    notes: str | None = None,
    source_uid: str | None = None,
) -> t.Obligation:
    """Create an obligation and plan its reminders.

    *start* is ISO 8601; without an offset it is a wall time in the participant's zone.

    Raises:
        InvalidInput: unknown kind, empty title, a start in the past or that does not exist
            locally (DST gap), an end before the start or over 2 days after it.
        PermissionDenied: not on the caller's caseload.
    """
    require_participant_access(uow, user, participant_id)
    p = uow.participants.get(participant_id)
    tz = ZoneInfo(p.timezone)
    begin = read_start(start, tz, now)
    row = uow.obligations.add(
        participant_id=participant_id,
        kind=_kind(kind),
        title=_text(title, "title", MAX_TITLE, required=True),
        start=begin,
        end=_end(begin, end, tz),
        location=_text(location, "location", MAX_LOCATION),
        notes=_text(notes, "notes", MAX_NOTES),
        status="scheduled",
        version=1,
        source_uid=source_uid,
        created_by=user.user_id,
        created_at=now,
        updated_at=now,
    )
    planned = plan_obligation_reminders(uow, p, row, policy, now)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.OBLIGATION_CREATE,
        participant_id=participant_id,
        subject_type="obligation",
        subject_id=row.id,
        details={"kind": row.kind, "start": begin.isoformat(), "reminders": planned},
    )
    return row


def list_obligations(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int
) -> Sequence[t.Obligation]:
    """Every obligation of the participant (cancelled ones included), by start; audited."""
    require_participant_access(uow, user, participant_id)
    rows = uow.obligations.for_participant(participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.OBLIGATION_READ,
        participant_ids=[participant_id],
        what="obligations",
        details={"count": len(rows)},
    )
    return rows


def get_obligation(
    uow: UnitOfWork, user: TokenClaims, now: datetime, obligation_id: int
) -> t.Obligation:
    """One obligation (403 outside the caseload); audited."""
    row = uow.obligations.get(obligation_id)
    require_participant_access(uow, user, row.participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.OBLIGATION_READ,
        participant_ids=[row.participant_id],
        what="obligation",
        subject_id=row.id,
    )
    return row


def update_obligation(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    obligation_id: int,
    policy: ReminderPolicy,
    changes: dict[str, Any],
) -> t.Obligation:
    """Change title, kind, start, end, location, notes, or record the ``outcome``.

    A changed start cancels the reminders not yet sent, plans new ones and sends an
    immediate notice with the old and the new date. An outcome ``missed`` raises a
    ``missed_obligation`` alert carrying the reminders sent and their delivery status.

    Raises:
        InvalidInput: bad values (as :func:`create_obligation`); an outcome before the start.
        Conflict: the obligation is cancelled.
    """
    row = uow.obligations.get(obligation_id)
    require_participant_access(uow, user, row.participant_id)
    if row.status == "cancelled":
        raise Conflict(f"obligation {obligation_id} is cancelled")
    p = uow.participants.get(row.participant_id)
    tz = ZoneInfo(p.timezone)
    changed = sorted(k for k, v in changes.items() if v is not None)
    old_start = row.start
    replan = False
    if changes.get("start") is not None:
        new_start = read_start(changes["start"], tz, now)
        if new_start != row.start:
            row.start = new_start
            replan = True
    if changes.get("end") is not None:
        row.end = _end(row.start, changes["end"], tz)
    if changes.get("kind") is not None:
        row.kind = _kind(changes["kind"])
        replan = True
    if changes.get("title") is not None:
        row.title = _text(changes["title"], "title", MAX_TITLE, required=True) or row.title
        replan = True
    if changes.get("location") is not None:
        row.location = _text(changes["location"], "location", MAX_LOCATION)
        replan = True
    if changes.get("notes") is not None:
        row.notes = _text(changes["notes"], "notes", MAX_NOTES)
    alert: t.Alert | None = None
    if changes.get("outcome") is not None:
        outcome = changes["outcome"]
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}")
        if row.start > now:
            raise InvalidInput("an outcome can be recorded only after the obligation's start")
        if outcome == "missed" and row.outcome != "missed":
            alert = raise_missed_alert(uow, p, row, now)
        row.outcome = outcome
    if replan:
        uow.outbox.cancel_pending(row.id, ["reminder"])
        row.version += 1
        plan_obligation_reminders(uow, p, row, policy, now)
    if row.start != old_start:
        text = messages.changed(
            kind=row.kind,
            title=row.title,
            old_start=old_start,
            start=row.start,
            tz=tz,
            location=row.location,
            language=p.language,
            name=p.name,
        )
        _notice(uow, p, row, text, f"changed:{row.id}:v{row.version}", now)
    row.updated_at = now
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.OBLIGATION_UPDATE,
        participant_id=row.participant_id,
        subject_type="obligation",
        subject_id=row.id,
        details={
            "changed": changed,
            "old_start": old_start.isoformat() if row.start != old_start else None,
            "alert_id": alert.id if alert is not None else None,
        },
    )
    return row


def cancel_obligation(
    uow: UnitOfWork, user: TokenClaims, now: datetime, obligation_id: int
) -> t.Obligation:
    """Cancel: reminders not yet sent are cancelled and the participant is told at once
    (when the obligation is still ahead). Cancelling twice is a no-op."""
    row = uow.obligations.get(obligation_id)
    require_participant_access(uow, user, row.participant_id)
    if row.status == "cancelled":
        return row
    p = uow.participants.get(row.participant_id)
    row.status = "cancelled"
    row.version += 1  # the participant's app shows the cancellation until acknowledged
    row.updated_at = now
    cancelled = uow.outbox.cancel_pending(row.id, ["reminder"])
    if row.start > now:
        text = messages.cancelled(
            title=row.title,
            start=row.start,
            tz=ZoneInfo(p.timezone),
            language=p.language,
            name=p.name,
        )
        _notice(uow, p, row, text, f"cancelled:{row.id}", now)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.OBLIGATION_CANCEL,
        participant_id=row.participant_id,
        subject_type="obligation",
        subject_id=row.id,
        details={"reminders_cancelled": cancelled},
    )
    return row


def reminder_context(uow: UnitOfWork, obligation_id: int) -> list[dict[str, Any]]:
    """Each message sent (or meant to be sent) about an obligation with its delivery status:
    ``{"id", "kind", "channel", "due_at", "status", "attempts", "last_error", "sent_at"}``."""
    return [
        {
            "id": m.id,
            "kind": m.kind,
            "channel": m.channel,
            "due_at": m.due_at.isoformat(),
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
        }
        for m in uow.outbox.for_obligation(obligation_id)
        if m.status != "cancelled"
    ]


def raise_missed_alert(
    uow: UnitOfWork, p: t.Participant, ob: t.Obligation, now: datetime
) -> t.Alert:
    """A ``missed_obligation`` alert (never a violation) with the context a reviewer needs:
    reminders and their delivery status, the participant's replies since the reminders began,
    and their own problem reports from 12 h before the start to its end. When a reminder was
    due but never delivered, the alert is classified ``technical``."""
    context = reminder_context(uow, ob.id)
    due = [m for m in context if m["kind"] == "reminder" and m["due_at"] <= now.isoformat()]
    undelivered = [m for m in due if m["status"] != "sent"]
    delivered = [m for m in due if m["status"] == "sent"]
    replies = [
        {"at": r.received_at.isoformat(), "body": r.body}
        for r in uow.participant_messages.for_participant(p.id, limit=20)
    ]
    technical = bool(due) and not delivered
    reports = problem_reports(uow, p.id, ob.start, ob.end or ob.start)
    tz = ZoneInfo(p.timezone)
    day, clock = messages.when_local(ob.start, tz, "en")
    explanation = (
        f'Missed {ob.kind.replace("_", " ")} "{ob.title}" on {day} at {clock}. '
        f"Reminders delivered: {len(delivered)}; not delivered: {len(undelivered)}."
    )
    if technical:
        explanation += (
            " No reminder reached the participant: a delivery failure is ours, not theirs."
        )
    for report in reports:
        said = (report.details or {}).get("text", "")
        at_day, at_clock = messages.when_local(report.at, tz, "en")
        explanation += f" The participant reported a problem on {at_day} at {at_clock}: “{said}”."
    return uow.alerts.add(
        participant_id=p.id,
        type="missed_obligation",
        category="technical" if technical else "compliance",
        at=ob.start,
        raised_at=now,
        explanation=explanation,
        details={
            "obligation_id": ob.id,
            "reminders": context,
            "undelivered": len(undelivered),
            "participant_replies": replies,
            "problem_report_ids": [a.id for a in reports],
        },
        status="open",
    )
