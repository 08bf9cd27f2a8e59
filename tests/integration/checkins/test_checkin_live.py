"""Smartphone check-in end to end on a real running server (loopback HTTP), real database
(SQLite and PostgreSQL) and real LFW face photos: enrolment → sign-in → check-in → outcome."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from checkin_helpers import (
    CONSENT,
    HOME,
    REASON,
    Api,
    Person,
    blurred,
    darkened,
    make_users,
    mean_luma,
    with_exif_gps,
)
from cryptography.fernet import Fernet
from PIL import Image

from openatd.checkins.face import MODEL_ID, OpenCVFaceVerifier
from openatd.checkins.templates import decrypt_template, parse_keys
from openatd.settings import DEFAULT_TEMPLATE_KEY
from openatd.storage.db import Database


def _rows(url: str, sql: str, **params: Any) -> list[Any]:
    db = Database(url)
    try:
        with db.engine.connect() as c:
            return list(c.execute(sa.text(sql), params).all())
    finally:
        db.dispose()


@pytest.fixture
def live(live_server: Any) -> Any:
    make_users(live_server.database_url, datetime.now(UTC))
    return live_server


def test_enrol_check_in_verified_mismatch_reviewed_end_to_end(
    live: Any, people: list[Person], verifier: OpenCVFaceVerifier
) -> None:
    url = live.database_url
    with httpx.Client(base_url=live.api, timeout=30) as client:
        api = Api(client)
        alice = api.login("alice")
        pid = api.participant(alice, "P. Selfie")
        ana, ben = people[0], people[1]

        # Enrolment without a consent reason is refused; with it, two templates are stored.
        r = api.enrol(alice, pid, ana.enrol, consent="")
        assert r.status_code == 422, r.text
        r = api.enrol(alice, pid, ana.enrol)
        assert r.status_code == 201, r.text
        assert r.json()["templates"] == 2
        assert r.json()["model"] == MODEL_ID
        assert r.json()["consent_reason"] == CONSENT

        # Templates are Fernet ciphertext: the float32 bytes are not in the database, and the
        # configured key opens them to the same vectors the verifier makes from the photos.
        stored = _rows(url, "SELECT ciphertext, model FROM face_templates ORDER BY id")
        assert len(stored) == 2
        for (ciphertext, model), photo in zip(stored, ana.enrol, strict=True):
            expected = verifier.enroll(photo)
            raw = expected.to_bytes()
            assert raw not in bytes(ciphertext)
            assert raw[:16] not in bytes(ciphertext)
            Fernet(DEFAULT_TEMPLATE_KEY.encode()).decrypt(bytes(ciphertext))  # a Fernet token
            opened = decrypt_template(bytes(ciphertext), model, parse_keys(DEFAULT_TEMPLATE_KEY))
            assert np.allclose(opened.vector, expected.vector, atol=1e-6)

        schedule = api.adhoc(alice, pid, minutes=60, grace_s=300)
        phone = api.phone(alice, pid)

        r = client.get("/api/portal/checkin-window", headers=phone)
        assert r.status_code == 200, r.text
        window = r.json()["window"]
        assert window["schedule_id"] == schedule["id"]
        assert window["attempts_left"] == 3
        opens = datetime.fromisoformat(schedule["opens_at"])
        assert datetime.fromisoformat(window["closes_at"]) == opens + timedelta(minutes=65)

        # The same person checks in; the phone's clock is a year off and does not matter.
        r = api.check_in(phone, ana.probe, device_time="2025-03-01T08:00:00-06:00")
        assert r.status_code == 201, r.text
        receipt = r.json()
        assert receipt["outcome"] == "verified"
        assert receipt["on_time"] is True
        assert receipt["window"]["done"] is not None
        assert abs(datetime.fromisoformat(receipt["server_time"]) - datetime.now(UTC)) < timedelta(
            minutes=1
        )
        row = _rows(
            url,
            "SELECT selfie, outcome, latitude, longitude, accuracy_m, device_time, score "
            "FROM checkins WHERE id = :i",
            i=receipt["checkin_id"],
        )[0]
        assert row[0] is None  # the selfie is gone after verification
        assert row[1] == "verified"
        assert (row[2], row[3], row[4]) == (HOME[0], HOME[1], 12.0)
        assert row[6] >= verifier.threshold

        # A second check-in for the same window is refused, nothing stored.
        r = api.check_in(phone, ana.probe)
        assert r.status_code == 409
        assert "already checked in" in r.json()["detail"]

        # Someone else's face: needs review, no alert, the selfie kept for the reviewer.
        pid2 = api.participant(alice, "P. Other")
        assert api.enrol(alice, pid2, ana.enrol).status_code == 201
        api.adhoc(alice, pid2, minutes=30)
        phone2 = api.phone(alice, pid2)
        tagged = with_exif_gps(ben.probe)
        assert b"Exif" in tagged and b"PhoneMaker" in tagged
        r = api.check_in(phone2, tagged)
        assert r.status_code == 201, r.text
        assert r.json()["outcome"] == "needs_review"
        assert "person will look at it" in r.json()["message"]
        review_id = r.json()["checkin_id"]
        selfie, score, kind = _rows(
            url, "SELECT selfie, score, review_kind FROM checkins WHERE id = :i", i=review_id
        )[0]
        assert selfie is not None and bytes(selfie)[:2] == b"\xff\xd8"
        # Kept for the reviewer without any metadata: no EXIF, no camera, no GPS.
        assert b"Exif" not in bytes(selfie) and b"PhoneMaker" not in bytes(selfie)
        assert not Image.open(io.BytesIO(bytes(selfie))).getexif()
        assert score < verifier.threshold
        assert kind == "mismatch"
        assert client.get("/api/alerts", headers=alice).json() == []
        assert client.get("/api/portal/alerts", headers=phone2).json() == []

        reviews = client.get("/api/checkins/reviews", headers=alice).json()
        assert [(c["id"], c["review_kind"]) for c in reviews] == [(review_id, "mismatch")]
        assert reviews[0]["score"] == pytest.approx(score)
        assert reviews[0]["quality_report"]["code"] == "ok"
        selfie_url = f"/api/checkins/{review_id}/selfie"
        r = client.get(selfie_url, headers=alice, params={"reason": ""})
        assert r.status_code == 422
        r = client.get(selfie_url, headers=alice, params={"reason": REASON})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        r = client.post(
            f"/api/checkins/{review_id}/review",
            headers=alice,
            json={"resolution": "identity_not_confirmed", "reason": "a different person in photo"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["selfie_held"] is False
        assert _rows(url, "SELECT selfie FROM checkins WHERE id = :i", i=review_id)[0][0] is None
        assert client.get("/api/checkins/reviews", headers=alice).json() == []

        # Staff read check-ins (with locations) per participant with a reason, audited.
        checkins_url = f"/api/participants/{pid}/checkins"
        r = client.get(checkins_url, headers=alice)
        assert r.status_code == 422
        r = client.get(checkins_url, headers=alice, params={"reason": REASON})
        assert r.status_code == 200
        assert [c["outcome"] for c in r.json()] == ["verified"]
        actions = [a for (a,) in _rows(url, "SELECT action FROM audit_entries ORDER BY id")]
        for action in (
            "face:enrol",
            "checkin:schedule",
            "participant:app_code",
            "participant:app_login",
            "checkin:submit",
            "checkin:review",
            "checkin:read",
        ):
            assert action in actions

        # Program exit: templates deleted, audited.
        r = client.delete(f"/api/participants/{pid}/face-enrolment", headers=alice)
        assert r.status_code == 422
        r = client.delete(
            f"/api/participants/{pid}/face-enrolment",
            headers=alice,
            params={"reason": "program exit on 2026-03-31"},
        )
        assert r.status_code == 204
        count = _rows(url, "SELECT count(*) FROM face_templates WHERE participant_id = :p", p=pid)
        assert count[0][0] == 0


def test_retakes_then_technical_review(live: Any, people: list[Person]) -> None:
    url = live.database_url
    with httpx.Client(base_url=live.api, timeout=30) as client:
        api = Api(client)
        alice = api.login("alice")
        pid = api.participant(alice, "P. Dark")
        ana = people[0]
        assert api.enrol(alice, pid, ana.enrol).status_code == 201
        api.adhoc(alice, pid, minutes=60)
        phone = api.phone(alice, pid)

        dark = darkened(ana.probe, 14.0)
        assert mean_luma(dark) < 20
        photos = [dark, blurred(ana.probe), dark]
        expected = [("too_dark", "too dark"), ("blurred", "blurred"), ("too_dark", None)]
        outcomes = []
        for attempt, (photo, (code, words)) in enumerate(zip(photos, expected, strict=True), 1):
            r = api.check_in(phone, photo)
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["attempt"] == attempt
            assert body["quality_code"] == code
            outcomes.append(body["outcome"])
            if words is not None:
                assert words in body["message"]
                assert body["attempts_left"] == 3 - attempt
        assert outcomes == ["retake_requested", "retake_requested", "needs_review"]
        assert "technical problem" in r.json()["message"]
        rows = _rows(
            url,
            "SELECT outcome, score, review_kind, selfie IS NULL FROM checkins "
            "WHERE participant_id = :p ORDER BY id",
            p=pid,
        )
        # No score is computed for a photo that fails the gate; only the last one is kept.
        assert rows == [
            ("retake_requested", None, None, True),
            ("retake_requested", None, None, True),
            ("needs_review", None, "technical", False),
        ]
        r = api.check_in(phone, ana.probe)
        assert r.status_code == 409
        assert client.get("/api/alerts", headers=alice).json() == []


def test_tokens_and_windows_are_kept_apart(live: Any, people: list[Person]) -> None:
    with httpx.Client(base_url=live.api, timeout=30) as client:
        api = Api(client)
        alice, bob = api.login("alice"), api.login("bob")
        pid = api.participant(alice, "P. One")
        other = api.participant(bob, "P. Two")
        for p, staff in ((pid, alice), (other, bob)):
            assert api.enrol(staff, p, people[0].enrol).status_code == 201
        api.adhoc(alice, pid)
        theirs = api.adhoc(bob, other)
        phone = api.phone(alice, pid)

        # Staff tokens are refused on participant endpoints, and the reverse.
        for path in ("/api/portal/checkin-window", "/api/portal/alerts", "/api/portal/export"):
            assert client.get(path, headers=alice).status_code == 401
        assert api.check_in(alice, people[0].probe).status_code == 401
        for path in ("/api/me", "/api/participants", "/api/alerts", f"/api/participants/{pid}"):
            assert client.get(path, headers=phone).status_code == 401
        assert client.post(f"/api/participants/{pid}/app-code", headers=phone).status_code == 401
        assert api.check_in({}, people[0].probe).status_code == 401

        # Bob may not issue a code for Alice's participant.
        assert client.post(f"/api/participants/{pid}/app-code", headers=bob).status_code == 403

        # Checking in for another participant's window reads exactly as a schedule that does
        # not exist (404, no hint that it does); nothing stored.
        r = api.check_in(phone, people[0].probe, schedule_id=theirs["id"])
        assert r.status_code == 404, r.text
        assert r.json()["detail"] == f"no such check-in schedule: {theirs['id']}"
        r = api.check_in(phone, people[0].probe, schedule_id=999999)
        assert r.status_code == 404
        assert r.json()["detail"] == "no such check-in schedule: 999999"
        assert _rows(live.database_url, "SELECT count(*) FROM checkins")[0][0] == 0

        # A sign-in code works once; wrong codes are refused; a new code revokes old phones.
        r = client.post(f"/api/participants/{pid}/app-code", headers=alice)
        code = r.json()["code"]
        bad = client.post("/api/portal/token", json={"participant_id": pid, "code": "AAAA-BBBB"})
        assert bad.status_code == 401
        assert client.get("/api/portal/checkin-window", headers=phone).status_code == 401
        ok = client.post("/api/portal/token", json={"participant_id": pid, "code": code.lower()})
        assert ok.status_code == 200
        again = client.post("/api/portal/token", json={"participant_id": pid, "code": code})
        assert again.status_code == 401
        fresh = {"Authorization": f"Bearer {ok.json()['access_token']}"}
        assert client.get("/api/portal/checkin-window", headers=fresh).status_code == 200
        r = client.post("/api/portal/token/refresh", headers=fresh)
        assert r.status_code == 200 and r.json()["participant_id"] == pid


def test_bad_uploads_are_refused_and_nothing_is_stored(live: Any, people: list[Person]) -> None:
    url = live.database_url
    with httpx.Client(base_url=live.api, timeout=60) as client:
        api = Api(client)
        alice = api.login("alice")
        pid = api.participant(alice, "P. Upload")
        assert api.enrol(alice, pid, people[0].enrol).status_code == 201
        api.adhoc(alice, pid)
        phone = api.phone(alice, pid)
        good = people[0].probe

        r = api.check_in(phone, b"%PDF-1.7 not a photo" * 100, filename="x.pdf")
        assert r.status_code == 422 and "not a JPEG or PNG" in r.json()["detail"]
        r = api.check_in(phone, good[: len(good) // 2])
        assert r.status_code == 422 and "truncated" in r.json()["detail"]
        r = api.check_in(phone, b"")
        assert r.status_code == 422
        big = good + b"\0" * (9 * 1024 * 1024)
        r = api.check_in(phone, big)
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        huge = b"\xff" * (50 * 1024 * 1024)
        r = api.check_in(phone, huge)
        assert r.status_code == 413
        # An image bomb: a tiny PNG that declares 50,000 x 50,000 pixels.
        bomb = _png_bomb(50_000, 50_000)
        r = api.check_in(phone, bomb, filename="b.png", content_type="image/png")
        assert r.status_code == 422 and "pixels" in r.json()["detail"]
        r = api.check_in(phone, good, lat=123.0)
        assert r.status_code == 422 and "latitude" in r.json()["detail"]
        r = api.check_in(phone, good, device_time="yesterday")
        assert r.status_code == 422

        assert _rows(url, "SELECT count(*) FROM checkins")[0][0] == 0
        # The window still has all three attempts, and a good photo still checks in.
        r = client.get("/api/portal/checkin-window", headers=phone)
        assert r.json()["window"]["attempts_left"] == 3
        r = api.check_in(phone, good)
        assert r.status_code == 201 and r.json()["outcome"] == "verified"

        # Enrolment photos: a non-image, too many photos.
        r = api.enrol(alice, pid, [b"hello"])
        assert r.status_code == 422 and "photo 1" in r.json()["detail"]
        r = api.enrol(alice, pid, [good] * 6)
        assert r.status_code == 422
        assert _rows(url, "SELECT count(*) FROM face_templates")[0][0] == 2


def test_live_server_raises_missed_check_in(live: Any, people: list[Person]) -> None:
    """The server's own periodic sweep raises the alert once a window has closed."""
    url = live.database_url
    with httpx.Client(base_url=live.api, timeout=30) as client:
        api = Api(client)
        alice = api.login("alice")
        pid = api.participant(alice, "P. Missed")
        assert api.enrol(alice, pid, people[0].enrol).status_code == 201
        api.adhoc(alice, pid, minutes=5, grace_s=0)
        # Move the request into the past, as if made a few minutes ago (the server's clock is
        # real): the window closed a second ago without a check-in.
        now = datetime.now(UTC)
        db = Database(url)
        with db.uow() as uow:
            (row,) = uow.checkin_schedules.for_participant(pid)
            row.created_at = now - timedelta(minutes=3)
            row.opens_at = now - timedelta(minutes=3)
            row.closes_at = now - timedelta(seconds=1)
            row.checked_until = None
        db.dispose()
        deadline = time.monotonic() + 15
        alerts: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not alerts:
            alerts = client.get("/api/alerts", headers=alice).json()
            time.sleep(0.2)
        assert [(a["type"], a["category"]) for a in alerts] == [("missed_check_in", "compliance")]
        assert "No attempt was received" in alerts[0]["explanation"]
        phone = api.phone(alice, pid)
        mine = client.get("/api/portal/alerts", headers=phone).json()
        assert [a["id"] for a in mine] == [alerts[0]["id"]]
        time.sleep(0.6)  # further sweeps do not raise it again
        assert len(client.get("/api/alerts", headers=alice).json()) == 1


def _png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header declares *width* × *height* pixels, with one tiny IDAT."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )
