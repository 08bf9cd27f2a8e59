"""Home and office visits: scheduled ahead or recorded afterwards, with the outcome (``met`` |
``not_home`` | ``refused`` | ``other``) and the officer's notes.

- An office visit where the participant was met can count as the check-in of the window open
  at that moment (``method = visit``).
- ``not_home`` opens an alert classified *technical* by default, for a person to review: a
  missed visit alone is never a violation (DESIGN principle 5; the participant may not have
  known, or may have been at work).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from openatd.checkins.phone import record_checkin
from openatd.checkins.service import open_windows, window_status
from openatd.domain.audit import AuditAction
from openatd.domain.obligations import read_start
from openatd.errors import Conflict, InvalidInput
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access
from openatd.safeguards.auth import TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

KINDS = ("home", "office")
OUTCOMES = ("met", "not_home", "refused", "other")
MAX_NOTES = 4000


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def _notes(notes: str | None) -> str | None:
    text = (notes or "").strip()
    if len(text) > MAX_NOTES:
        raise InvalidInput(f"notes may have at most {MAX_NOTES} characters")
    return text or None


def schedule_visit(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    *,
    kind: str,
    scheduled_for: str | datetime,
    notes: str | None = None,
) -> t.Visit:
    """Plan a visit. *scheduled_for* is ISO 8601 (a local wall time without offset).

    Raises:
        InvalidInput: unknown kind, a time in the past or not existing locally.
    """
    require_participant_access(uow, user, participant_id)
    p = uow.participants.get(participant_id)
    when = read_start(scheduled_for, ZoneInfo(p.timezone), now)
    row = uow.visits.add(
        participant_id=participant_id,
        kind=_kind(kind),
        scheduled_for=when,
        notes=_notes(notes),
        counts_as_checkin=False,
        officer_id=user.user_id,
        created_at=now,
    )
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.VISIT_SCHEDULE,
        participant_id=participant_id,
        subject_type="visit",
        subject_id=row.id,
        details={"kind": kind, "scheduled_for": when.isoformat()},
    )
    return row


def record_outcome(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    *,
    outcome: str,
    visit_id: int | None = None,
    participant_id: int | None = None,
    kind: str | None = None,
    notes: str | None = None,
    visited_at: datetime | None = None,
    counts_as_checkin: bool = False,
) -> t.Visit:
    """Record what happened at a scheduled visit (*visit_id*) or an unscheduled one
    (*participant_id* and *kind*).

    Raises:
        InvalidInput: unknown outcome or kind; *visited_at* without offset or in the future;
            ``counts_as_checkin`` for anything but an office visit where the participant was
            met, or with no check-in window open at that moment.
        Conflict: the visit already has an outcome.
    """
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if visited_at is not None and visited_at.tzinfo is None:
        raise InvalidInput("visited_at needs a UTC offset, e.g. 2026-03-09T15:00:00Z")
    at = (visited_at or now).astimezone(UTC)
    if at > now:
        raise InvalidInput("a visit is recorded after it happened (visited_at is in the future)")
    if visit_id is not None:
        row = uow.visits.get(visit_id)
        require_participant_access(uow, user, row.participant_id)
        if row.outcome is not None:
            raise Conflict(f"visit {visit_id} already has an outcome ({row.outcome})")
    else:
        if participant_id is None or kind is None:
            raise InvalidInput("an unscheduled visit needs participant_id and kind")
        require_participant_access(uow, user, participant_id)
        row = uow.visits.add(
            participant_id=participant_id,
            kind=_kind(kind),
            counts_as_checkin=False,
            officer_id=user.user_id,
            created_at=now,
        )
    p = uow.participants.get(row.participant_id)
    row.outcome, row.visited_at = outcome, at
    row.notes = _notes(notes) or row.notes
    if counts_as_checkin:
        if row.kind != "office" or outcome != "met":
            raise InvalidInput(
                "only an office visit where the participant was met counts as a check-in"
            )
        row.checkin_id = _visit_checkin(uow, p, at)
        row.counts_as_checkin = True
    if outcome == "not_home":
        row.alert_id = _not_home_alert(uow, p, row, now).id
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.VISIT_RECORD,
        participant_id=p.id,
        subject_type="visit",
        subject_id=row.id,
        details={"outcome": outcome, "checkin_id": row.checkin_id, "alert_id": row.alert_id},
    )
    return row


def _visit_checkin(uow: UnitOfWork, p: t.Participant, at: datetime) -> int:
    for w in open_windows(uow, p, at):
        attempts, refusal = window_status(uow, w)
        if refusal is None:
            return record_checkin(uow, p, w, at, "visit", len(attempts) + 1).id
    raise InvalidInput("no check-in window of the participant is open at the visit's time")


def _not_home_alert(uow: UnitOfWork, p: t.Participant, visit: t.Visit, now: datetime) -> t.Alert:
    when = (visit.visited_at or now).astimezone(ZoneInfo(p.timezone))
    return uow.alerts.add(
        participant_id=p.id,
        type="visit_not_home",
        category="technical",
        at=visit.visited_at or now,
        raised_at=now,
        explanation=(
            f"Nobody was home at the {visit.kind} visit on {when:%Y-%m-%d %H:%M} local time. "
            "Classified technical by default: a missed visit alone is not a violation; ask the "
            "participant before drawing any conclusion."
        ),
        details={"visit_id": visit.id, "notes": visit.notes},
        status="open",
    )


def list_visits(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int
) -> Sequence[t.Visit]:
    """The participant's visits, oldest first; audited."""
    require_participant_access(uow, user, participant_id)
    rows = uow.visits.for_participant(participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.VISIT_READ,
        participant_ids=[participant_id],
        what="visits",
        details={"count": len(rows)},
    )
    return rows
