"""Step-down recommendations from compliance history (principle 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openatd.participants.stepdown import recommend
from openatd.storage.db import Database

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _alert(
    uow: object, pid: int, days_ago: int, category: str, status: str, resolution: str | None
):  # type: ignore[no-untyped-def]
    at = NOW - timedelta(days=days_ago)
    return uow.alerts.add(  # type: ignore[attr-defined]
        participant_id=pid,
        device_id=None,
        type="x",
        category=category,
        at=at,
        raised_at=at,
        explanation="e",
        details=None,
        status=status,
        resolution=resolution,
    )


def test_recommendation_follows_history(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        p = uow.participants.add(
            name="P",
            timezone="UTC",
            supervision_level="gps",
            policy={},
            active=True,
            created_at=NOW - timedelta(days=120),
        )
        young = uow.participants.add(
            name="Q",
            timezone="UTC",
            supervision_level="app",
            policy={},
            active=True,
            created_at=NOW - timedelta(days=10),
        )
        _alert(uow, p.id, 5, "technical", "open", None)  # battery: does not count
        _alert(uow, p.id, 20, "compliance", "resolved", "no_violation")
        _alert(uow, p.id, 90, "compliance", "resolved", "violation_confirmed")  # outside window
        rec = recommend(p, uow.alerts.list(participant_ids=[p.id]), NOW)
        assert (rec.current, rec.recommended, rec.eligible) == ("gps", "app", True)
        assert "1 technical alert(s) do not count" in rec.reasons[0]

        _alert(uow, p.id, 3, "compliance", "acknowledged", None)
        _alert(uow, p.id, 30, "compliance", "resolved", "violation_confirmed")
        rec = recommend(p, uow.alerts.list(participant_ids=[p.id]), NOW)
        assert (rec.recommended, rec.eligible) == ("gps", False)
        assert rec.reasons == [
            "1 violation(s) confirmed in the last 60 days",
            "1 compliance alert(s) not yet reviewed",
        ]
        # Whole history: 5 alerts, 1 technical, 2 confirmed; review once the latest
        # confirmed violation is 60 days old.
        assert rec.history["alerts"] == 5 and rec.history["technical_alerts"] == 1
        assert rec.history["confirmed_violations"] == 2
        assert rec.review_date == NOW - timedelta(days=30) + timedelta(days=60)

        rec = recommend(young, [], NOW)
        assert not rec.eligible and rec.recommended == "app"
        assert rec.reasons == ["at this level for 10 days; the review needs 60 days"]
        assert rec.review_date == NOW + timedelta(days=50)
    db.dispose()
