"""A case manager's whole day in a real headless Chromium against a real server.

Sign in; enrol a participant; draw their home zone on the map; assign a device; real
intake traffic raises a compliance and a technical alert, shown apart; triage them;
read the track for a reason (map with accuracy circles) and find that read in the
auditor's audit log; review a check-in with the selfie beside the decision data. Every
main page passes axe-core with no serious or critical violation, logs no
Content-Security-Policy error, and the header fits a phone's width.

Set ``OPENATD_SCREENSHOTS=docs/screenshots`` to refresh the README's screenshots.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from browser_helpers import wait_until

from openatd.accounts import create_user
from openatd.storage.db import Database

pytestmark = pytest.mark.slow  # a browser or a live server per test; -m 'not slow' skips

PASSWORD = "correct horse battery"
HOME = (45.4526, 14.0182)  # Rijeka, Croatia


def _axe(page: Any) -> None:
    """No serious or critical axe-core violation on *page*."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("OPENATD_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _login(page: Any, api: str, username: str) -> None:
    page.goto(f"{api}/ui/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def _send(intake: str, device: str, t: int, lat: float, lon: float, batt: float) -> None:
    r = httpx.get(
        f"{intake}/",
        params={"id": device, "timestamp": t, "lat": lat, "lon": lon, "accuracy": 25, "batt": batt},
    )
    assert r.status_code == 200, r.text


def _checkin_under_review(url: str, pid: int, selfie: bytes) -> int:
    """A check-in whose photo scored under the threshold, waiting for a person (as the
    check-in service leaves one; the face pipeline itself is tested in checkins/)."""
    db = Database(url)
    now = datetime.now(UTC)
    with db.uow() as uow:
        c = uow.checkins.add(
            participant_id=pid, schedule_id=None, method="app", server_time=now,
            device_time=now, latitude=HOME[0], longitude=HOME[1], accuracy_m=12.0,
            outcome="needs_review", score=0.31, threshold=0.42, on_time=True, selfie=selfie,
            review_status="open", review_kind="mismatch", attempt=1,
            quality_report={"brightness": 0.52, "sharpness": 140.0},
        )  # fmt: skip
        cid = c.id
    db.dispose()
    return cid


def test_case_manager_runs_the_caseload_in_the_browser(
    live_server: Any, browser: Any, tmp_path: Path, shared_data: Any
) -> None:
    api = live_server.api
    db = Database(live_server.database_url)
    now = datetime.now(UTC)
    with db.uow() as uow:
        create_user(uow, now, "casey", PASSWORD, "case_manager")
        create_user(uow, now, "audrey", PASSWORD, "auditor")
    db.dispose()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    off_host: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith((api, "data:")) else off_host.append(r.url)
    )

    _login(page, api, "casey")
    assert page.url == f"{api}/ui/"

    # Enrol a participant.
    page.goto(f"{api}/ui/participants")
    page.fill("#new-name", "Ana Example")
    page.fill("#new-tz", "Europe/Zagreb")
    page.select_option("#new-level", "gps")
    page.get_by_role("button", name="Enrol", exact=True).click()
    assert "Participant enrolled" in page.inner_text("[role=status]")
    pid = int(page.url.split("/ui/participants/")[1].split("?")[0])

    # Draw the home zone on the map: a rectangle of about 160 m x 160 m around HOME.
    wait_until(page, "window.openatdMap !== undefined")
    page.evaluate(f"openatdMap.setView([{HOME[0]}, {HOME[1]}], 17)")
    box = page.locator("#map").bounding_box()

    def at(lat: float, lon: float) -> tuple[float, float]:
        p = page.evaluate(f"openatdMap.latLngToContainerPoint([{lat}, {lon}])")
        return box["x"] + p["x"], box["y"] + p["y"]

    page.click(".leaflet-pm-icon-rectangle")
    page.mouse.click(*at(HOME[0] + 0.0007, HOME[1] - 0.001))
    page.mouse.click(*at(HOME[0] - 0.0007, HOME[1] + 0.001))
    assert "Drawn: polygon with 4 corners" in page.inner_text("#zone-drawn")
    page.fill("#zone-name", "home")
    page.select_option("#zone-kind", "inclusion")
    page.click("text=Save zone")
    assert "Zone saved" in page.inner_text("[role=status]")
    row = page.locator("tr[data-zone-id]").first
    assert "home" in row.inner_text() and "Polygon" in row.inner_text()
    zones = json.loads(page.inner_text("#zones-data"))
    ring = zones[0]["geometry"]["coordinates"][0]
    lons, lats = [c[0] for c in ring], [c[1] for c in ring]
    assert min(lats) < HOME[0] < max(lats) and min(lons) < HOME[1] < max(lons)
    assert 100 < (max(lats) - min(lats)) * 111_000 < 220  # metres north-south

    # Assign a device.
    page.fill("#dev-id", "ana-phone")
    page.click("text=Assign device")
    assert "Device assigned" in page.inner_text("[role=status]")
    assert "ana-phone" in page.inner_text("#devices + .scroll")
    # A court date in the participant's local time; the caseload shows it as next.
    hearing = (datetime.now(ZoneInfo("Europe/Zagreb")) + timedelta(days=3)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    page.select_option("#ob-kind", "court_hearing")
    page.fill("#ob-title", "Hearing at the county court")
    page.fill("#ob-start", hearing.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Add obligation").click()
    assert "Obligation saved" in page.inner_text("[role=status]")
    row = page.locator("tr[data-obligation-id]").first.inner_text()
    assert hearing.strftime("%Y-%m-%d 09:30") in row and "court hearing" in row
    _axe(page)
    _shot(page, "participant", tmp_path)

    # Real intake traffic: home, then 5 minutes 1 km away, battery running down.
    t0 = int(time.time()) - 900
    _send(live_server.intake, "ana-phone", t0, HOME[0], HOME[1], 60)
    for i in range(1, 7):
        _send(live_server.intake, "ana-phone", t0 + 60 * i, HOME[0] + 0.01, HOME[1], 12 - i)

    # The alert queue: compliance and technical apart, each with its explanation.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        page.goto(f"{api}/ui/")
        if (
            page.locator("#h-technical ~ .alert").count()
            and page.locator("#h-compliance ~ .alert").count()
        ):
            break
        time.sleep(0.3)
    compliance = page.locator("#h-compliance ~ .alert").first
    technical = page.locator("#h-technical ~ .alert").first
    assert "inclusion zone exit" in compliance.inner_text()
    assert "outside the home zone" in compliance.inner_text()
    assert "low battery" in technical.inner_text()
    assert "Participant's response" in compliance.inner_text()
    _axe(page)
    _shot(page, "alerts", tmp_path)

    # Triage: acknowledge the compliance alert; resolve the technical one.
    compliance.locator("text=Acknowledge").click()
    assert "Alert acknowledged" in page.inner_text("[role=status]")
    technical = page.locator("#h-technical ~ .alert").first
    technical.locator("select").select_option("technical")
    technical.locator("textarea").fill("battery ran down; called Ana, she is charging it")
    technical.locator("text=Resolve").click()
    assert "Alert resolved" in page.inner_text("[role=status]")
    assert page.locator("#h-technical ~ .alert").count() == 0
    assert "acknowledged" in page.locator("#h-compliance ~ .alert").first.inner_text()

    # The caseload shows the open alert, battery and last contact.
    page.goto(f"{api}/ui/participants?q=ana")
    cells = page.locator("tbody tr").first.inner_text()
    assert "Ana Example" in cells and "gps" in cells and "6 %" in cells and "s ago" in cells
    assert "Hearing at the county court" in cells
    _axe(page)
    _shot(page, "caseload", tmp_path)

    # The track: a reason first; drawn with accuracy circles and the zone.
    page.goto(f"{api}/ui/participants/{pid}")
    page.fill("#reason", "reviewing the zone exit before calling Ana")
    page.click("text=Show positions")
    page.wait_for_load_state("load")
    page.locator("tbody tr").first.wait_for()  # count() does not wait for the table
    assert page.locator("tbody tr").count() == 7
    entry = int(page.inner_text("main").split("recorded as audit entry ")[1].split(".")[0])
    wait_until(page, "window.openatdMap !== undefined")
    # 7 accuracy circles + 7 fix markers + the track line + the zone, all SVG paths
    assert page.locator("#map path.leaflet-interactive").count() >= 7 + 7 + 1 + 1
    _axe(page)
    _shot(page, "track", tmp_path)

    # A check-in under review: selfie beside score, threshold and quality; closed with a reason.
    face = shared_data.path("faces", "lfw", "Adam_Sandler", "Adam_Sandler_0001.jpg").read_bytes()
    cid = _checkin_under_review(live_server.database_url, pid, face)
    page.goto(f"{api}/ui/checkins/reviews")
    card = page.locator(f".review[data-checkin-id='{cid}']")
    assert "0.310" in card.inner_text() and "0.420" in card.inner_text()
    _axe(page)
    card.locator("input[name=reason]").fill("checking the photo of today's check-in")
    card.get_by_role("button", name="Review").click()
    assert page.locator("img.selfie").evaluate("i => i.naturalWidth") > 0
    assert "0.310" in page.inner_text(".evidence") and "brightness" in page.inner_text(".evidence")
    _axe(page)
    _shot(page, "review", tmp_path)
    page.select_option("#resolution", "identity_confirmed")
    page.fill("#close-reason", "same person as enrolled; poor light in the photo")
    page.click("text=Close review")
    assert "Review closed" in page.inner_text("[role=status]")
    assert page.locator(".review").count() == 0

    # At a phone's width the header wraps and "Log out" is fully visible.
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{api}/ui/")
    logout = page.locator("header button").bounding_box()
    assert logout["x"] >= 0 and logout["x"] + logout["width"] <= 375
    _shot(page, "phone-alerts", tmp_path)
    assert csp_errors == [], csp_errors
    assert off_host == [], off_host
    context.close()

    # The auditor finds the track read, with its reason, and the chain intact.
    auditor = browser.new_page()
    _login(auditor, api, "audrey")
    assert auditor.url == f"{api}/ui/audit"
    auditor.goto(f"{api}/ui/")  # the demo's link for the auditor
    assert auditor.url == f"{api}/ui/audit"
    auditor.fill("#f-action", "positions*")
    auditor.fill("#f-staff", "casey")
    auditor.click("text=Filter")
    first = auditor.locator("tbody tr").first.inner_text()
    assert str(entry) in first and "reviewing the zone exit before calling Ana" in first
    assert "Hash chain intact" in auditor.inner_text("#chain")
    today = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d")
    auditor.goto(f"{api}/ui/audit?participant={pid}&since={today}")
    assert "checkin:review" in auditor.inner_text("tbody") or "review" in auditor.inner_text(
        "tbody"
    )
    _axe(auditor)
    _shot(auditor, "audit", tmp_path)
    auditor.close()
