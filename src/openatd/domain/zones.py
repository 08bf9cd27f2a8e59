"""Zones: inclusion and exclusion areas, and where a fix stands with respect to one.

A zone is a GeoJSON Polygon or MultiPolygon (RFC 7946: WGS84 degrees, longitude first, holes
allowed, edges straight in longitude/latitude) or a circle (centre and radius in metres), with an
optional :class:`~openatd.domain.schedules.WeeklySchedule` (a zone without one is always active).

Parsing is strict: a polygon that is not valid is refused with :class:`~openatd.errors.InvalidInput`
naming the fault; it is never repaired silently (no ``buffer(0)``/``make_valid``), because the case
manager must redraw it.

Classification of a fix (:meth:`Zone.classify`), with ``d`` the geodesic distance in metres from
the fix to the nearest point of the zone boundary and ``a`` the fix's accuracy radius (0 when
unknown):

- ``OUTSIDE`` when the point is outside the zone and ``d > a`` (its whole accuracy circle is out);
- ``INSIDE`` when the point is inside and ``d > a``;
- ``AMBIGUOUS`` otherwise; a fix exactly on the boundary is always ambiguous.

A point in a hole is outside. For a MultiPolygon split at the antimeridian, the ±180° split line is
not a boundary. For a circle, ``d = |distance to centre - radius|``.

>>> z = parse_zone({"id": "home", "kind": "inclusion",
...                 "circle": {"lat": 41.8781, "lon": -87.6298, "radius_m": 100}})
>>> z.classify(41.8781, -87.6298, 10).relation.value
'inside'
>>> z.classify(41.8800, -87.6298, 10).relation.value
'outside'
>>> z.classify(41.8790, -87.6298, 10).relation.value
'ambiguous'
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import LinearRing, MultiPolygon, Polygon

from openatd.domain.geodesy import (
    BoundaryEdges,
    distance_m,
    estimate_error_bound,
    plane_scales,
)
from openatd.domain.schedules import WeeklySchedule, parse_schedule
from openatd.errors import InvalidInput

ON_BOUNDARY_M = 1e-3
"""A fix nearer than this (1 mm) to a polygon boundary is *on* it: d = 0, always ambiguous."""


class ZoneKind(StrEnum):
    """Inclusion zones must be kept to (home, curfew); exclusion zones must be kept out of."""

    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class Relation(StrEnum):
    """Where a fix's accuracy circle lies with respect to a zone."""

    INSIDE = "inside"
    OUTSIDE = "outside"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class Placement:
    """The classification of one fix against one zone.

    Attributes:
        relation: inside, outside or ambiguous (see the module docstring).
        distance_m: distance in metres from the fix to the nearest boundary point: geodesic
            whenever it is close to the accuracy radius (see :meth:`Zone.classify`).
        point_inside: whether the fix's point itself is inside (or on the boundary of) the zone.
    """

    relation: Relation
    distance_m: float
    point_inside: bool


