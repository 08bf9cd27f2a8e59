"""Pages fed by other areas' data: the face figures page and late uploads in the review queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from openatd.accounts import create_user
from openatd.participants import service
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage.db import Database
from openatd.web.staff import face

PASSWORD = "correct horse battery"
FIGURES = {
    "threshold": 0.42,
    "enrolment_photos": 3,
    "measured_on": "LFW test identities",
    "overall": {"genuine_review": {"k": 3, "n": 200, "ci95": [0.005, 0.043]}},
    "groups": [
        {
            "group": "women",
            "people": 40,
            "impostor_verified": {"k": 1, "n": 900, "ci95": [0.0002, 0.0063]},
        },
    ],
    "people": {"test": 120},
    "ratios": {"genuine_review_women_to_men": None},
    "latency_ms": {"lfw_250px": {"p50": 41, "p95": 77}},
    "limits": ["LFW is mostly public figures photographed by the press."],
}


def test_face_figures_page(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    r = httpx.get(f"{live_server.api}/ui/face-figures")
    assert r.status_code == 200  # no sign-in, no personal data
    assert "not published" in r.text or "Limits of these figures" in r.text
    monkeypatch.setattr(face, "load_face_figures", lambda: FIGURES)
    text = httpx.get(f"{live_server.api}/ui/face-figures").text
    assert "LFW is mostly public figures photographed by the press." in text
    assert "3 of 200" in text and "1.5 %" in text and "0.5–4.3 %" in text
    assert "1 of 900" in text and "someone else&#39;s photo verified" in text
    assert "not measurable: no error in the lower group" in text
    assert "p50 41 ms" in text


def test_late_upload_shows_both_times_in_the_review_queue(live_server: Any) -> None:
    api, url = live_server.api, live_server.database_url
    db = Database(url)
    now = datetime.now(UTC)
    with db.uow() as uow:
        user = create_user(uow, now, "casey", PASSWORD, "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, now + timedelta(hours=1))
        p = service.create_participant(
            uow, claims, now, name="Dana", timezone="Europe/Zagreb", supervision_level="app"
        )
        late = {
            "attempted_at": "2026-12-05T08:01:00+00:00",
            "received_at": "2026-12-05T09:40:00+00:00",
            "decision": "inside the window",
        }
        uow.checkins.add(
            participant_id=p.id, schedule_id=None, method="app", server_time=now,
            outcome="needs_review", on_time=True, selfie=b"\xff\xd8\xff", review_status="open",
            review_kind="technical", attempt=1, quality_report={"late_upload": late},
        )  # fmt: skip
    db.dispose()
    with httpx.Client(base_url=api, headers={"Origin": api}) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/ui/login").text)
        assert token
        browser.post(
            "/ui/login", data={"username": "casey", "password": PASSWORD, "csrf_token": token[1]}
        )
        text = browser.get("/ui/checkins/reviews").text
    assert "taken 2026-12-05T08:01:00+00:00, received 2026-12-05T09:40:00+00:00" in text
    assert "never a missed check-in" in text
