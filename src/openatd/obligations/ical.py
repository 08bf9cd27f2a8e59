"""Import obligations from an iCalendar file (RFC 5545), e.g. a court's calendar export.

Each ``VEVENT`` becomes one obligation: ``SUMMARY`` → title, ``DTSTART`` → start (a ``TZID``
or UTC time is that instant; a floating local time is read in the participant's zone, like the
API), ``DTEND`` → end, ``LOCATION``, ``DESCRIPTION`` → notes, ``CATEGORIES`` → kind when it
names one (``court_hearing``, ``appointment``, ``check_in``, ``other``; ``COURT`` or
``HEARING`` also mean a court hearing), else ``appointment``. ``UID`` makes re-importing the
same file update rather than duplicate. All-day events, recurring events (``RRULE``) and
events already past are reported as skipped with the reason; nothing is half-imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from icalendar import Calendar

from openatd.domain.audit import AuditAction
from openatd.domain.obligations import KINDS, ReminderPolicy
from openatd.errors import InvalidInput
from openatd.obligations import service
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access
from openatd.safeguards.auth import TokenClaims
from openatd.storage.repositories import UnitOfWork

MAX_EVENTS = 500


@dataclass
class ImportReport:
    """Ids created and updated, and ``(uid, reason)`` for each event skipped."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _kind(categories: Any) -> str:
    names: list[str] = []
    cats = categories if isinstance(categories, list) else [categories]
    for c in cats:
        if c is None:
            continue
        names.extend(str(x).strip().lower() for x in getattr(c, "cats", [c]))
    for n in names:
        if n in KINDS:
            return n
        if n in ("court", "hearing", "court hearing"):
            return "court_hearing"
    return "appointment"


def import_calendar(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    policy: ReminderPolicy,
    data: bytes,
) -> ImportReport:
    """Create or update the participant's obligations from *data* (an ``.ics`` file).

    Raises:
        InvalidInput: not an iCalendar file, no events, or more than 500 events.
        PermissionDenied: not on the caller's caseload.
    """
    require_participant_access(uow, user, participant_id)
    try:
        cal = Calendar.from_ical(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, IndexError, KeyError) as exc:
        raise InvalidInput(f"not an iCalendar file: {exc}") from None
    events = list(cal.walk("VEVENT"))
    if not events:
        raise InvalidInput("the iCalendar file has no events (VEVENT)")
    if len(events) > MAX_EVENTS:
        raise InvalidInput(f"at most {MAX_EVENTS} events per import")
    report = ImportReport()
    for ev in events:
        uid = str(ev.get("UID") or "")[:255]
        if ev.get("RRULE") is not None:
            report.skipped.append((uid, "recurring events are not imported; enter a schedule"))
            continue
        dtstart = ev.decoded("DTSTART", None)
        if dtstart is None or not isinstance(dtstart, datetime):
            kind_of = "all-day" if isinstance(dtstart, date) else "no start"
            report.skipped.append((uid, f"{kind_of} event: an obligation needs a start time"))
            continue
        dtend = ev.decoded("DTEND", None)
        fields = {
            "kind": _kind(ev.get("CATEGORIES")),
            "title": str(ev.get("SUMMARY") or "Obligation"),
            "start": dtstart,
            "end": dtend if isinstance(dtend, datetime) else None,
            "location": str(ev["LOCATION"]) if ev.get("LOCATION") else None,
            "notes": str(ev["DESCRIPTION"]) if ev.get("DESCRIPTION") else None,
        }
        existing = uow.obligations.by_source_uid(participant_id, uid) if uid else None
        try:
            if existing is not None and existing.status == "scheduled":
                service.update_obligation(uow, user, now, existing.id, policy, fields)
                report.updated.append(existing.id)
            elif existing is None:
                row = service.create_obligation(
                    uow, user, now, participant_id, policy, source_uid=uid or None, **fields
                )
                report.created.append(row.id)
            else:
                report.skipped.append((uid, "cancelled in OpenATD"))
        except InvalidInput as exc:
            report.skipped.append((uid, str(exc)))
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.OBLIGATION_IMPORT,
        participant_id=participant_id,
        subject_type="obligations",
        details={
            "created": len(report.created),
            "updated": len(report.updated),
            "skipped": len(report.skipped),
        },
    )
    return report
