"""Downtime becomes an incident; the migrations build exactly the tables the code declares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from openatd.safeguards.downtime import SERVER_DOWN, heartbeat, record_start
from openatd.storage.db import Database
from openatd.storage.partitions import include_name
from openatd.storage.tables import Base

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)


def test_restart_after_outage_records_incident(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        assert record_start(uow, T0) is None  # first start ever: nothing to record
        heartbeat(uow, T0 + timedelta(seconds=30))
    with db.uow() as uow:  # a quick restart is not an outage
        assert record_start(uow, T0 + timedelta(seconds=90)) is None
    with db.uow() as uow:  # two hours of silence are
        incident = record_start(uow, T0 + timedelta(hours=2, seconds=90))
        assert incident is not None
        assert incident.kind == SERVER_DOWN
        assert incident.started_at == T0 + timedelta(seconds=90)
        assert incident.ended_at == T0 + timedelta(hours=2, seconds=90)
    with db.uow() as uow:
        hits = uow.incidents.overlapping(T0 + timedelta(hours=1), T0 + timedelta(hours=1))
        assert [i.kind for i in hits] == [SERVER_DOWN]
    db.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    db.dispose()
