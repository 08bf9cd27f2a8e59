"""Bad input gets a clear 4xx and loses nothing else (issue 2; cases B16, B29)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from openatd.accounts import create_user
from openatd.storage.db import Database

PASSWORD = "correct horse battery"

# cases.md B16: first and third edges cross at (-87.62866667, 41.87066667).
BOWTIE = [
    [-87.628, 41.870],
    [-87.629, 41.871],
    [-87.628, 41.871],
    [-87.630, 41.870],
    [-87.628, 41.870],
]


def _token(api: str, name: str) -> dict[str, str]:
    r = httpx.post(f"{api}/api/auth/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _zone(api: str, h: dict[str, str], pid: int, geometry: Any) -> httpx.Response:
    return httpx.post(
        f"{api}/api/participants/{pid}/zones",
        headers=h,
        json={"name": "home", "kind": "inclusion", "geometry": geometry},
    )


def test_refusals_are_4xx_with_reasons(live_server: Any) -> None:
    api = live_server.api
    db = Database(live_server.database_url)
    with db.uow() as uow:
        create_user(uow, datetime.now(UTC), "carol", PASSWORD, "case_manager")
        create_user(uow, datetime.now(UTC), "adam", PASSWORD, "admin")
    h = _token(api, "carol")

    # Unauthenticated and forged tokens.
    assert httpx.get(f"{api}/api/alerts").status_code == 401
    bad = {"Authorization": "Bearer not.a.token"}
    assert httpx.get(f"{api}/api/alerts", headers=bad).status_code == 401
    assert (
        httpx.post(
            f"{api}/api/auth/token", data={"username": "carol", "password": "wrong password!"}
        ).status_code
        == 401
    )

    # A wrong time zone name.
    r = httpx.post(
        f"{api}/api/participants",
        headers=h,
        json={"name": "X", "timezone": "America/Chicgo", "supervision_level": "gps"},
    )
    assert r.status_code == 422
    assert "America/Chicgo" in r.json()["detail"]
    r = httpx.post(
        f"{api}/api/participants",
        headers=h,
        json={"name": "X", "timezone": "America/Chicago", "policy": {"zone_dwel_s": 5}},
    )
    assert r.status_code == 422
    r = httpx.post(
        f"{api}/api/participants",
        headers=h,
        json={"name": "X", "timezone": "America/Chicago", "supervision_level": "gps"},
    )
    assert r.status_code == 201
    pid = r.json()["id"]
    # A body that is not JSON: where and why, not "1: JSON decode error".
    r = httpx.post(
        f"{api}/api/participants",
        headers={**h, "Content-Type": "application/json"},
        content=b'{"name": "X",',
    )
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "the body is not valid JSON (at character 13: Expecting property name enclosed in"
        " double quotes)"
    )

    # B16: a self-intersecting polygon is refused, naming the crossing; nothing stored.
    r = _zone(api, h, pid, {"type": "Polygon", "coordinates": [BOWTIE]})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "self-intersection" in detail
    assert "-87.628667" in detail and "41.870667" in detail
    # Other malformed shapes, each with its own reason.
    cases = {
        "not closed": {
            "type": "Polygon",
            "coordinates": [[[-87.63, 41.87], [-87.62, 41.87], [-87.62, 41.88], [-87.63, 41.88]]],
        },
        "at least 4": {
            "type": "Polygon",
            "coordinates": [[[-87.63, 41.87], [-87.62, 41.87], [-87.63, 41.87]]],
        },
        "180": {
            "type": "Polygon",
            "coordinates": [
                [[179.5, 10.0], [-179.5, 10.0], [-179.5, 11.0], [179.5, 11.0], [179.5, 10.0]]
            ],
        },
        "Polygon": {"type": "Point", "coordinates": [-87.63, 41.87]},
    }
    reasons = set()
    for needle, geometry in cases.items():
        r = _zone(api, h, pid, geometry)
        assert r.status_code == 422, (needle, r.text)
        assert needle in r.json()["detail"], (needle, r.json()["detail"])
        reasons.add(r.json()["detail"])
    assert len(reasons) == len(cases)
    r = httpx.get(f"{api}/api/participants/{pid}/zones", headers=h)
    assert r.json() == []
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM zones")).scalar_one() == 0
        created = c.execute(
            sa.text("SELECT count(*) FROM audit_entries WHERE action = 'zone:create'")
        ).scalar_one()
        assert created == 0

    # Schedules: start == end is invalid.
    r = httpx.post(
        f"{api}/api/participants/{pid}/zones",
        headers=h,
        json={
            "name": "curfew",
            "kind": "inclusion",
            "circle": {"lat": 41.87, "lon": -87.63, "radius_m": 100},
            "schedule": [{"days": ["mon"], "start": "22:00", "end": "22:00"}],
        },
    )
    assert r.status_code == 422

    # Resources that don't exist, and ones outside the caseload.
    assert httpx.get(f"{api}/api/participants/999999", headers=h).status_code == 404
    assert httpx.post(f"{api}/api/alerts/999999/acknowledge", headers=h).status_code == 404
    r = httpx.get(
        f"{api}/api/participants/{pid}/positions",
        headers=h,
        params={"start": "yesterday", "end": "today", "reason": "looking at something"},
    )
    assert r.status_code == 422
    r = httpx.get(
        f"{api}/api/participants/{pid}/positions",
        headers=h,
        params={"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00", "reason": "x" * 20},
    )
    assert r.status_code == 422 and "offset" in r.json()["detail"]

    # Admins manage devices, but may not read personal data.
    admin = _token(api, "adam")
    assert httpx.get(f"{api}/api/participants/{pid}", headers=admin).status_code == 403
    r = httpx.post(
        f"{api}/api/devices", headers=admin, json={"unique_id": "dev-9", "participant_id": pid}
    )
    assert r.status_code == 201
    r = httpx.post(f"{api}/api/devices", headers=admin, json={"unique_id": "dev-9"})
    assert r.status_code == 409

    # The intake: junk bodies, a JSON that is not a location, no id.
    intake = live_server.intake
    assert (
        httpx.post(
            f"{intake}/", content=b"\x00\xff garbage", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert httpx.post(f"{intake}/", json={"hello": "world"}).status_code == 400
    assert httpx.get(f"{intake}/", params={"lat": 1, "lon": 2}).status_code == 400
    # ...and the server still serves.
    assert httpx.get(f"{api}/health").json()["status"] == "ok"
    db.dispose()
