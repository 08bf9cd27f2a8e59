"""Obligation start times and reminder plans in the participant's zone (DST, quiet hours)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from openatd.domain.obligations import (
    QuietHours,
    ReminderPolicy,
    parse_offset,
    plan_reminders,
    read_start,
)
from openatd.errors import InvalidInput

NY = ZoneInfo("America/New_York")
CHI = ZoneInfo("America/Chicago")
NOW = datetime(2024, 2, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_local_wall_time_is_read_in_the_participants_zone() -> None:
    assert read_start("2024-03-11T09:00", NY, NOW) == utc("2024-03-11T13:00:00Z")  # EDT
    assert read_start("2024-03-08T09:00", NY, NOW) == utc("2024-03-08T14:00:00Z")  # EST
    assert read_start("2024-03-11T09:00:00-05:00", NY, NOW) == utc("2024-03-11T14:00:00Z")
    assert read_start("2024-03-11T14:00:00Z", NY, NOW) == utc("2024-03-11T14:00:00Z")


def test_a_repeated_local_time_is_its_first_occurrence() -> None:
    assert read_start("2024-11-03T01:30", NY, NOW) == utc("2024-11-03T05:30:00Z")


def test_a_nonexistent_local_time_is_refused_naming_the_gap() -> None:
    with pytest.raises(InvalidInput, match=r"2024-03-10 02:30 does not exist in America/New_York"):
        read_start("2024-03-10T02:30", NY, NOW)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("2024-01-31T09:00", "in the past"),
        ("2024-02-01T00:00:00Z", "in the past"),
        ("next tuesday", "ISO 8601"),
        ("2024-13-01T09:00", "ISO 8601"),
        ("2301-01-01T09:00", "between 2000 and 2199"),
    ],
)
def test_bad_starts_are_refused(value: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        read_start(value, NY, NOW)


def test_default_policy_reminds_7d_3d_1d_and_2h_at_local_wall_time_across_dst() -> None:
    start = read_start("2024-03-11T09:00", NY, NOW)  # Monday after spring-forward
    plan = plan_reminders("court_hearing", start, NY, ReminderPolicy(), NOW)
    assert [(r.label, r.at) for r in plan] == [
        ("7d", utc("2024-03-04T14:00:00Z")),  # 09:00 EST
        ("3d", utc("2024-03-08T14:00:00Z")),  # 09:00 EST
        ("1d", utc("2024-03-10T13:00:00Z")),  # 09:00 EDT: the day the clocks changed
        ("2h", utc("2024-03-11T11:00:00Z")),  # 07:00 EDT
    ]


def test_past_reminders_are_dropped() -> None:
    start = utc("2024-03-11T13:00:00Z")
    plan = plan_reminders("appointment", start, NY, ReminderPolicy(), utc("2024-03-09T00:00:00Z"))
    assert [r.label for r in plan] == ["1d", "2h"]


def test_an_obligation_entered_less_than_2_hours_ahead_is_reminded_at_once() -> None:
    now = utc("2024-03-11T12:00:00Z")
    plan = plan_reminders("court_hearing", utc("2024-03-11T13:00:00Z"), NY, ReminderPolicy(), now)
    assert [(r.label, r.at) for r in plan] == [("2h", now)]
    assert plan_reminders("court_hearing", now, NY, ReminderPolicy(), now) == []


def test_quiet_hours_move_reminders_but_never_the_2_hour_one() -> None:
    # A 06:30 hearing: the 1-day reminder (06:30 the day before) falls in 22:00-07:00 quiet
    # hours and moves to 07:00; the 2-hour one (04:30) stays.
    start = read_start("2024-04-10T06:30", CHI, NOW)
    quiet = QuietHours(time(22, 0), time(7, 0))
    plan = {
        r.label: r.at
        for r in plan_reminders("court_hearing", start, CHI, ReminderPolicy(), NOW, quiet)
    }
    assert plan["1d"] == read_start("2024-04-09T07:00", CHI, NOW)
    assert plan["2h"] == read_start("2024-04-10T04:30", CHI, NOW)
    assert plan["7d"] == read_start("2024-04-03T07:00", CHI, NOW)


def test_quiet_hours_before_the_start_move_to_just_before_they_begin() -> None:
    # Quiet 21:00-09:00, a 08:00 check-in: the morning reminder (08:00 policy -> 07:00) is in
    # quiet hours that end after the start, so it goes at 20:45 the evening before.
    start = read_start("2024-04-10T08:00", CHI, NOW)
    quiet = QuietHours(time(21, 0), time(9, 0))
    plan = plan_reminders("check_in", start, CHI, ReminderPolicy(), NOW, quiet)
    assert [(r.label, r.at) for r in plan] == [
        ("morning", read_start("2024-04-09T20:45", CHI, NOW))
    ]


def test_check_in_morning_reminder_is_local_morning_on_its_own_date() -> None:
    start = read_start("2024-11-03T10:00", NY, NOW)  # fall-back day
    plan = plan_reminders("check_in", start, NY, ReminderPolicy(morning=time(8, 0)), NOW)
    assert [(r.label, r.at) for r in plan] == [("morning", utc("2024-11-03T13:00:00Z"))]


def test_policy_parse() -> None:
    p = ReminderPolicy.parse("2h, 7d,1d", "07:30")
    assert p.offsets == (timedelta(days=7), timedelta(days=1), timedelta(hours=2))
    assert p.morning == time(7, 30)
    with pytest.raises(InvalidInput):
        parse_offset("7 weeks")
    with pytest.raises(InvalidInput):
        parse_offset("0h")
