"""The position filter: each drop reason, on the README's boundaries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from openatd.domain.messages import DeviceReport, ReportKind
from openatd.rules.filter import DropReason, PositionFilterStage
from openatd.rules.policy import Policy

T0 = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)
GOOD = DeviceReport(
    fix_time=T0, received=T0 + timedelta(seconds=3), latitude=41.8781, longitude=-87.6298,
    accuracy_m=8,
)  # fmt: skip


def fresh() -> PositionFilterStage:
    return PositionFilterStage(Policy())


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"latitude": 0.0, "longitude": 0.0}, DropReason.NULL_ISLAND),
        ({"longitude": -270.6}, DropReason.OUT_OF_RANGE),
        ({"latitude": 91.5}, DropReason.OUT_OF_RANGE),
        ({"longitude": 180.5}, DropReason.OUT_OF_RANGE),
        ({"valid": False}, DropReason.INVALID_FIX),
        ({"latitude": None, "longitude": None}, DropReason.INVALID_FIX),
        ({"kind": ReportKind.HEARTBEAT}, DropReason.INVALID_FIX),
        ({"fix_time": T0 + timedelta(seconds=304)}, DropReason.FUTURE),  # 301 s after arrival
        ({"fix_time": T0 - timedelta(days=7, seconds=-2)}, DropReason.TOO_OLD),  # 604801 s before
    ],
)
def test_single_fix_reasons(changes: dict[str, object], reason: DropReason) -> None:
    assert fresh().check(replace(GOOD, **changes)) is reason  # type: ignore[arg-type]


def test_limits_are_inclusive_of_the_threshold() -> None:
    f = fresh()
    assert f.check(replace(GOOD, fix_time=GOOD.received + timedelta(seconds=300))) is None
    assert f.check(replace(GOOD, fix_time=GOOD.received - timedelta(seconds=604800))) is None


def test_duplicate_fix_time() -> None:
    f = fresh()
    assert f.apply(GOOD) == (f.newest, None)
    resent = replace(GOOD, received=GOOD.received + timedelta(minutes=5))
    assert f.check(resent) is DropReason.DUPLICATE


def test_jump_from_newest_accepted_by_fix_time() -> None:
    f = PositionFilterStage(Policy(max_speed_mps=30))
    f.apply(GOOD)
    # 0.027° of latitude is ~3.0 km; in 60 s that is ~50 m/s: a jump at 30 m/s, fine at 70 m/s.
    far = replace(
        GOOD,
        fix_time=T0 + timedelta(seconds=60),
        received=T0 + timedelta(seconds=63),
        latitude=41.9051,
    )
    assert f.check(far) is DropReason.JUMP
    assert PositionFilterStage(Policy(), newest=f.newest).check(far) is None
    # An older fix is checked against the newest accepted one too (by fix time).
    f.apply(
        replace(GOOD, fix_time=T0 + timedelta(seconds=600), received=T0 + timedelta(seconds=601))
    )
    older_far = replace(
        far, fix_time=T0 + timedelta(seconds=590), received=T0 + timedelta(seconds=700)
    )
    assert f.check(older_far) is DropReason.JUMP


def test_dropped_fix_does_not_move_the_newest_position() -> None:
    f = fresh()
    f.apply(GOOD)
    newest = f.newest
    f.apply(replace(GOOD, fix_time=T0 + timedelta(seconds=60), latitude=0.0, longitude=0.0))
    assert f.newest == newest


def test_needs_received() -> None:
    with pytest.raises(ValueError, match="received"):
        fresh().check(replace(GOOD, received=None))


def test_jump_bound_never_under_the_geodesic_and_changes_no_outcome() -> None:
    """The planar bound before the geodesic (issue 11): never below the distance, and the
    filter's jump verdicts equal the geodesic-only rule's on random pairs, near the limit."""
    import random

    from openatd.domain.geodesy import distance_m, distance_upper_bound_m

    rng = random.Random(11)
    limit = Policy().max_speed_mps
    for _ in range(20000):
        lat1, lon1 = rng.uniform(-89.9, 89.9), rng.uniform(-180, 180)
        scale = rng.choice([1e-5, 1e-3, 0.1, 5.0, 90.0])
        lat2 = max(-89.9, min(89.9, lat1 + rng.uniform(-scale, scale)))
        lon2 = (lon1 + rng.uniform(-scale, scale) * 3 + 180) % 360 - 180
        d = distance_m(lat1, lon1, lat2, lon2)
        assert distance_upper_bound_m(lat1, lon1, lat2, lon2) >= d
        # a second fix whose implied speed is within ±3 % of the limit, either side
        dt = max(1, round(d / (limit * rng.uniform(0.97, 1.03))))
        f = PositionFilterStage(Policy())
        first = DeviceReport(fix_time=T0, received=T0, latitude=lat1, longitude=lon1)
        f.apply(first)
        t = T0 + timedelta(seconds=dt)
        second = DeviceReport(fix_time=t, received=t, latitude=lat2, longitude=lon2)
        expected = DropReason.JUMP if d / dt > limit else None
        assert f.check(second) is expected
