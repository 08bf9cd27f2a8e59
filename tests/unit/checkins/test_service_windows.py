"""Check-in windows in the participant's zone (DST nights, midnight, grace, ad-hoc) and the
check-in location's validation — pure, at explicit instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openatd.checkins.schedule import CheckInPlan
from openatd.checkins.service import Location
from openatd.errors import InvalidInput

NY = "America/New_York"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_fall_back_night_makes_the_window_an_hour_longer() -> None:
    # 2026-11-01: 02:00 EDT -> 01:00 EST. 00:30 EDT = 04:30Z; 02:30 EST = 07:30Z.
    plan = CheckInPlan.weekly(
        7,
        [{"days": ["sun"], "start": "00:30", "end": "02:30"}],
        NY,
        grace_s=600,
        not_before=CREATED,
    )
    w = plan.open_window(utc(2026, 11, 1, 6, 0))
    assert w is not None
    assert (w.start, w.end, w.closes_at) == (
        utc(2026, 11, 1, 4, 30),
        utc(2026, 11, 1, 7, 30),
        utc(2026, 11, 1, 7, 40),
    )
    assert w.describe() == "Sunday 1 November 2026, 00:30-02:30 (America/New_York)"
    # A normal Sunday a week later is two hours long (EST all night).
    nxt = plan.open_window(utc(2026, 11, 8, 6, 0))
    assert nxt is not None and (nxt.end - nxt.start) == timedelta(hours=2)


def test_spring_forward_window_is_an_hour_shorter_and_swallowed_window_does_not_occur() -> None:
    # 02:00-03:00 local does not exist on 2026-03-08: RFC 5545 reads both ends as 07:00Z.
    plan = CheckInPlan.weekly(
        1,
        [
            {"days": ["sun"], "start": "01:00", "end": "03:00"},
            {"days": ["sun"], "start": "02:00", "end": "03:00"},
        ],
        NY,
        grace_s=0,
        not_before=CREATED,
    )
    closing = plan.closing_between(utc(2026, 3, 7), utc(2026, 3, 9))
    assert [(w.start, w.end) for w in closing] == [(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))]
    closing = plan.closing_between(utc(2026, 3, 14), utc(2026, 3, 16))
    assert [(w.start, w.end) for w in closing] == [
        (utc(2026, 3, 15, 5), utc(2026, 3, 15, 7)),
        (utc(2026, 3, 15, 6), utc(2026, 3, 15, 7)),
    ]


def test_grace_boundaries_and_midnight_crossing() -> None:
    plan = CheckInPlan.weekly(
        3,
        [{"days": ["fri"], "start": "22:00", "end": "01:00"}],
        "Europe/Berlin",
        grace_s=300,
        not_before=CREATED,
    )
    # Friday 2026-06-05 22:00 CEST = 20:00Z, ends Saturday 01:00 CEST = 23:00Z, closes 23:05Z.
    assert plan.open_window(utc(2026, 6, 5, 19, 59, 59)) is None
    w = plan.open_window(utc(2026, 6, 5, 20, 0))
    assert w is not None and w.closes_at == utc(2026, 6, 5, 23, 5)
    assert plan.open_window(utc(2026, 6, 5, 23, 4, 59)) == w
    assert plan.open_window(utc(2026, 6, 5, 23, 5)) is None
    assert w.describe() == "Friday 5 June 2026, 22:00 to Saturday 01:00 (Europe/Berlin)"
    # closing_between is (after, until]: the window is judged exactly at its closing instant.
    assert plan.closing_between(utc(2026, 6, 5), utc(2026, 6, 5, 23, 4, 59)) == []
    assert plan.closing_between(utc(2026, 6, 5), utc(2026, 6, 5, 23, 5)) == [w]
    assert plan.closing_between(utc(2026, 6, 5, 23, 5), utc(2026, 6, 6)) == []


def test_windows_before_the_schedule_existed_are_not_obligations() -> None:
    created = utc(2026, 3, 9, 15, 30)  # Monday 10:30 in Chicago, mid-window
    plan = CheckInPlan.weekly(
        4,
        [{"days": ["mon"], "start": "09:00", "end": "12:00"}],
        "America/Chicago",
        grace_s=0,
        not_before=created,
    )
    assert plan.open_window(utc(2026, 3, 9, 16)) is None
    assert plan.closing_between(created, utc(2026, 3, 17)) == [
        w for w in plan.upcoming(utc(2026, 3, 16, 13), timedelta(days=1))
    ]
    assert [w.start for w in plan.upcoming(created, timedelta(days=14))] == [
        utc(2026, 3, 16, 14),
        utc(2026, 3, 23, 14),
    ]


def test_adhoc_window() -> None:
    opens = utc(2026, 3, 9, 18, 12)
    plan = CheckInPlan.adhoc(
        9, opens, opens + timedelta(minutes=60), "America/Chicago", grace_s=120
    )
    w = plan.open_window(opens)
    assert w is not None and w.closes_at == opens + timedelta(minutes=62)
    assert plan.open_window(opens - timedelta(seconds=1)) is None
    assert plan.closing_between(opens, opens + timedelta(minutes=62)) == [w]
    assert plan.describe() == "once: Monday 9 March 2026, 13:12-14:12 (America/Chicago)"
    with pytest.raises(InvalidInput, match="must close after it opens"):
        CheckInPlan.adhoc(9, opens, opens, "America/Chicago", grace_s=0)


@pytest.mark.parametrize(
    ("windows", "tz", "grace", "message"),
    [
        ([{"days": ["mon"], "start": "09:00", "end": "09:00"}], NY, 0, "must have a length"),
        ([{"days": ["xyz"], "start": "09:00", "end": "10:00"}], NY, 0, "unknown day"),
        ([{"days": ["mon"], "start": "9am", "end": "10:00"}], NY, 0, "HH:MM"),
        (
            [{"days": ["mon"], "start": "09:00", "end": "10:00"}],
            "Mars/Base",
            0,
            "unknown time zone",
        ),
        ([{"days": ["mon"], "start": "09:00", "end": "10:00"}], NY, -1, "grace_s"),
        ([], NY, 0, "non-empty"),
    ],
)
def test_bad_schedules_are_refused(
    windows: list[dict[str, object]], tz: str, grace: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        CheckInPlan.weekly(1, windows, tz, grace_s=grace, not_before=CREATED)


@pytest.mark.parametrize(
    ("lat", "lon", "acc", "field"),
    [
        (91.0, 0.0, 5.0, "latitude"),
        (0.0, -180.5, 5.0, "longitude"),
        (0.0, 0.0, -1.0, "accuracy_m"),
        (float("nan"), 0.0, 5.0, "latitude"),
        (0.0, float("inf"), 5.0, "longitude"),
    ],
)
def test_location_is_validated(lat: float, lon: float, acc: float, field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        Location(lat, lon, acc)
    assert Location(41.8781, -87.6298, 12.0).accuracy_m == 12.0
