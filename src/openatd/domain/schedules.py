"""Weekly local-time schedules (curfews, scheduled zones) and reminder times, in an IANA zone.

Local times are wall-clock times in the participant's IANA time zone, read with :mod:`zoneinfo`:

- a local time that does not exist (spring-forward gap) is read with the UTC offset in force
  *before* the gap, and a repeated one (fall-back) as its first occurrence — RFC 5545 §3.3.5,
  which is what ``zoneinfo`` does with ``fold=0``. So 02:30 on 2024-03-10 in New York is
  07:30Z (03:30 EDT), and 01:30 on 2024-11-03 is 05:30Z (EDT);
- every window or reminder is computed for its own local date, never by adding 24 h.

A :class:`WeeklySchedule` is a set of :class:`ScheduleWindow`: the days on which a window
*starts*, a start and an end time. ``end`` earlier than ``start`` runs past midnight into the next
day (so a Friday 22:00-06:00 window covers Saturday 01:00); ``end == start`` is refused. Windows
are half-open, ``[start, end)``.

>>> s = parse_schedule([{"days": ["mon","tue","wed","thu","fri","sat","sun"],
...                      "start": "22:00", "end": "06:00"}], "America/New_York")
>>> from datetime import datetime, UTC
>>> [t.isoformat() for t in s.active_window(datetime(2024, 3, 10, 5, 0, tzinfo=UTC))]
['2024-03-10T03:00:00+00:00', '2024-03-10T10:00:00+00:00']
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openatd.errors import InvalidInput

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as schedules spell them, Monday first (index = ``date.weekday()``)."""

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def load_tz(name: str | ZoneInfo) -> ZoneInfo:
    """The IANA time zone *name* (e.g. ``"America/Chicago"``) as a :class:`ZoneInfo`.

    Raises:
        InvalidInput: the name is not a known IANA zone.
    """
    if isinstance(name, ZoneInfo):
        return name
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"time zone must be an IANA zone name, got {name!r}")
    if name not in _iana_names():
        raise InvalidInput(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"unknown time zone {name!r}") from None


@functools.cache
def _iana_names() -> frozenset[str]:
    """The IANA zone names zoneinfo knows ("localtime", "posixrules", "Factory" are not)."""
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules", "Factory"}


