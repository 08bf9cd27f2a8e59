"""Zone parsing (strict, B16) and classification of fixes with accuracy circles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pyproj import Geod

from openatd.domain.zones import Relation, ZoneKind, parse_geometry, parse_zone
from openatd.errors import InvalidInput

GEOD = Geod(ellps="WGS84")

B16_RING = [[-87.628, 41.870], [-87.629, 41.871], [-87.628, 41.871], [-87.630, 41.870],
            [-87.628, 41.870]]  # fmt: skip

SQUARE = [[-87.63, 41.87], [-87.62, 41.87], [-87.62, 41.88], [-87.63, 41.88], [-87.63, 41.87]]


def poly(*rings: list[list[float]]) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": list(rings)}


def brute_boundary_distance(lat: float, lon: float, edges: list[tuple[float, ...]]) -> float:
    """Geodesic distance to edges straight in lon/lat, by dense sampling (pyproj.Geod)."""
    best = np.inf
    for lon1, lat1, lon2, lat2 in edges:
        dlon = (lon2 - lon1 + 180) % 360 - 180
        t = np.linspace(0.0, 1.0, 200_001)
        lons = lon1 + t * dlon
        lats = lat1 + t * (lat2 - lat1)
        _, _, d = GEOD.inv(np.full_like(t, lon), np.full_like(t, lat), lons, lats)
        best = min(best, float(d.min()))
    return best


class TestValidation:
    def test_b16_self_intersection_names_the_crossing_point(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            parse_zone({"id": "home", "kind": "inclusion", "geometry": poly(B16_RING)})
        msg = str(exc.value)
        assert "self-intersection near lon -87.628667, lat 41.870667" in msg
        assert "'home'" in msg

    def test_b16_is_refused_not_repaired(self) -> None:
        # make_valid would give two triangles; we must refuse instead of silently changing it.
        with pytest.raises(InvalidInput, match="self-intersection"):
            parse_geometry(poly(B16_RING))

    def test_ring_with_fewer_than_four_positions(self) -> None:
        with pytest.raises(InvalidInput, match="at least 4 positions, got 3"):
            parse_geometry(poly([[-87.63, 41.87], [-87.62, 41.87], [-87.63, 41.87]]))

    def test_ring_not_closed(self) -> None:
        with pytest.raises(InvalidInput, match="ring is not closed"):
            parse_geometry(poly([*SQUARE[:-1], [-87.6301, 41.87]]))

    def test_hole_touching_shell_along_an_edge(self) -> None:
        hole = [[-87.63, 41.872], [-87.628, 41.872], [-87.628, 41.874], [-87.63, 41.874],
                [-87.63, 41.872]]  # fmt: skip
        with pytest.raises(InvalidInput) as exc:
            parse_geometry(poly(SQUARE, hole))
        assert "ring 2: hole touches its shell along an edge near lon -87.630000" in str(exc.value)

    def test_hole_crossing_shell(self) -> None:
        hole = [[-87.631, 41.872], [-87.628, 41.872], [-87.628, 41.874], [-87.631, 41.874],
                [-87.631, 41.872]]  # fmt: skip
        with pytest.raises(InvalidInput, match="ring 2: hole crosses or lies outside its shell"):
            parse_geometry(poly(SQUARE, hole))

    def test_hole_touching_shell_at_one_point_is_valid(self) -> None:
        hole = [[-87.63, 41.875], [-87.628, 41.874], [-87.628, 41.876], [-87.63, 41.875]]
        geom = parse_geometry(poly(SQUARE, hole))
        assert len(geom.interiors) == 1

    def test_edge_jumping_more_than_180_degrees(self) -> None:
        ring = [[179.9, -16.6], [-179.9, -16.6], [-179.9, -16.4], [179.9, -16.4], [179.9, -16.6]]
        with pytest.raises(InvalidInput) as exc:
            parse_geometry(poly(ring))
        assert "jumps 359.8° of longitude (more than 180°)" in str(exc.value)
        assert "MultiPolygon split at ±180°" in str(exc.value)

    @pytest.mark.parametrize(
        ("lon", "lat", "reason"),
        [
            (-187.63, 41.87, "longitude -187.63 is outside"),
            (-87.63, 91.0, "latitude 91 is outside"),
        ],
    )
    def test_coordinates_out_of_range(self, lon: float, lat: float, reason: str) -> None:
        ring = [[lon, lat], [-87.62, 41.87], [-87.62, 41.88], [lon, lat]]
        with pytest.raises(InvalidInput, match=reason):
            parse_geometry(poly(ring))

    @pytest.mark.parametrize(
        ("geometry", "reason"),
        [
            ({"type": "Point", "coordinates": [0, 0]}, "must be 'Polygon' or 'MultiPolygon'"),
            ({"type": "Polygon", "coordinates": []}, "non-empty list of rings"),
            (poly([["a", 41.87], [-87.62, 41.87], [-87.62, 41.88], ["a", 41.87]]), "a number"),
            (poly([[True, 41.87], [-87.62, 41.87], [-87.62, 41.88], [True, 41.87]]), "a number"),
            ({"type": "MultiPolygon", "coordinates": []}, "non-empty list of polygons"),
            ("not an object", "GeoJSON object"),
        ],
    )
    def test_wrong_types(self, geometry: object, reason: str) -> None:
        with pytest.raises(InvalidInput, match=reason):
            parse_geometry(geometry)

    def test_overlapping_multipolygon_parts(self) -> None:
        other = [[-87.625, 41.875], [-87.615, 41.875], [-87.615, 41.885], [-87.625, 41.885],
                 [-87.625, 41.875]]  # fmt: skip
        with pytest.raises(InvalidInput, match="polygons 1 and 2 overlap or share an edge"):
            parse_geometry({"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]})

    def test_zone_fields(self) -> None:
        with pytest.raises(InvalidInput, match="kind must be 'inclusion' or 'exclusion'"):
            parse_zone({"id": "a", "kind": "forbidden", "geometry": poly(SQUARE)})
        with pytest.raises(InvalidInput, match="exactly one of 'geometry' and 'circle'"):
            parse_zone({"id": "a", "kind": "inclusion"})
        with pytest.raises(InvalidInput, match="radius_m must be positive"):
            parse_zone(
                {"id": "a", "kind": "inclusion", "circle": {"lat": 1, "lon": 1, "radius_m": 0}}
            )
        with pytest.raises(InvalidInput, match="needs the participant's time zone"):
            parse_zone(
                {
                    "id": "a",
                    "kind": "inclusion",
                    "geometry": poly(SQUARE),
                    "schedule": [{"days": ["mon"], "start": "21:00", "end": "06:00"}],
                }
            )

    def test_valid_zone_with_schedule(self) -> None:
        zone = parse_zone(
            {
                "id": "7",
                "name": "home",
                "kind": "exclusion",
                "geometry": poly(SQUARE),
                "schedule": [{"days": ["mon"], "start": "21:00", "end": "06:00"}],
            },
            "America/Chicago",
        )
        assert zone.kind is ZoneKind.EXCLUSION
        assert zone.label == "home"
        assert zone.schedule is not None


class TestClassification:
    def test_circle_inside_outside_ambiguous(self) -> None:
        z = parse_zone(
            {
                "id": "h",
                "kind": "inclusion",
                "circle": {"lat": 41.8781, "lon": -87.6298, "radius_m": 100},
            }
        )
        # 41.8805 is 266.6 m north of the centre: 166.6 m outside the circle.
        p = z.classify(41.8805, -87.6298, 10)
        assert p.relation is Relation.OUTSIDE
        _, _, to_centre = GEOD.inv(-87.6298, 41.8781, -87.6298, 41.8805)
        assert p.distance_m == pytest.approx(to_centre - 100, abs=1e-6)
        assert p.distance_m == pytest.approx(166.6, abs=0.1)
        # Same point, accuracy circle reaching back into the zone: ambiguous.
        assert z.classify(41.8805, -87.6298, 170).relation is Relation.AMBIGUOUS
        assert z.classify(41.8781, -87.6298, 50).relation is Relation.INSIDE
        assert z.classify(41.8781, -87.6298, 100).relation is Relation.AMBIGUOUS

    def test_point_exactly_on_boundary_is_ambiguous_even_with_zero_accuracy(self) -> None:
        z = parse_zone({"id": "b", "kind": "inclusion", "geometry": poly(SQUARE)})
        for lat, lon in [(41.87, -87.63), (41.875, -87.62), (41.88, -87.625)]:
            p = z.classify(lat, lon, None)
            assert p.relation is Relation.AMBIGUOUS
            assert p.distance_m == 0.0

    def test_hole_is_outside(self) -> None:
        hole = [[-87.626, 41.874], [-87.624, 41.874], [-87.624, 41.876], [-87.626, 41.876],
                [-87.626, 41.874]]  # fmt: skip
        z = parse_zone({"id": "n", "kind": "inclusion", "geometry": poly(SQUARE, hole)})
        p = z.classify(41.875, -87.625, 5)
        assert p.relation is Relation.OUTSIDE
        assert not p.point_inside
        # Nearest boundary is the hole's east/west edge, 0.001° of longitude away.
        _, _, expected = GEOD.inv(-87.625, 41.875, -87.624, 41.875)
        assert p.distance_m == pytest.approx(expected, abs=0.01)
        assert z.classify(41.8725, -87.625, 5).relation is Relation.INSIDE

    def test_antimeridian_split_line_is_not_a_boundary(self) -> None:
        district = {
            "type": "MultiPolygon",
            "coordinates": [
                [[[179.9, -16.6], [180.0, -16.6], [180.0, -16.4], [179.9, -16.4], [179.9, -16.6]]],
                [
                    [
                        [-180.0, -16.6],
                        [-179.9, -16.6],
                        [-179.9, -16.4],
                        [-180.0, -16.4],
                        [-180.0, -16.6],
                    ]
                ],
            ],
        }
        z = parse_zone({"id": "d", "kind": "inclusion", "geometry": district})
        for lon in (179.9999, 180.0, -180.0, -179.9999):
            p = z.classify(-16.5, lon, 20)
            assert p.relation is Relation.INSIDE, lon
            # nearest real boundary: the north/south edges, 0.1° of latitude away (~11 km)
            assert p.distance_m > 10_000
        p = z.classify(-16.5, -179.85, 20)
        assert p.relation is Relation.OUTSIDE
        _, _, expected = GEOD.inv(-179.85, -16.5, -179.9, -16.5)
        assert p.distance_m == pytest.approx(expected, abs=0.01)

    @pytest.mark.parametrize(
        ("ring", "point"),
        [
            # Chicago block, point 150 m off a corner
            (SQUARE, (41.8812, -87.6185)),
            # a 20 km edge at 69.6° N (Tromsø): lon/lat-straight edge bulges off the geodesic
            (
                [[18.6, 69.6], [19.2, 69.6], [19.2, 69.75], [18.6, 69.75], [18.6, 69.6]],
                (69.68, 18.9),
            ),
            # a long slanted edge near the equator, point inside
            ([[10.0, 0.0], [10.5, 0.3], [10.0, 0.6], [10.0, 0.0]], (0.3, 10.2)),
        ],
    )
    def test_boundary_distance_matches_dense_geodesic_sampling(
        self, ring: list[list[float]], point: tuple[float, float]
    ) -> None:
        z = parse_zone({"id": "g", "kind": "inclusion", "geometry": poly(ring)})
        edges = [(*a, *b) for a, b in itertools.pairwise(ring)]
        lat, lon = point
        expected = brute_boundary_distance(lat, lon, edges)
        assert z.boundary_distance_m(lat, lon) == pytest.approx(expected, abs=0.05)


def test_fast_classification_agrees_with_exact_geodesic_distance() -> None:
    """The local-plane shortcut never changes a classification, even 2 cm from the threshold."""
    rng = np.random.default_rng(7)
    for lat0 in (0.0, 41.88, 69.6):
        ring = [[10.0, lat0], [10.04, lat0 + 0.003], [10.03, lat0 + 0.03], [10.0, lat0 + 0.02],
                [10.0, lat0]]  # fmt: skip
        z = parse_zone({"id": "r", "kind": "exclusion", "geometry": poly(ring)})
        for _ in range(150):
            lat = lat0 + float(rng.uniform(-0.02, 0.05))
            lon = 10.0 + float(rng.uniform(-0.03, 0.07))
            exact = z.boundary_distance_m(lat, lon)
            for acc in (exact - 0.02, exact + 0.02, float(rng.uniform(0, 3000))):
                want = (
                    Relation.AMBIGUOUS
                    if exact <= acc
                    else (Relation.INSIDE if z.contains_point(lat, lon) else Relation.OUTSIDE)
                )
                assert z.classify(lat, lon, max(acc, 0.0)).relation is want, (lat, lon, acc)


def test_antimeridian_split_line_is_a_boundary_where_the_other_side_has_no_part() -> None:
    # East part covers lat -16.6..-16.4 at +180, the west part only -16.5..-16.3 at -180.
    district = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[179.9, -16.6], [180.0, -16.6], [180.0, -16.4], [179.9, -16.4], [179.9, -16.6]]],
            [[[-180.0, -16.5], [-179.9, -16.5], [-179.9, -16.3], [-180.0, -16.3], [-180.0, -16.5]]],
        ],
    }
    z = parse_zone({"id": "d", "kind": "inclusion", "geometry": district})
    # lat -16.55 at 179.9999: 10.7 m from the +180 line, which is a real edge there.
    _, _, expected = GEOD.inv(179.9999, -16.55, 180.0, -16.55)
    p = z.classify(-16.55, 179.9999, 20)
    assert p.relation is Relation.AMBIGUOUS
    assert p.distance_m == pytest.approx(expected, abs=0.01)
    # lat -16.45 at 179.9999: the line is shared, so the nearest edge is far away.
    assert z.classify(-16.45, 179.9999, 20).relation is Relation.INSIDE
