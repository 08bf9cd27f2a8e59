"""A participant's obligations as an iCalendar file (RFC 5545), with reminders.

Check-in windows and curfew windows become events in the participant's own
IANA time zone (``TZID``, with the ``VTIMEZONE`` the file needs), each with a
reminder (``VALARM``) before it starts, so the phone's calendar reminds the
participant at local wall-clock times that stay right across DST changes
(cases B18/B19: a curfew starting at 22:00 New York time is reminded at 21:30
local, i.e. 02:30Z on 2024-03-10 and 01:30Z on 2024-11-03).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

REMIND_BEFORE = timedelta(minutes=30)
PRODID = "-//OpenATD//obligations//EN"


@dataclass(frozen=True, slots=True)
class Obligation:
    """One window to keep, UTC ``[start, end)``, with a stable id and plain words."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str
    location: str | None = None


def local_dates(now: datetime, tz: ZoneInfo, days: int) -> list[date]:
    """Local dates from yesterday to *days* ahead (windows may start the day before)."""
    today = now.astimezone(tz).date()
    return [today + timedelta(days=i) for i in range(-1, days + 1)]


def calendar_bytes(
    name: str, tz: ZoneInfo, obligations: Sequence[Obligation], now: datetime
) -> bytes:
    """The iCalendar file: one ``VEVENT`` per obligation in *tz*, each with a reminder
    :data:`REMIND_BEFORE` its start, and the ``VTIMEZONE`` blocks that *tz* needs."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{name}: obligations")
    cal.add("x-wr-timezone", str(tz.key))
    for ob in sorted(obligations, key=lambda o: (o.start, o.uid)):
        ev = Event()
        ev.add("uid", ob.uid)
        ev.add("dtstamp", now)
        ev.add("dtstart", ob.start.astimezone(tz))
        ev.add("dtend", ob.end.astimezone(tz))
        ev.add("summary", ob.summary)
        ev.add("description", ob.description)
        if ob.location:
            ev.add("location", ob.location)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"In 30 minutes: {ob.summary}")
        alarm.add("trigger", -REMIND_BEFORE)
        ev.add_component(alarm)
        cal.add_component(ev)
    cal.add_missing_timezones()
    data: bytes = cal.to_ical()
    return data
