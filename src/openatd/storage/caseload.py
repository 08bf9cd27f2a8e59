"""Per-participant status for the caseload list: counts and latest times, no locations.

One query per figure over the whole caseload (grouped by participant), so the list
costs a handful of queries whatever its length. Nothing here returns a latitude or a
longitude: the caseload shows whether a device is in contact, never where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from openatd.storage import tables as t


@dataclass(frozen=True, slots=True)
class CaseloadStatus:
    """What the caseload list shows for one participant.

    ``open_alerts``: alerts open or acknowledged (not resolved). ``battery_pct``: of the
    newest fix that reported one (percent, 0-100), with ``battery_at`` its fix time (UTC).
    ``last_contact_at``: the newest time any of their devices was heard from (UTC).
    ``last_checkin_at``/``last_checkin_outcome``: their newest check-in attempt.
    ``next_obligation_*``: their next scheduled obligation (court date, appointment).
    """

    open_alerts: int = 0
    last_checkin_at: datetime | None = None
    last_checkin_outcome: str | None = None
    battery_pct: float | None = None
    battery_at: datetime | None = None
    last_contact_at: datetime | None = None
    next_obligation_at: datetime | None = None
    next_obligation_title: str | None = None
    next_obligation_kind: str | None = None


def caseload_status(
    session: Session, participant_ids: Sequence[int], now: datetime
) -> dict[int, CaseloadStatus]:
    """:class:`CaseloadStatus` for each id in *participant_ids* (absent ids: all defaults);
    the next obligation is the earliest scheduled one starting at or after *now*."""
    ids = list(participant_ids)
    if not ids:
        return {}
    first_ob = (
        select(t.Obligation.participant_id, func.min(t.Obligation.start).label("at"))
        .where(
            t.Obligation.participant_id.in_(ids),
            t.Obligation.status == "scheduled",
            t.Obligation.start >= now,
        )
        .group_by(t.Obligation.participant_id)
        .subquery()
    )
    obligations = {
        pid: (at, title, kind)
        for pid, at, title, kind in session.execute(
            select(
                t.Obligation.participant_id, t.Obligation.start, t.Obligation.title,
                t.Obligation.kind,
            ).join(
                first_ob,
                and_(
                    t.Obligation.participant_id == first_ob.c.participant_id,
                    t.Obligation.start == first_ob.c.at,
                    t.Obligation.status == "scheduled",
                ),
            )
        ).all()
    }  # fmt: skip
    alerts: dict[int, int] = {
        pid: int(n)
        for pid, n in session.execute(
            select(t.Alert.participant_id, func.count())
            .where(t.Alert.participant_id.in_(ids), t.Alert.status != "resolved")
            .group_by(t.Alert.participant_id)
        ).all()
    }
    contact: dict[int, datetime | None] = {
        pid: at
        for pid, at in session.execute(
            select(t.Device.participant_id, func.max(t.Device.last_seen_at))
            .where(t.Device.participant_id.in_(ids))
            .group_by(t.Device.participant_id)
        ).all()
        if pid is not None
    }
    newest_ci = (
        select(t.CheckIn.participant_id, func.max(t.CheckIn.id).label("id"))
        .where(t.CheckIn.participant_id.in_(ids))
        .group_by(t.CheckIn.participant_id)
        .subquery()
    )
    checkins = {
        pid: (at, outcome)
        for pid, at, outcome in session.execute(
            select(t.CheckIn.participant_id, t.CheckIn.server_time, t.CheckIn.outcome).join(
                newest_ci, t.CheckIn.id == newest_ci.c.id
            )
        ).all()
    }
    newest_fix = (
        select(t.Position.participant_id, func.max(t.Position.fix_time).label("at"))
        .where(t.Position.participant_id.in_(ids), t.Position.battery_pct.is_not(None))
        .group_by(t.Position.participant_id)
        .subquery()
    )
    battery = {
        pid: (pct, at)
        for pid, pct, at in session.execute(
            select(t.Position.participant_id, t.Position.battery_pct, t.Position.fix_time).join(
                newest_fix,
                and_(
                    t.Position.participant_id == newest_fix.c.participant_id,
                    t.Position.fix_time == newest_fix.c.at,
                ),
            )
        ).all()
    }
    out: dict[int, CaseloadStatus] = {}
    for pid in ids:
        ci = checkins.get(pid)
        bat = battery.get(pid)
        ob = obligations.get(pid)
        out[pid] = CaseloadStatus(
            open_alerts=int(alerts.get(pid, 0)),
            last_checkin_at=ci[0] if ci else None,
            last_checkin_outcome=ci[1] if ci else None,
            battery_pct=bat[0] if bat else None,
            battery_at=bat[1] if bat else None,
            last_contact_at=contact.get(pid),
            next_obligation_at=ob[0] if ob else None,
            next_obligation_title=ob[1] if ob else None,
            next_obligation_kind=ob[2] if ob else None,
        )
    return out
