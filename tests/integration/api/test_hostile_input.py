"""Hostile input found by fuzzing the staff API: each is a 4xx with a reason, never a 500."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import httpx

from openatd.accounts import create_user
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
BIG = 2**63  # one past the largest 64-bit id


def _token(api: str, name: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(f"{api}/api/auth/token", data={"username": name, "password": password})


def _h(api: str, name: str) -> dict[str, str]:
    r = _token(api, name)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_hostile_input_is_refused_with_reasons(live_server: Any) -> None:
    api = live_server.api
    db = Database(live_server.database_url)
    with db.uow() as uow:
        for name in ("cm1", "cm2", "locky"):
            create_user(uow, datetime.now(UTC), name, PASSWORD, "case_manager")
    h = _h(api, "cm1")
    other = _h(api, "cm2")
    p = httpx.post(
        f"{api}/api/participants", headers=h, json={"name": "A", "timezone": "America/Chicago"}
    ).json()["id"]

    def status(method: str, path: str, headers: dict[str, str] = h, **kw: Any) -> int:
        r = httpx.request(method, f"{api}{path}", headers=headers, timeout=30, **kw)
        assert r.status_code < 500, (path, r.status_code, r.text)
        assert r.json()["detail"], r.text
        return r.status_code

    # Ids past 64 bits, in paths, queries and bodies.
    assert status("GET", f"/api/participants/{BIG}") == 422
    assert status("GET", "/api/alerts", params={"participant_id": BIG}) == 422
    assert status("POST", "/api/devices", json={"unique_id": "x1", "participant_id": BIG}) == 422
    assert status("POST", f"/api/participants/{p}/caseload", json={"user_id": BIG}) in (403, 422)

    # Participant fields.
    big_tz = {"timezone": "a" * 100_000}
    assert status("PATCH", f"/api/participants/{p}", json=big_tz) == 422
    assert status("PATCH", f"/api/participants/{p}", json={"name": "   "}) == 422
    assert status("PATCH", f"/api/participants/{p}", json={"name": "x\u202ey"}) == 422
    for policy in ({"zone_dwell_s": "120"}, {"zone_dwell_s": True}, {"low_battery_pct": 500},
                   {"offline_after_s": 1e308}, {"low_battery_pct": 10**400}):  # fmt: skip
        body = __import__("json").dumps({"policy": policy})
        assert status("PATCH", f"/api/participants/{p}", content=body,
                      headers={**h, "Content-Type": "application/json"}) == 422, policy  # fmt: skip
    for tz in ("localtime", "posixrules", "Factory", "../../etc/passwd"):
        assert status("PATCH", f"/api/participants/{p}", json={"timezone": tz}) == 422, tz
    curfew = {"name": "c", "kind": "inclusion", "circle": {"lat": 41.8, "lon": -87.6,
              "radius_m": 50}, "schedule": [{"days": ["mon"] * 8, "start": "22:00",
                                             "end": "06:00"}]}  # fmt: skip
    assert status("POST", f"/api/participants/{p}/zones", json=curfew) == 422

    # Zones: oversized, overflowing numbers, junk keys are not stored.
    ring = [[-87.6 + 1e-5 * i, 41.8 + (i % 2) * 1e-5] for i in range(20_000)]
    ring.append(ring[0])
    zones = f"/api/participants/{p}/zones"
    big = {"name": "z", "kind": "inclusion", "geometry": {"type": "Polygon", "coordinates": [ring]}}
    assert status("POST", zones, json=big) == 422
    huge = {"name": "z", "kind": "inclusion", "geometry": {"type": "Polygon", "coordinates": [
        [[10**400, 1], [1, 2], [2, 2], [10**400, 1]]]}}  # fmt: skip
    assert status("POST", zones, content=__import__("json").dumps(huge),
                  headers={**h, "Content-Type": "application/json"}) == 422  # fmt: skip
    bad_circle = {"name": "c", "kind": "inclusion", "circle": {"lat": 41.8, "lon": False,
                                                               "radius_m": 50}}  # fmt: skip
    assert status("POST", zones, json=bad_circle) == 422
    square = [[-87.64, 41.88], [-87.63, 41.88], [-87.63, 41.89], [-87.64, 41.89], [-87.64, 41.88]]
    deep: Any = {"x": 1}
    for _ in range(300):
        deep = {"x": deep}
    junk = {"name": "ok", "kind": "exclusion",
            "geometry": {"type": "Polygon", "coordinates": [square], "junk": deep}}  # fmt: skip
    r = httpx.post(f"{api}{zones}", headers=h, json=junk)
    assert r.status_code == 201, r.text
    assert set(r.json()["geometry"]) == {"type", "coordinates"}

    # Positions: far-off dates, reasons that say nothing, and a long one.
    window = {"start": "9999-12-31T23:00:00Z", "end": "9999-12-31T23:59:59-00:01"}
    assert status("GET", f"/api/participants/{p}/positions",
                  params={**window, "reason": "checking limits"}) == 422  # fmt: skip
    ok_window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    for reason in (".........." * 2, "\u200b" * 11, "x" * 1001):
        assert status("GET", f"/api/participants/{p}/positions",
                      params={**ok_window, "reason": reason}) == 422  # fmt: skip

    # A case manager registers devices only for the caseload.
    assert status("POST", "/api/devices", json={"unique_id": "loose"}) == 422

    # Another caseload's alert: 403 before anything about the request body is said.
    with db.uow() as uow:
        a = uow.alerts.add(participant_id=p, device_id=None, type="strap_tamper",
                           category="compliance", at=datetime.now(UTC),
                           raised_at=datetime.now(UTC), explanation="e", status="open")  # fmt: skip
        alert_id = a.id
    r = httpx.post(f"{api}/api/alerts/{alert_id}/resolve", headers=other,
                   json={"resolution": "nonsense", "reason": ""})  # fmt: skip
    assert r.status_code == 403

    # Bodies over the limit are refused before they are read.
    port = int(api.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /api/participants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: 3000000000\r\n\r\n{}")  # fmt: skip
        assert b" 413 " in s.recv(4096).split(b"\r\n")[0]
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /api/participants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        chunk = b"a" * 1_000_000
        try:
            for _ in range(4):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server may close as soon as it has refused
        assert b" 413 " in s.recv(4096).split(b"\r\n")[0] + b" "

    # The pages answer a form with a missing field with a page, not JSON.
    csrf = "t" * 43  # the double-submit token: cookie and field agree (web/security.py)
    cookie = {"openatd_session": _token(api, "cm1").json()["access_token"], "openatd_csrf": csrf}
    r = httpx.post(f"{api}/ui/alerts/{alert_id}/resolve", cookies=cookie, data={"csrf_token": csrf})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")

    # Five wrong passwords slow the guessing client down (429 with Retry-After); nothing is
    # locked (tests/integration/security/test_login_throttle.py covers the rest).
    for _ in range(5):
        assert _token(api, "locky", "wrong password!").status_code == 401
    r = _token(api, "locky")
    assert r.status_code == 429 and "too many failed log-ins" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) >= 1
    db.dispose()
