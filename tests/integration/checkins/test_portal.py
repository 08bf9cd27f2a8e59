"""The participant's side (DESIGN principle 6) over the real API: obligations, every alert with
its explanation, responding to an alert, and the export of everything held about them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from checkin_helpers import HOME, T0, Person, Stack

from openatd.checkins import service


def test_alerts_response_and_export(stack: Stack, people: list[Person]) -> None:
    api, client, clock = stack.api, stack.client, stack.clock
    alice, bob = api.login("alice"), api.login("bob")
    pid = api.participant(alice, "P. Portal")
    other = api.participant(bob, "P. Elsewhere")
    assert api.enrol(alice, pid, people[2].enrol).status_code == 201
    r = client.post(
        f"/api/participants/{pid}/zones",
        headers=alice,
        json={
            "name": "home",
            "kind": "inclusion",
            "circle": {"lat": HOME[0], "lon": HOME[1], "radius_m": 150},
        },
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/devices",
        headers=alice,
        json={"unique_id": "356938035643809", "protocol": "osmand", "participant_id": pid},
    )
    assert r.status_code == 201, r.text
    device_id = r.json()["id"]
    fixes = [
        {
            "device_id": device_id,
            "participant_id": pid,
            "fix_time": T0 - timedelta(minutes=10 - i),
            "server_time": T0 - timedelta(minutes=10 - i),
            "latitude": HOME[0] + i * 1e-4,
            "longitude": HOME[1],
            "valid": True,
            "accuracy_m": 8.0,
            "in_review": False,
        }
        for i in range(7)
    ]
    with stack.container.uow() as uow:
        assert uow.positions.insert_many(fixes) == 7

    # A verified check-in, then a missed window (an alert about them).
    api.adhoc(alice, pid, minutes=30, grace_s=0)
    phone = api.phone(alice, pid)
    clock.set(T0 + timedelta(minutes=3))
    assert api.check_in(phone, people[2].probe, accuracy_m=9.5).json()["outcome"] == "verified"
    clock.set(T0 + timedelta(hours=1))
    api.adhoc(api.login("alice"), pid, minutes=20, grace_s=0)
    with stack.container.uow() as uow:
        raised = service.sweep_missed_check_ins(uow, T0 + timedelta(hours=2))
        assert [a.participant_id for a in raised] == [pid]
        alert_id = raised[0].id
    # An alert about someone else, which this participant must never see.
    api.adhoc(bob, other, minutes=5, grace_s=0)
    with stack.container.uow() as uow:
        (foreign,) = service.sweep_missed_check_ins(uow, T0 + timedelta(hours=3))
        assert foreign.participant_id == other

    mine = client.get("/api/portal/alerts", headers=phone).json()
    assert [(a["id"], a["type"], a["category"], a["status"]) for a in mine] == [
        (alert_id, "missed_check_in", "compliance", "open")
    ]
    assert mine[0]["explanation"].startswith("No verified check-in was received")

    # Respond: stored on the alert, visible to the case manager, audited.
    text = "My phone battery died at work; I checked in as soon as it was charged."
    r = client.post(f"/api/portal/alerts/{alert_id}/response", headers=phone, json={"text": text})
    assert r.status_code == 200, r.text
    assert r.json()["participant_response"] == text
    r = client.post(f"/api/portal/alerts/{foreign.id}/response", headers=phone, json={"text": "x"})
    assert r.status_code == 404
    r = client.post(f"/api/portal/alerts/{alert_id}/response", headers=phone, json={"text": ""})
    assert r.status_code == 422
    staff_view = client.get("/api/alerts", headers=api.login("alice")).json()
    assert [a["participant_response"] for a in staff_view] == [text]

    # A device alarm recorded for each participant: only their own is exported.
    with stack.container.uow() as uow:
        uow.events.insert_many(
            [
                {"device_id": None, "participant_id": who, "type": "device_alarm",
                 "time": T0 + timedelta(minutes=5), "attributes": {"alarms": [alarm]}}
                for who, alarm in ((pid, "strap_tamper"), (other, "sos"))
            ]
        )  # fmt: skip

    # The export: everything held about them, and nothing about anyone else.
    r = client.get("/api/portal/export", headers=phone)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    assert data["profile"]["id"] == pid and data["profile"]["name"] == "P. Portal"
    assert data["face_enrolment"]["templates"] == 2
    assert [z["name"] for z in data["zones"]] == ["home"]
    assert [d["unique_id"] for d in data["devices"]] == ["356938035643809"]
    assert [p["latitude"] for p in data["positions"]] == [f["latitude"] for f in fixes]
    assert [(e["type"], e["attributes"]) for e in data["events"]] == [
        ("device_alarm", {"alarms": ["strap_tamper"]})
    ]
    assert [c["outcome"] for c in data["checkins"]] == ["verified"]
    assert data["checkins"][0]["accuracy_m"] == 9.5
    assert data["checkins"][0]["selfie_held"] is False
    assert [a["id"] for a in data["alerts"]] == [alert_id]
    assert data["alerts"][0]["participant_response"] == text
    assert len(data["checkin_schedules"]) == 2
    actions = [e["action"] for e in data["audit_entries"]]
    assert "face:enrol" in actions and "alert:respond" in actions
    dumped = json.dumps(data)
    assert "P. Elsewhere" not in dumped
    assert "ciphertext" not in dumped and "code_hash" not in dumped
    with stack.container.uow() as uow:
        last = uow.audit.list(participant_id=pid, limit=1)[0]
        assert last.action == "participant:export"
        assert last.actor == f"participant:{pid}"
        assert last.details == {
            "checkins": 1,
            "alerts": 1,
            "zones": 1,
            "positions": 7,
            "audit_entries": len(data["audit_entries"]),
        }
