"""Retention is enforced by the system (principle 4): old raw positions go, reviewed ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import DeviceReport
from openatd.ingest.pipeline import PositionPipeline
from openatd.safeguards import audit
from openatd.safeguards.retention import purge
from openatd.settings import get_settings
from openatd.storage.db import Database
from openatd.storage.tables import Position


def test_purge_keeps_recent_and_reviewed_positions(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with db.uow() as uow:  # positions are collected only for a participant at the GPS level
        p = uow.participants.add(
            name="R", timezone="UTC", supervision_level="gps", policy={}, active=True,
            created_at=now - timedelta(days=200),
        )  # fmt: skip
        uow.devices.add(unique_id="dev-r", protocol="osmand", participant_id=p.id, created_at=now)
    pipeline = PositionPipeline(db, get_settings(env="development"), SimulatedClock(now))
    # Fixes received 100, 95, 89 and 1 days ago (the filter accepts them: they are not misdated).
    ages = [100, 95, 89, 1]
    for days in ages:
        t = now - timedelta(days=days)
        report = DeviceReport(
            unique_id="dev-r", fix_time=t, received=t, latitude=45.0, longitude=14.0 + days * 1e-4
        )
        assert pipeline.process([("dev-r", [report])]).stored == 1
    with db.engine.begin() as c:  # the rules' alerts on the gaps are decided (no evidence hold)
        c.execute(sa.text("UPDATE alerts SET status = 'resolved', resolved_at = raised_at"))
    with db.engine.begin() as c:  # the 95-day-old fix is attached to an open review
        c.execute(
            sa.update(Position)
            .where(Position.fix_time == now - timedelta(days=95))
            .values(in_review=True)
        )

    with db.uow() as uow:
        report = purge(uow, now, position_retention_days=90)
    assert report.positions == 1, report.kinds[0]
    assert report.cutoff == now - timedelta(days=90)
    with db.engine.connect() as c:
        left = c.execute(sa.text("SELECT count(*) FROM positions")).scalar_one()
        assert left == 3
        entries = c.execute(
            sa.text(
                "SELECT actor, subject_type FROM audit_entries WHERE action = 'retention:purge'"
            )
        ).all()
        assert {a for a, _ in entries} == {"system:retention"}
        assert "positions" in {k for _, k in entries}
    with db.uow() as uow:
        count, broken = audit.verify(uow)
        assert broken is None and count == len(entries)
    db.dispose()
