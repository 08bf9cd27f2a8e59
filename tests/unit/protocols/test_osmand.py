"""OsmAnd / Traccar Client HTTP decoder on the shared captured requests and cases.md B11."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from openatd.domain.messages import DeviceReport, ReportKind
from openatd.errors import ProtocolDecodeError
from openatd.protocols.osmand import decode_osmand

PROTOCOL = "osmand"


def _decode_sample(sample: dict[str, Any]) -> list[DeviceReport]:
    url = urlsplit(sample["url"])
    headers = {k.lower(): v for k, v in sample.get("headers", {}).items()}
    body = sample.get("body", "").encode()
    return decode_osmand(sample["method"], url.query, body, headers.get("content-type"))


def test_sample(sample: dict[str, Any], check: Any) -> None:
    if sample["expect"]["decodes_to"] == "nothing":
        with pytest.raises(ProtocolDecodeError) as info:
            _decode_sample(sample)
        assert info.value.protocol == "osmand"
        return
    # As the intake does: a request without timestamp is dated at its arrival.
    arrival = datetime.now(UTC)
    reports = [
        r if r.fix_time else dataclasses.replace(r, fix_time=arrival)
        for r in _decode_sample(sample)
    ]
    check.matches(reports, sample["expect"])


# cases.md B11: one person at a steady 50 km/h; tolerance 0.03 m/s.


def test_query_speed_is_knots() -> None:
    [report] = decode_osmand("GET", "id=1&lat=60.0&lon=30.0&speed=27.0", b"", None)
    assert report.speed_mps == pytest.approx(13.890, abs=0.03)


def _json_body(speed: float, level: float) -> bytes:
    location = {
        "timestamp": "2021-07-21T08:06:34.444Z",
        "coords": {"latitude": -6.1148096, "longitude": 106.6837015, "speed": speed},
        "battery": {"level": level, "is_charging": False},
    }
    return json.dumps({"location": location, "device_id": "8737767034"}).encode()


def test_json_speed_is_mps_and_battery_fraction() -> None:
    [report] = decode_osmand("POST", "", _json_body(13.89, 0.79), "application/json")
    assert report.speed_mps == pytest.approx(13.890, abs=0.03)
    assert report.speed_mps != pytest.approx(7.146, abs=0.03)
    assert report.battery_pct == pytest.approx(79.0)
    assert report.fix_time == datetime(2021, 7, 21, 8, 6, 34, 444000, tzinfo=UTC)


def test_json_battery_unknown_gives_no_percent() -> None:
    [report] = decode_osmand("POST", "", _json_body(13.89, -1), "application/json")
    assert report.battery_pct is None
    assert not report.alarms


def test_query_batt_is_percent(shared_data: Any) -> None:
    samples = json.loads(shared_data.path("protocols", "osmand.json").read_text())["samples"]
    [sample] = [s for s in samples if "batt=87" in s["url"]]
    [report] = _decode_sample(sample)
    assert report.battery_pct == 87.0
    assert report.battery_v is None
    assert report.unique_id == "861001000719969"
    assert report.latitude == pytest.approx(41.666667)
    assert report.altitude_m == pytest.approx(350.059479)


def test_json_sample_values(shared_data: Any) -> None:
    samples = json.loads(shared_data.path("protocols", "osmand.json").read_text())["samples"]
    [sample] = [s for s in samples if "8737767034" in s.get("body", "")]
    [report] = _decode_sample(sample)
    assert report.unique_id == "8737767034"
    assert report.speed_mps == pytest.approx(18.67)
    assert report.course_deg == 63.0
    assert report.accuracy_m == 3.8
    assert report.battery_pct == pytest.approx(79.0)
    assert report.extras["charge"] is False


def test_json_unknown_speed_heading_dropped(shared_data: Any) -> None:
    samples = json.loads(shared_data.path("protocols", "osmand.json").read_text())["samples"]
    [sample] = [s for s in samples if "658765" in s.get("body", "")]
    [report] = _decode_sample(sample)
    assert report.speed_mps is None
    assert report.course_deg is None
    assert report.battery_pct is None
    assert report.extras["mock"] is True


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("1377177267", datetime(2013, 8, 22, 13, 14, 27, tzinfo=UTC)),
        ("1442068686579", datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=UTC)),
        ("2025-06-15T13:45:12.862Z", datetime(2025, 6, 15, 13, 45, 12, 862000, tzinfo=UTC)),
        ("2025-06-15T15:45:12%2B02:00", datetime(2025, 6, 15, 13, 45, 12, tzinfo=UTC)),
    ],
)
def test_query_timestamp_forms(timestamp: str, expected: datetime) -> None:
    [report] = decode_osmand("GET", f"id=1&lat=1&lon=2&timestamp={timestamp}", b"", None)
    assert report.fix_time == expected


def test_missing_timestamp_leaves_fix_time_to_intake() -> None:
    [report] = decode_osmand("GET", "id=7&location=60.5,30.25&bearing=7.5", b"", None)
    assert report.fix_time is None
    assert (report.latitude, report.longitude, report.course_deg) == (60.5, 30.25, 7.5)


def test_other_parameters_typed_into_extras() -> None:
    query = "id=9&lat=40.7&lon=-74.0&ignition=true&rpm=933&fuel=24.5&driver=ab&cell=1,2&cell=3,4"
    [report] = decode_osmand("GET", query, b"", None)
    assert report.extras == {
        "ignition": True,
        "rpm": 933,
        "fuel": 24.5,
        "driver": "ab",
        "cell": ["1,2", "3,4"],
    }


def test_no_coordinates_is_heartbeat_with_cells() -> None:
    [report] = decode_osmand("GET", "id=5&cell=257,02,16,2224", b"", None)
    assert report.kind is ReportKind.HEARTBEAT
    assert not report.has_fix
    assert report.extras["cell"] == "257,02,16,2224"


def test_json_batch_gives_one_report_per_location() -> None:
    loc = {"timestamp": "2024-01-01T00:00:00Z", "coords": {"latitude": 1.0, "longitude": 2.0}}
    body = json.dumps(
        {"device_id": "x", "location": [loc, loc | {"timestamp": "2024-01-01T00:01:00Z"}]}
    )
    reports = decode_osmand("POST", "", body.encode(), "application/json; charset=utf-8")
    assert [r.fix_time.minute for r in reports if r.fix_time] == [0, 1]


def test_form_body_post() -> None:
    body = b"deviceid=abc&lat=10.5&lon=20.5&valid=false"
    [report] = decode_osmand("POST", "", body, "application/x-www-form-urlencoded")
    assert report.unique_id == "abc"
    assert report.valid is False


@pytest.mark.parametrize(
    ("query", "body", "ctype"),
    [
        ("lat=1&lon=2", b"", None),
        ("id=1&lat=north&lon=2", b"", None),
        ("id=1&lat=1&lon=2&timestamp=yesterday", b"", None),
        ("", b"{not json", "application/json"),
        ("", b'{"location": {"coords": {"latitude": 1, "longitude": 2}}}', "application/json"),
    ],
)
def test_malformed_requests_raise(query: str, body: bytes, ctype: str | None) -> None:
    with pytest.raises(ProtocolDecodeError) as info:
        decode_osmand("POST" if body else "GET", query, body, ctype)
    assert info.value.protocol == "osmand"


def test_broken_requests_raise_only_decode_errors(sample: dict[str, Any]) -> None:
    url = urlsplit(sample["url"])
    body = sample.get("body", "").encode()
    ctype = {k.lower(): v for k, v in sample.get("headers", {}).items()}.get("content-type")
    for cut in range(0, max(len(url.query), len(body)), 7):
        for query, payload in ((url.query[:cut], body), (url.query, body[:cut])):
            try:
                decode_osmand(sample["method"], query, payload, ctype)
            except ProtocolDecodeError as exc:
                assert exc.protocol == "osmand"


def test_horizontal_accuracy_alias() -> None:
    [report] = decode_osmand("GET", "deviceid=1&lat=60&lon=30&hacc=12.5&vacc=3", b"", None)
    assert report.accuracy_m == 12.5
    assert report.extras == {"vacc": 3}


# Robustness (fuzz findings): every hostile request is a ProtocolDecodeError, never another
# exception, and absurd values are dropped as unknown rather than stored as sent.


def _loc_body(coords: str = '"latitude": 1.0, "longitude": 2.0', extra: str = "") -> bytes:
    return (
        '{"device_id": "d1", "location": {"timestamp": "2024-01-01T00:00:00Z", '
        f'"coords": {{{coords}}}{extra}}}}}'
    ).encode()


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("id=1&lat=1&lon=2&timestamp=1e300", b""),
        ("id=1&lat=1&lon=2&timestamp=-1e300", b""),
        ("id=1&lat=1&lon=2&timestamp=9999-12-31T23:59:59-05:00", b""),
        ("id=1&lat=1&lon=2&timestamp=0001-01-01T00:00:00%2B05:00", b""),
        ("id=1&lat=1&lon=2&timestamp=2500-01-01T00:00:00Z", b""),
        ("id=1&lat=nan&lon=2", b""),
        ("id=1&lat=1&lon=inf", b""),
        ("id=1&location=1e400,2", b""),
        ("id=1&lat=1&lon=2&speed=nan", b""),
        ("id=1&lat=1&lon=2&batt=-inf", b""),
        ("", _loc_body('"latitude": 1' + "0" * 400 + ', "longitude": 2.0')),
        ("", _loc_body('"latitude": 1.0, "longitude": 2e400')),
        ("", _loc_body('"latitude": NaN, "longitude": 2.0')),
        ("", _loc_body(extra=', "battery": {"level": 1' + "0" * 400 + "}")),
        ("", _loc_body(extra=', "battery": {"level": Infinity}')),
        ("", b'{"device_id": "d1", "location": {"timestamp": 1e300}}'),
        ("", b"[" * 100_000 + b"]" * 100_000),
        ("", b'{"a": ' * 40 + b"1" + b"}" * 40),
        ("", b"12"),
        ("", b'{"device_id": "d1", "location": [1, 2]}'),
        ("", b'{"device_id": "d1", "location": {"coords": [1, 2]}}'),
        ("", b'{"device_id": "d1", "location": {"battery": "full"}}'),
    ],
)
def test_hostile_requests_are_decode_errors(query: str, body: bytes) -> None:
    ctype = "application/json" if body else None
    with pytest.raises(ProtocolDecodeError) as info:
        decode_osmand("POST" if body else "GET", query, body, ctype)
    assert info.value.protocol == "osmand"
    assert info.value.reason.startswith(("malformed request", "JSON body", "a JSON location"))


def test_absurd_query_values_become_unknown() -> None:
    query = "id=1&lat=1&lon=2&batt=-500&speed=1e300&accuracy=-1&bearing=999&altitude=1e308&hdop=-2"
    [report] = decode_osmand("GET", query, b"", None)
    assert report.battery_pct is None
    assert report.extras == {"batt": -500.0}
    assert report.speed_mps is None
    assert report.accuracy_m is None
    assert report.hdop is None
    assert report.course_deg == pytest.approx(279.0)
    assert report.altitude_m is None


def test_plausible_query_values_are_kept() -> None:
    query = "id=1&lat=1&lon=2&batt=100&speed=0&accuracy=0&bearing=359.5&altitude=-400"
    [report] = decode_osmand("GET", query, b"", None)
    assert (report.battery_pct, report.speed_mps, report.accuracy_m) == (100.0, 0.0, 0.0)
    assert (report.course_deg, report.altitude_m) == (359.5, -400.0)
    assert report.extras == {}


def test_absurd_json_values_become_unknown() -> None:
    body = _loc_body(
        '"latitude": 1.0, "longitude": 2.0, "speed": 1e300, "heading": 720.5, '
        '"accuracy": -5, "altitude": 1e308',
        ', "battery": {"level": 1e308}',
    )
    [report] = decode_osmand("POST", "", body, "application/json")
    assert report.battery_pct is None
    assert report.extras["battery_level"] == 1e308
    assert report.speed_mps is None
    assert report.course_deg == pytest.approx(0.5)
    assert report.accuracy_m is None
    assert report.altitude_m is None


def test_out_of_range_coordinates_are_left_to_the_position_filter() -> None:
    [report] = decode_osmand("GET", "id=1&lat=91&lon=-181", b"", None)
    assert (report.latitude, report.longitude) == (91.0, -181.0)


def test_absurd_accuracy_is_unknown() -> None:
    (r,) = decode_osmand("GET", "id=d1&lat=41.88&lon=-87.63&timestamp=1700000000&accuracy=1e308",
                         b"", None)  # fmt: skip
    assert r.accuracy_m is None
    (r,) = decode_osmand("GET", "id=d1&lat=41.88&lon=-87.63&timestamp=1700000000&accuracy=12.5",
                         b"", None)  # fmt: skip
    assert r.accuracy_m == 12.5
