"""Positions partitioned by month on PostgreSQL (issue 11 item 6): partitions made ahead by the
service, a new month rolling over (rows waiting in the default partition moved into it),
retention dropping whole partitions only when every row in them would go anyway, and the
migration carrying existing rows across. On SQLite positions stay one table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from openatd.domain.clock import SimulatedClock
from openatd.safeguards.retention import purge
from openatd.storage.db import Database, alembic_config
from openatd.storage.partitions import (
    DEFAULT_PARTITION,
    PartitionKeeper,
    ensure_position_partitions,
    month_start,
    partition_for,
    position_partitions,
)

NOW = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)


def _db(db_url: str) -> tuple[Database, int]:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        device = uow.devices.add(
            unique_id="a", protocol="gt06", participant_id=None, created_at=NOW
        )
        return db, device.id


def _row(device_id: int, fix: datetime, received: datetime | None = None) -> dict[str, object]:
    return {
        "device_id": device_id, "participant_id": None, "fix_time": fix,
        "server_time": received or fix + timedelta(seconds=2), "latitude": 41.8781,
        "longitude": -87.6298, "valid": True, "accuracy_m": 7.5, "speed_mps": None,
        "course_deg": None, "altitude_m": None, "battery_pct": 80.0, "attributes": None,
        "in_review": False,
    }  # fmt: skip


def _where(db: Database, fix: datetime) -> str:
    """The table (partition) that holds the fix at *fix*."""
    with db.engine.connect() as c:
        name = c.execute(
            sa.text("SELECT tableoid::regclass::text FROM positions WHERE fix_time = :t"),
            {"t": fix},
        ).scalar_one()
    return str(name).rsplit(".", 1)[-1]


def _names(db: Database) -> list[str]:
    with db.engine.connect() as c:
        return [p.name for p in position_partitions(c)]


def test_month_arithmetic() -> None:
    assert month_start(NOW, -1) == datetime(2026, 11, 1, tzinfo=UTC)
    assert month_start(NOW, 1) == datetime(2027, 1, 1, tzinfo=UTC)
    assert month_start(datetime(2027, 1, 31, 23, 59, tzinfo=UTC), -13) == datetime(
        2025, 12, 1, tzinfo=UTC
    )
    part = partition_for(datetime(2028, 2, 29, 12, tzinfo=UTC))
    assert (part.name, part.start, part.end) == (
        "positions_y2028m02",
        datetime(2028, 2, 1, tzinfo=UTC),
        datetime(2028, 3, 1, tzinfo=UTC),
    )


def test_sqlite_positions_stay_one_table(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the SQLite side of the partitioning")
    db, _ = _db(db_url)
    with db.engine.begin() as c:
        assert ensure_position_partitions(c, NOW) == []
        assert position_partitions(c) == []
    assert PartitionKeeper(db.engine, SimulatedClock(NOW)).run_once() == []
    db.dispose()


def _postgres(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("positions are partitioned on PostgreSQL only")


def test_partitions_roll_over_and_rows_waiting_in_the_default_move(db_url: str) -> None:
    _postgres(db_url)
    db, device = _db(db_url)
    today = datetime.now(UTC)
    made = _names(db)  # the migration made last month to two months ahead of today
    for shift in (-1, 0, 1, 2):
        assert partition_for(month_start(today, shift)).name in made
    far = month_start(today, 7) + timedelta(days=3, hours=5)  # beyond every partition
    old = datetime(2019, 6, 1, 3, tzinfo=UTC)
    with db.uow() as uow:
        assert uow.positions.insert_many([_row(device, far), _row(device, old)]) == 2
    assert _where(db, far) == DEFAULT_PARTITION and _where(db, old) == DEFAULT_PARTITION
    # The service's hourly pass, five months on: months 4..7 are created; the row waiting in
    # the default partition for month 7 is moved into it, the 2019 row stays where it is.
    keeper = PartitionKeeper(db.engine, SimulatedClock(month_start(today, 5)))
    created = keeper.run_once()
    assert created == [partition_for(month_start(today, s)).name for s in (4, 5, 6, 7)]
    assert _where(db, far) == partition_for(far).name
    assert _where(db, old) == DEFAULT_PARTITION
    assert keeper.run_once() == []  # idempotent
    with db.uow() as uow:  # a re-sent fix is still stored once, in its partition
        assert uow.positions.insert_rows([_tuple(device, far)]) == 0
        assert uow.positions.insert_rows([_tuple(device, far + timedelta(seconds=1))]) == 1
        count = uow.session.execute(sa.text("SELECT count(*) FROM positions")).scalar_one()
    assert count == 3
    db.dispose()


def _tuple(device: int, fix: datetime) -> tuple[object, ...]:
    return (
        device, None, fix, fix + timedelta(seconds=2), 41.8781, -87.6298, True, 7.5, None,
        None, None, 80.0, None, False,
    )  # fmt: skip


def test_retention_drops_whole_partitions_only_when_nothing_in_them_is_kept(
    db_url: str,
) -> None:
    _postgres(db_url)
    db, device = _db(db_url)
    may, june = datetime(2026, 5, 10, tzinfo=UTC), datetime(2026, 6, 10, tzinfo=UTC)
    with db.engine.begin() as c:  # a service that ran since the spring
        ensure_position_partitions(c, datetime(2026, 6, 1, tzinfo=UTC), ahead=0, behind=1)
    rows = [_row(device, may + timedelta(hours=h)) for h in range(5)]
    rows += [_row(device, june + timedelta(hours=h)) for h in range(4)]
    # a June fix the device buffered and sent in October: received inside the period
    late = june + timedelta(hours=10)
    rows.append(_row(device, late, received=datetime(2026, 10, 1, tzinfo=UTC)))
    with db.uow() as uow:
        uow.positions.insert_many(rows)
    assert {"positions_y2026m05", "positions_y2026m06"} <= set(_names(db))
    with db.uow() as uow:
        report = purge(uow, NOW, position_retention_days=90)
    assert report.positions == 9  # 5 in May (the partition dropped) + 4 in June (row by row)
    names = _names(db)
    assert "positions_y2026m05" not in names  # every row expired: dropped whole
    assert "positions_y2026m06" in names  # the late fix is kept, so the partition stays
    with db.engine.connect() as c:
        left = c.execute(sa.text("SELECT fix_time FROM positions")).scalars().all()
    assert left == [late]
    db.dispose()


def test_the_migration_carries_existing_rows_ids_and_sequence_across(db_url: str) -> None:
    _postgres(db_url)
    db, device = _db(db_url)
    fixes = [datetime(2025, 1, 15, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)]
    config = alembic_config(db.engine)
    command.downgrade(config, "0005")  # positions as one table, as before this change
    with db.engine.connect() as c:
        kind = c.execute(sa.text("SELECT relkind FROM pg_class WHERE oid = 'positions'::regclass"))
        assert kind.scalar_one() == "r"
    with db.uow() as uow:
        uow.positions.insert_many([_row(device, f) for f in fixes])
        before = uow.session.execute(sa.text("SELECT id, fix_time FROM positions ORDER BY id"))
        before_rows = before.all()
    command.upgrade(config, "head")
    with db.engine.connect() as c:
        after = c.execute(sa.text("SELECT id, fix_time FROM positions ORDER BY id")).all()
    assert after == before_rows
    assert _where(db, fixes[0]) == "positions_y2025m01"
    assert _where(db, fixes[1]) == "positions_y2026m03"
    with db.uow() as uow:
        uow.positions.insert_many([_row(device, NOW)])
        newest = uow.session.execute(sa.text("SELECT max(id) FROM positions")).scalar_one()
    assert newest > max(r[0] for r in before_rows)
    db.dispose()
