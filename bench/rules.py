"""Rules micro-benchmark: ``DeviceRulesEngine.on_report`` per position, single-threaded.

    .venv/bin/python bench/rules.py                 # every case, reports/s and µs/report
    .venv/bin/python bench/rules.py --profile far   # cProfile of one case (top 25 by tottime)

One device of a participant with two zones, as the pipeline builds it: a home *inclusion
circle* (1,500 m radius, Chicago) and an *exclusion polygon* (a 24-vertex ring of about 400 m
radius, 3 km north-east of home). Default policy (dwell 120 s, jump filter 70 m/s). Fixes one
second apart, accuracy 5-30 m, built before timing (the decoder's output, ``received`` set), so
only the engine is timed. Cases:

- ``far``: a random walk within 500 m of home's centre: every fix at least 1 km from the
  circle's edge and 2.5 km from the polygon (the common case: a participant at home);
- ``near-circle``: a walk along home's edge, 0-40 m either side of it (ambiguous or close
  calls against the accuracy circle);
- ``near-polygon``: a walk along the exclusion polygon's boundary, 0-40 m either side (entries,
  alerts after the dwell, exits);
- ``travel``: a straight drive at 15 m/s from home through the polygon to 8 km and back (mostly
  far from both, crossing each boundary twice a round).

Each case runs ``--n`` reports through a fresh engine, best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyproj import Geod

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openatd.domain.messages import DeviceReport
from openatd.domain.zones import parse_zone
from openatd.rules.engine import DeviceRulesEngine
from openatd.rules.policy import Policy

GEOD = Geod(ellps="WGS84")
HOME = (41.8781, -87.6298)
HOME_RADIUS_M = 1500.0
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _fwd(lat: float, lon: float, azimuth: float, dist: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth, dist)
    return float(lat2), float(lon2)


def polygon_ring() -> list[tuple[float, float]]:
    """24 vertices (lat, lon), radius 380-420 m, around a point 3 km north-east of home."""
    centre = _fwd(*HOME, 45.0, 3000.0)
    rng = random.Random(7)
    ring = [_fwd(*centre, 15.0 * k, 400.0 + rng.uniform(-20, 20)) for k in range(24)]
    return ring


def engine() -> DeviceRulesEngine:
    ring = polygon_ring()
    coords = [[lon, lat] for lat, lon in ring] + [[ring[0][1], ring[0][0]]]
    home = parse_zone(
        {
            "id": "home",
            "kind": "inclusion",
            "circle": {"lat": HOME[0], "lon": HOME[1], "radius_m": HOME_RADIUS_M},
        }
    )
    victim = parse_zone(
        {
            "id": "victim",
            "kind": "exclusion",
            "geometry": {"type": "Polygon", "coordinates": [coords]},
        }
    )
    return DeviceRulesEngine([home, victim], Policy(), "America/Chicago")


def _report(i: int, lat: float, lon: float, acc: float) -> DeviceReport:
    t = T0 + timedelta(seconds=i)
    return DeviceReport(
        unique_id="bench",
        fix_time=t,
        received=t + timedelta(seconds=2),
        latitude=lat,
        longitude=lon,
        accuracy_m=acc,
        speed_mps=1.2,
        battery_pct=80.0,
    )


def case_far(n: int) -> list[DeviceReport]:
    rng = random.Random(1)
    lat, lon = HOME
    out = []
    for i in range(n):
        nlat, nlon = _fwd(lat, lon, rng.uniform(0, 360), rng.uniform(0, 8))
        if GEOD.inv(HOME[1], HOME[0], nlon, nlat)[2] <= 500.0:
            lat, lon = nlat, nlon
        out.append(_report(i, lat, lon, rng.uniform(5, 30)))
    return out


def _along(ring: list[tuple[float, float]], n: int, seed: int) -> list[DeviceReport]:
    """Fixes walking along a closed ring of (lat, lon) vertices, offset 0-40 m either side."""
    rng = random.Random(seed)
    out = []
    k, frac = 0, 0.0
    for i in range(n):
        a, b = ring[k % len(ring)], ring[(k + 1) % len(ring)]
        az, _, seg = GEOD.inv(a[1], a[0], b[1], b[0])
        frac += 3.0 / seg
        if frac >= 1.0:
            k, frac = k + 1, 0.0
            continue_at = ring[(k) % len(ring)]
            lat, lon = continue_at
        else:
            lat, lon = _fwd(a[0], a[1], az, frac * seg)
        side = rng.choice((-90.0, 90.0))
        lat, lon = _fwd(lat, lon, az + side, rng.uniform(0, 40))
        out.append(_report(i, lat, lon, rng.uniform(5, 30)))
    return out


def case_near_circle(n: int) -> list[DeviceReport]:
    ring = [_fwd(*HOME, az, HOME_RADIUS_M) for az in range(0, 360, 2)]
    return _along(ring, n, 2)


def case_near_polygon(n: int) -> list[DeviceReport]:
    return _along(polygon_ring(), n, 3)


def case_travel(n: int) -> list[DeviceReport]:
    rng = random.Random(4)
    out = []
    for i in range(n):
        d = (15.0 * i) % 16000.0
        d = d if d <= 8000.0 else 16000.0 - d  # out and back
        lat, lon = _fwd(*HOME, 45.0, d)
        out.append(_report(i, lat, lon, rng.uniform(5, 30)))
    return out


CASES: dict[str, Callable[[int], list[DeviceReport]]] = {
    "far": case_far,
    "near-circle": case_near_circle,
    "near-polygon": case_near_polygon,
    "travel": case_travel,
}


def run(reports: list[DeviceReport]) -> tuple[float, int, int]:
    """Seconds to feed *reports* through a fresh engine; accepted and alert counts."""
    e = engine()
    accepted = alerts = 0
    t = time.perf_counter()
    for r in reports:
        out = e.on_report(r)
        accepted += out.position_accepted
        alerts += len(out.alerts)
    return time.perf_counter() - t, accepted, alerts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="reports per case")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--profile", default=None, help="profile this case instead of timing")
    args = ap.parse_args()
    if args.profile:
        reports = CASES[args.profile](args.n)
        prof = cProfile.Profile()
        prof.enable()
        run(reports)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    for name in args.cases.split(","):
        reports = CASES[name](args.n)
        best = math.inf
        for _ in range(args.repeat):
            secs, accepted, alerts = run(reports)
            best = min(best, secs)
        print(
            f"{name:13s} {len(reports) / best:9,.0f} reports/s  {best / len(reports) * 1e6:6.1f} "
            f"µs/report  (accepted {accepted}, alerts {alerts})"
        )


if __name__ == "__main__":
    main()
