"""Repositories of the safeguards added by issue 8: participant notices, supervision-level
history, the evidence behind an alert, retention queries and aggregate statistics.

They live beside :mod:`openatd.storage.repositories` (same shape: one class per aggregate,
taking the :class:`~sqlalchemy.orm.Session` of a unit of work). Reads are per participant;
the only cross-participant queries here are counts (:class:`StatsRepository`) and the
retention deletes, which return numbers, never rows about people.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from openatd.storage import tables as t
from openatd.storage.partitions import drop_position_partition, position_partitions


def _count(res: Any) -> int:
    return int(getattr(res, "rowcount", 0) or 0)


class NoticeRepository:
    """What participants were told (portal), and what the outbox has still to send."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.ParticipantNotice:
        row = t.ParticipantNotice(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def for_participant(
        self, participant_id: int, limit: int = 1000
    ) -> Sequence[t.ParticipantNotice]:
        """Newest first."""
        return self.s.scalars(
            select(t.ParticipantNotice)
            .where(t.ParticipantNotice.participant_id == participant_id)
            .order_by(t.ParticipantNotice.id.desc())
            .limit(limit)
        ).all()

    def for_alert(self, alert_id: int) -> Sequence[t.ParticipantNotice]:
        """Oldest first."""
        return self.s.scalars(
            select(t.ParticipantNotice)
            .where(t.ParticipantNotice.alert_id == alert_id)
            .order_by(t.ParticipantNotice.id)
        ).all()

    def pending_outbox(self, limit: int = 500) -> Sequence[t.ParticipantNotice]:
        """Notices not yet handed to the outbox, oldest first."""
        return self.s.scalars(
            select(t.ParticipantNotice)
            .where(t.ParticipantNotice.outbox_queued_at.is_(None))
            .order_by(t.ParticipantNotice.id)
            .limit(limit)
        ).all()

    def purge_before(self, cutoff: datetime) -> tuple[int, datetime | None, datetime | None]:
        """Delete notices created before *cutoff*; ``(count, oldest, newest)`` deleted."""
        cond = t.ParticipantNotice.created_at < cutoff
        span = self.s.execute(
            select(
                func.min(t.ParticipantNotice.created_at), func.max(t.ParticipantNotice.created_at)
            ).where(cond)
        ).one()
        n = _count(self.s.execute(delete(t.ParticipantNotice).where(cond)))
        return n, span[0], span[1]


class LevelHistoryRepository:
    """Every change of a participant's supervision level."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.SupervisionLevelChange:
        row = t.SupervisionLevelChange(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def for_participant(self, participant_id: int) -> Sequence[t.SupervisionLevelChange]:
        """Oldest first."""
        return self.s.scalars(
            select(t.SupervisionLevelChange)
            .where(t.SupervisionLevelChange.participant_id == participant_id)
            .order_by(t.SupervisionLevelChange.at, t.SupervisionLevelChange.id)
        ).all()


class EvidenceRepository:
    """Records of one participant inside a time window (an alert's evidence packet)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def alerts_unnotified(
        self, participant_id: int | None = None, limit: int = 500
    ) -> Sequence[t.Alert]:
        """Alerts whose participant has not been told yet (of one participant), oldest first."""
        q = select(t.Alert).where(t.Alert.notified_at.is_(None))
        if participant_id is not None:
            q = q.where(t.Alert.participant_id == participant_id)
        return self.s.scalars(q.order_by(t.Alert.id).limit(limit)).all()

    def checkins(self, participant_id: int, start: datetime, end: datetime) -> Sequence[t.CheckIn]:
        return self.s.scalars(
            select(t.CheckIn)
            .where(
                t.CheckIn.participant_id == participant_id,
                t.CheckIn.server_time >= start,
                t.CheckIn.server_time < end,
            )
            .order_by(t.CheckIn.server_time, t.CheckIn.id)
        ).all()

    def all_checkins(self, participant_id: int) -> Sequence[t.CheckIn]:
        """Every check-in of the participant (whole compliance history), oldest first."""
        return self.s.scalars(
            select(t.CheckIn)
            .where(t.CheckIn.participant_id == participant_id)
            .order_by(t.CheckIn.id)
        ).all()

    def events(
        self, participant_id: int, start: datetime, end: datetime, device_id: int | None = None
    ) -> Sequence[t.Event]:
        q = select(t.Event).where(t.Event.time >= start, t.Event.time < end)
        if device_id is not None:
            q = q.where(t.Event.device_id == device_id)
        else:
            q = q.where(t.Event.participant_id == participant_id)
        return self.s.scalars(q.order_by(t.Event.time, t.Event.id).limit(5000)).all()

    def device_positions(
        self, device_id: int, start: datetime, end: datetime
    ) -> Sequence[t.Position]:
        """Fixes of one device in ``[start, end)`` (device health: battery, validity)."""
        return self.s.scalars(
            select(t.Position)
            .where(
                t.Position.device_id == device_id,
                t.Position.fix_time >= start,
                t.Position.fix_time < end,
            )
            .order_by(t.Position.fix_time)
            .limit(20000)
        ).all()

    def alert_audit(self, alert_id: int) -> Sequence[t.AuditEntry]:
        """Audit entries about one alert, oldest first (its history)."""
        return self.s.scalars(
            select(t.AuditEntry)
            .where(t.AuditEntry.subject_type == "alert", t.AuditEntry.subject_id == str(alert_id))
            .order_by(t.AuditEntry.id)
        ).all()

    def staff_reads(self, participant_id: int, limit: int = 5000) -> Sequence[t.AuditEntry]:
        """Entries about the participant written by staff members, newest first."""
        return self.s.scalars(
            select(t.AuditEntry)
            .where(t.AuditEntry.participant_id == participant_id, t.AuditEntry.actor.like("user:%"))
            .order_by(t.AuditEntry.id.desc())
            .limit(limit)
        ).all()


class RetentionRepository:
    """Deletes (and counts) what retention says must go; holds are conditions here.

    A *hold* is a list of ``(participant_id, start, end)`` windows (the evidence windows of
    open alerts); a row of that participant inside one of them is kept. Conditions are
    null-safe (``IS NOT DISTINCT FROM``): a row with no participant or no review status is
    never "unknown", so ``NOT held`` selects it.
    """

    def __init__(self, session: Session) -> None:
        self.s = session

    @staticmethod
    def _held(
        col_pid: Any, col_time: Any, holds: Sequence[tuple[int, datetime, datetime]]
    ) -> ColumnElement[bool]:
        if not holds:
            return false()
        return or_(
            *(
                and_(col_pid.is_not_distinct_from(pid), col_time >= lo, col_time < hi)
                for pid, lo, hi in holds
            )
        )

    def _span(self, col: Any, cond: ColumnElement[bool]) -> tuple[datetime | None, datetime | None]:
        row = self.s.execute(select(func.min(col), func.max(col)).where(cond)).one()
        return row[0], row[1]

    def purge_positions(
        self, cutoff: datetime, holds: Sequence[tuple[int, datetime, datetime]]
    ) -> tuple[int, int, datetime | None, datetime | None]:
        """Delete fixes received before *cutoff* unless held (an open alert's evidence window,
        or ``in_review``). Returns ``(deleted, held, oldest fix, newest fix deleted)``."""
        old = t.Position.server_time < cutoff
        held = or_(
            t.Position.in_review.is_(True),
            self._held(t.Position.participant_id, t.Position.fix_time, holds),
        )
        n_held = int(self.s.scalar(select(func.count(t.Position.id)).where(old, held)) or 0)
        cond = and_(old, ~held)
        lo, hi = self._span(t.Position.fix_time, cond)
        n = self._drop_whole_partitions(cutoff, cond)
        n += _count(self.s.execute(delete(t.Position).where(cond)))
        return n, n_held, lo, hi

    def _drop_whole_partitions(self, cutoff: datetime, cond: ColumnElement[bool]) -> int:
        """PostgreSQL: drop each monthly positions partition that ends by *cutoff* and whose
        every row meets *cond* (old and not held); returns the rows dropped. Nothing else
        changes: a partition with one row to keep is left to the row-by-row delete
        (:mod:`openatd.storage.partitions`)."""
        conn = self.s.connection()
        dropped = 0
        for part in position_partitions(conn):
            if part.end > cutoff:
                break
            inside = and_(t.Position.fix_time >= part.start, t.Position.fix_time < part.end)
            rows = self.s.scalar(select(func.count()).select_from(t.Position).where(inside))
            gone = self.s.scalar(select(func.count()).select_from(t.Position).where(inside, cond))
            if rows == gone:
                drop_position_partition(conn, part)
                dropped += int(rows or 0)
        return dropped

    def purge_events(
        self, cutoff: datetime, holds: Sequence[tuple[int, datetime, datetime]]
    ) -> tuple[int, int, datetime | None, datetime | None]:
        """Delete events dated before *cutoff* unless inside a held window."""
        old = t.Event.time < cutoff
        held = self._held(t.Event.participant_id, t.Event.time, holds)
        n_held = int(self.s.scalar(select(func.count(t.Event.id)).where(old, held)) or 0)
        cond = and_(old, ~held)
        lo, hi = self._span(t.Event.time, cond)
        n = _count(self.s.execute(delete(t.Event).where(cond)))
        return n, n_held, lo, hi

    def clear_checkin_locations(
        self, cutoff: datetime, holds: Sequence[tuple[int, datetime, datetime]]
    ) -> tuple[int, int, datetime | None, datetime | None]:
        """Null the coordinates of check-ins before *cutoff* (not held, not under review)."""
        has = and_(t.CheckIn.server_time < cutoff, t.CheckIn.latitude.is_not(None))
        held = or_(
            t.CheckIn.review_status.is_not_distinct_from("open"),
            self._held(t.CheckIn.participant_id, t.CheckIn.server_time, holds),
        )
        n_held = int(self.s.scalar(select(func.count(t.CheckIn.id)).where(has, held)) or 0)
        cond = and_(has, ~held)
        lo, hi = self._span(t.CheckIn.server_time, cond)
        n = _count(
            self.s.execute(
                update(t.CheckIn).where(cond).values(latitude=None, longitude=None, accuracy_m=None)
            )
        )
        return n, n_held, lo, hi

    def purge_checkins(
        self, cutoff: datetime, holds: Sequence[tuple[int, datetime, datetime]]
    ) -> tuple[int, int, datetime | None, datetime | None]:
        """Delete check-ins before *cutoff* whose review (if any) is closed and not held."""
        old = t.CheckIn.server_time < cutoff
        held = or_(
            t.CheckIn.review_status.is_not_distinct_from("open"),
            self._held(t.CheckIn.participant_id, t.CheckIn.server_time, holds),
        )
        n_held = int(self.s.scalar(select(func.count(t.CheckIn.id)).where(old, held)) or 0)
        cond = and_(old, ~held)
        lo, hi = self._span(t.CheckIn.server_time, cond)
        n = _count(self.s.execute(delete(t.CheckIn).where(cond)))
        return n, n_held, lo, hi

    def purge_alerts(self, cutoff: datetime) -> tuple[int, int, datetime | None, datetime | None]:
        """Delete alerts (with their frozen evidence) resolved before *cutoff*; open ones are
        held. Returns ``(deleted, held, oldest, newest raised_at deleted)``."""
        cond = and_(t.Alert.status == "resolved", t.Alert.resolved_at < cutoff)
        n_held = int(
            self.s.scalar(
                select(func.count(t.Alert.id)).where(
                    t.Alert.status != "resolved", t.Alert.at < cutoff
                )
            )
            or 0
        )
        lo, hi = self._span(t.Alert.raised_at, cond)
        n = _count(self.s.execute(delete(t.Alert).where(cond)))
        return n, n_held, lo, hi

    def open_alerts(self) -> Sequence[t.Alert]:
        """Every alert not resolved (its evidence is held)."""
        return self.s.scalars(
            select(t.Alert).where(t.Alert.status != "resolved").order_by(t.Alert.id)
        ).all()

    def closed_participants(self, cutoff: datetime) -> Sequence[t.Participant]:
        """Participants whose case closed before *cutoff*."""
        return self.s.scalars(
            select(t.Participant)
            .where(t.Participant.closed_at.is_not(None), t.Participant.closed_at < cutoff)
            .order_by(t.Participant.id)
        ).all()

    def delete_participant(self, participant_id: int) -> dict[str, int]:
        """Delete one participant and every row about them (positions and events carry no
        foreign key, so they go explicitly; the rest cascades). Audit entries stay: they
        are the record of what was done. Returns counts per table."""
        counts = {
            "positions": _count(
                self.s.execute(
                    delete(t.Position).where(t.Position.participant_id == participant_id)
                )
            ),
            "events": _count(
                self.s.execute(delete(t.Event).where(t.Event.participant_id == participant_id))
            ),
        }
        for name, table in (
            ("alerts", t.Alert),
            ("checkins", t.CheckIn),
            ("notices", t.ParticipantNotice),
            ("checkin_schedules", t.CheckInSchedule),
            ("zones", t.Zone),
            ("face_templates", t.FaceTemplate),
            ("caseload", t.CaseloadAssignment),
            ("level_changes", t.SupervisionLevelChange),
        ):
            counts[name] = _count(
                self.s.execute(delete(table).where(table.participant_id == participant_id))
            )
        self.s.execute(
            update(t.Device)
            .where(t.Device.participant_id == participant_id)
            .values(participant_id=None)
        )
        counts["participants"] = _count(
            self.s.execute(delete(t.Participant).where(t.Participant.id == participant_id))
        )
        return counts

    def oldest_audit(self) -> tuple[int, datetime | None]:
        """``(count, oldest at)`` of the audit log."""
        row = self.s.execute(select(func.count(t.AuditEntry.id), func.min(t.AuditEntry.at))).one()
        return int(row[0] or 0), row[1]

    def count_before(self, what: str, cutoff: datetime) -> int:
        """Rows of kind *what* older than *cutoff* (the report; nothing is deleted)."""
        col: Any = {
            "positions": t.Position.server_time,
            "events": t.Event.time,
            "checkins": t.CheckIn.server_time,
            "notices": t.ParticipantNotice.created_at,
        }[what]
        return int(self.s.scalar(select(func.count()).where(col < cutoff)) or 0)


class StatsRepository:
    """Aggregate counts for oversight; no row about a person ever leaves this class."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def participants_by_level(self) -> dict[str, int]:
        rows = self.s.execute(
            select(t.Participant.supervision_level, func.count())
            .where(t.Participant.active.is_(True))
            .group_by(t.Participant.supervision_level)
        )
        return {str(k): int(v) for k, v in rows}

    def alerts_by(self) -> list[tuple[str, str, str | None, int]]:
        """``(category, status, resolution, count)``."""
        rows = self.s.execute(
            select(t.Alert.category, t.Alert.status, t.Alert.resolution, func.count()).group_by(
                t.Alert.category, t.Alert.status, t.Alert.resolution
            )
        )
        return [(str(c), str(s), r, int(n)) for c, s, r, n in rows]

    def checkin_outcomes(self) -> dict[str, int]:
        rows = self.s.execute(select(t.CheckIn.outcome, func.count()).group_by(t.CheckIn.outcome))
        return {str(k): int(v) for k, v in rows}

    def decision_times(self) -> list[tuple[datetime, datetime]]:
        """``(raised_at, resolved_at)`` of every resolved alert (no ids, no people)."""
        rows = self.s.execute(
            select(t.Alert.raised_at, t.Alert.resolved_at).where(t.Alert.resolved_at.is_not(None))
        )
        return [(a, b) for a, b in rows if b is not None]
