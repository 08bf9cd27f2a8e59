"""Issue 8 item 4: location is read by the staff assigned to the participant; a supervisor's
cross-caseload read is explicit, reasoned and audited; no route returns several people's
positions."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import sqlalchemy as sa
from safeguard_helpers import T0, Stack

from openatd.api.app import create_app

WINDOW = {
    "start": (T0 - timedelta(hours=2)).isoformat(),
    "end": (T0 + timedelta(hours=1)).isoformat(),
    "reason": "checking the curfew alert of last night",
}


def test_supervisor_cross_caseload_reads_are_explicit(stack: Stack) -> None:
    c = stack.client
    assert (
        stack.pipeline().process([(stack.imei, stack.fixes(T0 - timedelta(hours=1), 3))]).stored
        == 3
    )
    url = f"/api/participants/{stack.pid}/positions"
    # The assigned case manager reads; a case manager elsewhere cannot, even with the flag.
    assert len(c.get(url, headers=stack.h("cm1"), params=WINDOW).json()["positions"]) == 3
    assert (
        c.get(url, headers=stack.h("cm2"), params={**WINDOW, "cross_caseload": "true"}).status_code
        == 403
    )
    # A supervisor not assigned: refused unless the read is declared cross-caseload.
    r = c.get(url, headers=stack.h("sup"), params=WINDOW)
    assert r.status_code == 403 and "cross_caseload=true" in r.json()["detail"]
    r = c.get(url, headers=stack.h("sup"), params={**WINDOW, "cross_caseload": "true"})
    assert r.status_code == 200 and len(r.json()["positions"]) == 3
    # The same for the exports.
    track = f"/api/participants/{stack.pid}/track"
    assert (
        c.get(track, headers=stack.h("sup"), params={**WINDOW, "format": "csv"}).status_code == 403
    )
    # Assigned to the participant, the supervisor reads like the case manager.
    r = c.post(
        f"/api/participants/{stack.pid}/caseload",
        headers=stack.h("adam"),
        json={"user_id": stack.users["sup2"]},
    )
    assert r.status_code == 204
    assert c.get(url, headers=stack.h("sup2"), params=WINDOW).status_code == 200
    # Auditors and administrators never read locations.
    for who in ("audrey", "adam"):
        assert c.get(url, headers=stack.h(who), params=WINDOW).status_code == 403

    with stack.container.db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT actor, reason, details FROM audit_entries "
                "WHERE action = 'positions:read' ORDER BY id"
            )
        ).all()
    crosses = [(a, _d(d)["cross_caseload"]) for a, _, d in rows]
    assert crosses == [("user:cm1", False), ("user:sup", True), ("user:sup2", False)]
    assert {r for _, r, _ in rows} == {WINDOW["reason"]}
    # The participant sees the cross-caseload read in "who read my data".
    log = c.get("/api/portal/access-log", headers=stack.portal()).json()
    reads = [e for e in log if e["action"] == "positions:read"]
    assert [(e["actor"], e["cross_caseload"]) for e in reads] == [
        ("user:sup2", False),
        ("user:sup", True),
        ("user:cm1", False),
    ]


def _d(value: object) -> dict[str, object]:
    return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[call-overload]


def test_no_route_returns_positions_of_more_than_one_participant(stack: Stack) -> None:
    """Every route that can hand out positions or tracks is scoped to one participant: a
    ``{participant_id}`` in its path (staff) or the participant's own token (portal)."""
    app = create_app(container=stack.container, manage_pipeline=False)
    location = re.compile(r"position|track|export|evidence|gpx|geojson", re.I)
    seen = []
    for path, methods in app.openapi()["paths"].items():
        if "get" not in methods:
            continue
        answer = json.dumps(methods["get"].get("responses", {}).get("200", {}))
        if not (location.search(path) or location.search(answer)):
            continue
        seen.append(path)
        assert (
            "{participant_id}" in path
            or path.startswith("/api/portal/")
            or path.startswith("/api/alerts/{alert_id}/")
        ), path
    assert "/api/participants/{participant_id}/positions" in seen
    assert "/api/participants/{participant_id}/track" in seen
    assert "/api/portal/export.gpx" in seen
    # And the list routes carry no location at all.
    r = stack.client.get("/api/participants", headers=stack.h("sup"))
    assert r.status_code == 200 and all("latitude" not in str(p) for p in r.json())
