"""The main job end to end on a real server: API + OsmAnd intake + pipeline + database."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from openatd.accounts import create_user
from openatd.cli.main import app as cli_app
from openatd.storage.db import Database

HOME = (41.8781, -87.6298)  # lat, lon: a home in Chicago
PASSWORD = "correct horse battery"


def _login(api: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{api}/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _users(url: str) -> None:
    db = Database(url)
    with db.uow() as uow:
        now = datetime.now(UTC)
        create_user(uow, now, "alice", PASSWORD, "case_manager")
        create_user(uow, now, "bob", PASSWORD, "case_manager")
        create_user(uow, now, "sam", PASSWORD, "supervisor")
        create_user(uow, now, "audrey", PASSWORD, "auditor")
    db.dispose()


def _wait_alerts(
    api: str, headers: dict[str, str], n: int, timeout: float = 10
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{api}/api/alerts", headers=headers)
        assert r.status_code == 200, r.text
        if len(r.json()) >= n or time.monotonic() > deadline:
            alerts: list[dict[str, Any]] = r.json()
            return alerts
        time.sleep(0.1)


def test_intake_rules_alerts_positions_audit(live_server: Any) -> None:
    api, intake = live_server.api, live_server.intake
    _users(live_server.database_url)
    alice = _login(api, "alice")

    r = httpx.post(
        f"{api}/api/participants",
        headers=alice,
        json={
            "name": "P. One",
            "timezone": "America/Chicago",
            "supervision_level": "gps",
            "policy": {"zone_dwell_s": 60},
        },
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = httpx.post(
        f"{api}/api/participants/{pid}/zones",
        headers=alice,
        json={
            "name": "home",
            "kind": "inclusion",
            "circle": {"lat": HOME[0], "lon": HOME[1], "radius_m": 150},
        },
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{api}/api/devices",
        headers=alice,
        json={"unique_id": "356938035643809", "protocol": "osmand", "participant_id": pid},
    )
    assert r.status_code == 201, r.text

    t0 = int(time.time()) - 600
    # Inside, then 1.1 km north for 3 minutes: an exit after the 60 s dwell.
    fixes = [(t0, HOME[0], HOME[1]), (t0 + 60, HOME[0] + 0.0001, HOME[1])]
    fixes += [(t0 + 120 + 60 * i, HOME[0] + 0.01, HOME[1]) for i in range(4)]
    for ts, lat, lon in fixes:
        r = httpx.get(
            f"{intake}/",
            params={
                "id": "356938035643809",
                "timestamp": ts,
                "lat": lat,
                "lon": lon,
                "accuracy": 10,
                "speed": 2.0,
                "batt": 80,
            },
        )
        assert r.status_code == 200, r.text

    alerts = _wait_alerts(api, alice, 1)
    assert [a["type"] for a in alerts] == ["inclusion_zone_exit"]
    a = alerts[0]
    assert a["category"] == "compliance"
    assert a["status"] == "open"
    assert a["zone_name"] == "home"
    assert datetime.fromisoformat(a["at"]) == datetime.fromtimestamp(t0 + 120, UTC)
    assert "home" in a["explanation"]

    # Unknown device and malformed requests are refused, nothing stored.
    assert httpx.get(f"{intake}/", params={"id": "nope", "lat": 1, "lon": 1}).status_code == 404
    assert (
        httpx.get(
            f"{intake}/", params={"id": "356938035643809", "lat": "x", "lon": "1"}
        ).status_code
        == 400
    )

    # Positions need a reason; the read is audited with it.
    window = {
        "start": datetime.fromtimestamp(t0 - 1, UTC).isoformat(),
        "end": datetime.fromtimestamp(t0 + 3600, UTC).isoformat(),
    }
    r = httpx.get(f"{api}/api/participants/{pid}/positions", headers=alice, params=window)
    assert r.status_code == 422
    assert "reason" in r.json()["detail"]
    reason = "reviewing alert for the curfew hearing"
    r = httpx.get(
        f"{api}/api/participants/{pid}/positions",
        headers=alice,
        params={**window, "reason": reason},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["positions"]) == len(fixes)
    assert body["positions"][0]["speed_mps"] == pytest.approx(2.0 * 1852 / 3600, abs=1e-3)
    assert body["positions"][0]["battery_pct"] == 80

    # Bob is not on this caseload.
    bob = _login(api, "bob")
    r = httpx.get(
        f"{api}/api/participants/{pid}/positions", headers=bob, params={**window, "reason": reason}
    )
    assert r.status_code == 403
    assert httpx.get(f"{api}/api/alerts", headers=bob).json() == []

    # A person resolves; the rules never wrote "violation".
    r = httpx.post(
        f"{api}/api/alerts/{a['id']}/resolve",
        headers=alice,
        json={"resolution": "no_violation", "reason": "participant was at a hospital appointment"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["resolution"] == "no_violation"
    r = httpx.post(
        f"{api}/api/alerts/{a['id']}/resolve",
        headers=alice,
        json={"resolution": "technical", "reason": "second attempt at the same alert"},
    )
    assert r.status_code == 409

    # The auditor sees the reasoned read in the chain, and the chain verifies.
    audrey = _login(api, "audrey")
    entries = httpx.get(f"{api}/api/audit", headers=audrey, params={"participant_id": pid}).json()
    reads = [e for e in entries if e["action"] == "positions:read"]
    assert len(reads) == 1 and reads[0]["reason"] == reason
    assert reads[0]["details"]["count"] == len(fixes)
    v = httpx.get(f"{api}/api/audit/verify", headers=audrey).json()
    assert v["ok"] is True and v["entries"] > 5


def test_audit_verify_names_edited_entry(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    _users(db_url)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify", "--database-url", db_url])
    assert ok.exit_code == 0, ok.output
    assert "4 entries" in ok.output
    with db.engine.begin() as c:
        second = c.execute(sa.text("SELECT id FROM audit_entries ORDER BY id LIMIT 1 OFFSET 1"))
        target = second.scalar_one()
        c.execute(
            sa.text("UPDATE audit_entries SET actor = 'user:mallory' WHERE id = :i"), {"i": target}
        )
    bad = runner.invoke(cli_app, ["audit", "verify", "--database-url", db_url])
    assert bad.exit_code == 1
    assert f"entry {target}" in bad.output
    assert "edited" in bad.output
    db.dispose()


def test_audit_verify_of_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    """A mistyped path: exit 2 naming it, not "OK: 0 entries" from a new empty database."""
    missing = tmp_path / "typo" / "openatd.db"
    missing.parent.mkdir()
    result = CliRunner().invoke(
        cli_app, ["audit", "verify", "--database-url", f"sqlite:///{missing}"]
    )
    assert result.exit_code == 2, result.output
    assert f"no database at {missing}" in " ".join(result.output.split())
    assert "OK" not in result.output
    assert not missing.exists()
