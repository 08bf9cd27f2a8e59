"""The pipeline's position row path (tuples to executemany / COPY): stored as the ORM stores,
duplicates skipped and counted exactly, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from openatd.storage.db import Database
from openatd.storage.position_rows import PositionRow, attributes_json
from openatd.storage.tables import Position

T0 = datetime(2026, 3, 8, 12, 0, 0, tzinfo=UTC)  # microsecond 0: still stored with ".000000"


def _dict(i: int, device_id: int) -> dict[str, object]:
    return {
        "device_id": device_id, "participant_id": None, "fix_time": T0 + timedelta(seconds=i),
        "server_time": T0 + timedelta(seconds=i, milliseconds=5), "latitude": 41.8781 + i * 1e-5,
        "longitude": -87.6298, "valid": i % 2 == 0, "accuracy_m": 7.5, "speed_mps": 1.25,
        "course_deg": None, "altitude_m": 180.0, "battery_pct": 80.0,
        "attributes": {"hdop": 0.9, "cell": {"mcc": 310}, "n": i}, "in_review": False,
    }  # fmt: skip


def _tuple(i: int, device_id: int) -> PositionRow:
    d = _dict(i, device_id)
    attrs = d["attributes"]
    assert isinstance(attrs, dict)
    return (
        device_id, None, T0 + timedelta(seconds=i), T0 + timedelta(seconds=i, milliseconds=5),
        41.8781 + i * 1e-5, -87.6298, i % 2 == 0, 7.5, 1.25, None, 180.0, 80.0,
        attributes_json(attrs), False,
    )  # fmt: skip


def _stored(db: Database, device_id: int) -> list[tuple[object, ...]]:
    with db.uow() as uow:
        rows = uow.session.scalars(
            sa.select(Position).where(Position.device_id == device_id).order_by(Position.fix_time)
        ).all()
        return [
            (
                p.fix_time,
                p.server_time,
                p.latitude,
                p.longitude,
                p.valid,
                p.accuracy_m,
                p.speed_mps,
                p.course_deg,
                p.altitude_m,
                p.battery_pct,
                p.attributes,
                p.in_review,
            )
            for p in rows
        ]


def _db(db_url: str) -> tuple[Database, int, int]:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        a = uow.devices.add(unique_id="a", protocol="gt06", participant_id=None, created_at=T0)
        b = uow.devices.add(unique_id="b", protocol="gt06", participant_id=None, created_at=T0)
        ids = a.id, b.id
    return db, *ids


def test_rows_read_back_exactly_as_orm_rows(db_url: str) -> None:
    db, a, b = _db(db_url)
    with db.uow() as uow:
        assert uow.positions.insert_many([_dict(i, a) for i in range(5)]) == 5
        assert uow.positions.insert_rows([_tuple(i, b) for i in range(5)]) == 5
    orm, fast = _stored(db, a), _stored(db, b)
    assert fast == orm
    assert fast[0][0] == T0 and fast[0][0].tzinfo is not None
    assert fast[3][10] == {"hdop": 0.9, "cell": {"mcc": 310}, "n": 3}
    assert [r[4] for r in fast] == [True, False, True, False, True]
    with db.uow() as uow:  # same text in the column as the ORM's (SQLite compares strings)
        col = uow.session.execute(
            sa.text("SELECT fix_time FROM positions WHERE device_id = :d ORDER BY fix_time"),
            {"d": b},
        ).all()
        again = uow.session.execute(
            sa.text("SELECT count(*) FROM positions WHERE fix_time = :t"), {"t": col[0][0]}
        ).scalar()
    assert again == 2  # the ORM's row and ours, at the same instant
    db.dispose()


def test_duplicates_are_skipped_and_counted(db_url: str) -> None:
    db, a, _ = _db(db_url)
    with db.uow() as uow:
        assert uow.positions.insert_rows([_tuple(i, a) for i in range(3)]) == 3
    # A restart forgot the filter's memory: fixes 1 and 2 come again with a new one.
    # (On PostgreSQL, COPY refuses them; the savepoint fallback stores only fix 3.)
    with db.uow() as uow:
        assert uow.positions.insert_rows([_tuple(i, a) for i in (1, 2, 3)]) == 1
        assert uow.positions.insert_rows([_tuple(4, a)]) == 1  # same transaction goes on
    with db.uow() as uow:  # a duplicate inside one batch too
        assert uow.positions.insert_rows([_tuple(5, a), _tuple(5, a), _tuple(0, a)]) == 1
    assert [r[0] for r in _stored(db, a)] == [T0 + timedelta(seconds=i) for i in range(6)]
    db.dispose()


def test_offsets_normalised_and_naive_refused(db_url: str) -> None:
    db, a, _ = _db(db_url)
    row = list(_tuple(0, a))
    row[2] = T0.astimezone(timezone(timedelta(hours=-5)))
    with db.uow() as uow:
        assert uow.positions.insert_rows([tuple(row)]) == 1  # type: ignore[list-item]
    assert _stored(db, a)[0][0] == T0
    row[2] = (T0 + timedelta(seconds=9)).replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"), db.uow() as uow:
        uow.positions.insert_rows([tuple(row)])  # type: ignore[list-item]
    assert len(_stored(db, a)) == 1
    db.dispose()


def test_attributes_json() -> None:
    assert attributes_json(None) is None
    assert attributes_json({}) is None
    assert attributes_json({"a": 1, "b": [1.5, "x"]}) == '{"a":1,"b":[1.5,"x"]}'
    assert attributes_json({"big": 2**70}) == '{"big":1180591620717411303424}'
    with pytest.raises(TypeError):
        attributes_json({"x": object()})
