"""Obligations and their reminders, as pure functions of local wall time in an IANA zone.

An obligation (court hearing, appointment, check-in, other) starts at an instant; staff enter
it as an ISO 8601 time with an offset, or as a *local wall time* that is read in the
participant's zone. A local time that does not exist there (the spring-forward gap) is refused
rather than guessed; a repeated one (fall-back) is its first occurrence (``fold=0``, RFC 5545
§3.3.5).

Reminders (:func:`plan_reminders`): day offsets ("7 days before") keep the local wall time of
the obligation, each computed for its own local date (a 09:00 hearing is reminded at 09:00
local even across a DST change); hour offsets ("2 hours before") are exact durations. A
check-in is reminded on the morning of its local date. No reminder falls inside the
participant's quiet hours except the 2-hour one (moved to the end of the quiet hours, or to
just before they begin when that end is too late).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from openatd.domain.schedules import local_to_utc, parse_hhmm
from openatd.errors import InvalidInput

KINDS = ("court_hearing", "appointment", "check_in", "other")
"""What an obligation can be."""

EARLIEST_YEAR, LATEST_YEAR = 2000, 2199

_OFFSET = re.compile(r"^\s*(\d{1,3})\s*([dhm])\s*$")


def exists_locally(naive: datetime, tz: ZoneInfo) -> bool:
    """Whether the wall time *naive* happens in *tz* (``False`` inside a spring-forward gap).

    >>> exists_locally(datetime(2024, 3, 10, 2, 30), ZoneInfo("America/New_York"))
    False
    """
    back = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return back == naive


def read_start(value: str | datetime, tz: ZoneInfo, now: datetime) -> datetime:
    """The UTC instant of an obligation's start.

    *value* is ISO 8601: with an offset (``2026-03-09T09:00:00-05:00``, ``...Z``) it is that
    instant; without one (``2026-03-09T09:00``) it is a wall time in *tz*.

    Raises:
        InvalidInput: not ISO 8601; a local time that does not exist in *tz* (names the gap);
            a year outside 2000-2199; a start at or before *now* (an obligation in the past).

    >>> from datetime import UTC
    >>> read_start("2026-11-01T01:30", ZoneInfo("America/Chicago"),
    ...            datetime(2026, 1, 1, tzinfo=UTC)).isoformat()   # the first 01:30 (CDT)
    '2026-11-01T06:30:00+00:00'
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except (ValueError, AttributeError):
            raise InvalidInput(
                f"start must be ISO 8601, e.g. 2026-03-09T09:00 (local time in {tz.key}) or "
                f"2026-03-09T15:00:00Z, got {value!r}"
            ) from None
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise InvalidInput(f"start must lie between {EARLIEST_YEAR} and {LATEST_YEAR}")
    if parsed.tzinfo is None:
        if not exists_locally(parsed, tz):
            raise InvalidInput(
                f"{parsed:%Y-%m-%d %H:%M} does not exist in {tz.key}: the clocks skip that "
                "hour (daylight saving time); give a time outside the gap"
            )
        instant = parsed.replace(tzinfo=tz, fold=0).astimezone(UTC)
    else:
        instant = parsed.astimezone(UTC)
    if instant <= now:
        raise InvalidInput(
            f"start {instant:%Y-%m-%dT%H:%M:%SZ} is in the past; an obligation must be ahead"
        )
    return instant


