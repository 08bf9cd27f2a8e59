"""Retention enforced by the system, per kind of data (DESIGN principle 4, issue 8 item 2).

Defaults (days; each is a setting ``OPENATD_<KIND>_RETENTION_DAYS``):

============================  =====  ==================================================
kind                           days   what goes, and when
============================  =====  ==================================================
positions                        90   raw fixes, by the time they were received
device events                    90   device alarms, filter and suppression records
check-in locations               90   the coordinates of a check-in (the row stays)
check-ins                       365   check-in records whose review (if any) is closed
selfies under review              —   deleted when the review closes (never kept after)
alerts and their evidence       365   after the alert was resolved; open alerts never
participant notices             365   what the participant was told
face templates                    —   deleted at once when the case is closed
participant records             365   after the case was closed: everything about them
audit entries                  2555   seven years; the oldest go first
============================  =====  ==================================================

Holds: every alert that is not resolved (including one reopened for review) holds the
positions, events and check-ins of its participant inside its evidence window
(:func:`openatd.alerts.evidence.evidence_window`), and a check-in under open review holds
itself; held rows are kept until the hold ends, then purged on schedule. Every purge writes
one audit entry per kind with the count and the span (oldest and newest instant) deleted.

Audit entries: deleting the oldest entries leaves the first kept entry's ``prev_hash``
pointing at a deleted one. The purge entry records that hash as ``anchor``; ``openatd audit
verify`` accepts a chain that starts at an anchor some later ``retention:purge`` entry
(itself inside the chain) vouches for.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from openatd.alerts.evidence import evidence_window
from openatd.domain.audit import AuditAction
from openatd.errors import InvalidInput
from openatd.safeguards import audit
from openatd.storage.repositories import UnitOfWork

ACTOR = "system:retention"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days to keep each kind of data (see the module docstring for the defaults)."""

    positions: int = 90
    events: int = 90
    checkin_locations: int = 90
    checkins: int = 365
    alerts: int = 365
    notices: int = 365
    participants: int = 365
    audit_entries: int = 2555

    @classmethod
    def from_settings(cls, s: Any) -> RetentionPolicy:
        """From :class:`~openatd.settings.Settings`."""
        return cls(
            positions=s.position_retention_days,
            events=s.event_retention_days,
            checkin_locations=s.checkin_location_retention_days,
            checkins=s.checkin_retention_days,
            alerts=s.alert_retention_days,
            notices=s.notice_retention_days,
            participants=s.participant_retention_days,
            audit_entries=s.audit_retention_days,
        )

    def check(self) -> None:
        """Raises InvalidInput for a period below one day (a typo must not wipe the data)."""
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise InvalidInput(f"retention for {name} must be at least 1 day")


