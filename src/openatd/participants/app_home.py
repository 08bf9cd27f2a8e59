"""What the participant's app home shows beyond check-in windows: their court hearings and
appointments, each flagged *new* or *changed* until they acknowledge it, and whether it is
their quiet hours now (no check-in prompt then).

Every function acts for the participant named by their verified token only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from openatd.checkins.service import participant_actor
from openatd.domain.audit import AuditAction
from openatd.domain.obligations import quiet_hours
from openatd.errors import NotFound
from openatd.participants.portal import current_participant
from openatd.safeguards import audit
from openatd.safeguards.auth import ParticipantClaims
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

RECENT = timedelta(days=1)
"""Obligations that started up to this long ago are still listed (today's hearing)."""


@dataclass(frozen=True, slots=True)
class ObligationView:
    """One obligation as the participant sees it; ``news`` is ``"new"`` (never acknowledged),
    ``"changed"`` (its time, place or status changed since it was acknowledged) or ``None``."""

    obligation: t.Obligation
    news: str | None


def _news(row: t.Obligation) -> str | None:
    if row.seen_version is None:
        return "new"
    if row.seen_version < row.version:
        return "changed"
    return None


def my_obligations(
    uow: UnitOfWork, claims: ParticipantClaims, now: datetime
) -> list[ObligationView]:
    """The participant's obligations from yesterday on, by start: scheduled ones, and cancelled
    ones until the participant has acknowledged the cancellation."""
    p = current_participant(uow, claims)
    out = []
    for row in uow.obligations.for_participant(p.id, since=now - RECENT):
        news = _news(row)
        if row.status == "cancelled" and news is None:
            continue
        out.append(ObligationView(row, news))
    return out


def acknowledge_obligation(
    uow: UnitOfWork, claims: ParticipantClaims, now: datetime, obligation_id: int
) -> t.Obligation:
    """Record that the participant has seen the current version of one of their obligations.
    Audited (``obligation:acknowledge``, with the version seen and the start it had).

    Raises:
        NotFound: no such obligation of this participant (another's reads as missing).
    """
    p = current_participant(uow, claims)
    try:
        row: t.Obligation | None = uow.obligations.get(obligation_id)
    except NotFound:
        row = None
    if row is None or row.participant_id != p.id:
        raise NotFound(f"obligation {obligation_id} not found")
    row.seen_version = row.version
    audit.record(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.OBLIGATION_ACKNOWLEDGE,
        participant_id=p.id,
        subject_type="obligation",
        subject_id=row.id,
        details={"version": row.version, "start": row.start.isoformat(), "status": row.status},
    )
    return row


def quiet_until(participant: t.Participant, now: datetime) -> datetime | None:
    """When the participant's quiet hours end (UTC), if *now* is inside them; else ``None``."""
    quiet = quiet_hours(participant.quiet_start, participant.quiet_end)
    if quiet is None:
        return None
    period = quiet.period_around(now, ZoneInfo(participant.timezone))
    return period[1] if period else None
