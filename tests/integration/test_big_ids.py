"""B29: record ids do not run out at 2^31, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import DeviceReport
from openatd.ingest.pipeline import PositionPipeline
from openatd.settings import get_settings
from openatd.storage import tables as t
from openatd.storage.capacity import INT64_MAX, id_capacity
from openatd.storage.db import Database

GROWING = ("positions", "events", "alerts", "audit_entries", "checkins")


def test_positions_pass_2_pow_31(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    t0 = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    with db.engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO devices (id, unique_id, protocol, created_at) "
                "VALUES (1, '861001000719969', 'gt06', :t)"
            ),
            {"t": t0 if db.dialect == "postgresql" else t0.replace(tzinfo=None)},
        )
        c.execute(
            sa.text(
                "INSERT INTO positions (id, device_id, fix_time, server_time, latitude, longitude,"
                " valid, in_review) VALUES (2147483646, 1, :t, :t, 41.0, -87.0, true, false)"
            ),
            {
                "t": t0 - timedelta(hours=1)
                if db.dialect == "postgresql"
                else t0.replace(tzinfo=None)
            },
        )
        if db.dialect == "postgresql":
            c.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('positions', 'id'), 2147483646)")
            )

    # Positions are collected only for a participant at the gps level (least surveillance).
    with db.uow() as uow:
        p = t.Participant(name="P", timezone="UTC", supervision_level="gps", created_at=t0)
        uow.session.add(p)
        uow.session.flush()
        uow.session.execute(
            sa.text("UPDATE devices SET participant_id = :p WHERE id = 1"), {"p": p.id}
        )

    clock = SimulatedClock(t0 + timedelta(seconds=30))
    pipeline = PositionPipeline(db, get_settings(env="development"), clock)
    reports = [
        DeviceReport(
            unique_id="861001000719969",
            fix_time=t0 + timedelta(seconds=10 * i),
            received=t0 + timedelta(seconds=10 * i + 1),
            latitude=41.0 + 0.0001 * i,
            longitude=-87.0,
            accuracy_m=5.0,
        )
        for i in range(3)
    ]
    result = pipeline.process([("861001000719969", reports)])
    assert result.stored == 3
    assert result.dropped == 0

    with db.engine.connect() as c:
        rows = c.execute(
            sa.text("SELECT id FROM positions WHERE id > 2147483646 ORDER BY fix_time")
        )
        assert [r[0] for r in rows] == [2147483647, 2147483648, 2147483649]
    with db.uow() as uow:
        got = uow.positions.get(2147483649)
        assert got.fix_time == t0 + timedelta(seconds=20)

    # Every traffic table has a 64-bit key; none is near its limit.
    caps = {c.table: c for c in id_capacity(db)}
    for table in GROWING:
        assert caps[table].limit == INT64_MAX, table
        assert not caps[table].warning
    assert caps["positions"].max_id == 2147483649
    if db.dialect == "postgresql":
        with db.engine.connect() as c:
            types = dict(
                c.execute(
                    sa.text(
                        "SELECT table_name, data_type FROM information_schema.columns "
                        "WHERE column_name = 'id' AND table_schema = current_schema()"
                    )
                ).all()
            )
        for table in GROWING:
            assert types[table] == "bigint", table
    db.dispose()
