"""Oversight statistics: aggregate counts only (``openatd.safeguards.stats``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from openatd.api.access import NO_PERSONAL_DATA
from openatd.api.deps import CurrentUser, NowDep, UowDep
from openatd.safeguards import stats

router = APIRouter(prefix="/api/stats", tags=["oversight"])


@router.get("", openapi_extra=NO_PERSONAL_DATA)
def get_stats(uow: UowDep, user: CurrentUser, now: NowDep) -> dict[str, Any]:
    """Participants by level, alerts by category and resolution, share resolved technical,
    check-in outcomes, confirmed violations, median time to decision; no personal data."""
    return stats.for_user(uow, user, now)
