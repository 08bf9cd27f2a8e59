"""The participant web app (/me/) in a real headless Chromium (Debian's) on a phone-sized screen,
in Spanish, against a real server with the real face verifier.

The camera is Chromium's fake capture device playing a Y4M video made at test time from a real
LFW photo (../shared/data/faces) of the enrolled person; the location is fixed. The participant
signs in with the program's code, checks in while the upload fails (the attempt is kept with a
receipt), sees it go through when the connection is back, responds to an alert and reports a
problem; axe-core finds no serious or critical accessibility violation on any page.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from browser_helpers import wait_until

from openatd.accounts import create_user
from openatd.checkins import service as checkins
from openatd.checkins.face import OpenCVFaceVerifier
from openatd.checkins.templates import parse_keys
from openatd.participants import portal
from openatd.participants import service as participants
from openatd.safeguards.auth import Role, TokenClaims
from openatd.settings import get_settings
from openatd.storage.db import Database

pytestmark = pytest.mark.slow  # a browser or a live server per test; -m 'not slow' skips

CHROMIUM = os.environ.get("OPENATD_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
WHERE = {"latitude": 41.8781, "longitude": -87.6298, "accuracy": 12}
CONSENT = "participant signed the face-check consent form in the office"


def _person(faces: Path, verifier: OpenCVFaceVerifier) -> tuple[list[bytes], Path]:
    """The first LFW identity (lfw_labels.csv order) whose first three photos pass the quality
    gate: two to enrol, the third to play as the camera. Chosen by photo quality only."""
    by_identity: dict[str, list[Path]] = defaultdict(list)
    with (faces / "lfw_labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            by_identity[row["identity"]].append(faces / row["image"])
    for paths in by_identity.values():
        if len(paths) >= 3 and all(
            verifier.probe(p.read_bytes()).quality.passed for p in paths[:3]
        ):
            return [p.read_bytes() for p in paths[:2]], paths[2]
    raise AssertionError("no LFW identity with three gate-passing photos")


def _y4m(photo: Path, out: Path, side: int = 480, frames: int = 10) -> Path:
    """A short YUV4MPEG2 (4:2:0) video of *photo* scaled to *side* x *side* pixels, the format
    Chromium's --use-file-for-fake-video-capture plays in a loop."""
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    assert image is not None
    image = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
    planes = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), dtype=np.uint8).tobytes()
    with out.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{side} H{side} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + planes)
    return out


@pytest.fixture
def camera_browser(tmp_path: Path, shared_data: Any) -> Iterator[tuple[Any, list[bytes]]]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    enrol, probe = _person(shared_data.path("faces"), OpenCVFaceVerifier.from_installed_package())
    video = _y4m(probe, tmp_path / "face.y4m")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        try:
            yield b, enrol
        finally:
            b.close()