@dataclass(frozen=True, slots=True)
class Circle:
    """A circular zone: centre in degrees WGS84, radius in metres (geodesic)."""

    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class Zone:
    """One inclusion or exclusion zone.

    Exactly one of ``geometry`` (a shapely Polygon/MultiPolygon in lon/lat degrees) and ``circle``
    is set. Build it with :func:`parse_zone` (validated) or directly with an already valid shape.

    Attributes:
        id: the zone's identifier, used in alerts ("home", "victim-home").
        kind: inclusion or exclusion.
        geometry: polygonal area, lon/lat degrees WGS84, or ``None`` for a circle.
        circle: circular area, or ``None`` for a polygon.
        schedule: when the zone's rule applies; ``None`` means always.
        name: the zone's display name for explanations ("home"); ``None`` uses ``id``.
    """

    id: str
    kind: ZoneKind
    geometry: Polygon | MultiPolygon | None = None
    circle: Circle | None = None
    schedule: WeeklySchedule | None = None
    name: str | None = None
    _edges: BoundaryEdges | None = field(default=None, init=False, repr=False, compare=False)
    _bbox: tuple[float, float, float, float] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if (self.geometry is None) == (self.circle is None):
            raise InvalidInput(f"zone {self.id!r}: give exactly one of geometry and circle")
        if self.geometry is not None:
            shapely.prepare(self.geometry)
            segments = _boundary_segments(self.geometry)
            edges = BoundaryEdges.from_segments(segments)
            object.__setattr__(self, "_edges", edges)
            if len(edges):
                lons = (edges.lon1.min(), edges.lon1.max(), edges.lon2.min(), edges.lon2.max())
                lats = (edges.lat1.min(), edges.lat1.max(), edges.lat2.min(), edges.lat2.max())
                bbox = (float(min(lons)), float(min(lats)), float(max(lons)), float(max(lats)))
                if bbox[2] - bbox[0] < _FAST_MAX_SPAN_DEG and max(-bbox[0], bbox[2]) < 179.0:
                    object.__setattr__(self, "_bbox", bbox)

    @property
    def label(self) -> str:
        """The name people read: ``name`` when set, else ``id``."""
        return self.name or self.id

    def contains_point(self, lat: float, lon: float) -> bool:
        """Whether the point is inside the zone or on its boundary (a hole is outside)."""
        if self.circle is not None:
            return distance_m(lat, lon, self.circle.lat, self.circle.lon) <= self.circle.radius_m
        assert self.geometry is not None
        return any(
            bool(shapely.intersects_xy(self.geometry, x, lat)) for x in _lon_representations(lon)
        )

    def boundary_distance_m(self, lat: float, lon: float) -> float:
        """Geodesic distance in metres from the point to the nearest point of the zone boundary.

        Exact on the WGS84 ellipsoid within 50 km of the boundary (see
        :class:`~openatd.domain.geodesy.BoundaryEdges`); 0 for a point on the boundary (within
        :data:`ON_BOUNDARY_M`). The ±180° split line of an antimeridian MultiPolygon is not part of
        the boundary.
        """
        if self.circle is not None:
            return abs(
                distance_m(lat, lon, self.circle.lat, self.circle.lon) - self.circle.radius_m
            )
        assert self._edges is not None
        estimate, _ = self._edges.estimate_m(lat, lon)
        if estimate <= ON_BOUNDARY_M:
            return 0.0
        return self._edges.distance_m(lat, lon)

    def classify(self, lat: float, lon: float, accuracy_m: float | None) -> Placement:
        """Classify a fix (degrees WGS84, accuracy radius in metres; ``None`` counts as 0).

        Returns a :class:`Placement`: outside / inside when the whole accuracy circle is on one
        side of the boundary (``d > accuracy_m``), ambiguous otherwise (including d = 0).

        Fast path: for a polygon, the local-plane estimate of ``d`` decides on its own when it is
        farther from ``accuracy_m`` than its error bound; only otherwise is the exact geodesic
        distance computed. So the classification is always the geodesic one, and
        ``Placement.distance_m`` is exact when it was close to deciding, else the estimate
        (measured error under 0.1 m within 1 km of the boundary at 45° latitude, 1.4 m at 5 km).
        """
        return self._classify(lat, lon, accuracy_m)[0]

    def _classify(
        self, lat: float, lon: float, accuracy_m: float | None
    ) -> tuple[Placement, float]:
        """:meth:`classify`, and for a polygon the planar estimate it used (NaN for a circle)."""
        acc = 0.0 if accuracy_m is None else max(0.0, float(accuracy_m))
        estimate = math.nan
        if self.circle is not None:
            # one geodesic to the centre serves both contains_point and boundary_distance_m
            to_centre = distance_m(lat, lon, self.circle.lat, self.circle.lon)
            inside = to_centre <= self.circle.radius_m
            d = abs(to_centre - self.circle.radius_m)
        else:
            inside = self.contains_point(lat, lon)
            assert self._edges is not None
            estimate, bound = self._edges.estimate_m(lat, lon)
            if estimate <= ON_BOUNDARY_M:
                d = 0.0
            elif abs(estimate - acc) > bound + 0.01 or math.isinf(estimate):
                d = estimate
            else:
                d = self._edges.distance_m(lat, lon)
        if d > acc and d > 0.0:
            rel = Relation.INSIDE if inside else Relation.OUTSIDE
        else:
            rel = Relation.AMBIGUOUS
        return Placement(relation=rel, distance_m=d, point_inside=inside), estimate


