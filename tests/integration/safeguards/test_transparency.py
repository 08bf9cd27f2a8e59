"""Issue 8 items 5 and 6: "who read my data", GPX exports, staff track exports behind a
reason and the audit, aggregate statistics, and the tamper alarm that can be a fault."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import timedelta

import gpxpy
import sqlalchemy as sa
from safeguard_helpers import T0, Stack
from typer.testing import CliRunner

from openatd.alerts.notices import notify_new_alerts
from openatd.cli.main import app as cli

WINDOW = {
    "start": (T0 - timedelta(hours=2)).isoformat(),
    "end": (T0 + timedelta(hours=1)).isoformat(),
}
REASON = "preparing the report for the hearing"


def test_exports_and_who_read_my_data(stack: Stack) -> None:
    c = stack.client
    assert (
        stack.pipeline().process([(stack.imei, stack.fixes(T0 - timedelta(hours=1), 4))]).stored
        == 4
    )
    track = f"/api/participants/{stack.pid}/track"
    # The same rule as reading: a reason, or nothing.
    r = c.get(track, headers=stack.h("cm1"), params={**WINDOW, "format": "gpx"})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = c.get(track, headers=stack.h("cm1"), params={**WINDOW, "format": "kml", "reason": REASON})
    assert r.status_code == 422
    r = c.get(track, headers=stack.h("cm1"), params={**WINDOW, "format": "gpx", "reason": REASON})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/gpx+xml")
    points = gpxpy.parse(r.text).tracks[0].segments[0].points
    assert len(points) == 4 and points[0].latitude == 41.8781
    assert points[0].comment == "accuracy_m=8"
    r = c.get(
        track, headers=stack.h("cm1"), params={**WINDOW, "format": "geojson", "reason": REASON}
    )
    features = r.json()["features"]
    assert features[0]["geometry"]["coordinates"] == [-87.6298, 41.8781]
    r = c.get(track, headers=stack.h("cm1"), params={**WINDOW, "format": "csv", "reason": REASON})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 4 and rows[0]["accuracy_m"] == "8.0"
    with stack.container.db.engine.connect() as conn:
        exports = conn.execute(
            sa.text(
                "SELECT reason, details FROM audit_entries WHERE action = 'positions:export' "
                "ORDER BY id"
            )
        ).all()
    formats = [(json.loads(d) if isinstance(d, str) else d)["format"] for _, d in exports]
    assert formats == ["gpx", "geojson", "csv"] and {r for r, _ in exports} == {REASON}

    # The participant: who read my data and why, as its own view; and GPX of their positions.
    me = stack.portal()
    log = c.get("/api/portal/access-log", headers=me).json()
    assert any(e["action"] == "participant:app_code" for e in log)  # issuing their code
    exports = [e for e in log if e["action"] == "positions:export"]
    assert len(exports) == 3
    assert exports[0]["actor"] == "user:cm1" and exports[0]["reason"] == REASON
    assert all(not e["actor"].startswith("participant:") for e in log)
    r = c.get("/api/portal/export.gpx", headers=me)
    assert r.status_code == 200
    assert len(gpxpy.parse(r.text).tracks[0].segments[0].points) == 4
    # Staff tokens are refused on the participant's side.
    assert c.get("/api/portal/access-log", headers=stack.h("cm1")).status_code == 401


def test_stats_are_aggregates_reconcilable_with_records(stack: Stack) -> None:
    c = stack.client
    tech = stack.add_alert(T0, type="device_offline", category="technical")
    comp = stack.add_alert(T0, type="zone_exit")
    stack.add_alert(T0, type="strap_tamper")
    with stack.container.uow() as uow:
        notify_new_alerts(uow, T0, 3600.0)
        uow.checkins.add(participant_id=stack.pid, server_time=T0, outcome="verified", on_time=True)
        uow.checkins.add(
            participant_id=stack.pid, server_time=T0, outcome="needs_review", on_time=True
        )
    stack.clock.set(T0 + timedelta(hours=2))
    body = {"resolution": "technical", "reason": "tracker battery failed overnight"}
    assert (
        c.post(f"/api/alerts/{tech}/resolve", headers=stack.h("cm1"), json=body).status_code == 200
    )
    body = {"resolution": "violation_confirmed", "reason": "left the zone for four hours at night"}
    assert (
        c.post(f"/api/alerts/{comp}/resolve", headers=stack.h("sup"), json=body).status_code == 200
    )
    assert c.get("/api/stats", headers=stack.h("cm1")).status_code == 403
    stats = c.get("/api/stats", headers=stack.h("audrey")).json()
    assert stats["participants_by_level"] == {"gps": 1}
    assert stats["alerts_by_category"] == {"compliance": 2, "technical": 1}
    assert stats["alerts_by_resolution"] == {"technical": 1, "violation_confirmed": 1}
    assert stats["share_resolved_technical"] == 0.5
    assert stats["confirmed_violations"] == 1
    assert stats["checkin_outcomes"] == {"needs_review": 1, "verified": 1}
    assert stats["median_time_to_decision_s"] == 7200.0
    # Reconcilable: the same counts straight from the records; no personal data in it.
    with stack.container.db.engine.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM alerts WHERE resolution = 'violation_confirmed'")
        ).scalar_one()
    assert n == stats["confirmed_violations"]
    text = json.dumps(stats)
    assert "P. One" not in text and "41.87" not in text and '"participant_id"' not in text
    result = CliRunner().invoke(cli, ["stats", "--database-url", stack.db_url])
    assert result.exit_code == 0, result.output
    cli_stats = json.loads(result.output)
    cli_stats.pop("generated_at")
    stats.pop("generated_at")
    assert cli_stats == stats


def test_strap_tamper_carries_device_fault_indicators(stack: Stack) -> None:
    pipe = stack.pipeline()
    start = T0 - timedelta(hours=3)
    # A low battery and a flapping strap sensor before the alarm.
    reports = stack.fixes(start, 6, battery_pct=9.0)
    reports = [
        dataclasses.replace(r, strap="open" if i % 2 else "closed") for i, r in enumerate(reports)
    ]
    got = pipe.process([(stack.imei, reports)])
    assert got.stored == 6
    tamper = [a for _, a in got.alerts if a.type.value == "strap_tamper"]
    assert tamper, "the rules raise strap_tamper as a compliance alert"
    with stack.container.uow() as uow:
        notify_new_alerts(uow, T0, 3600.0)
    with stack.container.db.engine.connect() as conn:
        explanation, details, category = conn.execute(
            sa.text(
                "SELECT explanation, details, category FROM alerts "
                "WHERE type = 'strap_tamper' ORDER BY id DESC LIMIT 1"  # after the flapping
            )
        ).one()
    details = json.loads(details) if isinstance(details, str) else details
    health = details["device_health"]
    assert category == "compliance"
    assert health["battery_pct_min_24h"] == 9.0
    assert health["strap_state_changes_24h"] >= 4
    assert "Strap sensors can fail too" in explanation
    assert "battery fell to 9%" in explanation and "flipped" in explanation