def _program(url: str, enrol: list[bytes]) -> tuple[int, str, int]:
    """A case manager, a participant with an enrolled face, a check-in window open now, an
    alert about them and a one-time sign-in code. Returns (participant id, code, alert id)."""
    db = Database(url)
    now = datetime.now(UTC)
    settings = get_settings()
    with db.uow() as uow:
        user = create_user(uow, now, "casey", "correct horse battery", "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, now + timedelta(hours=1))
        p = participants.create_participant(
            uow,
            claims,
            now,
            name="Rosa Ejemplo",
            timezone="America/Chicago",
            supervision_level="app",
        )
        checkins.enrol_face(
            uow,
            claims,
            now,
            OpenCVFaceVerifier.from_installed_package(),
            parse_keys(settings.template_key),
            p.id,
            enrol,
            CONSENT,
        )
        checkins.create_schedule(
            uow,
            claims,
            now,
            p.id,
            kind="adhoc",
            windows=None,
            within_minutes=60,
            grace_s=300,
            reason="check-in requested after the office visit",
        )
        alert = uow.alerts.add(
            participant_id=p.id,
            device_id=None,
            type="low_battery",
            category="technical",
            at=now - timedelta(hours=2),
            raised_at=now - timedelta(hours=2),
            explanation="The device reported 9 % battery.",
            details={},
            status="open",
        )
        code, _ = portal.issue_app_code(uow, claims, now, p.id)
        ids = (p.id, code, alert.id)
    db.dispose()
    return ids


def _axe(page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"


def _wait_text(page: Any, selector: str, pattern: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = page.inner_text(selector)
        if re.search(pattern, text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"{selector}: {pattern!r} not in {text!r}")


def test_participant_checks_in_on_a_phone_in_spanish(
    live_server: Any, camera_browser: tuple[Any, list[bytes]], tmp_path: Path
) -> None:
    browser, enrol = camera_browser
    # OPENATD_SCREENSHOTS=docs/screenshots refreshes the README's pictures of these pages.
    shots = Path(os.environ.get("OPENATD_SCREENSHOTS", str(tmp_path)))
    pid, code, alert_id = _program(live_server.database_url, enrol)
    base = live_server.api
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="es-ES",
        geolocation=WHERE,
        permissions=["geolocation"],
    )
    page = context.new_page()

    # Sign in with the program's code, in Spanish from the browser's language.
    page.goto(f"{base}/me/")
    assert page.url.endswith("/me/signin")
    assert page.get_attribute("html", "lang") == "es"
    _axe(page)
    page.fill("#participant_id", str(pid))
    page.fill("input[name=code]", code.lower().replace("-", " "))
    page.click("button[type=submit]")
    assert page.url.endswith("/me/")
    assert "Hola, Rosa Ejemplo" in page.inner_text("main")
    _axe(page)
    page.screenshot(path=str(shots / "me-home.png"), full_page=True)

    # The first upload fails (no connection): the attempt is kept, with a receipt.
    page.click("text=Presentarme ahora")
    assert page.url.endswith("/me/checkin")
    assert "ubicación una vez" in page.inner_text("#why-location")
    _axe(page)
    context.set_offline(True)
    page.click("#start-camera")
    page.wait_for_selector("#take-photo", state="visible")
    wait_until(page, "document.getElementById('preview').videoWidth > 0")
    page.click("#take-photo")
    _wait_text(page, "#result", "No se pudo enviar ahora")
    page.wait_for_selector("#receipts li[data-status=pending]")
    assert "Guardado en este teléfono. Comprobante" in page.inner_text("#receipts")
    assert "Si la aplicación no funciona" in page.inner_text("main")

    # The connection comes back: the kept attempt goes through and the result is in plain words.
    context.set_offline(False)  # the browser fires "online"; the app sends what it kept
    result = _wait_text(page, "#result", "Verificado|revisión")
    assert result.strip() == "Verificado. Gracias, su presentación está completa."
    page.wait_for_selector("#receipts li[data-status=sent]")
    assert "comprobante del servidor #" in page.inner_text("#receipts")
    page.screenshot(path=str(shots / "me-checkin.png"), full_page=True)
    db = Database(live_server.database_url)
    with db.uow() as uow:
        (row,) = uow.checkins.for_participant(pid)
        assert row.outcome == "verified" and row.on_time
        assert (row.latitude, row.longitude, row.accuracy_m) == (
            WHERE["latitude"],
            WHERE["longitude"],
            WHERE["accuracy"],
        )

    # My alerts: the explanation and status; the participant responds.
    page.click("nav >> text=Mis alertas")
    assert "Batería baja" in page.inner_text("main")
    assert "The device reported 9 % battery." in page.inner_text("main")
    _axe(page)
    page.fill(f"#respond-{alert_id}", "Se me acabó la batería en el trabajo")
    page.click("text=Enviar mi respuesta")
    assert "Su respuesta se envió" in page.inner_text("[role=status]")
    assert "Se me acabó la batería en el trabajo" in page.inner_text("main")
    page.screenshot(path=str(shots / "me-alerts.png"), full_page=True)

    # Report a problem: a timestamped technical report.
    page.click("nav >> text=Reportar un problema")
    _axe(page)
    page.check("input[name=kind][value=device]")
    page.fill("#problem-text", "El dispositivo no carga desde anoche")
    page.click("text=Enviar el reporte")
    assert "Su reporte quedó registrado" in page.inner_text("[role=status]")
    page.screenshot(path=str(shots / "me-report.png"), full_page=True)

    # My data: who read it and why (the face enrolment by casey), and the export.
    page.click("nav >> text=Mis datos")
    log = page.inner_text("main")
    assert "casey" in log and "registró las fotos de su cara" in log
    assert CONSENT in log
    _axe(page)

    # Installable: the service worker controls /me/.
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{base}/me/"
    # Without a connection the app shell still opens and says what happens to kept check-ins.
    context.set_offline(True)
    page.goto(f"{base}/me/alerts")
    assert "Sin conexión" in page.inner_text("h1")
    assert "quedan guardadas en el teléfono" in page.inner_text("main")
    context.set_offline(False)

    with db.uow() as uow:
        alert = uow.alerts.get(alert_id)
        assert alert.participant_response == "Se me acabó la batería en el trabajo"
        reports = [
            a for a in uow.alerts.list(participant_ids=[pid]) if a.type == "participant_report"
        ]
        assert [r.details["kind"] for r in reports] == ["device"]
        assert "El dispositivo no carga desde anoche" in reports[0].explanation
    db.dispose()
    context.close()