_FAST_MAX_SPAN_DEG = 90.0
"""Polygons wider than this in longitude, or reaching 179° from Greenwich, get no fast path."""
_FAST_MAX_LAT = 85.0
"""No fast path beyond this latitude (see :class:`ZoneTracker`)."""
_FAST_MARGIN_M = 1e-3
"""Slack (1 mm) for rounding in the fast path's bounds, far above double-precision error."""


class ZoneTracker:
    """One device's view of one zone: :meth:`Zone.classify` for successive fixes, plus a cheap
    :meth:`quick_relation` that settles the common case (far from every edge) without the
    per-edge work.

    :meth:`quick_relation` returns a relation only when a lower bound ``L`` on the planar
    estimate ``e`` of :meth:`Zone.classify` proves that ``classify`` would return exactly it:

    - ``L`` is the local-plane distance to the zone's longitude/latitude bounding box (every
      edge, straight in lon/lat, lies in it, and the plane is linear in lon/lat), or
    - ``L = m·e₀ - δ`` from the last fix ``p₀`` this tracker classified in full (the *anchor*,
      estimate ``e₀``): ``δ`` is the distance from ``p₀`` to the fix in the fix's plane and
      ``m`` the smaller ratio of the two planes' metres per degree (distance to an edge is
      1-Lipschitz; the straight lon/lat path from ``p₀`` stays more than ``L`` from every edge,
      so the fix is on ``p₀``'s side).

    ``classify`` keeps ``e`` and decides by the side alone when ``e - acc > bound(e) + 0.01``
    (``bound`` of :func:`~openatd.domain.geodesy.estimate_error_bound`); ``e - bound(e)`` grows
    with ``e`` up to 50 km (the exact refinement's limit) below 88° latitude, so
    ``L - bound(L) > acc + 0.01`` proves it. Polygons only (a circle's ``classify`` costs one
    geodesic), not across the antimeridian (wraps), not beyond 85° latitude.
    """

    __slots__ = ("_anchor", "zone")

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self._anchor: tuple[float, float, float, float, float, bool] | None = None

    def classify(self, lat: float, lon: float, accuracy_m: float | None) -> Placement:
        """:meth:`Zone.classify` (same result); remembers the fix as the anchor of later bounds."""
        placement, estimate = self.zone._classify(lat, lon, accuracy_m)
        box = self.zone._bbox
        if (
            box is not None
            and estimate > ON_BOUNDARY_M
            and not math.isinf(estimate)
            and abs(lat) <= _FAST_MAX_LAT
            and abs(lon - (box[0] + box[2]) / 2.0) < _FAST_MAX_SPAN_DEG
        ):
            kx, ky = plane_scales(lat)
            self._anchor = (lat, lon, kx, ky, estimate, placement.point_inside)
        else:
            self._anchor = None
        return placement

    def quick_relation(self, lat: float, lon: float, accuracy_m: float | None) -> Relation | None:
        """``INSIDE`` / ``OUTSIDE`` when a bound proves :meth:`Zone.classify` gives it, else
        ``None`` (then call :meth:`classify`). Never ``AMBIGUOUS``."""
        box = self.zone._bbox
        if box is None or not abs(lat) <= _FAST_MAX_LAT:
            return None
        if not abs(lon - (box[0] + box[2]) / 2.0) < _FAST_MAX_SPAN_DEG:
            return None
        acc = 0.0 if accuracy_m is None else max(0.0, float(accuracy_m))
        kx, ky = plane_scales(lat)
        ex = max(box[0] - lon, lon - box[2], 0.0) * kx
        ey = max(box[1] - lat, lat - box[3], 0.0) * ky
        need = acc + 0.01 + _FAST_MARGIN_M
        lower = math.hypot(ex, ey) - _FAST_MARGIN_M
        if lower > 0.0 and lower - estimate_error_bound(lower, lat) > need:
            return Relation.OUTSIDE  # beyond the bounding box: outside, and far enough
        anchor = self._anchor
        if anchor is None:
            return None
        lat0, lon0, kx0, ky0, est0, inside = anchor
        delta = math.hypot((lon - lon0) * kx, (lat - lat0) * ky)
        lower = min(kx / kx0, ky / ky0) * est0 - delta - _FAST_MARGIN_M
        if lower > 0.0 and lower - estimate_error_bound(lower, lat) > need:
            return Relation.INSIDE if inside else Relation.OUTSIDE
        return None


def _lon_representations(lon: float) -> tuple[float, ...]:
    x = (lon + 180.0) % 360.0 - 180.0
    if x == -180.0:
        return (-180.0, 180.0)
    return (x,)


