"""Trace readers on the real traces of ../shared/data/traces (see its PROVENANCE.md).

Expected values are the first rows of each file, read by eye and converted by
hand (feet, km/h, knots, local time), and the point counts PROVENANCE.md gives.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from openatd.errors import InvalidInput
from openatd.ingest.traces import TraceFormat, TracePoint, detect_format, read_trace

if TYPE_CHECKING:
    from shared_paths import SharedData  # the tests/ fixture's type; not imported at run time

T = ("traces",)


def _utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


# (path under traces/, format, points, first fix (time, lat, lon))
FIRST_POINTS = [
    ("uci_go_track/go_track_trackspoints.csv", TraceFormat.LATLON_CSV, 18107,
     # 2014-09-13 07:24:32 in Aracaju (America/Maceio, UTC-3)
     (_utc(2014, 9, 13, 10, 24, 32), -10.9393413858164, -37.0627421097422)),
    ("gpxpy_slovenia/korita-zbevnica.gpx", TraceFormat.GPX, 513,
     (_utc(2010, 10, 3, 9, 36, 30), 45.452595614, 14.018194014)),
    ("gpxpy_slovenia/cerknicko-jezero.gpx", TraceFormat.GPX, 296,
     (_utc(2010, 8, 5, 14, 23, 59), 45.772175035, 14.357659249)),
    ("gpxpy_slovenia/around-visnjan-with-car.gpx", TraceFormat.GPX, 104,
     (_utc(2020, 12, 18, 6, 15, 50), 45.273518851, 13.7142099626)),
    ("android_gnsslogger_fix/pseudoranges_log_2016_06_30_21_26_07_fix.csv",
     TraceFormat.GNSSLOGGER_CSV, 216,
     (_utc(2016, 6, 30, 21, 26, 9), 37.422541, -122.081659)),  # 1467321969000 ms
    ("android_gnsslogger_fix/pseudoranges_log_2016_08_22_14_45_50_fix.csv",
     TraceFormat.GNSSLOGGER_CSV, 207,
     (datetime(2016, 8, 22, 21, 45, 55, 999000, tzinfo=UTC), 37.422604, -122.081709)),
    ("gpsbabel_loggers/mtk_logger_m241.csv", TraceFormat.MTK_CSV, 1199,
     (_utc(2008, 5, 4, 12, 52, 47), 41.805592, 12.679832)),
    ("gpsbabel_loggers/mtk_logger_bt-qt1000xt.csv", TraceFormat.MTK_CSV, 585,
     (_utc(2015, 7, 15, 10, 53, 26), 52.634804, 1.263404)),
    ("gpsbabel_loggers/nmea_2004_illinois.nmea", TraceFormat.NMEA, 154,
     # 4231.8291,N / 08807.3033,W (degrees and minutes)
     (datetime(2004, 8, 7, 3, 29, 8, 379000, tzinfo=UTC), 42 + 31.8291 / 60,
      -(88 + 7.3033 / 60))),
    ("geolife_trackintel/000/Trajectory/20081023025304.plt", TraceFormat.PLT, 908,
     (_utc(2008, 10, 23, 2, 53, 4), 39.984702, 116.318417)),
    ("geolife_trackintel/010/Trajectory/20070804033032.plt", TraceFormat.PLT, 1116,
     (_utc(2007, 8, 4, 3, 30, 32), 39.921712, 116.472343)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rel", "fmt", "count", "first"), FIRST_POINTS, ids=[f[0].split("/")[-1] for f in FIRST_POINTS]
)
def test_first_point_and_count(
    shared_data: SharedData,
    rel: str,
    fmt: TraceFormat,
    count: int,
    first: tuple[datetime, float, float],
) -> None:
    path = shared_data.path(*T, *rel.split("/"))
    assert detect_format(path) is fmt
    reader = read_trace(path)
    points = list(reader)
    assert reader.format is fmt
    assert len(points) == reader.yielded == count
    t, lat, lon = first
    assert points[0].time == t
    assert points[0].time.tzinfo is UTC or points[0].time.utcoffset() == UTC.utcoffset(None)
    assert points[0].latitude == pytest.approx(lat, abs=1e-9)
    assert points[0].longitude == pytest.approx(lon, abs=1e-9)
    assert all(isinstance(p, TracePoint) for p in points)


@pytest.mark.parametrize(("user", "total", "files"), [("000", 3634, 8), ("010", 21297, 10)])
def test_geolife_users_total_points(
    shared_data: SharedData, user: str, total: int, files: int
) -> None:
    folder = shared_data.path(*T, "geolife_trackintel", user, "Trajectory")
    plts = sorted(folder.glob("*.plt"))
    assert len(plts) == files
    assert sum(len(list(read_trace(p))) for p in plts) == total


def test_geolife_altitude_feet_to_metres(shared_data: SharedData) -> None:
    path = shared_data.path(*T, "geolife_trackintel", "000", "Trajectory", "20081029093038.plt")
    first = next(iter(read_trace(path)))
    # 39.991364,116.326605,0,223,... : 223 ft
    assert first.altitude_m == pytest.approx(223 * 0.3048)
    assert first.speed_mps is None and first.accuracy_m is None and first.valid is None


def test_geolife_invalid_altitude_and_ozi_day_numbers(
    shared_data: SharedData, tmp_path: Path
) -> None:
    """-777 ft is "no altitude"; without the date/time strings the day number gives the time."""
    real = shared_data.path(*T, "geolife_trackintel", "000", "Trajectory", "20081103101336.plt")
    lines = real.read_text().splitlines()
    header, rows = lines[:6], lines[6:]
    no_alt = rows[0].split(",")
    no_alt[3] = "-777"
    # OziExplorer style: only the "days since 1899-12-30" field carries the time.
    ozi_rows = [",".join(r.split(",")[:5]) for r in rows]
    path = tmp_path / "t.plt"
    path.write_text("\n".join([*header, ",".join(no_alt), *ozi_rows]) + "\n")
    points = list(read_trace(path))
    reference = list(read_trace(real))
    assert points[0].altitude_m is None
    assert points[0].time == reference[0].time
    for mine, ref in zip(points[1:], reference, strict=True):
        assert abs((mine.time - ref.time).total_seconds()) < 0.01
        assert (mine.latitude, mine.longitude) == (ref.latitude, ref.longitude)


def test_go_track_track_selection_and_zone(shared_data: SharedData) -> None:
    path = shared_data.path(*T, "uci_go_track", "go_track_trackspoints.csv")
    track1 = list(read_trace(path, track="1"))
    assert len(track1) == 90
    assert track1[-1].time == _utc(2014, 9, 13, 10, 32, 48)  # 07:32:48 local
    assert (track1[-1].latitude, track1[-1].longitude) == (-10.9470853174565, -37.0457828606557)
    as_utc = next(iter(read_trace(path, track="1", tz="UTC")))
    assert as_utc.time == _utc(2014, 9, 13, 7, 24, 32)
    # Tracks 30 and 31 were recorded at the same time and are interleaved in the file.
    t30 = list(read_trace(path, track="30"))
    assert len(t30) == 646
    assert all(a.time <= b.time for a, b in itertools.pairwise(t30))


def test_go_track_unknown_track(shared_data: SharedData) -> None:
    path = shared_data.path(*T, "uci_go_track", "go_track_trackspoints.csv")
    with pytest.raises(InvalidInput, match="no track_id '99999'"):
        list(read_trace(path, track="99999"))


def test_gpx_points_without_time_are_skipped_and_counted(shared_data: SharedData) -> None:
    # korita-zbevnica.gpx holds a second copy of the hike ("03-OCT-10 #2") with no <time>.
    reader = read_trace(shared_data.path(*T, "gpxpy_slovenia", "korita-zbevnica.gpx"))
    points = list(reader)
    assert len(points) == 513
    assert reader.skipped == {"no time": 358}
    assert points[0].altitude_m == pytest.approx(753.330322)


def test_gpx_track_by_name_or_number(shared_data: SharedData) -> None:
    path = shared_data.path(*T, "gpxpy_slovenia", "cerknicko-jezero.gpx")
    by_name = list(read_trace(path, track="ACTIVE LOG #2"))
    by_number = list(read_trace(path, track="2"))
    assert len(by_name) == 173
    assert by_name == by_number
    with pytest.raises(InvalidInput, match="no GPX track named or numbered 'nope'"):
        read_trace(path, track="nope")


def test_mtk_fields_and_no_fix_row(shared_data: SharedData) -> None:
    reader = read_trace(shared_data.path(*T, "gpsbabel_loggers", "mtk_logger_bt-qt1000xt.csv"))
    points = list(reader)
    first = points[0]
    # 1,T,2015/07/15,10:53:26.000,SPS,52.634804,N,1.263404,E,-64.153 m,2.081 km/h,2.32,2.09,
    # 1.00,3(7),...
    assert first.altitude_m == pytest.approx(-64.153)
    assert first.speed_mps == pytest.approx(2.081 / 3.6)
    assert first.hdop == pytest.approx(2.09)
    assert first.satellites == 3
    assert first.valid is True
    # INDEX 568 is the one "No fix" row.
    assert reader.invalid == 1
    bad = points[567]
    assert bad.valid is False
    assert bad.time == _utc(2015, 7, 16, 11, 3, 43)
    assert bad.satellites == 2
    assert all(a.time <= b.time for a, b in itertools.pairwise(points))


def test_gnsslogger_accuracy_and_speed(shared_data: SharedData) -> None:
    path = shared_data.path(
        *T, "android_gnsslogger_fix", "pseudoranges_log_2016_06_30_21_26_07_fix.csv"
    )
    points = list(read_trace(path))
    # Fix,gps,37.422538,-122.081655,-32.000000,0.940000,3.000000,1467321973000
    p = points[4]
    assert p.time == _utc(2016, 6, 30, 21, 26, 13)
    assert p.speed_mps == pytest.approx(0.94)
    assert p.accuracy_m == pytest.approx(3.0)
    assert p.altitude_m == pytest.approx(-32.0)
    assert p.valid is None


def test_nmea_rmc_gga_merged(shared_data: SharedData) -> None:
    reader = read_trace(shared_data.path(*T, "gpsbabel_loggers", "nmea_2004_illinois.nmea"))
    points = list(reader)
    first = points[0]
    # $GPGGA,032908.379,4231.8291,N,08807.3033,W,1,05,1.6,209.8,M,...
    # $GPRMC,032908.379,A,4231.8291,N,08807.3033,W,0.17,138.92,070804,,
    assert first.altitude_m == pytest.approx(209.8)
    assert first.hdop == pytest.approx(1.6)
    assert first.satellites == 5
    assert first.speed_mps == pytest.approx(0.17 * 1852 / 3600)
    assert first.course_deg == pytest.approx(138.92)
    assert first.valid is True
    assert reader.skipped_total == 0
    assert points[-1].time == datetime(2004, 8, 7, 3, 31, 41, 370000, tzinfo=UTC)


def test_nmea_bad_checksum_is_skipped_and_counted(shared_data: SharedData, tmp_path: Path) -> None:
    real = shared_data.path(*T, "gpsbabel_loggers", "nmea_2004_illinois.nmea")
    lines = real.read_text().splitlines()
    gga = next(i for i, line in enumerate(lines) if line.startswith("$GPGGA"))
    lines[gga] = lines[gga].replace("209.8", "299.8")  # the *46 checksum no longer matches
    rmc = [i for i, line in enumerate(lines) if line.startswith("$GPRMC")][1]  # second epoch
    lines[rmc] = lines[rmc].replace(",A,", ",V,", 1)  # checksum not recomputed: fails too
    path = tmp_path / "corrupt.nmea"
    path.write_text("\n".join(lines) + "\n")
    reader = read_trace(path)
    points = list(reader)
    assert reader.skipped == {"bad checksum": 2}
    assert reader.first_skip == f"line {gga + 1}: bad checksum"
    assert len(points) == 154  # the RMC (resp. GGA) of those epochs still gives the fix
    assert points[0].altitude_m is None and points[0].speed_mps is not None
    assert points[1].course_deg is None and points[1].altitude_m is not None


def test_nmea_void_fix_is_invalid(shared_data: SharedData, tmp_path: Path) -> None:
    import pynmea2  # type: ignore[import-untyped]

    real = shared_data.path(*T, "gpsbabel_loggers", "nmea_2004_illinois.nmea")
    out = []
    for line in real.read_text().splitlines():
        if line.startswith("$GPRMC,032908.379"):
            msg = pynmea2.parse(line)
            msg.status = "V"  # receiver says: navigation warning, fix not valid
            line = str(msg)  # re-rendered with a correct checksum
        out.append(line)
    path = tmp_path / "void.nmea"
    path.write_text("\n".join(out) + "\n")
    reader = read_trace(path)
    points = list(reader)
    assert points[0].valid is False
    assert reader.invalid == 1 and reader.skipped_total == 0


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.gpx", b"", "empty"),
        ("cut.gpx", b'<?xml version="1.0"?><gpx version="1.1"><trk><trkpt lat=', "not valid GPX"),
        ("other.xml", b'<?xml version="1.0"?><kml></kml>', "not GPX"),
        ("odd.csv", b"a,b,c\n1,2,3\n", "unknown trace format"),
        ("bin.csv", b"\x00\x01\x02latitude", "not a text file"),
        ("nmea.gpx", b"$GPRMC,032908.379,A,4231.8291,N,08807.3033,W,0.17,138.92,070804,,*12\n",
         "the extension .gpx says gpx but the content is nmea"),
        ("bad.csv", b"latitude,longitude,track_id,time\nabc,-37.06,1,2014-09-13 07:24:32\n",
         r"no readable fix .* line 2: bad latitude"),
        ("late.csv", b"latitude,longitude,time\n-10.9,-37.0,yesterday\n", "line 2: bad time"),
        ("void.nmea", b"hello\n", "unknown trace format"),
    ],
)  # fmt: skip
def test_malformed_files(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=match):
        list(read_trace(path))


def test_missing_file_wrong_zone_and_track_on_trackless_format(
    shared_data: SharedData, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match=r"nope\.gpx: No such file or directory$"):
        read_trace(tmp_path / "nope.gpx")
    csv_path = shared_data.path(*T, "uci_go_track", "go_track_trackspoints.csv")
    with pytest.raises(InvalidInput, match="unknown time zone 'Mars/Base'"):
        read_trace(csv_path, tz="Mars/Base")
    nmea = shared_data.path(*T, "gpsbabel_loggers", "nmea_2004_illinois.nmea")
    with pytest.raises(InvalidInput, match="has no tracks"):
        read_trace(nmea, track="1")


def test_gnsslogger_full_log_with_newer_column_names(
    shared_data: SharedData, tmp_path: Path
) -> None:
    """A whole GnssLogger log: comment lines, Raw records, and the newer Fix columns."""
    real = shared_data.path(
        *T, "android_gnsslogger_fix", "pseudoranges_log_2016_08_22_14_45_50_fix.csv"
    )
    rows = [line.split(",") for line in real.read_text().splitlines()[1:4]]
    out = [
        "# Version: v3.0.0.1 Platform: 12",
        "# Raw,utcTimeMillis,TimeNanos",
        "# Fix,Provider,LatitudeDegrees,LongitudeDegrees,AltitudeMeters,SpeedMps,"
        "AccuracyMeters,BearingDegrees,UnixTimeMillis,SpeedAccuracyMps",
    ]
    for fix, provider, lat, lon, alt, speed, acc, ms in rows:
        out.append(f"Raw,{ms},123456")
        out.append(",".join([fix, provider.upper(), lat, lon, alt, speed, acc, "271.5", ms, "0.1"]))
    path = tmp_path / "gnss_log.txt"
    path.write_text("\n".join(out) + "\n")
    assert detect_format(path) is TraceFormat.GNSSLOGGER_CSV
    points = list(read_trace(path))
    reference = list(itertools.islice(read_trace(real), 3))
    assert [(p.time, p.latitude, p.longitude, p.accuracy_m) for p in points] == [
        (p.time, p.latitude, p.longitude, p.accuracy_m) for p in reference
    ]
    assert points[0].course_deg == 271.5


def test_broken_rows_in_a_real_file_are_skipped(shared_data: SharedData, tmp_path: Path) -> None:
    real = shared_data.path(*T, "gpsbabel_loggers", "mtk_logger_m241.csv")
    lines = real.read_text().splitlines()
    lines[3] = lines[3][:30]  # "3,T,2008/05/04,12:52:58.000,SP": cut before the latitude
    lines[5] = lines[5].replace("2008/05/04", "2008/05/xx")
    path = tmp_path / "m241.csv"
    path.write_text("\n".join(lines) + "\n")
    reader = read_trace(path)
    points = list(reader)
    assert len(points) == 1199 - 2
    assert reader.skipped == {"no latitude": 1, "bad date/time": 1}
    assert reader.first_skip == "line 4: no latitude"
