"""The participant's obligations as iCalendar, with reminders at local times across DST (B19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar

from openatd.accounts import create_user
from openatd.checkins.service import create_schedule
from openatd.participants import service
from openatd.participants.portal import calendar
from openatd.participants.zones import create_zone
from openatd.safeguards.auth import ParticipantClaims, Role, TokenClaims
from openatd.storage.db import Database


def _events(ics: bytes) -> dict[str, tuple[datetime, datetime, datetime]]:
    """summary@start-UTC → (start UTC, end UTC, reminder UTC)."""
    out = {}
    for ev in icalendar.Calendar.from_ical(ics).walk("VEVENT"):
        start = ev.decoded("dtstart").astimezone(UTC)
        end = ev.decoded("dtend").astimezone(UTC)
        (alarm,) = ev.walk("VALARM")
        remind = start + alarm.decoded("trigger")
        out[f"{ev['summary']}@{start:%Y-%m-%dT%H:%MZ}"] = (start, end, remind)
    return out


def _setup(db: Database, now: datetime) -> int:
    with db.uow() as uow:
        user = create_user(uow, now, "cm", "correct horse battery", "case_manager")
        claims = TokenClaims(user.id, "cm", Role.CASE_MANAGER, now + timedelta(hours=1))
        p = service.create_participant(
            uow, claims, now, name="P", timezone="America/New_York", supervision_level="app"
        )
        create_zone(
            uow, claims, now, p.id, name="home", kind="inclusion", geometry=None,
            circle={"lat": 40.7, "lon": -74.0, "radius_m": 100},
            schedule=[{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                       "start": "22:00", "end": "06:00"}],
        )  # fmt: skip
        create_schedule(
            uow, claims, now, p.id, kind="weekly",
            windows=[{"days": ["mon"], "start": "09:00", "end": "12:00"}],
        )  # fmt: skip
        return p.id


def _ics(db: Database, pid: int, now: datetime) -> bytes:
    with db.uow() as uow:
        version = uow.participants.get(pid).app_token_version or 0
        return calendar(uow, ParticipantClaims(pid, version, now + timedelta(hours=1)), now)


def test_calendar_across_spring_forward(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    now = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)
    pid = _setup(db, now - timedelta(days=1))
    ev = _events(_ics(db, pid, now))
    # Sat 2024-03-09 22:00 EST to Sun 06:00 EDT: 03:00Z-10:00Z (7 h), reminded at 02:30Z.
    _, end, remind = ev["Curfew: be at home@2024-03-10T03:00Z"]
    assert end == datetime(2024, 3, 10, 10, 0, tzinfo=UTC)
    assert remind == datetime(2024, 3, 10, 2, 30, tzinfo=UTC)
    # The next night starts at 22:00 EDT, which is 02:00Z.
    assert "Curfew: be at home@2024-03-11T02:00Z" in ev
    # Mondays 09:00-12:00 local check-in window: 2024-03-11 09:00 EDT = 13:00Z.
    _, end, remind = ev["Check in with the OpenATD app@2024-03-11T13:00Z"]
    assert end == datetime(2024, 3, 11, 16, 0, tzinfo=UTC)
    assert remind == datetime(2024, 3, 11, 12, 30, tzinfo=UTC)
    # Nights starting 03-09 to 03-22 begin within the 14-day horizon (until 03-23 12:00Z).
    assert sum(k.startswith("Curfew") for k in ev) == 14
    db.dispose()


def test_calendar_across_fall_back(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    now = datetime(2024, 11, 2, 12, 0, tzinfo=UTC)
    pid = _setup(db, now - timedelta(days=1))
    ev = _events(_ics(db, pid, now))
    # Sat 2024-11-02 22:00 EDT to Sun 06:00 EST: 02:00Z-11:00Z (9 h), reminded at 01:30Z.
    _, end, remind = ev["Curfew: be at home@2024-11-03T02:00Z"]
    assert end == datetime(2024, 11, 3, 11, 0, tzinfo=UTC)
    assert remind == datetime(2024, 11, 3, 1, 30, tzinfo=UTC)
    db.dispose()
