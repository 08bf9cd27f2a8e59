"""One participant's fixes as GPX 1.1, GeoJSON or CSV (issue 8 item 5).

Pure formatting of rows already read under the access rules; nothing here reads storage.
Coordinates are WGS84 degrees; GeoJSON orders them ``[longitude, latitude]`` (RFC 7946
§3.1.1); GPX per https://www.topografix.com/GPX/1/1/ (written with gpxpy); times are ISO
8601 UTC. GPX has no accuracy element: a point's accuracy (metres) is its ``<cmt>``,
``accuracy_m=…``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

import gpxpy
import gpxpy.gpx

from openatd.storage import tables as t

CSV_FIELDS = (
    "fix_time",
    "server_time",
    "latitude",
    "longitude",
    "accuracy_m",
    "valid",
    "speed_mps",
    "course_deg",
    "altitude_m",
    "battery_pct",
    "device_id",
)


def to_gpx(fixes: Sequence[t.Position], *, name: str) -> str:
    """A GPX 1.1 document with one track of one segment, a point per fix in order."""
    doc = gpxpy.gpx.GPX()
    doc.creator = "OpenATD"
    track = gpxpy.gpx.GPXTrack(name=name)
    seg = gpxpy.gpx.GPXTrackSegment()
    for p in fixes:
        point = gpxpy.gpx.GPXTrackPoint(
            latitude=p.latitude, longitude=p.longitude, elevation=p.altitude_m, time=p.fix_time
        )
        if p.accuracy_m is not None:
            point.comment = f"accuracy_m={p.accuracy_m:g}"
        seg.points.append(point)
    track.segments.append(seg)
    doc.tracks.append(track)
    xml: str = doc.to_xml(version="1.1")
    return xml


def to_geojson(fixes: Sequence[t.Position], *, participant_id: int) -> str:
    """A GeoJSON FeatureCollection: one Point feature per fix with its measurements."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.longitude, p.latitude]},
            "properties": {
                "participant_id": participant_id,
                "fix_time": p.fix_time.isoformat(),
                "accuracy_m": p.accuracy_m,
                "valid": p.valid,
                "speed_mps": p.speed_mps,
                "battery_pct": p.battery_pct,
            },
        }
        for p in fixes
    ]
    return json.dumps({"type": "FeatureCollection", "features": features})


def to_csv(fixes: Sequence[t.Position]) -> str:
    """CSV with a header row (:data:`CSV_FIELDS`), one row per fix."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for p in fixes:
        w.writerow(
            [
                p.fix_time.isoformat(),
                p.server_time.isoformat(),
                p.latitude,
                p.longitude,
                p.accuracy_m,
                p.valid,
                p.speed_mps,
                p.course_deg,
                p.altitude_m,
                p.battery_pct,
                p.device_id,
            ]
        )
    return out.getvalue()
