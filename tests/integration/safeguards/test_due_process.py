"""Issue 8 item 1: a violation is a decision by people, after the participant could answer."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from safeguard_helpers import T0, Stack

from openatd.alerts.notices import AlertNoticeTask, mark_queued, pending_for_outbox

REASON = "left home during curfew twice; no answer to two calls; GPS accuracy 8 m"


def _notify(stack: Stack) -> int:
    task = AlertNoticeTask(stack.container.uow, stack.clock, 72 * 3600.0, 1.0)
    return task.run_once()


def test_alert_to_decision_to_review(stack: Stack) -> None:
    c = stack.client
    # Fixes around the alert (the evidence), and the alert a rule raised.
    assert (
        stack.pipeline().process([(stack.imei, stack.fixes(T0 - timedelta(hours=1), 5))]).stored
        == 5
    )
    alert_id = stack.add_alert(T0)
    stack.clock.set(T0 + timedelta(minutes=1))

    # Before the participant is told, no violation can be confirmed.
    r = c.post(
        f"/api/alerts/{alert_id}/resolve",
        headers=stack.h("sup"),
        json={"resolution": "violation_confirmed", "reason": REASON},
    )
    assert r.status_code == 409 and "has not been told" in r.json()["detail"]

    # The participant is told at once (the notice task), with the plain explanation.
    assert _notify(stack) == 1
    assert _notify(stack) == 0  # idempotent
    me = stack.portal()
    notices = c.get("/api/portal/notices", headers=me).json()
    assert [n["kind"] for n in notices] == ["alert_raised"]
    assert "left the home zone during curfew" in notices[0]["text"]
    assert "not a decision" in notices[0]["text"]
    mine = c.get("/api/portal/alerts", headers=me).json()
    due = T0 + timedelta(minutes=1) + timedelta(hours=72)
    assert mine[0]["response_due_at"].replace("Z", "+00:00") == due.isoformat()
    # The outbox hand-over: each notice is taken exactly once.
    with stack.container.uow() as uow:
        pending = pending_for_outbox(uow)
        assert [n.kind for n in pending] == ["alert_raised"]
        mark_queued(uow, pending, stack.clock.now())
    with stack.container.uow() as uow:
        assert pending_for_outbox(uow) == []

    # The participant answers; staff see it.
    r = c.post(
        f"/api/portal/alerts/{alert_id}/response",
        headers=me,
        json={"text": "My mother was taken to hospital; I went with her."},
    )
    assert r.status_code == 200

    # During the window: refused with 409 naming the end of the window, for everyone.
    stack.clock.set(T0 + timedelta(hours=50))
    for who in ("sup", "cm1"):
        r = c.post(
            f"/api/alerts/{alert_id}/resolve",
            headers=stack.h(who),
            json={"resolution": "violation_confirmed", "reason": REASON},
        )
        assert r.status_code == 409, r.text
        assert "may answer until" in r.json()["detail"]
        assert due.strftime("%Y-%m-%d %H:%M") in r.json()["detail"]

    # After the window: a case manager alone cannot confirm (supervisor policy) ...
    stack.clock.set(due + timedelta(seconds=1))
    r = c.post(
        f"/api/alerts/{alert_id}/resolve",
        headers=stack.h("cm1"),
        json={"resolution": "violation_confirmed", "reason": REASON},
    )
    assert r.status_code == 403 and "needs a supervisor" in r.json()["detail"]
    # ... she proposes it; the supervisor needs a written reason of 20+ characters.
    r = c.post(
        f"/api/alerts/{alert_id}/propose-violation", headers=stack.h("cm1"), json={"reason": REASON}
    )
    assert r.status_code == 200 and r.json()["violation_proposed_by"] == stack.users["cm1"]
    r = c.post(
        f"/api/alerts/{alert_id}/resolve",
        headers=stack.h("sup"),
        json={"resolution": "violation_confirmed", "reason": "confirmed ok"},
    )
    assert r.status_code == 422
    r = c.post(
        f"/api/alerts/{alert_id}/resolve",
        headers=stack.h("sup"),
        json={"resolution": "violation_confirmed", "reason": REASON},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resolution"] == "violation_confirmed"
    packet = body["evidence"]
    assert len(packet["positions"]) == 5
    assert {p["accuracy_m"] for p in packet["positions"]} == {8.0}
    assert packet["participant_response"].startswith("My mother")
    assert [x["text"][:9] for x in packet["participant_responses"]] == ["My mother"]
    assert packet["device_health"]["fixes_24h"] == 5
    assert {"checkins", "device_events", "incidents", "problem_reports"} <= set(packet)

    # The participant is told the decision, sees the evidence, and asks for a review.
    notices = c.get("/api/portal/notices", headers=me).json()
    assert notices[0]["kind"] == "decision" and "judged a violation" in notices[0]["text"]
    mine = c.get("/api/portal/alerts", headers=me).json()
    assert mine[0]["evidence"]["alert"]["id"] == alert_id
    r = c.post(f"/api/portal/alerts/{alert_id}/review", headers=me, json={"reason": "."})
    assert r.status_code == 422
    r = c.post(
        f"/api/portal/alerts/{alert_id}/review",
        headers=me,
        json={"reason": "I have the hospital's discharge paper with the times"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["resolution"] is None
    r = c.post(
        f"/api/portal/alerts/{alert_id}/review",
        headers=me,
        json={"reason": "asking a second time for the same decision"},
    )
    assert r.status_code == 409

    # Every step is in the history, for staff and for the participant.
    staff = c.get(f"/api/alerts/{alert_id}/history", headers=stack.h("cm1")).json()
    steps = [s["action"] for s in staff["steps"]]
    assert steps == [
        "notice:send",
        "alert:respond",
        "alert:propose_violation",
        "alert:resolve",
        "notice:send",
        "alert:review_request",
        "notice:send",
    ]
    review = staff["steps"][5]
    assert review["details"]["previous"]["resolution"] == "violation_confirmed"
    theirs = c.get(f"/api/portal/alerts/{alert_id}/history", headers=me).json()
    assert [s["action"] for s in theirs["steps"]] == steps
    assert [n["kind"] for n in theirs["notices"]] == [
        "alert_raised",
        "decision",
        "review_requested",
    ]
    # Another participant's alert is not theirs to see.
    other = stack.add_alert(T0, participant_id=_second_participant(stack), device_id=None)
    assert c.get(f"/api/portal/alerts/{other}/history", headers=me).status_code == 404


def _second_participant(stack: Stack) -> int:
    body = {"name": "Q", "timezone": "UTC", "supervision_level": "app"}
    r = stack.client.post("/api/participants", headers=stack.h("cm2"), json=body)
    assert r.status_code == 201
    return int(r.json()["id"])


def test_second_staff_policy_and_technical_decisions(stack: Stack) -> None:
    stack.container.settings.violation_confirmation = "second_staff"
    stack.container.settings.response_window_h = 24
    c = stack.client
    r = c.post(
        f"/api/participants/{stack.pid}/caseload",
        headers=stack.h("sup"),
        json={"user_id": stack.users["cm2"]},
    )
    assert r.status_code == 204
    alert_id = stack.add_alert(T0)
    tech_id = stack.add_alert(
        T0, type="device_offline", category="technical", explanation="no message for 30 minutes"
    )
    with stack.container.uow() as uow:
        from openatd.alerts.notices import notify_new_alerts

        assert len(notify_new_alerts(uow, T0, 24 * 3600.0)) == 2
    # A decision in the participant's favour needs no waiting.
    body = {"resolution": "technical", "reason": "battery died overnight, charger lost"}
    r = c.post(f"/api/alerts/{tech_id}/resolve", headers=stack.h("cm1"), json=body)
    assert r.status_code == 200
    stack.clock.set(T0 + timedelta(hours=25))
    # No proposal yet: nothing to confirm.
    r = c.post(
        f"/api/alerts/{alert_id}/resolve",
        headers=stack.h("cm2"),
        json={"resolution": "violation_confirmed", "reason": REASON},
    )
    assert r.status_code == 409 and "proposed" in r.json()["detail"]
    assert (
        c.post(
            f"/api/alerts/{alert_id}/propose-violation",
            headers=stack.h("cm1"),
            json={"reason": REASON},
        ).status_code
        == 200
    )
    r = c.post(
        f"/api/alerts/{alert_id}/resolve",
        headers=stack.h("cm1"),
        json={"resolution": "violation_confirmed", "reason": REASON},
    )
    assert r.status_code == 403 and "second staff member" in r.json()["detail"]
    r = c.post(
        f"/api/alerts/{alert_id}/resolve",
        headers=stack.h("cm2"),
        json={"resolution": "violation_confirmed", "reason": REASON},
    )
    assert r.status_code == 200, r.text
    with stack.container.db.engine.connect() as conn:
        kinds = (
            conn.execute(
                sa.text(
                    "SELECT kind FROM participant_notices WHERE participant_id = :p ORDER BY id"
                ),
                {"p": stack.pid},
            )
            .scalars()
            .all()
        )
        resolves = conn.execute(
            sa.text(
                "SELECT actor, details FROM audit_entries WHERE action = 'alert:resolve' "
                "ORDER BY id"
            )
        ).all()
    assert kinds == ["alert_raised", "alert_raised", "decision", "decision"]
    assert [a for a, _ in resolves] == ["user:cm1", "user:cm2"]
    details = resolves[1][1]
    if isinstance(details, str):
        import json

        details = json.loads(details)
    assert details["resolution"] == "violation_confirmed" and "evidence" in details


def test_evidence_read_is_reasoned_and_audited(stack: Stack) -> None:
    c = stack.client
    alert_id = stack.add_alert(T0)
    r = c.get(f"/api/alerts/{alert_id}/evidence", headers=stack.h("cm1"))
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = c.get(
        f"/api/alerts/{alert_id}/evidence",
        headers=stack.h("cm2"),
        params={"reason": "curious about this alert"},
    )
    assert r.status_code == 403
    r = c.get(
        f"/api/alerts/{alert_id}/evidence",
        headers=stack.h("sup"),
        params={"reason": "deciding the alert for the hearing"},
    )
    assert r.status_code == 200 and r.json()["alert"]["id"] == alert_id
    with stack.container.db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT actor, reason FROM audit_entries WHERE action = 'alert:evidence_read'")
        ).all()
    assert rows == [("user:sup", "deciding the alert for the hearing")]