def parse_offset(text: str) -> timedelta:
    """A reminder offset such as ``"7d"``, ``"2h"`` or ``"30m"``.

    Raises:
        InvalidInput: anything else, or an offset over 60 days.
    """
    m = _OFFSET.match(text)
    if not m:
        raise InvalidInput(f"a reminder offset is a number and d, h or m (e.g. 7d, 2h): {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]
    if delta > timedelta(days=60) or delta <= timedelta(0):
        raise InvalidInput(f"a reminder offset lies between 1 minute and 60 days: {text!r}")
    return delta


def offset_label(delta: timedelta) -> str:
    """``"7d"``, ``"2h"`` or ``"30m"`` for a whole number of days, hours or minutes."""
    s = int(delta.total_seconds())
    if s % 86400 == 0:
        return f"{s // 86400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    return f"{s // 60}m"


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """A program's reminder policy: offsets before hearings and appointments (default 7 days,
    3 days, 1 day, 2 hours), the local time of a check-in's morning reminder, and the offset
    that may break quiet hours (2 hours)."""

    offsets: tuple[timedelta, ...] = (
        timedelta(days=7),
        timedelta(days=3),
        timedelta(days=1),
        timedelta(hours=2),
    )
    morning: time = time(8, 0)
    urgent: timedelta = timedelta(hours=2)

    @classmethod
    def parse(cls, offsets: str, morning: str) -> ReminderPolicy:
        """From settings text: ``"7d,3d,1d,2h"`` and ``"08:00"``. Raises InvalidInput."""
        parts = [p for p in offsets.split(",") if p.strip()]
        return cls(
            offsets=tuple(sorted({parse_offset(p) for p in parts}, reverse=True)),
            morning=parse_hhmm(morning, "reminder morning time"),
        )


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local ``[start, end)`` during which no reminder is sent (may cross midnight)."""

    start: time
    end: time

    def period_around(self, instant: datetime, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        """The UTC ``[start, end)`` of the quiet period containing *instant*, if any."""
        local_day = instant.astimezone(tz).date()
        for day in (local_day - timedelta(days=1), local_day):
            begin = local_to_utc(day, self.start, tz)
            end_day = day + timedelta(days=1) if self.end <= self.start else day
            finish = local_to_utc(end_day, self.end, tz)
            if begin <= instant < finish:
                return begin, finish
        return None


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """One reminder to send: ``label`` (``"7d"``, ``"2h"``, ``"morning"``) and UTC ``at``."""

    label: str
    at: datetime


def _minus_days_local(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    local = start.astimezone(tz)
    day: date = local.date() - timedelta(days=days)
    return local_to_utc(day, local.time().replace(tzinfo=None), tz)


def plan_reminders(
    kind: str,
    start: datetime,
    tz: ZoneInfo,
    policy: ReminderPolicy,
    now: datetime,
    quiet: QuietHours | None = None,
) -> list[PlannedReminder]:
    """The reminders still ahead for one obligation, in time order.

    Hearings, appointments and other obligations get one reminder per policy offset; a
    check-in gets one on the morning (``policy.morning``, local) of its local date, or an hour
    before it when it starts earlier than that. Reminders at or before *now* are dropped (a
    hearing entered two days ahead gets its 1-day and 2-hour reminders only); one entered less
    than 2 hours ahead is reminded at once (at *now*). A reminder inside
    *quiet* hours moves to their end if that is still before the start, else to 15 minutes
    before they begin; the urgent (2-hour) reminder is never moved.

    >>> tz = ZoneInfo("America/New_York")
    >>> [(r.label, r.at.isoformat()) for r in plan_reminders("court_hearing",
    ...   datetime(2024, 3, 11, 13, 0, tzinfo=UTC), tz, ReminderPolicy(),
    ...   datetime(2024, 3, 1, tzinfo=UTC))][:3]     # 09:00 EDT; the 7d one is 09:00 EST
    [('7d', '2024-03-04T14:00:00+00:00'), ('3d', '2024-03-08T14:00:00+00:00'), \
('1d', '2024-03-10T13:00:00+00:00')]
    """
    out: list[PlannedReminder] = []
    if kind == "check_in":
        local_day = start.astimezone(tz).date()
        at = local_to_utc(local_day, policy.morning, tz)
        if at >= start:
            at = start - timedelta(hours=1)
        out.append(PlannedReminder("morning", at))
    else:
        for delta in policy.offsets:
            if delta.total_seconds() % 86400 == 0:
                at = _minus_days_local(start, int(delta.total_seconds()) // 86400, tz)
            else:
                at = start - delta
            out.append(PlannedReminder(offset_label(delta), at))
    moved: list[PlannedReminder] = []
    for r in out:
        at = r.at
        if quiet is not None and r.label != offset_label(policy.urgent):
            period = quiet.period_around(at, tz)
            if period is not None:
                at = period[1] if period[1] < start else period[0] - timedelta(minutes=15)
        if at > now and at < start:
            moved.append(PlannedReminder(r.label, at))
    urgent = offset_label(policy.urgent)
    if (
        kind != "check_in"
        and now < start <= now + policy.urgent
        and policy.urgent in policy.offsets
        and all(r.label != urgent for r in moved)
    ):
        moved.append(PlannedReminder(urgent, now))  # entered late: remind at once
    return sorted(moved, key=lambda r: r.at)


def check_quiet_hours(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """Validate quiet hours ``"HH:MM"`` (both or neither; not equal). Raises InvalidInput."""
    if start is None and end is None:
        return None, None
    if start is None or end is None:
        raise InvalidInput("quiet hours need both quiet_start and quiet_end, e.g. 21:00 and 08:00")
    s, e = parse_hhmm(start, "quiet_start"), parse_hhmm(end, "quiet_end")
    if s == e:
        raise InvalidInput("quiet_start and quiet_end must differ")
    return start, end


def quiet_hours(start: str | None, end: str | None) -> QuietHours | None:
    """Stored quiet hours as :class:`QuietHours` (``None`` when unset)."""
    if not start or not end:
        return None
    return QuietHours(parse_hhmm(start), parse_hhmm(end))


def planned_keys(reminders: Sequence[PlannedReminder]) -> list[str]:
    """The labels of *reminders*, in order (for logs and tests)."""
    return [r.label for r in reminders]
