"""The position pipeline on a real database: filter → store → rules → alerts, and the clock tick."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from openatd.accounts import create_user
from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import Alarm, DeviceReport, ReportKind
from openatd.ingest.pipeline import PositionPipeline
from openatd.participants import service
from openatd.participants.zones import create_zone
from openatd.safeguards.auth import Role, TokenClaims
from openatd.settings import get_settings
from openatd.storage.db import Database

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
HOME = (41.8781, -87.6298)


def _setup(db: Database) -> int:
    with db.uow() as uow:
        user = create_user(uow, T0, "cm", "correct horse battery", "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, T0 + timedelta(hours=1))
        p = service.create_participant(
            uow,
            claims,
            T0,
            name="P",
            timezone="America/Chicago",
            supervision_level="gps",
            policy={"offline_after_s": 600, "zone_dwell_s": 60},
        )
        create_zone(
            uow,
            claims,
            T0,
            p.id,
            name="home",
            kind="inclusion",
            geometry=None,
            circle={"lat": HOME[0], "lon": HOME[1], "radius_m": 100},
            schedule=None,
        )
        service.create_device(
            uow, claims, T0, unique_id="imei-1", protocol="gt06", participant_id=p.id
        )
        return p.id


def _fix(seconds: int, lat: float = HOME[0], **kw: object) -> DeviceReport:
    t = T0 + timedelta(seconds=seconds)
    return DeviceReport(
        unique_id="imei-1",
        fix_time=t,
        received=t,
        latitude=lat,
        longitude=HOME[1],
        accuracy_m=10.0,
        **kw,  # type: ignore[arg-type]
    )


def _alerts(db: Database) -> list[tuple[str, str, datetime]]:
    with db.uow() as uow:
        return sorted((a.type, a.category, a.at) for a in uow.alerts.list())


def test_pipeline_rules_and_tick(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    pid = _setup(db)
    clock = SimulatedClock(T0)
    pipeline = PositionPipeline(db, get_settings(env="development"), clock)

    batch = [
        _fix(0, battery_pct=40.0),
        _fix(30, battery_pct=14.0),  # low battery: technical
        _fix(60, strap="open", alarms=frozenset({Alarm.STRAP_TAMPER})),  # tamper: compliance
        _fix(60),  # the same fix time again: stored once
        DeviceReport(
            unique_id="imei-1",
            kind=ReportKind.POSITION,
            fix_time=T0 + timedelta(seconds=70),
            received=T0 + timedelta(seconds=70),
            latitude=0.0,
            longitude=0.0,
        ),  # null island
        _fix(120, lat=HOME[0] + 0.01),  # 1.1 km out
        _fix(200, lat=HOME[0] + 0.01),
    ]
    clock.set(T0 + timedelta(seconds=200))
    result = pipeline.process([("imei-1", batch)])
    assert result.stored == 5
    assert result.dropped == 2  # duplicate and (0, 0)
    assert pipeline.metrics.dropped.labels("null_island")._value.get() == 1

    # Nothing for 10 minutes: the tick raises device_offline, dated by the last message.
    assert pipeline.tick(T0 + timedelta(seconds=200 + 599)).alerts == []
    assert len(pipeline.tick(T0 + timedelta(seconds=200 + 600)).alerts) == 1
    assert pipeline.tick(T0 + timedelta(seconds=200 + 1200)).alerts == []  # once per silence

    assert _alerts(db) == [
        ("device_offline", "technical", T0 + timedelta(seconds=200)),
        ("inclusion_zone_exit", "compliance", T0 + timedelta(seconds=120)),
        ("low_battery", "technical", T0 + timedelta(seconds=30)),
        ("strap_tamper", "compliance", T0 + timedelta(seconds=60)),
    ]
    with db.uow() as uow:
        for a in uow.alerts.list(participant_ids=[pid]):
            assert a.status == "open" and a.resolution is None
            assert "violation" not in a.explanation.lower()
            assert a.explanation
    with db.engine.connect() as c:
        alarms = c.execute(sa.text("SELECT count(*) FROM events WHERE type = 'device_alarm'"))
        assert alarms.scalar_one() == 1
        last_seen = c.execute(sa.text("SELECT last_seen_at FROM devices")).scalar_one()
        assert last_seen is not None
    db.dispose()


def test_zone_change_rebuilds_rules(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    pid = _setup(db)
    pipeline = PositionPipeline(db, get_settings(env="development"), SimulatedClock(T0))
    pipeline.process([("imei-1", [_fix(0)])])
    with db.uow() as uow:  # an exclusion zone appears where the participant is
        user = uow.users.by_username("cm")
        assert user is not None
        claims = TokenClaims(user.id, "cm", Role.CASE_MANAGER, T0 + timedelta(hours=1))
        create_zone(
            uow,
            claims,
            T0,
            pid,
            name="victim",
            kind="exclusion",
            geometry=None,
            circle={"lat": HOME[0], "lon": HOME[1], "radius_m": 300},
            schedule=None,
        )
    pipeline.invalidate(pid)
    result = pipeline.process([("imei-1", [_fix(60), _fix(120)])])
    assert [(a.type.value, a.zone) for _, a in result.alerts] == [
        ("exclusion_zone_entry", "victim")
    ]
    db.dispose()


def test_a_device_silent_after_a_rule_change_still_goes_offline(db_url: str) -> None:
    """A rule change drops the participant's engines; the clock rebuilds them from the
    saved state instead of skipping the device until its next message (which, for a
    device that has stopped, never comes)."""
    db = Database(db_url)
    db.migrate()
    pid = _setup(db)
    pipeline = PositionPipeline(db, get_settings(env="development"), SimulatedClock(T0))
    pipeline.process([("imei-1", [_fix(0), _fix(30)])])
    pipeline.invalidate(pid)  # e.g. the policy or a zone was edited
    assert pipeline.tick(T0 + timedelta(seconds=30 + 599)).alerts == []
    late = pipeline.tick(T0 + timedelta(seconds=30 + 600)).alerts
    assert [(a.type.value, a.at) for _, a in late] == [
        ("device_offline", T0 + timedelta(seconds=30))
    ]
    pipeline.invalidate(pid)
    assert pipeline.tick(T0 + timedelta(seconds=30 + 1200)).alerts == []  # once per silence
    db.dispose()


def test_storage_failure_opens_incident_and_suppresses_missing_data_alerts(db_url: str) -> None:
    """B29: a real storage failure is one incident; no offline alert is raised for its window."""
    db = Database(db_url)
    db.migrate()
    _setup(db)
    clock = SimulatedClock(T0)
    pipeline = PositionPipeline(db, get_settings(env="development"), clock)
    assert pipeline.process([("imei-1", [_fix(0)])]).stored == 1

    with db.engine.begin() as c:  # the positions table goes away: every insert fails
        c.execute(sa.text("ALTER TABLE positions RENAME TO positions_away"))
    clock.set(T0 + timedelta(seconds=60))
    for attempt in range(2):
        try:
            pipeline.process([("imei-1", [_fix(60)])])
        except Exception:
            pass
        else:
            raise AssertionError(f"attempt {attempt}: storing should have failed")
    with db.engine.begin() as c:
        c.execute(sa.text("ALTER TABLE positions_away RENAME TO positions"))
        rows = c.execute(sa.text("SELECT kind, ended_at FROM incidents")).all()
    assert [r[0] for r in rows] == ["monitoring_degraded"]  # one incident, not one per failure
    assert rows[0][1] is None

    # The device retries after the outage: its fix is stored, not dropped as a duplicate.
    clock.set(T0 + timedelta(seconds=900))
    assert pipeline.process([("imei-1", [_fix(60)])]).stored == 1
    with db.engine.connect() as c:
        ended = c.execute(sa.text("SELECT ended_at FROM incidents")).scalar_one()
    assert ended is not None

    # Silence measured from a message inside the incident window: suppressed, and recorded.
    assert pipeline.tick(T0 + timedelta(seconds=60 + 600)).alerts != []
    assert _alerts(db) == []
    with db.engine.connect() as c:
        suppressed = c.execute(
            sa.text("SELECT count(*) FROM events WHERE type = 'alert_suppressed'")
        ).scalar_one()
    assert suppressed == 1
    db.dispose()


def test_engines_are_built_at_start(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    _setup(db)
    pipeline = PositionPipeline(db, get_settings(), SimulatedClock(T0))
    assert pipeline.build_engines() == 1
    assert pipeline.build_engines() == 0  # already built
    # The engine built at start knows the home zone: an exit needs no further set-up.
    result = pipeline.process(
        [("imei-1", [_fix(0, lat=HOME[0] + 0.01), _fix(60, lat=HOME[0] + 0.01)])]
    )
    assert [(a.type.value, a.zone) for _, a in result.alerts] == [("inclusion_zone_exit", "home")]
    db.dispose()


@pytest.mark.parametrize("restart_before", [None, 2, 3])
def test_resent_messages_never_reenter_the_rules(db_url: str, restart_before: int | None) -> None:
    """Issue 14 item 8: a device re-sends an unacknowledged pair (strap closed at 22 %, strap
    open at 14 % with a removing alarm) after newer messages, then its login, then the pair
    again in one batch: one strap_tamper, one low_battery, one alarm event, however often,
    and also when the service restarted in between (the fingerprints are saved with the
    rule state)."""
    db = Database(db_url)
    db.migrate()
    _setup(db)
    clock = SimulatedClock(T0)
    pipeline = PositionPipeline(db, get_settings(env="development"), clock)

    def at(report: DeviceReport, received_s: int) -> DeviceReport:
        return dataclasses.replace(report, received=T0 + timedelta(seconds=received_s))

    closed = _fix(0, strap="closed", battery_pct=22.0)
    opened = _fix(60, strap="open", battery_pct=14.0, alarms=frozenset({Alarm.STRAP_TAMPER}))
    login = DeviceReport(
        unique_id="imei-1", kind=ReportKind.LOGIN, received=T0 + timedelta(seconds=400)
    )
    rounds = [
        [closed, opened],
        [_fix(120, strap="closed", battery_pct=60.0), _fix(180, strap="closed", battery_pct=60.0)],
        [at(closed, 300), at(opened, 301)],  # re-sent after newer messages
        [login, at(closed, 400), at(opened, 400)],  # re-sent after a reconnection
    ]
    for i, batch in enumerate(rounds):
        clock.set(max(r.received for r in batch if r.received is not None))
        if restart_before == i:  # a restart: only the saved rule state remembers the pair
            pipeline = PositionPipeline(db, get_settings(env="development"), clock)
            pipeline.build_engines()
        pipeline.process([("imei-1", batch)])

    types = [t for t, _, _ in _alerts(db)]
    assert types.count("strap_tamper") == 1 and types.count("low_battery") == 1
    with db.engine.connect() as c:
        alarms = c.execute(sa.text("SELECT count(*) FROM events WHERE type = 'device_alarm'"))
        assert alarms.scalar_one() == 1
        positions = c.execute(sa.text("SELECT count(*) FROM positions")).scalar_one()
        assert positions == 4
    db.dispose()


OUT = HOME[0] + 0.01  # ~1.1 km north: outside the 100 m home circle


def test_restart_forgets_nothing(db_url: str) -> None:
    """Rule state is saved with each batch and restored at start (issue 11): a dwell run in
    progress and the battery hysteresis survive a restart; an uninterrupted run gives the same
    alerts."""

    def run(restart_at: int | None) -> list[tuple[str, str, datetime]]:
        db = Database(db_url)
        db.migrate()
        with db.uow() as uow:
            uow.session.execute(sa.text("DELETE FROM alerts"))
            uow.session.execute(sa.text("DELETE FROM rule_states"))
            uow.session.execute(sa.text("DELETE FROM positions"))
        settings = get_settings(env="development")
        pipeline = PositionPipeline(db, settings, SimulatedClock(T0))
        pipeline.build_engines()
        fixes = [
            _fix(0, battery_pct=14.0),  # low battery alert; disarmed until above 15 + margin
            _fix(20, lat=OUT),  # run outside home starts (dwell 60 s)
            _fix(40, lat=OUT),
            _fix(60, lat=OUT, battery_pct=13.0),  # still low: no second battery alert
            _fix(90, lat=OUT),  # 70 s outside: the exit alert
        ]
        for i, f in enumerate(fixes):
            if i == restart_at:
                pipeline = PositionPipeline(db, settings, SimulatedClock(T0))  # a restart
                pipeline.build_engines()
            pipeline.process([("imei-1", [f])])
        got = _alerts(db)
        db.dispose()
        return got

    db = Database(db_url)
    db.migrate()
    _setup(db)
    db.dispose()
    straight = run(None)
    assert [a[0] for a in straight] == ["inclusion_zone_exit", "low_battery"]
    assert run(3) == straight  # restarted with the run 20 s old and the battery disarmed
    assert run(1) == straight


def test_a_fix_resent_beyond_the_filters_memory_is_stored_once_and_raises_nothing(
    db_url: str,
) -> None:
    """DUPLICATE_MEMORY bounds what the filter remembers; a fix re-sent from further back
    (its ACK lost long ago, with other fields changed so that it is not a re-sent message) is
    refused by the database's unique constraint, is not evaluated for zones again, and raises
    no alert, on SQLite (ON CONFLICT) and on PostgreSQL (COPY, then its fallback)."""
    from openatd.rules.filter import DUPLICATE_MEMORY

    db = Database(db_url)
    db.migrate()
    _setup(db)
    clock = SimulatedClock(T0)
    pipeline = PositionPipeline(db, get_settings(env="development"), clock)
    n = DUPLICATE_MEMORY + 40
    # The first fix is outside home (~170 m north of the centre) for a moment, shorter than
    # the dwell: re-sent later, it must not start a run of its own.
    fixes = [_fix(0, lat=HOME[0] + 0.0015)] + [_fix(10 * k) for k in range(1, n)]
    for k in range(0, n, 100):
        batch = fixes[k : k + 100]
        clock.set(max(r.received for r in batch if r.received is not None))
        pipeline.process([("imei-1", batch)])
    before = _alerts(db)
    resent = dataclasses.replace(
        fixes[0], received=T0 + timedelta(seconds=10 * n), satellites=7, battery_pct=80.0
    )
    clock.set(T0 + timedelta(seconds=10 * n))
    result = pipeline.process([("imei-1", [resent, _fix(10 * n)])])
    assert result.stored == 1  # the new fix only
    assert result.alerts == []
    assert _alerts(db) == before
    with db.engine.connect() as c:
        stored = c.execute(sa.text("SELECT count(*) FROM positions")).scalar_one()
    assert stored == n + 1
    db.dispose()
