"""Check-ins under hostile input (fuzz findings): a 422 with the reason and no outage incident
for bad input; an incident only for a failure on our side, global only when everyone is
affected; bounded weekly schedules; no hint that another participant's schedule exists.
Real API over loopback HTTP on a simulated clock, real database, real LFW photos."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from checkin_helpers import T0, Person, Stack
from sqlalchemy.exc import OperationalError

from openatd.checkins import service
from openatd.checkins.face import OpenCVFaceVerifier, VerificationResult
from openatd.checkins.templates import FaceTemplate
from openatd.storage import tables as t

TOO_BIG_ID = 2**63


def sweep(stack: Stack, now: Any) -> list[t.Alert]:
    with stack.container.uow() as uow:
        return list(service.sweep_missed_check_ins(uow, now))


def count(stack: Stack, table: str) -> int:
    with stack.container.db.engine.connect() as c:
        return int(c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def two_participants(stack: Stack, people: list[Person]) -> tuple[int, int, dict[str, str]]:
    """Two enrolled participants with the same Monday 09:00-10:00 window; A's phone."""
    api = stack.api
    alice = api.login("alice")
    pids = []
    for name, person in (("P. A", people[0]), ("P. B", people[1])):
        pid = api.participant(alice, name)
        assert api.enrol(alice, pid, person.enrol).status_code == 201
        api.weekly(alice, pid, [{"days": ["mon"], "start": "09:00", "end": "10:00"}], 0)
        pids.append(pid)
    return pids[0], pids[1], api.phone(alice, pids[0])


def categories(alerts: Sequence[t.Alert]) -> dict[int, str]:
    return {a.participant_id: a.category for a in alerts}


def test_bad_check_in_input_is_422_and_no_outage(stack: Stack, people: list[Person]) -> None:
    api, clock = stack.api, stack.clock
    clock.set(T0 - timedelta(hours=1))
    a, b, phone = two_participants(stack, people)
    clock.set(T0 + timedelta(minutes=10))
    for device_time in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        r = api.check_in(phone, people[0].probe, device_time=device_time)
        assert r.status_code == 422, r.text
        assert r.json()["detail"] == (
            f"device_time {device_time} is not a plausible clock reading "
            "(from 2000-01-01 to 2100-01-01 UTC)"
        )
    r = api.check_in(phone, people[0].probe, device_time="1999-12-31T23:59:59Z")
    assert r.status_code == 422 and "not a plausible clock reading" in r.text
    r = api.check_in(phone, people[0].probe, schedule_id=TOO_BIG_ID)
    assert r.status_code == 422, r.text
    assert "schedule_id" in r.text
    assert count(stack, "incidents") == 0
    assert count(stack, "checkins") == 0

    # Nobody checked in: both misses are the participants' own, not an outage.
    raised = sweep(stack, T0 + timedelta(hours=1))
    assert categories(raised) == {a: "compliance", b: "compliance"}

    # A plausible phone clock, far off the server's, is still recorded and ignored.
    clock.set(T0 + timedelta(days=7, minutes=5))
    phone = api.phone(api.login("alice"), a)
    r = api.check_in(phone, people[0].probe, device_time="2001-01-01T00:00:00+14:00")
    assert r.status_code == 201, r.text


class BrokenVerifier:
    """The real verifier, except that ``verify`` raises *error* (a server bug, or the database
    dropping the connection underneath)."""

    def __init__(self, real: OpenCVFaceVerifier, error: Exception) -> None:
        self.real = real
        self.error = error

    @property
    def model_id(self) -> str:
        return self.real.model_id

    @property
    def threshold(self) -> float:
        return self.real.threshold

    def enroll(self, image: bytes) -> FaceTemplate:
        return self.real.enroll(image)

    def verify(self, enrolled: Sequence[FaceTemplate], probe: bytes) -> VerificationResult:
        raise self.error


@pytest.mark.parametrize(
    ("error", "scoped"),
    [
        (RuntimeError("a bug in our code"), True),
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), False),
    ],
    ids=["server-bug-scoped", "database-down-global"],
)
def test_only_our_faults_open_incidents_scoped_to_who_they_hit(
    stack: Stack,
    people: list[Person],
    verifier: OpenCVFaceVerifier,
    error: Exception,
    scoped: bool,
) -> None:
    api, clock = stack.api, stack.clock
    clock.set(T0 - timedelta(hours=1))
    a, b, phone = two_participants(stack, people)
    stack.container.face_verifier = BrokenVerifier(verifier, error)  # type: ignore[attr-defined]
    clock.set(T0 + timedelta(minutes=10))
    assert api.check_in(phone, people[0].probe).status_code == 500
    with stack.container.uow() as uow:
        (incident,) = uow.incidents.open_of_kind(service.INCIDENT_SERVER)
        assert incident.details is not None
        assert incident.details.get("participant_id") == (a if scoped else None)
    raised = sweep(stack, T0 + timedelta(hours=1))
    # A server bug in A's check-in excuses A only; a database outage excuses everyone.
    assert categories(raised) == {a: "technical", b: "technical" if not scoped else "compliance"}


