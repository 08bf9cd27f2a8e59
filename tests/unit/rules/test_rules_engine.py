"""The per-device engine: outcomes, ordering, exact deadlines, tamper/battery state, alert text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from openatd.domain.messages import Alarm, DeviceReport, ReportKind
from openatd.domain.zones import parse_zone
from openatd.errors import InvalidInput
from openatd.rules.alerts import AlertType, RaisedAlert
from openatd.rules.engine import (
    SEEN_MESSAGES,
    DeviceRulesEngine,
    message_fingerprint,
    processing_order,
)
from openatd.rules.policy import Policy
from openatd.rules.state import restore, snapshot, snapshot_json

T0 = datetime(2024, 5, 15, 2, 10, tzinfo=UTC)  # 21:10 CDT on Tue 2024-05-14
HOME = parse_zone(
    {
        "id": "home",
        "kind": "inclusion",
        "circle": {"lat": 41.8781, "lon": -87.6298, "radius_m": 100},
    }
)
INSIDE = (41.87812, -87.62978)
OUTSIDE = (41.8805, -87.6298)  # 266.6 m from the centre: 166.6 m beyond the edge


def fix(t: datetime, where: tuple[float, float], *, received: datetime | None = None,
        accuracy_m: float = 10, **kw: object) -> DeviceReport:  # fmt: skip
    return DeviceReport(
        fix_time=t, received=received or t, latitude=where[0], longitude=where[1],
        accuracy_m=accuracy_m, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def heartbeat(t: datetime, **kw: object) -> DeviceReport:
    return DeviceReport(kind=ReportKind.HEARTBEAT, fix_time=t, received=t, **kw)  # type: ignore[arg-type]


def engine(**policy: float) -> DeviceRulesEngine:
    return DeviceRulesEngine([HOME], Policy(**policy), "America/Chicago")


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_dwell_alert_is_dated_by_the_first_fix_and_known_at_the_dwell() -> None:
    e = engine()
    assert e.on_report(fix(T0, OUTSIDE)).alerts == []
    assert e.on_report(fix(T0 + m(1), OUTSIDE)).alerts == []
    out = e.on_report(fix(T0 + m(2), OUTSIDE))
    assert [a.type for a in out.alerts] == [AlertType.INCLUSION_ZONE_EXIT]
    alert = out.alerts[0]
    assert alert.at == T0
    assert alert.zone == "home"
    assert alert.category.value == "compliance"
    assert alert.explanation == (
        "3 positions between 21:10 and 21:12 CDT on Tue 2024-05-14 were outside the home zone, "
        "167 m beyond its edge; accuracy 10 m."
    )
    assert alert.details["fix_count"] == 3
    assert alert.details["max_distance_m"] == pytest.approx(166.6, abs=0.1)
    json.dumps(alert.to_json())
    # one alert per run
    assert e.on_report(fix(T0 + m(3), OUTSIDE)).alerts == []


def test_outcome_fields() -> None:
    e = engine()
    first = e.on_report(fix(T0, INSIDE))
    assert (first.position_accepted, first.drop_reason, first.evaluated_for_zones) == (
        True,
        None,
        True,
    )
    hb = e.on_report(heartbeat(T0 + m(1)))
    assert (hb.position_accepted, hb.drop_reason, hb.evaluated_for_zones) == (False, None, False)
    bad = e.on_report(fix(T0 + m(2), (0.0, 0.0)))
    assert (bad.position_accepted, bad.drop_reason) == (False, "null_island")
    e.on_report(fix(T0 + m(5), INSIDE))
    late = e.on_report(fix(T0 + m(3), INSIDE, received=T0 + m(6)))
    assert (late.position_accepted, late.evaluated_for_zones) == (True, False)
    dup = e.on_report(fix(T0 + m(3), INSIDE, received=T0 + m(7)))
    assert (dup.position_accepted, dup.drop_reason) == (False, "duplicate")


def test_processing_order_by_received_then_fix_time() -> None:
    r = T0 + m(20)
    batch = [fix(T0 + m(k), INSIDE, received=r) for k in (15, 10, 5, 0)]
    earlier = fix(T0 - m(5), INSIDE, received=T0 + m(1))
    ordered = processing_order([*batch, earlier])
    assert [x.fix_time for x in ordered] == [T0 - m(5), T0, T0 + m(5), T0 + m(10), T0 + m(15)]
    with pytest.raises(ValueError, match="received"):
        processing_order([replace(earlier, received=None)])


def test_offline_fires_exactly_at_the_deadline_whatever_the_ticks() -> None:
    e = engine(offline_after_s=600)
    e.on_report(fix(T0, INSIDE))
    assert e.next_deadline() == T0 + m(10)
    assert e.on_tick(T0 + m(10) - timedelta(microseconds=1)) == []
    fired = e.on_tick(T0 + m(10))
    assert [(a.type, a.at) for a in fired] == [(AlertType.DEVICE_OFFLINE, T0)]
    assert fired[0].category.value == "technical"
    assert e.on_tick(T0 + m(60)) == []  # once per silence
    assert e.next_deadline() is None


def test_offline_caught_up_by_the_next_message_without_ticks() -> None:
    e = engine(offline_after_s=600)
    e.on_report(fix(T0, INSIDE))
    out = e.on_report(fix(T0 + m(30), INSIDE))
    assert [(a.type, a.at) for a in out.alerts] == [(AlertType.DEVICE_OFFLINE, T0)]


def test_no_fix_needs_messages_to_keep_arriving() -> None:
    e = engine(offline_after_s=600)
    e.on_report(fix(T0, INSIDE))
    alerts: list[RaisedAlert] = []
    for k in range(1, 12):
        alerts += e.on_report(heartbeat(T0 + m(k))).alerts
    assert [(a.type, a.at) for a in alerts] == [(AlertType.NO_GPS_FIX, T0 + m(1))]
    # silent device: offline, and no no-fix alert
    e2 = engine(offline_after_s=600)
    e2.on_report(fix(T0, INSIDE))
    e2.on_report(heartbeat(T0 + m(1)))
    fired = e2.on_tick(T0 + m(11))
    assert [(a.type, a.at) for a in fired] == [(AlertType.DEVICE_OFFLINE, T0 + m(1))]


def test_low_battery_hysteresis_and_unknown_level() -> None:
    e = engine()
    levels = [None, 16, 15, 14, 20, 13, 20.5, 15]
    raised = []
    for k, level in enumerate(levels):
        raised += e.on_report(fix(T0 + m(k), INSIDE, battery_pct=level, battery_v=3.6)).alerts
    assert [a.at for a in raised] == [T0 + m(2), T0 + m(7)]
    assert raised[0].explanation.startswith("The device battery was at 15 % at 21:12 CDT")


def test_low_battery_alarm_counts_as_threshold_reading() -> None:
    e = engine()
    out = e.on_report(heartbeat(T0, alarms=frozenset({Alarm.LOW_BATTERY})))
    assert [a.type for a in out.alerts] == [AlertType.LOW_BATTERY]
    assert out.alerts[0].details["battery_pct"] is None


def test_strap_state_from_strap_field_and_alarm_only_devices() -> None:
    tamper = frozenset({Alarm.STRAP_TAMPER})
    # A device that reports its strap: open stays known open until it reports closed.
    e = engine()
    got = []
    for k, kw in enumerate([{"strap": "open"}, {}, {"alarms": tamper}, {"strap": "closed"},
                            {"alarms": tamper}]):  # fmt: skip
        got += e.on_report(heartbeat(T0 + m(k), **kw)).alerts
    assert [a.at for a in got] == [T0, T0 + m(4)]
    # A device that only sends alarms: each alarm after a message without it is a new tamper.
    e = engine()
    got = []
    for k, kw in enumerate([{"alarms": tamper}, {"alarms": tamper}, {}, {"alarms": tamper}]):
        got += e.on_report(heartbeat(T0 + m(k), **kw)).alerts
    assert [a.at for a in got] == [T0, T0 + m(3)]


def test_message_time_falls_back_to_arrival_when_misdated() -> None:
    e = engine()
    t = T0 + m(1)
    out = e.on_report(
        DeviceReport(
            kind=ReportKind.HEARTBEAT, fix_time=t - timedelta(days=365), received=t, strap="open"
        )
    )
    assert out.alerts[0].at == t


def test_rules_never_say_violation_and_zone_name_is_used() -> None:
    named = parse_zone(
        {
            "id": "17",
            "name": "home",
            "kind": "inclusion",
            "circle": {"lat": 41.8781, "lon": -87.6298, "radius_m": 100},
        }
    )
    e = DeviceRulesEngine([named], Policy(zone_dwell_s=0), "America/Chicago")
    alerts = e.on_report(fix(T0, OUTSIDE, battery_pct=5, strap="open")).alerts
    assert {a.type for a in alerts} == {
        AlertType.INCLUSION_ZONE_EXIT, AlertType.LOW_BATTERY, AlertType.STRAP_TAMPER
    }  # fmt: skip
    zone_alert = next(a for a in alerts if a.zone == "17")
    assert "outside the home zone" in zone_alert.explanation
    assert all("violation" not in a.explanation.lower() for a in alerts)


def test_invalid_engine_input() -> None:
    with pytest.raises(InvalidInput, match="unknown time zone"):
        DeviceRulesEngine([HOME], Policy(), "Nowhere/Land")
    with pytest.raises(InvalidInput, match="unique"):
        DeviceRulesEngine([HOME, HOME], Policy(), "UTC")
    with pytest.raises(InvalidInput, match="unknown policy setting"):
        Policy.from_mapping({"zone_dwell": 5})
    with pytest.raises(ValueError, match="received"):
        engine().on_report(replace(fix(T0, INSIDE), received=None))


def test_warm_up_rebuilds_a_run_in_progress() -> None:
    e = engine()
    e.warm_up([fix(T0, OUTSIDE), fix(T0 + m(1), OUTSIDE)])
    out = e.on_report(fix(T0 + m(2), OUTSIDE))
    assert [a.at for a in out.alerts] == [T0]


def test_battery_value_that_is_not_a_percentage_never_alerts() -> None:
    e = engine()
    for k, level in enumerate([-1.0, 3.89e2, 150.0]):
        assert e.on_report(fix(T0 + m(k), INSIDE, battery_pct=level)).alerts == []


def test_unknown_accuracy_is_said_not_zeroed() -> None:
    e = engine(zone_dwell_s=60)
    for i in range(2):
        out = e.on_report(
            DeviceReport(
                fix_time=T0 + m(i), received=T0 + m(i), latitude=OUTSIDE[0], longitude=OUTSIDE[1]
            )
        )
    alert = out.alerts[0]
    assert alert.explanation.endswith("; the device did not report their accuracy.")
    assert alert.details["max_accuracy_m"] is None
    e = engine(zone_dwell_s=60)
    e.on_report(fix(T0, OUTSIDE, accuracy_m=12))
    out = e.on_report(
        DeviceReport(
            fix_time=T0 + m(1), received=T0 + m(1), latitude=OUTSIDE[0], longitude=OUTSIDE[1]
        )
    )
    assert out.alerts[0].explanation.endswith("; accuracy 12 m (not reported for 1 of them).")


_FINGERPRINT_SNIPPET = """
from datetime import UTC, datetime
from openatd.domain.messages import Alarm, DeviceReport
from openatd.rules.engine import message_fingerprint
r = DeviceReport(unique_id="1", fix_time=datetime(2026, 1, 1, tzinfo=UTC), latitude=1.5,
                 longitude=2.5, strap="open", battery_pct=14.0,
                 alarms=frozenset(Alarm), extras={"b": 1, "a": [1, 2]})
