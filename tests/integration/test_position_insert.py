"""Bulk position insert: stored exactly as through the ORM, duplicates skipped and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from openatd.storage.db import Database
from openatd.storage.tables import Position

T0 = datetime(2026, 3, 8, 12, 0, 0, 123456, tzinfo=UTC)


def _row(i: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "device_id": 1, "participant_id": None, "fix_time": T0 + timedelta(seconds=i),
        "server_time": T0 + timedelta(seconds=i, milliseconds=5), "latitude": 41.8781,
        "longitude": -87.6298, "valid": True, "accuracy_m": 7.5, "speed_mps": 1.25,
        "course_deg": None, "altitude_m": 180.0, "battery_pct": 80.0,
        "attributes": {"hdop": 0.9, "cell": {"mcc": 310}}, "in_review": False,
    }  # fmt: skip
    row.update(kw)
    return row


def test_insert_many_round_trip(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        uow.devices.add(unique_id="d", protocol="gt06", participant_id=None, created_at=T0)
    other_zone = timezone(timedelta(hours=-5))
    rows = [_row(0), _row(1, fix_time=(T0 + timedelta(seconds=1)).astimezone(other_zone)), _row(2)]
    rows[2]["attributes"] = None
    with db.uow() as uow:
        assert uow.positions.insert_many(rows) == 3
    with db.uow() as uow:  # the same fix times again (one new): only the new one is stored
        assert uow.positions.insert_many([_row(1), _row(2), _row(3)]) == 1
    with db.uow() as uow:
        stored = uow.session.scalars(sa.select(Position).order_by(Position.id)).all()
        assert [p.fix_time for p in stored] == [T0 + timedelta(seconds=i) for i in range(4)]
        first = stored[0]
        assert first.fix_time.tzinfo is not None and first.fix_time == T0
        assert first.server_time == T0 + timedelta(milliseconds=5)
        assert (first.valid, first.accuracy_m, first.speed_mps, first.course_deg) == (
            True, 7.5, 1.25, None,
        )  # fmt: skip
        assert first.attributes == {"hdop": 0.9, "cell": {"mcc": 310}}
        assert stored[2].attributes is None
        assert stored[1].fix_time == T0 + timedelta(seconds=1)  # offset normalised to UTC
    db.dispose()
