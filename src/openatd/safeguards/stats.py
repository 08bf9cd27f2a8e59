"""Oversight statistics: aggregate counts only, no personal data (issue 8 item 5).

Every figure is a count or a share over all records, reconcilable with them (a test
recounts each from the rows): participants by supervision level (open cases), alerts by
category and by resolution, the share of resolved alerts judged technical, check-in
outcomes, confirmed violations, and the median time from an alert being raised to its
decision (seconds). No id, name, place or time of any one person is in the answer.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from openatd.safeguards.access import require_role
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage.repositories import UnitOfWork


def compute(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
    """The aggregates as JSON-ready data (see the module docstring)."""
    by_category: Counter[str] = Counter()
    by_resolution: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for category, status, resolution, n in uow.stats.alerts_by():
        by_category[category] += n
        by_status[status] += n
        if resolution is not None:
            by_resolution[resolution] += n
    resolved = sum(by_resolution.values())
    times = [(b - a).total_seconds() for a, b in uow.stats.decision_times()]
    return {
        "generated_at": now.isoformat(),
        "participants_by_level": dict(sorted(uow.stats.participants_by_level().items())),
        "alerts_by_category": dict(sorted(by_category.items())),
        "alerts_by_status": dict(sorted(by_status.items())),
        "alerts_by_resolution": dict(sorted(by_resolution.items())),
        "share_resolved_technical": round(by_resolution["technical"] / resolved, 4)
        if resolved
        else None,
        "checkin_outcomes": dict(sorted(uow.stats.checkin_outcomes().items())),
        "confirmed_violations": by_resolution["violation_confirmed"],
        "median_time_to_decision_s": statistics.median(times) if times else None,
    }


def for_user(uow: UnitOfWork, user: TokenClaims, now: datetime) -> dict[str, Any]:
    """:func:`compute` for a supervisor, auditor or administrator (no personal data is read,
    so nothing is audited). Raises PermissionDenied for other roles."""
    require_role(user, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
    return compute(uow, now)
