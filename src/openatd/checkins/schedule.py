"""Check-in windows of one schedule, in UTC, from weekly local-time windows or an ad-hoc request.

A check-in schedule is either

* ``weekly``: windows such as Mondays 09:00-12:00 in the participant's IANA time zone, read with
  :mod:`openatd.domain.schedules` (each window is computed for its own local date, so a DST
  night makes a window an hour shorter or longer in UTC, never shifted; a window that a DST
  change swallows entirely does not occur), or
* ``adhoc``: one window ``[opens_at, closes_at)`` that a case manager asked for ("check in
  within 60 minutes").

Every window has a grace period (``grace_s`` seconds) after its end: a check-in received by the
*server* at ``t`` is accepted, and on time, when ``start <= t < end + grace``. The phone's own
clock is never used to judge timeliness. A window is identified by its schedule and its UTC start.

Windows that started before the schedule was created are not obligations (the participant could
not have known of them).

>>> from datetime import UTC, datetime
>>> plan = CheckInPlan.weekly(1, [{"days": ["sun"], "start": "01:00", "end": "03:00"}],
...                           "America/New_York", grace_s=300,
...                           not_before=datetime(2026, 3, 1, tzinfo=UTC))
>>> w = plan.open_window(datetime(2026, 3, 8, 6, 30, tzinfo=UTC))   # the spring-forward night
>>> w.start.isoformat(), w.end.isoformat(), w.closes_at.isoformat()
('2026-03-08T06:00:00+00:00', '2026-03-08T07:00:00+00:00', '2026-03-08T07:05:00+00:00')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openatd.domain.schedules import WeeklySchedule, load_tz, parse_schedule
from openatd.errors import InvalidInput

MAX_GRACE_S = 6 * 3600
"""Largest grace period a schedule may have, seconds."""

MAX_WEEKLY_WINDOWS = 28
"""Most windows a weekly schedule may open per week (four a day)."""

MIN_WINDOW_S = 5 * 60
"""Shortest weekly window, seconds (local wall-clock length)."""

_WEEK_MIN = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class CheckInWindow:
    """One occurrence of a check-in obligation.

    Attributes:
        schedule_id: the schedule it belongs to.
        start, end: UTC ``[start, end)`` of the window itself.
        grace_s: seconds after ``end`` during which a check-in is still accepted and on time.
        tz: the participant's time zone (for describing the window in local time).
    """

    schedule_id: int
    start: datetime
    end: datetime
    grace_s: int
    tz: ZoneInfo

    @property
    def closes_at(self) -> datetime:
        """``end + grace``: the first instant at which a check-in is no longer accepted (UTC)."""
        return self.end + timedelta(seconds=self.grace_s)

    def accepts(self, now: datetime) -> bool:
        """Whether a check-in received by the server at *now* counts for this window."""
        return self.start <= now < self.closes_at

    def describe(self) -> str:
        """The window in the participant's local time, e.g.
        ``"Monday 9 March 2026, 09:00-12:00 (America/Chicago)"``."""
        start = self.start.astimezone(self.tz)
        end = self.end.astimezone(self.tz)
        day = f"{start:%A} {start.day} {start:%B %Y}"
        if end.date() != start.date():
            return f"{day}, {start:%H:%M} to {end:%A} {end:%H:%M} ({self.tz.key})"
        return f"{day}, {start:%H:%M}-{end:%H:%M} ({self.tz.key})"


@dataclass(frozen=True, slots=True)
class CheckInPlan:
    """The windows of one check-in schedule.

    Build with :meth:`weekly` or :meth:`adhoc`. All instants are timezone-aware UTC.
    """

    schedule_id: int
    tz: ZoneInfo
    grace_s: int
    not_before: datetime
    weekly_schedule: WeeklySchedule | None = None
    adhoc_window: tuple[datetime, datetime] | None = None

    @classmethod
    def weekly(
        cls,
        schedule_id: int,
        windows: Sequence[dict[str, Any]],
        tz: str,
        *,
        grace_s: int,
        not_before: datetime,
    ) -> CheckInPlan:
        """Weekly windows ``[{"days": ["mon"], "start": "09:00", "end": "12:00"}, ...]``.

        Raises:
            InvalidInput: malformed windows, unknown zone, grace out of range.
        """
        check_grace(grace_s)
        return cls(
            schedule_id,
            load_tz(tz),
            grace_s,
            not_before,
            weekly_schedule=parse_schedule(list(windows), tz),
        )

    @classmethod
    def adhoc(
        cls, schedule_id: int, opens_at: datetime, closes_at: datetime, tz: str, *, grace_s: int
    ) -> CheckInPlan:
        """One window ``[opens_at, closes_at)``.

        Raises:
            InvalidInput: ``closes_at <= opens_at``, unknown zone, grace out of range.
        """
        check_grace(grace_s)
        if closes_at <= opens_at:
            raise InvalidInput("an ad-hoc check-in window must close after it opens")
        return cls(schedule_id, load_tz(tz), grace_s, opens_at, adhoc_window=(opens_at, closes_at))

    def _occurrences(self, start: datetime, end: datetime) -> list[CheckInWindow]:
        """Windows whose ``[start, closes_at)`` meets ``[start, end)``, ordered by start."""
        out: list[CheckInWindow] = []
        if self.adhoc_window is not None:
            candidates = [self.adhoc_window]
        else:
            assert self.weekly_schedule is not None
            candidates = []
            first = (start - timedelta(seconds=self.grace_s)).astimezone(self.tz).date()
            last = end.astimezone(self.tz).date()
            day = first - timedelta(days=1)
            while day <= last:
                for w in self.weekly_schedule.windows:
                    occ = w.occurrence(day, self.tz)
                    if occ is not None:
                        candidates.append(occ)
                day += timedelta(days=1)
        for w_start, w_end in sorted(set(candidates)):
            window = CheckInWindow(self.schedule_id, w_start, w_end, self.grace_s, self.tz)
            if w_start < self.not_before:
                continue
            if w_start < end and window.closes_at > start:
                out.append(window)
        return out

    def open_window(self, now: datetime) -> CheckInWindow | None:
        """The window that accepts a check-in at *now* (the one closing first if several)."""
        now = _utc(now)
        hits = [
            w for w in self._occurrences(now, now + timedelta(microseconds=1)) if w.accepts(now)
        ]
        return min(hits, key=lambda w: w.closes_at) if hits else None

    def closing_between(self, after: datetime, until: datetime) -> list[CheckInWindow]:
        """Windows whose ``closes_at`` is in ``(after, until]``, in closing order."""
        after, until = _utc(after), _utc(until)
        if until <= after:
            return []
        span_start = after - timedelta(days=8) if self.adhoc_window is None else after
        return [
            w
            for w in self._occurrences(span_start, until + timedelta(microseconds=1))
            if after < w.closes_at <= until
        ]

    def upcoming(self, now: datetime, horizon: timedelta) -> list[CheckInWindow]:
        """Windows still accepting check-ins at *now* or starting before ``now + horizon``."""
        now = _utc(now)
        return [w for w in self._occurrences(now, now + horizon) if w.closes_at > now]

    def describe(self) -> str:
        """The obligation in words, in local time."""
        if self.weekly_schedule is not None:
            return f"every week: {self.weekly_schedule.describe()} ({self.tz.key})"
        assert self.adhoc_window is not None
        window = CheckInWindow(
            self.schedule_id, self.adhoc_window[0], self.adhoc_window[1], self.grace_s, self.tz
        )
        return f"once: {window.describe()}"


def check_grace(grace_s: int) -> int:
    """Return *grace_s* if it is 0..:data:`MAX_GRACE_S` seconds.

    Raises:
        InvalidInput: otherwise.
    """
    if isinstance(grace_s, bool) or not isinstance(grace_s, int) or not 0 <= grace_s <= MAX_GRACE_S:
        raise InvalidInput(f"grace_s must be a whole number of seconds from 0 to {MAX_GRACE_S}")
    return grace_s


def check_weekly_windows(schedule: WeeklySchedule) -> WeeklySchedule:
    """Return *schedule* if its windows are a sensible weekly obligation.

    Counted per week in local wall-clock time (a window listed for three days is three
    windows; one that ends before it starts runs into the next day, Sunday into Monday):

    * at most :data:`MAX_WEEKLY_WINDOWS` windows a week;
    * each at least :data:`MIN_WINDOW_S` seconds long;
    * no two windows overlapping, which includes the same window given twice (windows that
      only touch, 09:00-10:00 and 10:00-11:00, are fine).

    Raises:
        InvalidInput: saying which rule is broken, naming the windows concerned.

    >>> from openatd.domain.schedules import parse_schedule
    >>> check_weekly_windows(parse_schedule(
    ...     [{"days": ["mon"], "start": "09:00", "end": "09:02"}], "UTC"))
    Traceback (most recent call last):
    ...
    openatd.errors.InvalidInput: check-in window Mon 09:00-09:02 is 2 minutes long; a window must last at least 5 minutes
    """  # noqa: E501
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    spans: list[tuple[int, int, str]] = []
    for w in schedule.windows:
        start = w.start.hour * 60 + w.start.minute
        length = (w.end.hour * 60 + w.end.minute - start) % (24 * 60)
        for day in sorted(w.days):
            label = f"{names[day]} {w.start:%H:%M}-{w.end:%H:%M}"
            if length * 60 < MIN_WINDOW_S:
                raise InvalidInput(
                    f"check-in window {label} is {length} minute{'s' if length != 1 else ''} "
                    f"long; a window must last at least {MIN_WINDOW_S // 60} minutes"
                )
            spans.append((day * 24 * 60 + start, length, label))
    if len(spans) > MAX_WEEKLY_WINDOWS:
        raise InvalidInput(
            f"a weekly check-in schedule may have at most {MAX_WEEKLY_WINDOWS} windows a week; "
            f"this one has {len(spans)}"
        )
    spans.sort()
    for i, (start, length, label) in enumerate(spans):
        # The next window in the week; the last one is compared with the first, a week on.
        nxt_start, _, nxt_label = spans[(i + 1) % len(spans)]
        if i + 1 == len(spans):
            nxt_start += _WEEK_MIN
        if len(spans) > 1 and start + length > nxt_start:
            what = "repeats" if (start % _WEEK_MIN) == (nxt_start % _WEEK_MIN) else "overlaps"
            raise InvalidInput(f"check-in window {label} {what} {nxt_label}")
    return schedule


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("check-in windows need timezone-aware datetimes")
    return instant.astimezone(UTC)