@pytest.mark.parametrize(
    ("windows", "reason"),
    [
        (
            [{"days": ["mon"], "start": "09:00", "end": "09:01"}] * 4317,
            "List should have at most 28 items",
        ),
        (
            [{"days": ["mon"], "start": "09:00", "end": "10:00"}] * 2,
            "check-in window Mon 09:00-10:00 repeats Mon 09:00-10:00",
        ),
        (
            [
                {"days": ["mon", "tue"], "start": "09:00", "end": "10:00"},
                {"days": ["tue"], "start": "09:30", "end": "11:00"},
            ],
            "check-in window Tue 09:00-10:00 overlaps Tue 09:30-11:00",
        ),
        (
            [
                {"days": ["sun"], "start": "23:00", "end": "01:00"},
                {"days": ["mon"], "start": "00:30", "end": "02:00"},
            ],
            "check-in window Sun 23:00-01:00 overlaps Mon 00:30-02:00",
        ),
        (
            [{"days": ["wed"], "start": "12:00", "end": "12:04"}],
            "check-in window Wed 12:00-12:04 is 4 minutes long; "
            "a window must last at least 5 minutes",
        ),
        (
            [
                {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": s, "end": e}
                for s, e in (
                    ("06:00", "06:30"),
                    ("09:00", "09:30"),
                    ("12:00", "12:30"),
                    ("15:00", "15:30"),
                    ("18:00", "18:30"),
                )
            ],
            "a weekly check-in schedule may have at most 28 windows a week; this one has 35",
        ),
    ],
    ids=["4317-duplicates", "duplicate", "overlap", "overlap-across-week-end", "short", "35"],
)
def test_weekly_schedules_are_bounded(
    stack: Stack, windows: list[dict[str, Any]], reason: str
) -> None:
    api = stack.api
    alice = api.login("alice")
    pid = api.participant(alice, "P. Windows")
    r = stack.client.post(
        f"/api/participants/{pid}/checkin-schedules",
        headers=alice,
        json={"kind": "weekly", "windows": windows, "grace_s": 300},
    )
    assert r.status_code == 422, r.text
    assert reason in r.text
    assert count(stack, "checkin_schedules") == 0


def test_adhoc_windows_last_at_least_five_minutes(stack: Stack) -> None:
    api = stack.api
    alice = api.login("alice")
    pid = api.participant(alice, "P. Adhoc")
    r = stack.client.post(
        f"/api/participants/{pid}/checkin-schedules",
        headers=alice,
        json={"kind": "adhoc", "within_minutes": 4, "reason": "random check after a report"},
    )
    assert r.status_code == 422 and "within_minutes" in r.text
    assert api.adhoc(alice, pid, minutes=5)["kind"] == "adhoc"


def test_sensible_weekly_schedules_still_pass(stack: Stack) -> None:
    api = stack.api
    alice = api.login("alice")
    pid = api.participant(alice, "P. Fine")
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    touching = [
        {"days": every_day, "start": s, "end": e}
        for s, e in (("08:00", "09:00"), ("09:00", "09:05"), ("12:00", "13:00"), ("22:00", "07:00"))
    ]
    created = api.weekly(alice, pid, touching)  # 28 windows a week, some only touching
    assert len(created["windows"]) == 4
    phone = api.phone(alice, pid)
    obligations = stack.client.get("/api/portal/obligations", headers=phone).json()
    assert len(obligations["windows"]) == 14 * 4


def test_ids_beyond_64_bits_are_422(stack: Stack, people: list[Person]) -> None:
    api, client = stack.api, stack.client
    alice = api.login("alice")
    pid = api.participant(alice, "P. Ids")
    phone = api.phone(alice, pid)
    for method, path in (
        ("GET", f"/api/participants/{TOO_BIG_ID}/checkin-schedules"),
        ("DELETE", f"/api/checkin-schedules/{TOO_BIG_ID}?reason=closing+it+down+now"),
        ("GET", f"/api/checkins/{TOO_BIG_ID}/selfie"),
    ):
        r = client.request(method, path, headers=alice)
        assert r.status_code == 422, (path, r.status_code, r.text)
    r = client.post(
        f"/api/portal/alerts/{TOO_BIG_ID}/response", headers=phone, json={"text": "hello"}
    )
    assert r.status_code == 422, r.text
    r = client.post("/api/portal/token", json={"participant_id": TOO_BIG_ID, "code": "AAAA"})
    assert r.status_code == 422, r.text
    assert count(stack, "incidents") == 0
