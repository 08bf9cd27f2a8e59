"""Home and office visits through the API of a running server: a not-home outcome opens a
technical alert for review (never a violation); an office visit can count as the check-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from openatd.accounts import create_user
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
HTTP = httpx.Client(timeout=60)


def test_visits(live_server: Any) -> None:
    api = live_server.api
    db = Database(live_server.database_url)
    with db.uow() as uow:
        create_user(uow, datetime.now(UTC), "alice", PASSWORD, "case_manager")
        create_user(uow, datetime.now(UTC), "bob", PASSWORD, "case_manager")
    db.dispose()
    tokens = {}
    for name in ("alice", "bob"):
        r = HTTP.post(f"{api}/api/auth/token", data={"username": name, "password": PASSWORD})
        tokens[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    alice, bob = tokens["alice"], tokens["bob"]
    pid = HTTP.post(
        f"{api}/api/participants",
        headers=alice,
        json={"name": "P. One", "timezone": "America/Chicago", "supervision_level": "app"},
    ).json()["id"]

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT18:00:00Z")
    r = HTTP.post(
        f"{api}/api/participants/{pid}/visits",
        headers=alice,
        json={"kind": "home", "scheduled_for": tomorrow, "notes": "evening visit"},
    )
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    assert (
        HTTP.post(
            f"{api}/api/participants/{pid}/visits",
            headers=bob,
            json={"kind": "home", "scheduled_for": tomorrow},
        ).status_code
        == 403
    )
    r = HTTP.post(
        f"{api}/api/participants/{pid}/visits",
        headers=alice,
        json={"kind": "home", "scheduled_for": "2020-01-01T10:00"},
    )
    assert r.status_code == 422 and "in the past" in r.text

    r = HTTP.post(
        f"{api}/api/visits/{vid}/outcome",
        headers=alice,
        json={"outcome": "not_home", "notes": "lights off, no answer"},
    )
    assert r.status_code == 200, r.text
    visit = r.json()
    assert visit["outcome"] == "not_home" and visit["alert_id"] is not None
    alerts = HTTP.get(f"{api}/api/alerts", headers=alice).json()
    (alert,) = [a for a in alerts if a["id"] == visit["alert_id"]]
    assert (alert["type"], alert["category"], alert["status"]) == (
        "visit_not_home",
        "technical",
        "open",
    )
    assert "not a violation" in alert["explanation"]
    r = HTTP.post(f"{api}/api/visits/{vid}/outcome", headers=alice, json={"outcome": "met"})
    assert r.status_code == 409

    record = f"{api}/api/participants/{pid}/visits/record"
    # No check-in window open: an office visit cannot stand for one.
    r = HTTP.post(
        record, headers=alice, json={"kind": "office", "outcome": "met", "counts_as_checkin": True}
    )
    assert r.status_code == 422 and "no check-in window" in r.text
    r = HTTP.post(
        record, headers=alice, json={"kind": "home", "outcome": "met", "counts_as_checkin": True}
    )
    assert r.status_code == 422 and "only an office visit" in r.text
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = HTTP.post(
        record, headers=alice, json={"kind": "office", "outcome": "met", "visited_at": future}
    )
    assert r.status_code == 422 and "future" in r.text
    r = HTTP.post(record, headers=alice, json={"kind": "office", "outcome": "late"})
    assert r.status_code == 422

    r = HTTP.post(
        f"{api}/api/participants/{pid}/checkin-schedules",
        headers=alice,
        json={"kind": "adhoc", "within_minutes": 60, "reason": "come to the office today"},
    )
    assert r.status_code == 201
    r = HTTP.post(
        record,
        headers=alice,
        json={"kind": "office", "outcome": "met", "notes": "came in", "counts_as_checkin": True},
    )
    assert r.status_code == 201, r.text
    assert r.json()["counts_as_checkin"] is True and r.json()["checkin_id"] is not None
    checkins = HTTP.get(
        f"{api}/api/participants/{pid}/checkins",
        headers=alice,
        params={"reason": "confirm the office visit check-in"},
    ).json()
    assert [(c["method"], c["outcome"]) for c in checkins] == [("visit", "verified")]
    listed = HTTP.get(f"{api}/api/participants/{pid}/visits", headers=alice).json()
    assert [(v["kind"], v["outcome"]) for v in listed] == [("home", "not_home"), ("office", "met")]
    assert HTTP.get(f"{api}/api/participants/{pid}/visits", headers=bob).status_code == 403
