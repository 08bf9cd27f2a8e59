"""Step-down recommendation (DESIGN principle 1: least surveillance).

Compliance history drives a recommendation to a less intrusive supervision
level: GPS → app → phone → reminders only. It is a recommendation for a
person to act on, never an automatic change.

Rule (documented here, tested in ``tests/integration/test_stepdown.py``): a
participant enrolled for at least ``window_days`` (default 60) is *eligible*
for the next lower level when, over the last ``window_days``:

- no alert was resolved ``violation_confirmed``;
- no compliance alert is still open or acknowledged (unreviewed);

Technical alerts (battery, signal, app or server faults) never count against
the participant. The answer lists every reason in plain words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from openatd.participants.service import SUPERVISION_LEVELS
from openatd.storage import tables as t

DEFAULT_WINDOW_DAYS = 60


@dataclass(frozen=True, slots=True)
class StepDown:
    """A recommendation: the current and the recommended level, and why."""

    current: str
    recommended: str
    eligible: bool
    window_days: int
    reasons: list[str] = field(default_factory=list)


def recommend(
    participant: t.Participant,
    alerts: Sequence[t.Alert],
    now: datetime,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> StepDown:
    """The step-down recommendation for *participant* given their *alerts* (any period)."""
    levels = list(SUPERVISION_LEVELS)
    current = participant.supervision_level
    idx = levels.index(current) if current in levels else len(levels) - 1
    lower = levels[min(idx + 1, len(levels) - 1)]
    since = now - timedelta(days=window_days)
    recent = [a for a in alerts if a.at >= since]
    reasons: list[str] = []
    if idx == len(levels) - 1:
        reasons.append("already at the least intrusive level (reminders only)")
    if participant.created_at > since:
        days = (now - participant.created_at).days
        reasons.append(f"enrolled {days} days ago; the review needs {window_days} days of history")
    confirmed = [a for a in recent if a.resolution == "violation_confirmed"]
    if confirmed:
        reasons.append(f"{len(confirmed)} violation(s) confirmed in the last {window_days} days")
    unreviewed = [a for a in recent if a.category == "compliance" and a.status != "resolved"]
    if unreviewed:
        reasons.append(f"{len(unreviewed)} compliance alert(s) not yet reviewed")
    eligible = not reasons
    if eligible:
        technical = sum(1 for a in recent if a.category == "technical")
        reasons.append(
            f"no confirmed violation and no unreviewed compliance alert in {window_days} days"
            + (f" ({technical} technical alert(s) do not count)" if technical else "")
        )
    return StepDown(
        current=current,
        recommended=lower if eligible else current,
        eligible=eligible,
        window_days=window_days,
        reasons=reasons,
    )
