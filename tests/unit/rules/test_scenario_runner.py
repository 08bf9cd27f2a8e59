"""The scenario runner's comparison and the ``openatd scenario`` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openatd.cli.main import app
from openatd.errors import InvalidInput
from openatd.rules.alerts import AlertType, RaisedAlert
from openatd.rules.scenario import ExpectedAlert, compare_alerts, parse_scenario
from shared_paths import shared_root

T = datetime(2024, 5, 15, 22, 0, tzinfo=UTC)
SHARED = shared_root() / "scenarios"


def raised(typ: AlertType, at: datetime, zone: str | None = None) -> RaisedAlert:
    return RaisedAlert(type=typ, zone=zone, at=at, explanation="x")


def test_compare_honours_tolerance_zone_and_exactly() -> None:
    exp = [ExpectedAlert(AlertType.INCLUSION_ZONE_EXIT, "home", T, 30)]
    ok = [raised(AlertType.INCLUSION_ZONE_EXIT, T + timedelta(seconds=30), "home")]
    assert compare_alerts(exp, ok, exactly=True) == []
    late = [raised(AlertType.INCLUSION_ZONE_EXIT, T + timedelta(seconds=31), "home")]
    assert compare_alerts(exp, late, exactly=False) == [
        "missing: inclusion_zone_exit zone=home at 2024-05-15T22:00:00Z ±30 s "
        "(nearest raised at 2024-05-15T22:00:31Z, +31 s)"
    ]
    other_zone = [raised(AlertType.INCLUSION_ZONE_EXIT, T, "work")]
    assert len(compare_alerts(exp, other_zone, exactly=True)) == 2
    extra = [*ok, raised(AlertType.LOW_BATTERY, T)]
    assert compare_alerts(exp, extra, exactly=False) == []
    assert compare_alerts(exp, extra, exactly=True) == [
        "unexpected: low_battery at 2024-05-15T22:00:00Z"
    ]


def test_parse_scenario_defaults_and_errors() -> None:
    sc = parse_scenario(
        {
            "timezone": "America/Chicago",
            "zones": [],
            "messages": [{"time": "2024-05-15T22:00:00Z", "lat": 41.0, "lon": -87.0}],
        }
    )
    assert sc.until == T and not sc.exactly and sc.policy.zone_dwell_s == 120
    r = sc.reports[0]
    assert r.received == r.fix_time == T and r.valid
    with pytest.raises(InvalidInput, match="unknown alarm 'exploded'"):
        parse_scenario(
            {"timezone": "UTC", "messages": [{"time": "2024-05-15T22:00:00Z", "alarm": "exploded"}]}
        )
    with pytest.raises(InvalidInput, match="has no UTC offset"):
        parse_scenario({"timezone": "UTC", "messages": [{"time": "2024-05-15T22:00:00"}]})


def test_cli_check_passes_the_shared_set() -> None:
    files = sorted(str(p) for p in SHARED.glob("*.json"))
    result = CliRunner().invoke(app, ["scenario", "check", *files])
    assert result.exit_code == 0, result.output
    assert f"{len(files)} of {len(files)} scenario(s) passed" in result.output


def test_cli_check_fails_and_prints_the_difference(tmp_path: Path) -> None:
    data = json.loads((SHARED / "b08-out-of-order-late-batch.json").read_text())
    data["expect"]["alerts"][0]["at"] = "2024-05-15T22:05:00Z"
    bad = tmp_path / "b08-moved.json"
    bad.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["scenario", "check", str(bad)])
    assert result.exit_code == 1
    assert "FAIL b08-moved.json" in result.output
    assert "missing: inclusion_zone_exit zone=home at 2024-05-15T22:05:00Z ±30 s" in result.output
    assert "unexpected: inclusion_zone_exit zone=home at 2024-05-15T22:00:00Z" in result.output
    assert "0 of 1 scenario(s) passed" in result.output


def test_cli_run_prints_json_lines() -> None:
    result = CliRunner().invoke(
        app, ["scenario", "run", str(SHARED / "b10-dark-inside-reappears-outside.json")]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(x["type"], x["at"]) for x in lines] == [
        ("device_offline", "2024-05-15T16:50:00Z"),
        ("inclusion_zone_exit", "2024-05-15T19:00:00Z"),
        ("inclusion_zone_exit", "2024-05-15T19:50:00Z"),
    ]
    assert set(lines[0]) == {"type", "zone", "at", "category", "explanation"}
    assert lines[0]["category"] == "technical"


def test_unknown_policy_setting_is_reported_not_fatal() -> None:
    sc = parse_scenario(
        {
            "timezone": "UTC",
            "policy": {"zone_dwell_s": 30, "check_in_window_s": 600},
            "messages": [{"time": "2024-05-15T22:00:00Z", "lat": 41.0, "lon": -87.0}],
        }
    )
    assert sc.policy.zone_dwell_s == 30
    assert sc.warnings == (
        "policy setting 'check_in_window_s' is not one this engine knows; ignored",
    )