@dataclass(frozen=True, slots=True)
class KindPurge:
    """One kind's purge: rows deleted, rows held, the span deleted (UTC) and the cut-off."""

    kind: str
    cutoff: datetime
    deleted: int
    held: int
    oldest: datetime | None
    newest: datetime | None


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one retention run deleted, per kind."""

    at: datetime
    kinds: list[KindPurge] = field(default_factory=list)

    def deleted(self, kind: str) -> int:
        """Rows of *kind* deleted (0 if the kind did not run)."""
        return sum(k.deleted for k in self.kinds if k.kind == kind)

    @property
    def positions(self) -> int:
        return self.deleted("positions")

    @property
    def events(self) -> int:
        return self.deleted("device_events")

    @property
    def cutoff(self) -> datetime:
        """The positions cut-off (the oldest setting, kept for callers of the first version)."""
        return next(k.cutoff for k in self.kinds if k.kind == "positions")


def holds(uow: UnitOfWork) -> list[tuple[int, datetime, datetime]]:
    """``(participant_id, start, end)`` evidence windows of every unresolved alert."""
    return [(a.participant_id, *evidence_window(a)) for a in uow.retention.open_alerts()]


def _log(uow: UnitOfWork, now: datetime, k: KindPurge) -> None:
    audit.record(
        uow,
        at=now,
        actor=ACTOR,
        action=AuditAction.RETENTION_PURGE,
        subject_type=k.kind,
        details={
            "kind": k.kind,
            "cutoff": k.cutoff.isoformat(),
            "count": k.deleted,
            "held": k.held,
            "oldest": k.oldest.isoformat() if k.oldest else None,
            "newest": k.newest.isoformat() if k.newest else None,
        },
    )


def purge(
    uow: UnitOfWork,
    now: datetime,
    position_retention_days: int | None = None,
    *,
    policy: RetentionPolicy | None = None,
) -> PurgeReport:
    """Delete what *policy* says must go, except what is held; one audit entry per kind.

    ``position_retention_days`` alone (the first version's call) overrides the positions
    period of the default policy.

    Raises:
        InvalidInput: a period below one day.
    """
    policy = policy or RetentionPolicy()
    if position_retention_days is not None:
        policy = replace(policy, positions=position_retention_days)
    policy.check()
    held = holds(uow)
    day = timedelta(days=1)
    report = PurgeReport(now)

    def run(kind: str, days: int, fn: Any, *args: Any) -> None:
        cutoff = now - days * day
        n, h, lo, hi = fn(cutoff, *args)
        k = KindPurge(kind, cutoff, n, h, lo, hi)
        report.kinds.append(k)
        _log(uow, now, k)

    run("positions", policy.positions, uow.retention.purge_positions, held)
    run("device_events", policy.events, uow.retention.purge_events, held)
    run("checkin_locations", policy.checkin_locations, uow.retention.clear_checkin_locations, held)
    run("checkins", policy.checkins, uow.retention.purge_checkins, held)
    run("alerts", policy.alerts, uow.retention.purge_alerts)
    run("notices", policy.notices, lambda cutoff: _notices(uow, cutoff))
    _participants(uow, now, policy, report)
    _audit_entries(uow, now, policy, report)
    return report


def _audit_entries(
    uow: UnitOfWork, now: datetime, policy: RetentionPolicy, report: PurgeReport
) -> None:
    """Delete the oldest audit entries past their period; the purge entry records the anchor
    (hash of the last deleted entry) from which ``openatd audit verify`` checks the chain."""
    cutoff = now - timedelta(days=policy.audit_entries)
    n, anchor, lo, hi = uow.audit.purge_before(cutoff)
    k = KindPurge("audit_entries", cutoff, n, 0, lo, hi)
    report.kinds.append(k)
    audit.record(
        uow,
        at=now,
        actor=ACTOR,
        action=AuditAction.RETENTION_PURGE,
        subject_type="audit_entries",
        details={
            "kind": "audit_entries",
            "cutoff": cutoff.isoformat(),
            "count": n,
            "held": 0,
            "oldest": lo.isoformat() if lo else None,
            "newest": hi.isoformat() if hi else None,
            "anchor": anchor,
        },
    )


def _notices(
    uow: UnitOfWork, cutoff: datetime
) -> tuple[int, int, datetime | None, datetime | None]:
    n, lo, hi = uow.notices.purge_before(cutoff)
    return n, 0, lo, hi


def _participants(
    uow: UnitOfWork, now: datetime, policy: RetentionPolicy, report: PurgeReport
) -> None:
    """Delete closed cases older than the participant period, unless an alert is open."""
    cutoff = now - timedelta(days=policy.participants)
    open_pids = {a.participant_id for a in uow.retention.open_alerts()}
    deleted = 0
    held = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    for p in uow.retention.closed_participants(cutoff):
        if p.id in open_pids:
            held += 1
            continue
        closed = p.closed_at
        counts = uow.retention.delete_participant(p.id)
        deleted += 1
        if closed is not None:
            oldest = closed if oldest is None or closed < oldest else oldest
            newest = closed if newest is None or closed > newest else newest
        audit.record(
            uow,
            at=now,
            actor=ACTOR,
            action=AuditAction.RETENTION_PURGE,
            participant_id=p.id,
            subject_type="participant",
            subject_id=p.id,
            details={
                "kind": "participant_record",
                "closed_at": closed.isoformat() if closed else None,
                "rows": counts,
            },
        )
    k = KindPurge("participants", cutoff, deleted, held, oldest, newest)
    report.kinds.append(k)
    _log(uow, now, k)


@dataclass(frozen=True, slots=True)
class HeldItem:
    """What is held, why and until when (``until`` None: until a person closes it)."""

    kind: str
    count: int
    why: str
    until: datetime | None


@dataclass(frozen=True, slots=True)
class RetentionStatus:
    """``openatd retention report``: per kind its period and rows past it, and the holds."""

    at: datetime
    periods: dict[str, int]
    due: dict[str, int]
    held: list[HeldItem]
    closed_cases: list[tuple[int, datetime, datetime]]
    """``(participant id, closed at, purge after)``."""


def status(
    uow: UnitOfWork, now: datetime, policy: RetentionPolicy | None = None
) -> RetentionStatus:
    """What is held, why and until when, and what the next run would purge (counts)."""
    policy = policy or RetentionPolicy()
    day = timedelta(days=1)
    periods = {name: getattr(policy, name) for name in policy.__dataclass_fields__}
    due = {
        "positions": uow.retention.count_before("positions", now - policy.positions * day),
        "device_events": uow.retention.count_before("events", now - policy.events * day),
        "checkins": uow.retention.count_before("checkins", now - policy.checkins * day),
        "notices": uow.retention.count_before("notices", now - policy.notices * day),
    }
    items: list[HeldItem] = []
    for a in uow.retention.open_alerts():
        lo, hi = evidence_window(a)
        items.append(
            HeldItem(
                kind="evidence",
                count=len(uow.positions.for_participant(a.participant_id, lo, hi, limit=100000)),
                why=(
                    f"alert {a.id} ({a.type}, participant {a.participant_id}) is {a.status}: "
                    f"its evidence from {lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} UTC is held"
                ),
                until=None,
            )
        )
    closed = [
        (p.id, p.closed_at, p.closed_at + policy.participants * day)
        for p in uow.retention.closed_participants(now + 100000 * day)
        if p.closed_at is not None
    ]
    return RetentionStatus(now, periods, due, items, closed)
