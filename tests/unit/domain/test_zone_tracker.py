"""ZoneTracker: its fast answers are always Zone.classify's answers, and it does answer far out."""

from __future__ import annotations

import random

import pytest
from pyproj import Geod

from openatd.domain.zones import Relation, Zone, ZoneTracker, parse_zone

GEOD = Geod(ellps="WGS84")

SQUARE_WITH_HOLE = {
    "type": "Polygon",
    "coordinates": [
        [[-87.63, 41.87], [-87.62, 41.87], [-87.62, 41.88], [-87.63, 41.88], [-87.63, 41.87]],
        [
            [-87.627, 41.873],
            [-87.623, 41.873],
            [-87.623, 41.877],
            [-87.627, 41.877],
            [-87.627, 41.873],
        ],
    ],
}
# a concave "L" at 69.6° N (Tromsø), where the local plane's metric error is largest
TROMSO_L = {
    "type": "Polygon",
    "coordinates": [
        [[18.9, 69.64], [18.99, 69.64], [18.99, 69.66], [18.93, 69.66], [18.93, 69.7],
         [18.9, 69.7], [18.9, 69.64]]
    ],
}  # fmt: skip
# a 30 m house and its garden as two parts, near the equator
HOUSE_AND_GARDEN = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[10.0, 0.0], [10.0003, 0.0], [10.0003, 0.0003], [10.0, 0.0003], [10.0, 0.0]]],
        [[[10.0005, 0.0], [10.001, 0.0], [10.001, 0.0004], [10.0005, 0.0], ]],
    ],
}  # fmt: skip
ANTIMERIDIAN = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[179.9, -16.6], [180.0, -16.6], [180.0, -16.4], [179.9, -16.4], [179.9, -16.6]]],
        [[[-180.0, -16.6], [-179.9, -16.6], [-179.9, -16.4], [-180.0, -16.4], [-180.0, -16.6]]],
    ],
}


def _zone(geometry: dict[str, object], kind: str = "inclusion") -> Zone:
    return parse_zone({"id": "z", "kind": kind, "geometry": geometry})


def _walk(centre: tuple[float, float], seed: int, n: int, step_m: float, spread_m: float):  # type: ignore[no-untyped-def]
    """A random walk (lat, lon, accuracy) around *centre* with occasional jumps."""
    rng = random.Random(seed)
    lat, lon = centre
    for _ in range(n):
        if rng.random() < 0.05:  # a jump anywhere within spread
            lon, lat, _ = GEOD.fwd(
                centre[1], centre[0], rng.uniform(0, 360), rng.uniform(0, spread_m)
            )
        else:
            lon, lat, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360), rng.uniform(0, step_m))
        acc = rng.choice([None, 0.0, rng.uniform(1, 60), rng.uniform(100, 3000)])
        yield float(lat), float(lon), acc


@pytest.mark.parametrize(
    ("geometry", "centre", "spread_m", "min_inside"),
    [
        (SQUARE_WITH_HOLE, (41.875, -87.625), 3000.0, 50),
        (TROMSO_L, (69.67, 18.94), 8000.0, 50),
        # a 30 m house is never "far inside" for a 40 m step: only outside is answered
        (HOUSE_AND_GARDEN, (0.0002, 10.0004), 400.0, 0),
    ],
)
def test_quick_answers_are_classify_answers(
    geometry: dict[str, object], centre: tuple[float, float], spread_m: float, min_inside: int
) -> None:
    zone = _zone(geometry)
    tracker = ZoneTracker(zone)
    quick = {Relation.INSIDE: 0, Relation.OUTSIDE: 0}
    for lat, lon, acc in _walk(centre, 11, 3000, 40.0, spread_m):
        want = zone.classify(lat, lon, acc)
        fast = tracker.quick_relation(lat, lon, acc)
        if fast is not None:
            assert fast is want.relation, (lat, lon, acc)
            quick[fast] += 1
        # the full path is the zone's classification exactly (and moves the anchor)
        assert tracker.classify(lat, lon, acc) == want
    # the fast path does answer, on both sides (the test would catch a path that never fires)
    assert quick[Relation.INSIDE] >= min_inside and quick[Relation.OUTSIDE] > 200, quick


def test_far_outside_the_bounding_box_needs_no_anchor() -> None:
    tracker = ZoneTracker(_zone(SQUARE_WITH_HOLE, "exclusion"))
    assert tracker.quick_relation(41.90, -87.625, 25.0) is Relation.OUTSIDE
    # 2.2 km north with a 3 km accuracy circle: undecided, left to classify (ambiguous)
    assert tracker.quick_relation(41.90, -87.625, 3000.0) is None
    assert tracker.classify(41.90, -87.625, 3000.0).relation is Relation.AMBIGUOUS


def test_inside_is_answered_only_near_an_anchor() -> None:
    zone = _zone(SQUARE_WITH_HOLE)
    tracker = ZoneTracker(zone)
    # 220 m west of the hole, 220 m east of the shell's west edge: inside, far from both
    assert tracker.quick_relation(41.875, -87.6285, 10.0) is None  # no anchor yet
    assert tracker.classify(41.875, -87.6285, 10.0).relation is Relation.INSIDE
    assert tracker.quick_relation(41.8751, -87.6285, 10.0) is Relation.INSIDE
    # in the hole, near the anchor's bound but across an edge: never answered from the anchor
    assert tracker.quick_relation(41.875, -87.625, 10.0) is None
    assert zone.classify(41.875, -87.625, 10.0).relation is Relation.OUTSIDE


def test_no_fast_path_across_the_antimeridian() -> None:
    tracker = ZoneTracker(_zone(ANTIMERIDIAN))
    for lon in (179.95, -179.95, 179.0, 170.0):
        tracker.classify(-16.5, lon, 20.0)
        assert tracker.quick_relation(-16.5, lon, 20.0) is None


def test_circle_classify_is_one_geodesic_and_unchanged() -> None:
    home = parse_zone(
        {
            "id": "home",
            "kind": "inclusion",
            "circle": {"lat": 41.8781, "lon": -87.6298, "radius_m": 100},
        }
    )
    p = home.classify(41.8805, -87.6298, 10)
    assert p.relation is Relation.OUTSIDE and p.point_inside is False
    _, _, to_centre = GEOD.inv(-87.6298, 41.8781, -87.6298, 41.8805)
    assert p.distance_m == pytest.approx(to_centre - 100, abs=1e-9)
    assert p.distance_m == home.boundary_distance_m(41.8805, -87.6298)
    assert ZoneTracker(home).quick_relation(41.8805, -87.6298, 10) is None  # circles: classify