def _boundary_segments(
    geom: Polygon | MultiPolygon,
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Every ring edge, minus the parts of ±180° meridian edges matched on the other side."""
    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    plain: list[tuple[tuple[float, float], tuple[float, float]]] = []
    meridian: dict[float, list[tuple[float, float]]] = {180.0: [], -180.0: []}
    for poly in polys:
        for ring in [poly.exterior, *poly.interiors]:
            coords = [(float(x), float(y)) for x, y, *_ in ring.coords]
            for a, b in itertools.pairwise(coords):
                if a == b:
                    continue
                if a[0] == b[0] and abs(a[0]) == 180.0:
                    meridian[a[0]].append((min(a[1], b[1]), max(a[1], b[1])))
                else:
                    plain.append((a, b))
    for side in (180.0, -180.0):
        others = meridian[-side]
        for lo, hi in meridian[side]:
            for r_lo, r_hi in _subtract_intervals((lo, hi), others):
                plain.append(((side, r_lo), (side, r_hi)))
    return plain


def _subtract_intervals(
    span: tuple[float, float], cuts: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    parts = [span]
    for c_lo, c_hi in cuts:
        nxt: list[tuple[float, float]] = []
        for lo, hi in parts:
            if c_hi <= lo or c_lo >= hi:
                nxt.append((lo, hi))
                continue
            if c_lo > lo:
                nxt.append((lo, c_lo))
            if c_hi < hi:
                nxt.append((c_hi, hi))
        parts = nxt
    return [p for p in parts if p[1] > p[0]]


# ---------------------------------------------------------------------------------------------
# Parsing and validation


def parse_zone(data: Mapping[str, Any], tz: str | ZoneInfo | None = None) -> Zone:
    """Build a :class:`Zone` from its JSON form (the scenario / API shape).

    ``{"id": str, "kind": "inclusion"|"exclusion", "geometry": <GeoJSON Polygon|MultiPolygon>}``
    or with ``"circle": {"lat": deg, "lon": deg, "radius_m": metres}`` instead of ``geometry``,
    an optional display ``"name"``, and an optional ``"schedule"`` (a list of windows, see
    :func:`~openatd.domain.schedules.parse_schedule`) read in the IANA zone *tz*.

    Raises:
        InvalidInput: with one exact reason (unknown kind, bad circle, invalid polygon, a schedule
            without a time zone, ...).
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("a zone must be a JSON object")
    zone_id = data.get("id")
    if not isinstance(zone_id, str) or not zone_id:
        raise InvalidInput("zone id must be a non-empty string")
    kind_raw = data.get("kind")
    try:
        kind = ZoneKind(str(kind_raw))
    except ValueError:
        raise InvalidInput(
            f"zone {zone_id!r}: kind must be 'inclusion' or 'exclusion', got {kind_raw!r}"
        ) from None
    has_geom = data.get("geometry") is not None
    has_circle = data.get("circle") is not None
    if has_geom == has_circle:
        raise InvalidInput(f"zone {zone_id!r}: give exactly one of 'geometry' and 'circle'")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidInput(f"zone {zone_id!r}: name must be a string")
    schedule: WeeklySchedule | None = None
    if data.get("schedule") is not None:
        if tz is None:
            raise InvalidInput(f"zone {zone_id!r}: a schedule needs the participant's time zone")
        schedule = parse_schedule(data["schedule"], tz)
    try:
        if has_geom:
            geometry = parse_geometry(data["geometry"])
            return Zone(zone_id, kind, geometry=geometry, schedule=schedule, name=name)
        circle = parse_circle(data["circle"])
        return Zone(zone_id, kind, circle=circle, schedule=schedule, name=name)
    except InvalidInput as exc:
        raise InvalidInput(f"zone {zone_id!r}: {exc}") from None


def parse_circle(data: Any) -> Circle:
    """A circle from ``{"lat": deg, "lon": deg, "radius_m": metres}``; radius must be > 0.

    Raises:
        InvalidInput: a missing or non-numeric field, coordinates out of range, radius <= 0.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("circle must be an object with lat, lon and radius_m")
    lat = _number(data.get("lat"), "circle lat")
    lon = _number(data.get("lon"), "circle lon")
    radius = _number(data.get("radius_m"), "circle radius_m")
    _check_lon_lat(lon, lat, "circle centre")
    if radius <= 0:
        raise InvalidInput(f"circle radius_m must be positive, got {radius:g}")
    return Circle(lat=lat, lon=lon, radius_m=radius)


def parse_geometry(data: Any) -> Polygon | MultiPolygon:
    """A validated shapely Polygon/MultiPolygon from a GeoJSON geometry object (RFC 7946).

    Checks, each with its own reason: the type (Polygon or MultiPolygon), the nesting of
    ``coordinates``, each position (2 or 3 finite numbers, longitude in [-180, 180], latitude in
    [-90, 90]), each ring (at least four positions, closed), no edge spanning more than 180° of
    longitude (an antimeridian zone must be a MultiPolygon split at ±180°), no self-intersection
    (the reason names the point, 6 decimals), holes neither crossing nor touching their shell
    along an edge nor lying outside it, and parts of a MultiPolygon not overlapping.

    Raises:
        InvalidInput: the first fault found.

    >>> try:
    ...     parse_geometry({"type": "Polygon", "coordinates": [[[-87.628, 41.870],
    ...         [-87.629, 41.871], [-87.628, 41.871], [-87.630, 41.870], [-87.628, 41.870]]]})
    ... except InvalidInput as exc:
    ...     print(exc)
    polygon 1 ring 1: self-intersection near lon -87.628667, lat 41.870667
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("geometry must be a GeoJSON object")
    gtype = data.get("type")
    coords = data.get("coordinates")
    if gtype == "Polygon":
        polys_raw = [coords]
    elif gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise InvalidInput("MultiPolygon coordinates must be a non-empty list of polygons")
        polys_raw = coords
    else:
        raise InvalidInput(f"geometry type must be 'Polygon' or 'MultiPolygon', got {gtype!r}")
    _check_size(polys_raw)
    polygons = [_parse_polygon(p, i + 1) for i, p in enumerate(polys_raw)]
    if gtype == "Polygon":
        return polygons[0]
    for i in range(len(polygons)):
        for j in range(i + 1, len(polygons)):
            inter = shapely.intersection(polygons[i], polygons[j])
            if not inter.is_empty and (inter.area > 0 or inter.length > 0):
                x, y = _first_xy(inter)
                raise InvalidInput(
                    f"polygons {i + 1} and {j + 1} overlap or share an edge near "
                    f"{_fmt_point(x, y)}; merge them into one polygon"
                )
    multi = MultiPolygon(polygons)
    reason = shapely.is_valid_reason(multi)
    if reason != "Valid Geometry":
        raise InvalidInput(_describe_geos_reason(reason, "MultiPolygon"))
    return multi


def _parse_polygon(raw: Any, number: int) -> Polygon:
    where = f"polygon {number}"
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{where}: coordinates must be a non-empty list of rings")
    rings = [_parse_ring(r, f"{where} ring {k + 1}") for k, r in enumerate(raw)]
    shell = rings[0]
    shell_ring = LinearRing(shell)
    _check_simple(shell_ring, f"{where} ring 1")
    shell_poly = Polygon(shell)
    holes: list[LinearRing] = []
    for k, hole in enumerate(rings[1:], start=2):
        ring = LinearRing(hole)
        _check_simple(ring, f"{where} ring {k}")
        shared = shapely.intersection(shell_ring, ring)
        if not shared.is_empty and shared.length > 0:
            x, y = _first_xy(shared)
            raise InvalidInput(
                f"{where} ring {k}: hole touches its shell along an edge near {_fmt_point(x, y)}"
            )
        if not shell_poly.covers(ring):
            pts = shapely.intersection(shell_ring, ring)
            x, y = _first_xy(pts) if not pts.is_empty else hole[0]
            raise InvalidInput(
                f"{where} ring {k}: hole crosses or lies outside its shell near {_fmt_point(x, y)}"
            )
        holes.append(ring)
    poly = Polygon(shell, holes)
    reason = shapely.is_valid_reason(poly)
    if reason != "Valid Geometry":
        raise InvalidInput(_describe_geos_reason(reason, where))
    return poly


def _parse_ring(raw: Any, where: str) -> list[tuple[float, float]]:
    if not isinstance(raw, list):
        raise InvalidInput(f"{where}: a ring must be a list of positions")
    if len(raw) < 4:
        raise InvalidInput(f"{where}: a ring needs at least 4 positions, got {len(raw)}")
    pts: list[tuple[float, float]] = []
    for idx, pos in enumerate(raw):
        if not isinstance(pos, list | tuple) or len(pos) not in (2, 3):
            raise InvalidInput(f"{where} position {idx + 1}: must be [lon, lat] (or with altitude)")
        lon = _number(pos[0], f"{where} position {idx + 1} longitude")
        lat = _number(pos[1], f"{where} position {idx + 1} latitude")
        if len(pos) == 3:
            _number(pos[2], f"{where} position {idx + 1} altitude")
        _check_lon_lat(lon, lat, f"{where} position {idx + 1}")
        pts.append((lon, lat))
    if pts[0] != pts[-1]:
        raise InvalidInput(
            f"{where}: ring is not closed (first position {_fmt_point(*pts[0])} differs from "
            f"last {_fmt_point(*pts[-1])})"
        )
    for idx, (a, b) in enumerate(itertools.pairwise(pts)):
        if abs(b[0] - a[0]) > 180.0:
            raise InvalidInput(
                f"{where} edge {idx + 1}: jumps {abs(b[0] - a[0]):g}° of longitude "
                f"(more than 180°) from {_fmt_point(*a)} to {_fmt_point(*b)}; "
                "a zone crossing the antimeridian must be a MultiPolygon split at ±180°"
            )
    if len(set(pts)) < 3:
        raise InvalidInput(f"{where}: a ring needs at least 3 distinct positions")
    return pts


def _check_simple(ring: LinearRing, where: str) -> None:
    if ring.is_simple:
        if ring.length > 0 and Polygon(ring).area == 0:
            raise InvalidInput(f"{where}: ring encloses no area")
        return
    reason = shapely.is_valid_reason(Polygon(ring))
    m = _LOCATION.search(reason)
    if m:
        x, y = float(m.group(1)), float(m.group(2))
    else:  # pragma: no cover - GEOS always names a location for a non-simple ring
        x, y = ring.coords[0][:2]
    raise InvalidInput(f"{where}: self-intersection near {_fmt_point(x, y)}")


_LOCATION = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)")