def parse_hhmm(value: Any, what: str = "time") -> time:
    """A local wall-clock time from ``"HH:MM"`` (00:00-23:59).

    Raises:
        InvalidInput: anything else.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string 'HH:MM', got {value!r}")
    m = _HHMM.match(value)
    if not m:
        raise InvalidInput(f"{what} must be 'HH:MM' between 00:00 and 23:59, got {value!r}")
    return time(int(m.group(1)), int(m.group(2)))


def parse_days(value: Any) -> frozenset[int]:
    """Weekday numbers (Monday = 0) from a non-empty list of ``"mon"``..``"sun"``.

    Raises:
        InvalidInput: an empty list or an unknown day name.
    """
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput(f"days must be a non-empty list of {', '.join(DAY_NAMES)}")
    if len(value) > len(DAY_NAMES):
        raise InvalidInput(f"days lists at most {len(DAY_NAMES)} days, each once")
    out: set[int] = set()
    for d in value:
        if not isinstance(d, str) or d.lower() not in DAY_NAMES:
            raise InvalidInput(f"unknown day {d!r}; use {', '.join(DAY_NAMES)}")
        out.add(DAY_NAMES.index(d.lower()))
    if len(out) != len(value):
        raise InvalidInput("days lists a day twice")
    return frozenset(out)


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock *at* on local date *day* in *tz* (RFC 5545, ``fold=0``)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ScheduleWindow:
    """One weekly window: starts at ``start`` on each of ``days`` (Monday = 0), ends at ``end``.

    ``end < start`` means the window ends on the next local day.
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InvalidInput(
                f"window start and end are both {self.start:%H:%M}; a window must have a length"
            )
        if not self.days or not all(0 <= d <= 6 for d in self.days):
            raise InvalidInput("window days must be weekday numbers 0 (Monday) to 6 (Sunday)")

    @property
    def crosses_midnight(self) -> bool:
        """True when the window ends on the day after it starts."""
        return self.end < self.start

    def occurrence(self, start_day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        """The UTC ``[start, end)`` of the window starting on local date *start_day*, if it does."""
        if start_day.weekday() not in self.days:
            return None
        end_day = start_day + timedelta(days=1) if self.crosses_midnight else start_day
        start_utc = local_to_utc(start_day, self.start, tz)
        end_utc = local_to_utc(end_day, self.end, tz)
        if end_utc <= start_utc:  # a window that a DST change swallows entirely
            return None
        return start_utc, end_utc


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Weekly windows evaluated in one IANA time zone.

    Attributes:
        windows: the windows; overlapping windows act as their union at an instant.
        tz: the participant's time zone.
    """

    windows: tuple[ScheduleWindow, ...]
    tz: ZoneInfo

    def active_window(self, instant: datetime) -> tuple[datetime, datetime] | None:
        """The UTC ``[start, end)`` of the window that contains *instant*, or ``None``.

        *instant* must be timezone-aware. Windows that overlap (one starts before another ends)
        act as one window spanning them all; windows that merely touch stay separate.

        Raises:
            ValueError: *instant* is naive.
        """
        if instant.tzinfo is None:
            raise ValueError("active_window needs a timezone-aware datetime")
        t = instant.astimezone(UTC)
        local_day = t.astimezone(self.tz).date()
        spans: list[tuple[datetime, datetime]] = []
        for offset in range(-8, 2):
            day = local_day + timedelta(days=offset)
            for w in self.windows:
                occ = w.occurrence(day, self.tz)
                if occ is not None:
                    spans.append(occ)
        spans.sort()
        merged: list[tuple[datetime, datetime]] = []
        for start, end in spans:
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        for start, end in merged:
            if start <= t < end:
                return start, end
        return None

    def is_active(self, instant: datetime) -> bool:
        """Whether *instant* (timezone-aware) falls in a window."""
        return self.active_window(instant) is not None

    def describe(self) -> str:
        """The windows in words, e.g. ``"Mon-Sun 21:00-06:00"``, for explanations."""
        parts = []
        for w in self.windows:
            days = ",".join(DAY_NAMES[d].capitalize() for d in sorted(w.days))
            if len(w.days) == 7:
                days = "every day"
            parts.append(f"{days} {w.start:%H:%M}-{w.end:%H:%M}")
        return "; ".join(parts)


def parse_schedule(entries: Any, tz: str | ZoneInfo) -> WeeklySchedule:
    """A :class:`WeeklySchedule` from ``[{"days": [...], "start": "HH:MM", "end": "HH:MM"}, ...]``.

    Raises:
        InvalidInput: an empty list, a malformed entry, ``start == end``, an unknown time zone.
    """
    zone = load_tz(tz)
    if not isinstance(entries, list | tuple) or not entries:
        raise InvalidInput("schedule must be a non-empty list of windows")
    windows = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise InvalidInput(f"schedule window {i + 1} must be an object")
        try:
            windows.append(
                ScheduleWindow(
                    days=parse_days(e.get("days")),
                    start=parse_hhmm(e.get("start"), "start"),
                    end=parse_hhmm(e.get("end"), "end"),
                )
            )
        except InvalidInput as exc:
            raise InvalidInput(f"schedule window {i + 1}: {exc}") from None
    return WeeklySchedule(tuple(windows), zone)


def next_occurrence(
    days: Iterable[int | str], at: time | str, tz: str | ZoneInfo, after: datetime
) -> datetime:
    """The first UTC instant strictly after *after* at local time *at* on one of *days*.

    Each candidate is computed for its own local date (never previous + 24 h), with RFC 5545
    reading of nonexistent/repeated local times (``fold=0``).

    Args:
        days: weekday numbers (Monday = 0) or names ``"mon"``..``"sun"``.
        at: the local wall-clock time, a :class:`datetime.time` or ``"HH:MM"``.
        tz: IANA zone name or :class:`ZoneInfo`.
        after: a timezone-aware instant.

    Raises:
        InvalidInput: unknown zone, day or time; no days.
        ValueError: *after* is naive.

    >>> from datetime import datetime, UTC
    >>> next_occurrence(range(7), "00:00", "America/Los_Angeles",
    ...                 datetime(2022, 3, 13, 8, 0, tzinfo=UTC)).isoformat()
    '2022-03-14T07:00:00+00:00'
    """
    if after.tzinfo is None:
        raise ValueError("next_occurrence needs a timezone-aware datetime")
    zone = load_tz(tz)
    wall = at if isinstance(at, time) else parse_hhmm(at, "reminder time")
    day_set = _day_numbers(days)
    start = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(9):
        day = start + timedelta(days=offset)
        if day.weekday() not in day_set:
            continue
        candidate = local_to_utc(day, wall, zone)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a weekly rule fires within 8 days")  # pragma: no cover


def _day_numbers(days: Iterable[int | str]) -> frozenset[int]:
    nums: set[int] = set()
    for d in days:
        if isinstance(d, str):
            nums |= parse_days([d])
        elif isinstance(d, int) and 0 <= d <= 6:
            nums.add(d)
        else:
            raise InvalidInput(f"unknown day {d!r}")
    if not nums:
        raise InvalidInput("a reminder rule needs at least one day")
    return frozenset(nums)


def occurrences_between(
    days: Sequence[int | str], at: time | str, tz: str | ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    """Every occurrence (UTC) in ``(start, end]``, each from :func:`next_occurrence`."""
    out: list[datetime] = []
    t = start
    while True:
        t = next_occurrence(days, at, tz, t)
        if t > end:
            return out
        out.append(t)
