"""Check-in windows judged by the server's clock, missed windows (incl. a DST night), outages
classified technical, and face-template key rotation — real API over loopback HTTP on a
simulated server clock, real database, real LFW photos."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from checkin_helpers import T0, Person, Stack, darkened, mean_luma, overexposed
from cryptography.fernet import Fernet

from openatd.checkins import service
from openatd.checkins.face import OpenCVFaceVerifier, VerificationResult
from openatd.checkins.templates import FaceTemplate, decrypt_template
from openatd.errors import InvalidInput, VerificationUnavailable
from openatd.settings import DEFAULT_TEMPLATE_KEY
from openatd.storage import tables as t


def sweep(stack: Stack, now: datetime) -> list[t.Alert]:
    with stack.container.uow() as uow:
        return list(service.sweep_missed_check_ins(uow, now))


def alerts_of(stack: Stack, pid: int) -> list[t.Alert]:
    with stack.container.uow() as uow:
        return sorted(uow.alerts.list(participant_ids=[pid]), key=lambda a: a.id)


def count(stack: Stack, table: str) -> int:
    with stack.container.db.engine.connect() as c:
        return int(c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


class FlakyVerifier:
    """The real verifier, except that while ``down`` its model fails as ONNX/OpenCV would."""

    def __init__(self, real: OpenCVFaceVerifier) -> None:
        self.real = real
        self.down = False

    @property
    def model_id(self) -> str:
        return self.real.model_id

    @property
    def threshold(self) -> float:
        return self.real.threshold

    def enroll(self, image: bytes) -> FaceTemplate:
        return self.real.enroll(image)

    def verify(self, enrolled: Sequence[FaceTemplate], probe: bytes) -> VerificationResult:
        if self.down:
            raise VerificationUnavailable("face recogniser failed: onnx session error")
        return self.real.verify(enrolled, probe)


def test_timeliness_is_judged_by_the_server_clock(stack: Stack, people: list[Person]) -> None:
    api, clock = stack.api, stack.clock
    clock.set(T0 - timedelta(hours=1))  # Monday 08:00 in Chicago
    alice = api.login("alice")
    pid = api.participant(alice, "P. Clock", tz="America/Chicago")
    assert api.enrol(alice, pid, people[0].enrol).status_code == 201
    sched = api.weekly(alice, pid, [{"days": ["mon"], "start": "09:00", "end": "12:00"}], 300)
    phone = api.phone(alice, pid)

    # 08:59:30 by the server; the phone's clock says 09:05 — still closed.
    clock.set(T0 - timedelta(seconds=30))
    assert stack.client.get("/api/portal/checkin-window", headers=phone).json()["window"] is None
    r = api.check_in(phone, people[0].probe, device_time="2026-03-09T09:05:00-05:00")
    assert r.status_code == 409 and "no check-in window is open" in r.json()["detail"]
    obligations = stack.client.get("/api/portal/obligations", headers=phone).json()
    assert obligations["schedules"][0]["description"] == (
        "every week: Mon 09:00-12:00 (America/Chicago)"
    )
    first = obligations["windows"][0]
    assert datetime.fromisoformat(first["start"]) == T0
    assert first["description"] == "Monday 9 March 2026, 09:00-12:00 (America/Chicago)"

    # 12:05:00 is the first instant after the 5-minute grace: refused.
    clock.set(T0 + timedelta(hours=3, minutes=5))
    r = api.check_in(phone, people[0].probe, device_time="2026-03-09T11:50:00-05:00")
    assert r.status_code == 409
    # 12:04:59 (inside the grace period), the phone claiming 11:50: accepted and on time.
    clock.set(T0 + timedelta(hours=3, minutes=4, seconds=59))
    window = stack.client.get("/api/portal/checkin-window", headers=phone).json()["window"]
    assert window["schedule_id"] == sched["id"]
    assert datetime.fromisoformat(window["closes_at"]) == T0 + timedelta(hours=3, minutes=5)
    r = api.check_in(phone, people[0].probe, device_time="2026-03-09T11:50:00-05:00")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "verified" and body["on_time"] is True
    assert datetime.fromisoformat(body["server_time"]) == clock.now()
    with stack.container.uow() as uow:
        row = uow.checkins.get(body["checkin_id"])
        assert row.device_time == datetime(2026, 3, 9, 16, 50, tzinfo=UTC)
        assert row.window_start == T0
    # The window had a verified check-in: no alert when it is judged.
    assert sweep(stack, T0 + timedelta(hours=4)) == []
    assert alerts_of(stack, pid) == []


def test_b26_poor_photos_are_retakes_then_verified(stack: Stack, people: list[Person]) -> None:
    """cases.md B26: too dark at 13:01, too bright at 13:02, verified at 13:04; no score for
    the retakes, no mismatch flag, no alert."""
    api, clock = stack.api, stack.clock
    clock.set(datetime(2026, 3, 9, 18, 0, tzinfo=UTC))  # 13:00 in Chicago
    alice = api.login("alice")
    pid = api.participant(alice, "P. B26")
    assert api.enrol(alice, pid, people[0].enrol).status_code == 201
    api.weekly(alice, pid, [{"days": ["mon"], "start": "13:00", "end": "14:00"}], 300)
    phone = api.phone(alice, pid)
    dark, bright = darkened(people[0].probe, 14.0), overexposed(people[0].probe)
    assert mean_luma(dark) < 20 and mean_luma(bright) > 220
    got = []
    for minute, photo in ((1, dark), (2, bright), (4, people[0].probe)):
        clock.set(datetime(2026, 3, 9, 18, minute, tzinfo=UTC))
        r = api.check_in(phone, photo)
        assert r.status_code == 201, r.text
        got.append((r.json()["outcome"], r.json()["quality_code"]))
        if r.json()["outcome"] == "retake_requested":
            words = r.json()["quality_code"].replace("_", " ")
            assert r.json()["message"].startswith(f"The photo is {words}.")
    assert got == [
        ("retake_requested", "too_dark"),
        ("retake_requested", "too_bright"),
        ("verified", "ok"),
    ]
    with stack.container.uow() as uow:
        rows = sorted(uow.checkins.for_participant(pid), key=lambda c: c.id)
        assert [c.score is None for c in rows] == [True, True, False]
        assert all(c.review_kind is None and c.selfie is None and c.on_time for c in rows)
    assert sweep(stack, datetime(2026, 3, 9, 19, 5, tzinfo=UTC)) == []
    assert alerts_of(stack, pid) == []


def test_missed_window_on_the_spring_forward_night(stack: Stack, people: list[Person]) -> None:
    api, clock = stack.api, stack.clock
    clock.set(datetime(2026, 3, 7, 17, 0, tzinfo=UTC))  # Saturday, noon in New York (EST)
    alice = api.login("alice")
    pid = api.participant(alice, "P. Night", tz="America/New_York")
    assert api.enrol(alice, pid, people[0].enrol).status_code == 201
    sched = api.weekly(alice, pid, [{"days": ["sun"], "start": "01:00", "end": "03:00"}], 300)

    # 01:00 EST is 06:00Z; at 02:00 the clocks jump to 03:00 EDT = 07:00Z: a one-hour window.
    assert sweep(stack, datetime(2026, 3, 8, 7, 4, 59, tzinfo=UTC)) == []
    raised = sweep(stack, datetime(2026, 3, 8, 7, 5, tzinfo=UTC))
    assert [(a.type, a.category) for a in raised] == [("missed_check_in", "compliance")]
    alert = raised[0]
    assert alert.at == datetime(2026, 3, 8, 7, 5, tzinfo=UTC)
    assert alert.details is not None
    assert alert.details["window_start"] == "2026-03-08T06:00:00+00:00"
    assert alert.details["window_end"] == "2026-03-08T07:00:00+00:00"
    assert alert.details["schedule_id"] == sched["id"]
    assert alert.explanation.startswith(
        "No verified check-in was received for the check-in window Sunday 8 March 2026, "
        "01:00-03:00 (America/New_York), which closed at 03:05 after a 5-minute grace period."
    )
    assert "not a violation by itself" in alert.explanation
    # Judged once: later sweeps do not repeat it.
    assert sweep(stack, datetime(2026, 3, 8, 12, 0, tzinfo=UTC)) == []

    # A week later (EDT all night): 05:00Z-07:00Z. A retake alone does not fulfil the window.
    clock.set(datetime(2026, 3, 15, 5, 30, tzinfo=UTC))
    phone = api.phone(api.login("alice"), pid)
    r = api.check_in(phone, darkened(people[0].probe))
    assert r.json()["outcome"] == "retake_requested"
    raised = sweep(stack, datetime(2026, 3, 15, 7, 5, tzinfo=UTC))
    assert len(raised) == 1
    assert raised[0].details is not None
    assert raised[0].details["window_start"] == "2026-03-15T05:00:00+00:00"
    assert raised[0].details["attempts"] == 1
    assert "the last was retake requested" in raised[0].explanation
    assert "too dark" in raised[0].explanation
    assert [a.type for a in alerts_of(stack, pid)] == ["missed_check_in"] * 2


def test_outage_during_window_is_technical(
    stack: Stack, people: list[Person], verifier: OpenCVFaceVerifier
) -> None:
    api, clock = stack.api, stack.clock
    flaky = FlakyVerifier(verifier)
    stack.container.face_verifier = flaky  # type: ignore[attr-defined]
    alice = api.login("alice")
    pid = api.participant(alice, "P. Outage")
    assert api.enrol(alice, pid, people[0].enrol).status_code == 201
    api.adhoc(alice, pid, minutes=60, grace_s=300)
    phone = api.phone(alice, pid)

    flaky.down = True
    clock.set(T0 + timedelta(minutes=10))
    r = api.check_in(phone, people[0].probe)
    assert r.status_code == 503 and "face recogniser failed" in r.json()["detail"]
    clock.set(T0 + timedelta(minutes=12))
    assert api.check_in(phone, people[0].probe).status_code == 503
    assert count(stack, "checkins") == 0
    with stack.container.uow() as uow:
        (incident,) = uow.incidents.open_of_kind(service.INCIDENT_VERIFIER)
        assert incident.started_at == T0 + timedelta(minutes=10)
        assert incident.details is not None and incident.details["failures"] == 2

    raised = sweep(stack, T0 + timedelta(minutes=65))
    assert [(a.type, a.category) for a in raised] == [("missed_check_in", "technical")]
    assert "was not working during this window" in raised[0].explanation
    assert "face verification unavailable from 09:10 (still ongoing)" in raised[0].explanation
    assert raised[0].details is not None
    assert raised[0].details["incident_ids"] == [incident.id]

    # Service back: the next check-in is verified and closes the incident.
    flaky.down = False
    clock.set(T0 + timedelta(hours=2))
    alice = api.login("alice")
    api.adhoc(alice, pid, minutes=30)
    r = api.check_in(phone, people[0].probe)
    assert r.status_code == 201 and r.json()["outcome"] == "verified"
    with stack.container.uow() as uow:
        assert uow.incidents.open_of_kind(service.INCIDENT_VERIFIER) == []
        closed = uow.incidents.overlapping(T0, T0 + timedelta(hours=3))
        assert [i.ended_at for i in closed] == [T0 + timedelta(hours=2)]

    # A later window missed with the service healthy is a compliance alert.
    clock.set(T0 + timedelta(hours=3))
    api.adhoc(alice, pid, minutes=30, grace_s=0)
    raised = sweep(stack, T0 + timedelta(hours=3, minutes=30))
    assert [(a.category, a.details["incident_ids"]) for a in raised if a.details] == [
        ("compliance", [])
    ]


def test_missed_window_without_enrolled_face_is_technical(stack: Stack) -> None:
    api = stack.api
    alice = api.login("alice")
    pid = api.participant(alice, "P. Unenrolled")
    api.adhoc(alice, pid, minutes=30, grace_s=0)
    phone = api.phone(alice, pid)
    stack.clock.set(T0 + timedelta(minutes=5))
    r = stack.api.check_in(phone, b"\xff\xd8 irrelevant")
    assert r.status_code == 409 and "no face is enrolled" in r.json()["detail"]
    raised = sweep(stack, T0 + timedelta(minutes=30))
    assert [(a.category) for a in raised] == ["technical"]
    assert "No face was enrolled" in raised[0].explanation


def test_template_key_rotation(stack: Stack, people: list[Person]) -> None:
    api, clock, settings = stack.api, stack.clock, stack.container.settings
    old_key, new_key = DEFAULT_TEMPLATE_KEY, Fernet.generate_key().decode()
    alice = api.login("alice")
    pid = api.participant(alice, "P. Keys")
    assert api.enrol(alice, pid, people[1].enrol).status_code == 201
    phone = api.phone(alice, pid)
    with stack.container.uow() as uow:
        before = {r.id: r.ciphertext for r in uow.face_templates.for_participant(pid)}

    # New key first, old key still listed: old templates still open.
    settings.template_key = f"{new_key},{old_key}"
    api.adhoc(alice, pid, minutes=10)
    r = api.check_in(phone, people[1].probe)
    assert r.status_code == 201 and r.json()["outcome"] == "verified"

    with stack.container.uow() as uow:
        assert service.rotate_template_keys(uow, [new_key, old_key]) == 2
    with stack.container.uow() as uow:
        rows = uow.face_templates.for_participant(pid)
        for row in rows:
            assert row.ciphertext != before[row.id]
            decrypt_template(row.ciphertext, row.model, [new_key])
            with pytest.raises(InvalidInput):
                decrypt_template(row.ciphertext, row.model, [old_key])

    # The old key can now go.
    settings.template_key = new_key
    clock.set(T0 + timedelta(minutes=30))
    api.adhoc(alice, pid, minutes=10)
    r = api.check_in(phone, people[1].probe)
    assert r.status_code == 201 and r.json()["outcome"] == "verified"

    # Dropping the only key that opens them is a server fault (503 + incident), not a refusal
    # of the participant's photo.
    settings.template_key = Fernet.generate_key().decode()
    clock.set(T0 + timedelta(minutes=50))
    api.adhoc(alice, pid, minutes=10)
    r = api.check_in(phone, people[1].probe)
    assert r.status_code == 503 and "cannot be opened" in r.json()["detail"]
    with stack.container.uow() as uow:
        assert len(uow.incidents.open_of_kind(service.INCIDENT_VERIFIER)) == 1