print(message_fingerprint(r))
"""


def test_message_fingerprint_is_the_same_in_every_process() -> None:
    """Saved fingerprints are compared by a restarted process: string hashing (which orders
    a frozenset of alarms) differs per process, the fingerprint must not."""
    prints = {
        subprocess.run(
            [sys.executable, "-c", _FINGERPRINT_SNIPPET],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3, 4)
    }
    assert len(prints) == 1
    fix = DeviceReport(unique_id="1", fix_time=datetime(2026, 1, 1, tzinfo=UTC))
    assert message_fingerprint(fix) != message_fingerprint(replace(fix, battery_pct=14.0))
    assert message_fingerprint(fix) == message_fingerprint(replace(fix, received=datetime.now(UTC)))
    assert message_fingerprint(replace(fix, fix_time=None)) is None


def test_seen_messages_survive_a_snapshot_in_ring_order() -> None:
    """The ring of handled-message fingerprints goes into the rule state oldest first, and a
    fresh engine restored from it forgets the same message next as the original would."""
    engine = DeviceRulesEngine([], Policy(), "UTC")
    for n in range(SEEN_MESSAGES + 5):  # wraps the ring
        engine.remember_message(n)
    assert engine.seen_messages() == list(range(5, SEEN_MESSAGES + 5))
    fresh = DeviceRulesEngine([], Policy(), "UTC")
    restore(fresh, json.loads(json.dumps(snapshot(engine))))
    assert fresh.seen_messages() == engine.seen_messages()
    engine.remember_message(-1)
    fresh.remember_message(-1)
    assert fresh.seen_messages() == engine.seen_messages()
    assert 5 not in fresh.seen_messages()


def test_snapshots_list_the_newest_fix_times_and_a_restored_engine_drops_resends() -> None:
    """Snapshots taken batch after batch list exactly the filter's newest KNOWN_FIX_TIMES
    times, oldest first, and their fast JSON text (snapshot_json) says the same; a fresh
    engine restored from the last one takes a re-sent recent fix as a duplicate and a new
    one as a position."""
    from openatd.rules.state import KNOWN_FIX_TIMES

    e = engine()
    times = [T0 + timedelta(seconds=10 * i) for i in range(300)]
    for k, t in enumerate(times):
        assert e.on_report(fix(t, INSIDE)).position_accepted
        if k % 3 == 0 or k == len(times) - 1:  # a snapshot per batch of up to three fixes
            state = snapshot(e)
            newest = times[: k + 1][-KNOWN_FIX_TIMES:]
            assert state["known"] == [x.isoformat() for x in newest]
            assert json.loads(snapshot_json(e)) == state
    fresh = engine()
    restore(fresh, json.loads(json.dumps(state)))
    resent = fresh.on_report(fix(times[-5], INSIDE, received=times[-1]))
    assert not resent.position_accepted
    assert str(resent.drop_reason) == "duplicate"
    assert fresh.on_report(fix(times[-1] + timedelta(seconds=10), INSIDE)).position_accepted


def test_snapshot_json_is_the_text_of_snapshot_in_every_state() -> None:
    """The pipeline saves snapshot_json (times written by orjson); a restart reads it back as
    snapshot's dict: equal after every message of a run through a zone exit, a dwell in
    progress and alerted, microsecond and whole-second times, strap, battery and a
    heartbeat, and on a fresh engine (every field empty)."""
    e = engine()
    assert json.loads(snapshot_json(e)) == snapshot(e)
    reports = [
        fix(T0, INSIDE, battery_pct=80),
        fix(T0 + timedelta(seconds=61, microseconds=250_001), OUTSIDE, strap="closed"),
        fix(T0 + m(2), OUTSIDE, received=T0 + m(2) + timedelta(microseconds=7)),
        heartbeat(T0 + m(3), battery_pct=9),
        fix(T0 + m(4), OUTSIDE, strap="open", battery_pct=8),
        fix(T0 + m(5), INSIDE),
    ]
    states = []
    for r in reports:
        e.on_report(r)
        state = snapshot(e)
        assert json.loads(snapshot_json(e)) == state
        states.append(state)
    assert any(z.get("alerted") for s in states for z in s["zones"].values())
    assert any(s["zones"] for s in states) and states[-1]["strap_open"]
    e.on_tick(T0 + m(600))  # offline
    assert json.loads(snapshot_json(e)) == snapshot(e)
    assert snapshot(e)["offline_alerted"]
