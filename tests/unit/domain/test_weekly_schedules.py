"""Weekly schedules and reminder times across DST (cases B17-B20, B18/B19 in cases.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from openatd.domain.schedules import next_occurrence, occurrences_between, parse_schedule
from openatd.errors import InvalidInput

EVERY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


class TestReminders:
    """The four rows of the B18/B19 table, with exactly its values."""

    def test_daily_midnight_los_angeles_after_spring_forward(self) -> None:
        last_sent = datetime.fromisoformat("2022-03-13T00:00-08:00")
        nxt = next_occurrence(EVERY, "00:00", "America/Los_Angeles", last_sent)
        assert nxt == utc("2022-03-14T07:00:00Z")
        assert nxt != last_sent + timedelta(hours=24)  # adding 24 h would give 01:00 local

    def test_weekdays_midnight_chicago_friday_to_monday(self) -> None:
        now = datetime.fromisoformat("2021-03-12T00:00:00.000001-06:00")
        nxt = next_occurrence(["mon", "tue", "wed", "thu", "fri"], "00:00", "America/Chicago", now)
        assert nxt == utc("2021-03-15T05:00:00Z")

    def test_nonexistent_0230_new_york_read_with_offset_before_gap(self) -> None:
        day_start = datetime(2024, 3, 10, tzinfo=ZoneInfo("America/New_York"))
        nxt = next_occurrence(EVERY, "02:30", "America/New_York", day_start)
        assert nxt == utc("2024-03-10T07:30:00Z")

    def test_repeated_0130_new_york_first_occurrence_only(self) -> None:
        day_start = datetime(2024, 11, 3, tzinfo=ZoneInfo("America/New_York"))
        first = next_occurrence(EVERY, "01:30", "America/New_York", day_start)
        assert first == utc("2024-11-03T05:30:00Z")
        second = next_occurrence(EVERY, "01:30", "America/New_York", first)
        assert second == utc("2024-11-04T06:30:00Z")  # nothing at 2024-11-03T06:30Z

    @pytest.mark.parametrize("at", ["00:00", "01:30", "02:30", "03:00", "23:59"])
    @pytest.mark.parametrize(
        ("first_day", "last_day"), [("2024-03-09", "2024-03-11"), ("2024-11-02", "2024-11-04")]
    )
    def test_each_daily_reminder_fires_once_per_local_date(
        self, at: str, first_day: str, last_day: str
    ) -> None:
        tz = ZoneInfo("America/New_York")
        start = datetime.fromisoformat(first_day).replace(tzinfo=tz) - timedelta(microseconds=1)
        end = datetime.fromisoformat(last_day).replace(tzinfo=tz) + timedelta(
            days=1, microseconds=-1
        )
        fires = occurrences_between(EVERY, at, tz, start, end)
        assert len(fires) == 3
        assert len({f.astimezone(tz).date() for f in fires}) == 3

    def test_curfew_start_reminders(self) -> None:
        s = parse_schedule([{"days": EVERY, "start": "22:00", "end": "06:00"}], "America/New_York")
        spring = s.active_window(utc("2024-03-10T05:00:00Z"))
        fall = s.active_window(utc("2024-11-03T05:00:00Z"))
        assert spring == (utc("2024-03-10T03:00:00Z"), utc("2024-03-10T10:00:00Z"))
        assert fall == (utc("2024-11-03T02:00:00Z"), utc("2024-11-03T11:00:00Z"))
        assert spring[1] - spring[0] == timedelta(hours=7)
        assert fall[1] - fall[0] == timedelta(hours=9)
        assert spring[0] - timedelta(minutes=30) == utc("2024-03-10T02:30:00Z")
        assert fall[0] - timedelta(minutes=30) == utc("2024-11-03T01:30:00Z")

    def test_unknown_zone(self) -> None:
        with pytest.raises(InvalidInput, match="unknown time zone 'America/Chicag'"):
            next_occurrence(EVERY, "00:00", "America/Chicag", utc("2024-01-01T00:00:00Z"))


class TestWeeklySchedule:
    def test_window_belongs_to_the_day_it_starts(self) -> None:
        s = parse_schedule(
            [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "22:00", "end": "06:00"}],
            "America/Chicago",
        )
        # Saturday 2024-05-18 00:50 CDT is in Friday night's window.
        assert s.active_window(utc("2024-05-18T05:50:00Z")) == (
            utc("2024-05-18T03:00:00Z"),
            utc("2024-05-18T11:00:00Z"),
        )
        # Monday 2024-05-20 01:00 CDT: Sunday night has no window.
        assert s.active_window(utc("2024-05-20T06:00:00Z")) is None
        # Friday 21:59 CDT is before the window.
        assert s.active_window(utc("2024-05-18T02:59:00Z")) is None

    def test_half_open(self) -> None:
        s = parse_schedule([{"days": EVERY, "start": "21:00", "end": "06:00"}], "America/Phoenix")
        assert s.active_window(utc("2024-05-15T04:00:00Z")) is not None  # 21:00 MST, start included
        assert s.active_window(utc("2024-05-15T03:59:59Z")) is None
        assert s.active_window(utc("2024-05-15T12:59:59Z")) is not None
        assert s.active_window(utc("2024-05-15T13:00:00Z")) is None  # 06:00 MST, end excluded

    def test_dst_fall_window_is_nine_local_hours(self) -> None:
        s = parse_schedule([{"days": EVERY, "start": "21:00", "end": "06:00"}], "America/New_York")
        win = s.active_window(utc("2024-11-03T10:20:00Z"))  # 05:20 EST
        assert win == (utc("2024-11-03T01:00:00Z"), utc("2024-11-03T11:00:00Z"))

    def test_same_day_window(self) -> None:
        s = parse_schedule(
            [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:30", "end": "16:00"}],
            "America/Chicago",
        )
        assert s.active_window(utc("2024-05-15T12:35:00Z")) == (
            utc("2024-05-15T12:30:00Z"),
            utc("2024-05-15T21:00:00Z"),
        )
        assert s.active_window(utc("2024-05-18T12:35:00Z")) is None  # Saturday

    @pytest.mark.parametrize(
        ("entry", "reason"),
        [
            ({"days": EVERY, "start": "21:00", "end": "21:00"}, "a window must have a length"),
            ({"days": EVERY, "start": "24:00", "end": "06:00"}, "'HH:MM' between 00:00 and 23:59"),
            ({"days": EVERY, "start": "9:00", "end": "17:00"}, "'HH:MM'"),
            ({"days": ["monday"], "start": "09:00", "end": "17:00"}, "unknown day 'monday'"),
            ({"days": [], "start": "09:00", "end": "17:00"}, "non-empty list"),
        ],
    )
    def test_invalid_windows(self, entry: dict[str, object], reason: str) -> None:
        with pytest.raises(InvalidInput, match=reason):
            parse_schedule([entry], "America/Chicago")

    def test_invalid_zone_name(self) -> None:
        with pytest.raises(InvalidInput, match="unknown time zone 'Mars/Olympus'"):
            parse_schedule([{"days": EVERY, "start": "21:00", "end": "06:00"}], "Mars/Olympus")


def test_overlapping_windows_act_as_one_and_touching_ones_stay_apart() -> None:
    s = parse_schedule(
        [
            {"days": EVERY, "start": "20:00", "end": "23:00"},
            {"days": EVERY, "start": "22:00", "end": "02:00"},
            {"days": EVERY, "start": "02:00", "end": "03:00"},
        ],
        "America/Chicago",
    )
    evening = (utc("2024-05-16T01:00:00Z"), utc("2024-05-16T07:00:00Z"))  # 20:00-02:00 CDT
    assert s.active_window(utc("2024-05-16T02:00:00Z")) == evening  # 21:00, before B starts
    assert s.active_window(utc("2024-05-16T05:00:00Z")) == evening  # 00:00
    assert s.active_window(utc("2024-05-16T07:30:00Z")) == (
        utc("2024-05-16T07:00:00Z"),
        utc("2024-05-16T08:00:00Z"),
    )
