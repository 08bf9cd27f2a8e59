"""``openatd demo --exit``, the README's first command, as a newcomer runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from live import free_port

from openatd.checkins import service as checkins
from openatd.checkins.face import OpenCVFaceVerifier
from openatd.checkins.templates import parse_keys
from openatd.cli.demo import DEFAULT_TRACE, DEMO_CONSENT, DEMO_FACE, setup_program
from openatd.ingest.traces import read_trace
from openatd.settings import get_settings
from openatd.storage.db import Database


@pytest.mark.slow
def test_demo_raises_alerts_and_prints_what_to_open(shared_data: Any, tmp_path: Path) -> None:
    http, osmand = free_port(), free_port()
    openatd = Path(sys.executable).with_name("openatd")
    done = subprocess.run(
        [str(openatd), "demo", "--exit", "--http-port", str(http), "--osmand-port", str(osmand)],
        cwd=tmp_path,  # the shared data is found without a working folder beside it
        env={"OPENATD_SHARED_DATA": str(shared_data.data), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "sent 104, accepted by the intake 104, refused 0" in out
    assert "#1 inclusion_zone_exit (compliance · home (curfew))" in out
    assert "#2 exclusion_zone_entry (compliance · protected address)" in out
    api = f"http://127.0.0.1:{http}"
    login = re.search(rf"staff pages\s+{api}/ui/\s+log in as demo / (\S+)", out)
    assert login, out
    assert re.search(
        rf"audit log\s+{api}/ui/audit\s+log in as auditor / {re.escape(login[1])}", out
    )
    assert re.search(rf"API docs\s+{api}/docs", out)
    code = re.search(rf"participant app\s+{api}/me/\s+participant 1 signs in with code (\S+)", out)
    assert code and re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4})+", code[1]), out
    assert "demo database deleted" in out
    # --exit stops at once: no promise of a device_offline alert it will not stay to see
    assert "device_offline" not in out and "falls silent" not in out


OTHER_FACE = ("faces", "lfw", "Al_Gore", "Al_Gore_0001.jpg")
"""Another person's photo (passes the quality gate), for the demo's review path."""


@pytest.mark.parametrize(
    ("selfie", "outcome", "review_kind"),
    [(DEMO_FACE.parts, "verified", None), (OTHER_FACE, "needs_review", "mismatch")],
    ids=["enrolled-photo", "other-face"],
)
def test_demo_participant_can_check_in(
    shared_data: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    selfie: tuple[str, ...],
    outcome: str,
    review_kind: str | None,
) -> None:
    """The demo's set-up alone makes a check-in possible: an open ad-hoc window and a face
    enrolled with consent from the shared photo; that photo verifies, another face goes to a
    person for review (not a violation)."""
    monkeypatch.setenv("OPENATD_SHARED_DATA", str(shared_data.data))
    points = list(read_trace(shared_data.path(*DEFAULT_TRACE.parts)))
    settings = get_settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}", env="development")
    pid, _code = setup_program(settings, points, "pw-" + "x" * 12, 0.0)
    db = Database(settings.database_url)
    now = datetime.now(UTC)
    try:
        with db.uow() as uow:
            summary = checkins.enrolment_summary(uow, pid)
            assert (summary.templates, summary.consent_reason) == (1, DEMO_CONSENT)
            (window,) = checkins.open_windows(uow, uow.participants.get(pid), now)
            assert window.end - now > timedelta(hours=23)
        receipt = checkins.submit_check_in(
            db.uow,
            OpenCVFaceVerifier.from_installed_package(),
            parse_keys(settings.template_key),
            pid,
            now,
            selfie=shared_data.path(*selfie).read_bytes(),
            location=checkins.Location(45.27, 13.72, 15.0),
            device_time=now,
        )
        assert (receipt.checkin.outcome, receipt.checkin.review_kind) == (outcome, review_kind)
        assert receipt.checkin.on_time
    finally:
        db.dispose()