def _describe_geos_reason(reason: str, where: str) -> str:
    m = _LOCATION.search(reason)
    near = f" near {_fmt_point(float(m.group(1)), float(m.group(2)))}" if m else ""
    text = reason.split("[", 1)[0].strip().lower()
    return f"{where}: {text}{near}"


def _first_xy(geom: Any) -> tuple[float, float]:
    coords = shapely.get_coordinates(geom)
    return float(coords[0][0]), float(coords[0][1])


def _fmt_point(x: float, y: float) -> str:
    return f"lon {x:.6f}, lat {y:.6f}"


MAX_ZONE_VERTICES = 10_000
"""Most positions a zone may have in all its rings: a zone is drawn by a person, and the rules
check every fix against it (a bigger one would slow every device's intake)."""
MAX_ZONE_PARTS = 100
"""Most polygons in a MultiPolygon zone."""


def _check_size(polys_raw: Any) -> None:
    """Refuse oversized zones before any geometry work (counts list lengths only)."""
    if not isinstance(polys_raw, list):
        return  # the per-polygon checks say what is wrong
    if len(polys_raw) > MAX_ZONE_PARTS:
        raise InvalidInput(f"a zone may have at most {MAX_ZONE_PARTS} polygons")
    total = 0
    for poly in polys_raw:
        if isinstance(poly, list):
            total += sum(len(ring) for ring in poly if isinstance(ring, list))
    if total > MAX_ZONE_VERTICES:
        raise InvalidInput(
            f"a zone may have at most {MAX_ZONE_VERTICES} positions, got {total}; simplify it"
        )


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{what} must be a number, got {value!r}")
    try:
        f = float(value)
    except OverflowError:
        raise InvalidInput(f"{what} is out of range") from None
    if not math.isfinite(f):
        raise InvalidInput(f"{what} must be finite, got {value!r}")
    return f


def _check_lon_lat(lon: float, lat: float, where: str) -> None:
    if not -180.0 <= lon <= 180.0:
        raise InvalidInput(f"{where}: longitude {lon:g} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise InvalidInput(f"{where}: latitude {lat:g} is outside [-90, 90]")
