"""Issue 8 item 3: what is collected follows the supervision level and the device's
assignment; escalations end; devices leave with a reason; step-down reads the history."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from safeguard_helpers import T0, Stack


def _positions(stack: Stack) -> int:
    with stack.container.db.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM positions")).scalar_one())


def test_collection_follows_level_and_assignment(stack: Stack) -> None:
    c = stack.client
    pipe = stack.pipeline()
    # GPS level, device assigned: stored.
    got = pipe.process([(stack.imei, stack.fixes(T0, 3))])
    assert (got.stored, got.refused) == (3, 0)

    # Step down to the app level (a reason, no end date needed): refused, counted, not stored.
    url = f"/api/participants/{stack.pid}"
    r = c.patch(url, headers=stack.h("cm1"), json={"supervision_level": "app"})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = c.patch(
        url,
        headers=stack.h("cm1"),
        json={"supervision_level": "app", "level_reason": "90 days compliant, step-down"},
    )
    assert r.status_code == 200, r.text
    pipe.invalidate(stack.pid)
    got = pipe.process([(stack.imei, stack.fixes(T0 + timedelta(minutes=10), 4))])
    assert (got.stored, got.refused) == (0, 4)
    refused = pipe.metrics.refused.labels("supervision_level")._value.get()
    assert refused == 4
    assert _positions(stack) == 3
    # No rule runs on refused reports either: no alert from a clock tick.
    assert pipe.tick(T0 + timedelta(hours=5)).alerts == []

    # An escalation back to GPS needs a reason and an end date, after which a review is due.
    r = c.patch(
        url,
        headers=stack.h("cm1"),
        json={"supervision_level": "gps", "level_reason": "missed hearing on 2 June"},
    )
    assert r.status_code == 422 and "level_until" in r.json()["detail"]
    until = T0 + timedelta(days=30)
    r = c.patch(
        url,
        headers=stack.h("cm1"),
        json={
            "supervision_level": "gps",
            "level_reason": "missed hearing on 2 June",
            "level_until": until.isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["level_review_due_at"].replace("Z", "+00:00") == until.isoformat()
    pipe.invalidate(stack.pid)
    assert pipe.process([(stack.imei, stack.fixes(T0 + timedelta(minutes=30), 2))]).stored == 2

    # The device is unassigned with a reason: its positions are refused from then on.
    r = c.post(
        f"/api/devices/{stack.device_id}/status",
        headers=stack.h("cm1"),
        json={"action": "unassign", "reason": "x"},
    )
    assert r.status_code == 422
    r = c.post(
        f"/api/devices/{stack.device_id}/status",
        headers=stack.h("cm1"),
        json={"action": "return", "reason": "participant returned the tracker at the office"},
    )
    assert r.status_code == 200 and r.json()["status"] == "returned"
    assert r.json()["participant_id"] is None
    pipe.invalidate(None)
    got = pipe.process([(stack.imei, stack.fixes(T0 + timedelta(hours=1), 2))])
    assert (got.stored, got.refused) == (0, 2)
    assert _positions(stack) == 5
    r = c.post(
        f"/api/devices/{stack.device_id}/status",
        headers=stack.h("adam"),
        json={"action": "retire", "reason": "strap sensor faulty, sent back"},
    )
    assert r.status_code == 200 and r.json()["status"] == "retired"
    r = c.post(
        f"/api/devices/{stack.device_id}/status",
        headers=stack.h("adam"),
        json={"action": "retire", "reason": "strap sensor faulty, sent back"},
    )
    assert r.status_code == 409

    with stack.container.db.engine.connect() as conn:
        levels = conn.execute(
            sa.text(
                "SELECT old_level, new_level, reason FROM supervision_level_changes ORDER BY id"
            )
        ).all()
        statuses = (
            conn.execute(
                sa.text(
                    "SELECT reason FROM audit_entries WHERE action = 'device:status' ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert [(o, n) for o, n, _ in levels] == [(None, "gps"), ("gps", "app"), ("app", "gps")]
    assert statuses == [
        "participant returned the tracker at the office",
        "strap sensor faulty, sent back",
    ]


def test_step_down_reads_whole_history(stack: Stack) -> None:
    c = stack.client
    with stack.container.uow() as uow:
        p = uow.participants.get(stack.pid)
        p.level_since = T0 - timedelta(days=100)
        p.created_at = T0 - timedelta(days=100)
        for days, category, res in (
            (80, "technical", "technical"),
            (70, "compliance", "no_violation"),
        ):
            at = T0 - timedelta(days=days)
            uow.alerts.add(
                participant_id=stack.pid,
                device_id=None,
                type="device_offline",
                category=category,
                at=at,
                raised_at=at,
                explanation="e",
                status="resolved",
                resolution=res,
                resolved_at=at,
            )
        for days in range(1, 11):
            uow.checkins.add(
                participant_id=stack.pid,
                server_time=T0 - timedelta(days=days),
                outcome="verified",
                on_time=True,
            )
    r = c.get(f"/api/participants/{stack.pid}/step-down", headers=stack.h("cm1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["current"], body["recommended"], body["eligible"]) == ("gps", "app", True)
    assert body["history"]["checkins_on_time"] == 10
    assert body["history"]["technical_alerts"] == 1
    assert body["history"]["days_at_level"] == 100
    assert any("10 of 10 check-ins on time" in reason for reason in body["reasons"])
    assert body["review_date"] is not None
