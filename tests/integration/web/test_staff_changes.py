"""Changes made on the staff pages reach the running position rules at once, as the
API's do: a zone replaced on the page is the zone the next fixes are checked against."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from openatd.accounts import create_user
from openatd.participants import service
from openatd.participants.zones import create_zone
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
HOME = (45.4526, 14.0182)


def _alerts(url: str, pid: int) -> list[str]:
    db = Database(url)
    with db.uow() as uow:
        types = [a.type for a in uow.alerts.list(participant_ids=[pid])]
    db.dispose()
    return types


def test_zone_changed_on_the_page_is_used_by_the_rules(live_server: Any) -> None:
    api, url = live_server.api, live_server.database_url
    db = Database(url)
    now = datetime.now(UTC)
    with db.uow() as uow:
        user = create_user(uow, now, "casey", PASSWORD, "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, now + timedelta(hours=1))
        p = service.create_participant(
            uow, claims, now, name="Dana", timezone="Europe/Zagreb", supervision_level="gps",
            policy={"zone_dwell_s": 60},
        )  # fmt: skip
        z = create_zone(
            uow, claims, now, p.id, name="home", kind="inclusion", geometry=None,
            circle={"lat": HOME[0], "lon": HOME[1], "radius_m": 100}, schedule=None,
        )  # fmt: skip
        service.create_device(
            uow, claims, now, unique_id="dana-phone", protocol="osmand", participant_id=p.id
        )
        pid, zid = p.id, z.id
    db.dispose()

    t0 = int(time.time()) - 900

    def fix(t: int, lat: float, lon: float) -> None:
        r = httpx.get(
            f"{live_server.intake}/",
            params={"id": "dana-phone", "timestamp": t, "lat": lat, "lon": lon, "accuracy": 8},
        )
        assert r.status_code == 200

    fix(t0, HOME[0], HOME[1])  # the rules now hold the home circle for Dana

    with httpx.Client(base_url=api, headers={"Origin": api}) as browser:
        page = browser.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        csrf = token[1]
        r = browser.post(
            "/ui/login", data={"username": "casey", "password": PASSWORD, "csrf_token": csrf}
        )
        assert r.status_code == 303
        # Replace the circle by a polygon 1 km north, as the map's "Edit shape" sends it.
        north = HOME[0] + 0.009
        ring = [[HOME[1] - 0.001, north - 0.001], [HOME[1] + 0.001, north - 0.001],
                [HOME[1] + 0.001, north + 0.001], [HOME[1] - 0.001, north + 0.001],
                [HOME[1] - 0.001, north - 0.001]]  # fmt: skip
        r = browser.post(
            f"/ui/zones/{zid}/replace",
            data={"csrf_token": csrf, "geometry": json.dumps({"type": "Polygon",
                  "coordinates": [ring]})},
        )  # fmt: skip
        assert r.status_code == 303 and "Zone%20shape%20changed" in r.headers["location"]

    # Dana at the old home is now outside the (moved) home zone for over a minute.
    for i in range(1, 4):
        fix(t0 + 60 * i, HOME[0], HOME[1])
    deadline = time.monotonic() + 10
    while "inclusion_zone_exit" not in _alerts(url, pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "inclusion_zone_exit" in _alerts(url, pid)


def _login(client: httpx.Client, username: str) -> str:
    page = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/ui/login", data={"username": username, "password": PASSWORD, "csrf_token": token[1]}
    )
    assert r.status_code == 303
    return token[1]


def test_device_unassigned_and_assigned_again_on_the_page(live_server: Any) -> None:
    api, url = live_server.api, live_server.database_url
    db = Database(url)
    now = datetime.now(UTC)
    with db.uow() as uow:
        user = create_user(uow, now, "casey", PASSWORD, "case_manager")
        create_user(uow, now, "other", PASSWORD, "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, now + timedelta(hours=1))
        p = service.create_participant(
            uow, claims, now, name="Dana", timezone="Europe/Zagreb", supervision_level="gps"
        )
        d = service.create_device(
            uow, claims, now, unique_id="356938035643809", protocol="gt06", participant_id=p.id
        )
        pid, did = p.id, d.id
    db.dispose()

    def owner() -> int | None:
        check = Database(url)
        with check.uow() as uow:
            got = uow.devices.get(did).participant_id
        check.dispose()
        return got

    # Another case manager's page cannot take it away.
    with httpx.Client(base_url=api, headers={"Origin": api}) as stranger:
        csrf = _login(stranger, "other")
        r = stranger.post(f"/ui/devices/{did}/unassign", data={"csrf_token": csrf})
        assert r.status_code == 403 and owner() == pid

    with httpx.Client(base_url=api, headers={"Origin": api}) as browser:
        csrf = _login(browser, "casey")
        r = browser.post(f"/ui/devices/{did}/unassign", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"].startswith(f"/ui/participants/{pid}?")
        assert owner() is None
        r = browser.post(f"/ui/devices/{did}/unassign", data={"csrf_token": csrf})
        assert r.status_code == 409 and "not assigned" in r.text
        # Assigning by the same IMEI gives the registered device back; no second device.
        r = browser.post(
            f"/ui/participants/{pid}/devices",
            data={"csrf_token": csrf, "unique_id": "356938035643809"},
        )
        assert r.status_code == 303 and owner() == pid
        page = browser.get(f"/ui/participants/{pid}").text
        assert page.count("356938035643809") == 1

    check = Database(url)
    with check.uow() as uow:
        changes = [
            e.details for e in uow.audit.list(participant_id=pid) if e.action == "device:update"
        ]
    check.dispose()
    assert [c["participant_id"] for c in reversed(changes)] == [
        {"old": pid, "new": None},
        {"old": None, "new": pid},
    ]
