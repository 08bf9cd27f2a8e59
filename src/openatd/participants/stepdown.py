"""Step-down recommendation (DESIGN principle 1: least surveillance).

Compliance history drives a recommendation to a less intrusive supervision level:
GPS → app → phone → reminders only. It is a recommendation for a person to act on, never an
automatic change, and it always says why and when it should be looked at again.

Rule (tested in ``tests/integration/test_stepdown.py``). Over the *whole* history the answer
reports: check-ins on time, technical versus confirmed alerts, and time at the current level.
A participant is *eligible* for the next lower level when:

- they have been at the current level for at least ``window_days`` (default 60);
- no alert was resolved ``violation_confirmed`` in the last ``window_days``;
- no compliance alert is open or acknowledged (unreviewed);
- at least ``MIN_ON_TIME`` (90 %) of their check-in windows in the last ``window_days``
  were kept on time (a window counts as missed only through a *compliance*
  ``missed_check_in`` alert; technical ones never count);

Technical alerts (battery, signal, app or server faults) never count against the
participant. ``review_date``: the escalation's end when one is running; otherwise today when
eligible, else the first day the time-based conditions could be met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from openatd.participants.service import SUPERVISION_LEVELS
from openatd.storage import tables as t

DEFAULT_WINDOW_DAYS = 60
MIN_ON_TIME = 0.9


@dataclass(frozen=True, slots=True)
class StepDown:
    """A recommendation: the current and the recommended level, why, and when to review."""

    current: str
    recommended: str
    eligible: bool
    window_days: int
    reasons: list[str] = field(default_factory=list)
    review_date: datetime | None = None
    history: dict[str, Any] = field(default_factory=dict)


def recommend(
    participant: t.Participant,
    alerts: Sequence[t.Alert],
    now: datetime,
    window_days: int = DEFAULT_WINDOW_DAYS,
    checkins: Sequence[t.CheckIn] = (),
) -> StepDown:
    """The step-down recommendation for *participant* from their whole history.

    Args:
        alerts: every alert about the participant (any period).
        checkins: every check-in of the participant (any period).
    """
    levels = list(SUPERVISION_LEVELS)
    current = participant.supervision_level
    idx = levels.index(current) if current in levels else len(levels) - 1
    lower = levels[min(idx + 1, len(levels) - 1)]
    window = timedelta(days=window_days)
    since = now - window
    level_since = participant.level_since or participant.created_at
    days_at_level = (now - level_since).days
    recent = [a for a in alerts if a.at >= since]

    on_time_all = sum(1 for c in checkins if c.on_time and c.outcome != "retake_requested")
    missed_all = [a for a in alerts if a.type == "missed_check_in" and a.category == "compliance"]
    on_time = sum(
        1
        for c in checkins
        if c.server_time >= since and c.on_time and c.outcome != "retake_requested"
    )
    missed = sum(1 for a in missed_all if a.at >= since)
    rate = on_time / (on_time + missed) if on_time + missed else None
    technical_all = sum(
        1 for a in alerts if a.category == "technical" or a.resolution == "technical"
    )
    confirmed_all = [a for a in alerts if a.resolution == "violation_confirmed"]
    history = {
        "days_at_level": days_at_level,
        "level_since": level_since.isoformat(),
        "checkins_on_time": on_time_all,
        "checkins_missed": len(missed_all),
        "alerts": len(alerts),
        "technical_alerts": technical_all,
        "confirmed_violations": len(confirmed_all),
        "on_time_rate_window": None if rate is None else round(rate, 3),
    }

    reasons: list[str] = []
    if idx == len(levels) - 1:
        reasons.append("already at the least intrusive level (reminders only)")
    if days_at_level < window_days:
        reasons.append(
            f"at this level for {days_at_level} days; the review needs {window_days} days"
        )
    confirmed = [a for a in confirmed_all if a.at >= since]
    if confirmed:
        reasons.append(f"{len(confirmed)} violation(s) confirmed in the last {window_days} days")
    unreviewed = [a for a in alerts if a.category == "compliance" and a.status != "resolved"]
    if unreviewed:
        reasons.append(f"{len(unreviewed)} compliance alert(s) not yet reviewed")
    if rate is not None and rate < MIN_ON_TIME:
        reasons.append(
            f"{on_time} of {on_time + missed} check-ins on time in the last {window_days} days "
            f"({rate:.0%}; {MIN_ON_TIME:.0%} needed)"
        )
    eligible = not reasons
    technical = sum(1 for a in recent if a.category == "technical")
    if eligible:
        reasons.append(
            f"no confirmed violation and no unreviewed compliance alert in {window_days} days"
            + (f" ({technical} technical alert(s) do not count)" if technical else "")
        )
        if rate is not None:
            reasons.append(f"{on_time} of {on_time + missed} check-ins on time ({rate:.0%})")
        reasons.append(f"{days_at_level} days at the current level")
    if participant.level_until is not None and participant.level_until > now:
        review = participant.level_until
        reasons.append(f"escalation ends {review:%Y-%m-%d}; a review is due then")
    elif participant.level_review_due_at is not None and participant.level_review_due_at <= now:
        review = participant.level_review_due_at
        reasons.append(f"review overdue since {review:%Y-%m-%d} (the escalation ended)")
    elif eligible:
        review = now
    else:
        candidates = [level_since + window] + [a.at + window for a in confirmed]
        review = max(max(candidates), now)
    return StepDown(
        current=current,
        recommended=lower if eligible else current,
        eligible=eligible,
        window_days=window_days,
        reasons=reasons,
        review_date=review,
        history=history,
    )
