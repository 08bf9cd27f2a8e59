"""Readers for recorded GPS traces: GPX, GeoLife/OziExplorer PLT, NMEA 0183 and logger CSVs.

``read_trace(path)`` detects the format from the file's content (the extension is
only cross-checked) and yields :class:`TracePoint` values in file order. Every
reader follows the same rules:

* Times are timezone-aware UTC ``datetime`` values. A source that records local
  time without a zone (go_track CSV) is read in the zone given by ``tz``.
* Units are converted to OpenATD's internal ones: metres, metres per second,
  degrees (WGS84 latitude/longitude, course clockwise from true north).
* A field the source does not record is ``None``; nothing is invented (no speed
  derived from consecutive fixes, no accuracy guessed from HDOP).
* A fix the *device* marked invalid (MTK ``No fix``, NMEA RMC status ``V`` or GGA
  quality 0, GPX ``<fix>none</fix>``) is still yielded, with ``valid=False``, so
  the server's position filter sees it as a real device would send it.
* A row that cannot be read (bad number, no time, failed NMEA checksum) is
  skipped and counted in :attr:`TraceReader.skipped` by reason.
* An unreadable file, an unknown format, or a file with no readable fix raises
  :class:`openatd.errors.InvalidInput` with the reason.

Format references:

* GPX 1.0 / 1.1: https://www.topografix.com/gpx.asp (parsed with gpxpy).
* GeoLife PLT: "GeoLife GPS Trajectories 1.3" user guide (Microsoft Research):
  6 header lines, then ``lat,lon,0,altitude_feet,days_since_1899-12-30,date,time``
  with times in GMT and altitude -777 meaning "not valid". GeoLife uses the
  OziExplorer track point layout (field 3 is 1 at a track break), so OziExplorer
  ``.plt`` files are read the same way.
* NMEA 0183: RMC (position, speed in knots, course, date, status A/V) and GGA
  (position, quality, satellites, HDOP, altitude above mean sea level) sentences
  of one epoch are merged; ZDA supplies the date when there is no RMC. Parsed
  and checksum-verified with pynmea2.
* go_track CSV (UCI "GPS Trajectories", dataset 354): ``[id,]latitude,longitude,
  track_id,time`` with local time without zone; any CSV with ``latitude``,
  ``longitude`` and ``time`` columns is read the same way (an ISO 8601 time with
  an offset keeps its offset).
* MTK logger CSV as exported by GPSBabel (``mtk_logger.cc``): ``DATE`` ``TIME``
  (UTC), ``VALID`` (fix mode), ``LATITUDE`` ``N/S`` ``LONGITUDE`` ``E/W``,
  ``HEIGHT`` ("12.3 m"), ``SPEED`` ("4.5 km/h"), ``HEADING``, ``HDOP``,
  ``NSAT (USED/VIEW)`` ("9(11)").
* Android GnssLogger ``Fix`` records (google/gps-measurement-tools): ``Fix,
  Provider,Latitude,Longitude,Altitude,Speed,Accuracy,UTCTimeInMs`` (older logs)
  or ``...Degrees/...Meters/...Mps/UnixTimeMillis`` column names (newer logs);
  the column names are taken from the ``# Fix,...`` header when present.
"""

from __future__ import annotations

import csv
import enum
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gpxpy
import gpxpy.gpx
import pynmea2  # type: ignore[import-untyped]

from openatd.errors import InvalidInput

__all__ = [
    "GO_TRACK_DEFAULT_TZ",
    "TraceFormat",
    "TracePoint",
    "TraceReader",
    "detect_format",
    "read_trace",
]

#: Zone of the go_track recordings: Aracaju (Sergipe, Brazil) is in America/Maceio
#: (IANA tz database: "Alagoas, Sergipe"), UTC-03:00 without DST in 2014-2016.
GO_TRACK_DEFAULT_TZ = "America/Maceio"

FEET_M = 0.3048  # international foot, exact
KNOT_MPS = 1852.0 / 3600.0  # 1 knot = 1 international nautical mile (1852 m) per hour
KMH_MPS = 1000.0 / 3600.0
GEOLIFE_INVALID_ALTITUDE_FT = -777.0
OLE_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)  # day 0 of OziExplorer/GeoLife "days" field


@dataclass(frozen=True, slots=True)
class TracePoint:
    """One recorded fix of a trace.

    Attributes:
        time: fix time, timezone-aware UTC.
        latitude, longitude: degrees WGS84.
        altitude_m: metres (above mean sea level or the ellipsoid, as the source records).
        speed_mps: ground speed in metres per second.
        course_deg: course over ground, degrees clockwise from true north.
        accuracy_m: horizontal accuracy radius in metres (Android's 68 % radius).
        hdop: horizontal dilution of precision (unitless).
        satellites: satellites used in the fix.
        valid: the device's own verdict on the fix; ``None`` when the source does not say.
        battery_pct: battery level 0-100; none of the file formats records it, it is
            here for points built by simulators and sent by the replay.
    """

    time: datetime
    latitude: float
    longitude: float
    altitude_m: float | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    accuracy_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    valid: bool | None = None
    battery_pct: float | None = None


class TraceFormat(enum.StrEnum):
    """The trace formats :func:`read_trace` understands."""

    GPX = "gpx"
    PLT = "plt"  # GeoLife / OziExplorer track points
    NMEA = "nmea"
    LATLON_CSV = "latlon_csv"  # go_track and any latitude,longitude,time CSV
    MTK_CSV = "mtk_csv"  # GPSBabel export of MTK logger (Holux, Qstarz, ...) data
    GNSSLOGGER_CSV = "gnsslogger_csv"  # Android GnssLogger "Fix" records


class _SkipRow(Exception):
    """A row that cannot become a point; the message is the reason counted."""


class TraceReader(Iterator[TracePoint]):
    """Iterator over the points of one trace file, counting what it skips.

    Attributes:
        path: the file.
        format: the detected :class:`TraceFormat`.
        yielded: points yielded so far.
        invalid: of those, points the device marked invalid (``valid is False``).
        skipped: rows skipped so far, by reason (e.g. ``{"bad checksum": 1}``).
        first_skip: ``"line N: reason"`` of the first skipped row, or ``None``.

    The counters are final once iteration has ended. Iteration raises
    :class:`InvalidInput` if the file ends without a single readable fix.
    """

    def __init__(
        self, path: Path, fmt: TraceFormat, rows: Callable[[TraceReader], Iterator[TracePoint]]
    ):
        self.path = path
        self.format = fmt
        self.yielded = 0
        self.invalid = 0
        self.skipped: Counter[str] = Counter()
        self.first_skip: str | None = None
        self._rows = rows(self)
        self._done = False

    @property
    def skipped_total(self) -> int:
        """Number of rows skipped, all reasons together."""
        return sum(self.skipped.values())

    def skip(self, where: str, reason: str) -> None:
        """Count one skipped row; *where* is e.g. ``"line 12"`` (used by the format readers)."""
        self.skipped[reason] += 1
        if self.first_skip is None:
            self.first_skip = f"{where}: {reason}"

    def __iter__(self) -> TraceReader:
        return self

    def __next__(self) -> TracePoint:
        if self._done:
            raise StopIteration
        try:
            point = next(self._rows)
        except StopIteration:
            self._done = True
            if self.yielded == 0:
                detail = f"; {self.skipped_total} rows skipped, first {self.first_skip}"
                raise InvalidInput(
                    f"{self.path}: no readable fix in this {self.format.value} trace"
                    + (detail if self.first_skip else "")
                ) from None
            raise
        self.yielded += 1
        if point.valid is False:
            self.invalid += 1
        return point


# ---------------------------------------------------------------------------
# Entry points


def read_trace(
    path: str | Path,
    *,
    track: str | None = None,
    tz: str | tzinfo | None = None,
    fmt: TraceFormat | None = None,
) -> TraceReader:
    """Open a GPS trace and return an iterator over its points in file order.

    Args:
        path: the trace file.
        track: select one track: the ``track_id`` of a go_track CSV, or the
            ``<name>`` (else the 1-based number) of a GPX ``<trk>``. ``None`` reads
            all tracks in file order. Refused for formats without tracks.
        tz: zone of CSV times written without an offset (IANA name or tzinfo);
            default :data:`GO_TRACK_DEFAULT_TZ`. Ignored by the other formats,
            which record UTC.
        fmt: skip detection and read as this format.

    Raises:
        InvalidInput: the file cannot be read, its format is unknown, ``track``
            or ``tz`` is wrong; during iteration, if the file holds no readable fix.

    Example (``reader.skipped`` and ``reader.invalid`` are final after the loop)::

        reader = read_trace("go_track_trackspoints.csv", track="1")
        for point in reader:
            print(point.time.isoformat(), point.latitude, point.longitude)
        print(reader.yielded, reader.invalid, dict(reader.skipped))
    """
    p = Path(path)
    fmt = fmt or detect_format(p)
    zone = _zone(tz)
    if track is not None and fmt not in (TraceFormat.GPX, TraceFormat.LATLON_CSV):
        raise InvalidInput(f"{p}: a {fmt.value} trace has no tracks; do not give a track")
    if fmt is TraceFormat.GPX:
        items = _gpx_parse(p, track)  # parsed eagerly, so XML errors raise here
        return TraceReader(p, fmt, lambda r: _gpx_rows(r, items))
    readers: dict[TraceFormat, Callable[[TraceReader], Iterator[TracePoint]]] = {
        TraceFormat.PLT: lambda r: _plt_rows(r, _lines(p)),
        TraceFormat.NMEA: lambda r: _nmea_rows(r, _lines(p)),
        TraceFormat.LATLON_CSV: lambda r: _latlon_rows(r, _lines(p), track, zone),
        TraceFormat.MTK_CSV: lambda r: _mtk_rows(r, _lines(p)),
        TraceFormat.GNSSLOGGER_CSV: lambda r: _gnsslogger_rows(r, _lines(p)),
    }
    return TraceReader(p, fmt, readers[fmt])


def detect_format(path: str | Path) -> TraceFormat:
    """Tell the format of a trace file from its first bytes (the extension is cross-checked).

    Raises:
        InvalidInput: unreadable, not text, or not one of :class:`TraceFormat`.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            head_bytes = f.read(8192)
    except OSError as exc:
        raise InvalidInput(f"{p}: {exc.strerror or exc}") from exc
    if not head_bytes.strip():
        raise InvalidInput(f"{p}: the trace file is empty")
    if b"\x00" in head_bytes:
        raise InvalidInput(f"{p}: not a text file (NUL bytes); binary logs are not supported")
    head = head_bytes.decode("utf-8-sig", errors="replace")
    suffix = p.suffix.lower()
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    first = lines[0]
    first_low = first.lower()

    fmt: TraceFormat | None = None
    if first.startswith("<?xml") or "<gpx" in head[:2000]:
        fmt = TraceFormat.GPX if "<gpx" in head else None
        if fmt is None:
            raise InvalidInput(f"{p}: an XML file but not GPX (no <gpx> element at the start)")
    elif first_low.startswith(("geolife trajectory", "oziexplorer track point file")):
        fmt = TraceFormat.PLT
    elif first.startswith(("$", "!")):
        fmt = TraceFormat.NMEA
    else:
        fmt = _detect_csv(first, lines)

    if fmt is None:
        raise InvalidInput(
            f"{p}: unknown trace format (first line {first[:80]!r}); expected GPX, "
            "GeoLife/OziExplorer PLT, NMEA 0183, or a CSV from go_track "
            "(latitude,longitude,time), an MTK logger (GPSBabel) or Android GnssLogger (Fix)"
        )
    expected = _EXTENSIONS.get(suffix)
    if expected is not None and fmt not in expected:
        raise InvalidInput(
            f"{p}: the extension {suffix} says {'/'.join(e.value for e in expected)} "
            f"but the content is {fmt.value} (first line {first[:80]!r})"
        )
    return fmt


_EXTENSIONS: dict[str, tuple[TraceFormat, ...]] = {
    ".gpx": (TraceFormat.GPX,),
    ".plt": (TraceFormat.PLT,),
    ".nmea": (TraceFormat.NMEA,),
    ".csv": (TraceFormat.LATLON_CSV, TraceFormat.MTK_CSV, TraceFormat.GNSSLOGGER_CSV),
}


def _detect_csv(first: str, lines: Sequence[str]) -> TraceFormat | None:
    if first.startswith("#") or first.startswith("Fix,"):
        # A GnssLogger log: "# " comment lines (one of them "# Fix,Provider,...") and records.
        if any(line.lstrip("# ").startswith("Fix,") for line in lines):
            return TraceFormat.GNSSLOGGER_CSV
        return None
    cols = {c.strip().lower() for c in next(csv.reader([first]))}
    if {"valid", "latitude", "n/s", "longitude", "e/w", "date", "time"} <= cols:
        return TraceFormat.MTK_CSV
    if {"latitude", "longitude", "time"} <= cols:
        return TraceFormat.LATLON_CSV
    return None


def _zone(tz: str | tzinfo | None) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    name = tz or GO_TRACK_DEFAULT_TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r} (expected an IANA name)") from exc


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without end-of-line) of a text file."""
    try:
        with path.open(encoding="utf-8-sig", errors="strict", newline="") as f:
            for no, line in enumerate(f, start=1):
                yield no, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------------------
# Field helpers


def _float(text: str | None, what: str, *, unit: str = "") -> float | None:
    """Parse a number, optionally followed by *unit* ("12.3 m"); empty is None."""
    if text is None:
        return None
    s = text.strip()
    if unit and s.endswith(unit):
        s = s[: -len(unit)].strip()
    if not s:
        return None
    try:
        v = float(s)
    except ValueError:
        raise _SkipRow(f"bad {what}") from None
    if not math.isfinite(v):
        raise _SkipRow(f"bad {what}")
    return v


def _required(v: float | None, what: str) -> float:
    if v is None:
        raise _SkipRow(f"no {what}")
    return v


def _coords(lat: float | None, lon: float | None) -> tuple[float, float]:
    la, lo = _required(lat, "latitude"), _required(lon, "longitude")
    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0):
        raise _SkipRow("coordinates out of range")
    return la, lo


# ---------------------------------------------------------------------------
# GPX


def _gpx_parse(path: Path, track: str | None) -> list[TracePoint | str]:
    """Track points of a GPX file in file order; a ``str`` item is the reason a point is skipped."""
    try:
        with path.open(encoding="utf-8-sig") as f:
            gpx = gpxpy.parse(f)
    except (gpxpy.gpx.GPXException, ValueError) as exc:
        raise InvalidInput(f"{path}: not valid GPX: {exc}") from exc
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}") from exc

    tracks = list(gpx.tracks)
    if track is not None:
        named = [t for t in tracks if t.name == track]
        if not named and track.isdigit() and 1 <= int(track) <= len(tracks):
            named = [tracks[int(track) - 1]]
        if not named:
            names = ", ".join(repr(t.name) for t in tracks) or "none"
            raise InvalidInput(
                f"{path}: no GPX track named or numbered {track!r} (tracks: {names})"
            )
        tracks = named
    if not any(seg.points for t in tracks for seg in t.segments):
        what = "routes but no track points" if gpx.routes else "no track points"
        raise InvalidInput(f"{path}: the GPX file has {what}; only <trkpt> carry fix times")

    items: list[TracePoint | str] = []
    for trk in tracks:
        for seg in trk.segments:
            for pt in seg.points:
                if pt.time is None:
                    items.append("no time")
                    continue
                t = pt.time if pt.time.tzinfo else pt.time.replace(tzinfo=UTC)
                fix = (pt.type_of_gpx_fix or "").lower()
                items.append(
                    TracePoint(
                        time=t.astimezone(UTC),
                        latitude=float(pt.latitude),
                        longitude=float(pt.longitude),
                        altitude_m=_opt_float(pt.elevation),
                        speed_mps=_opt_float(pt.speed),  # GPX 1.0 <speed> is m/s
                        course_deg=_opt_float(pt.course),
                        hdop=_opt_float(pt.horizontal_dilution),
                        satellites=int(pt.satellites) if pt.satellites is not None else None,
                        # GPX <fix>: none | 2d | 3d | dgps | pps; absent means unknown.
                        valid=None if not fix else fix != "none",
                    )
                )
    return items


def _gpx_rows(reader: TraceReader, items: list[TracePoint | str]) -> Iterator[TracePoint]:
    for no, item in enumerate(items, start=1):
        if isinstance(item, str):
            reader.skip(f"track point {no}", item)
        else:
            yield item


def _opt_float(v: object) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------
# GeoLife / OziExplorer PLT


def _plt_rows(reader: TraceReader, lines: Iterator[tuple[int, str]]) -> Iterator[TracePoint]:
    # Header: 6 lines (GeoLife user guide; OziExplorer "Track File (.plt)" format).
    for no, line in lines:
        if no <= 6 or not line.strip():
            continue
        try:
            f = [c.strip() for c in line.split(",")]
            if len(f) < 5:
                raise _SkipRow("fewer than 5 fields")
            lat, lon = _coords(_float(f[0], "latitude"), _float(f[1], "longitude"))
            alt_ft = _float(f[3], "altitude")
            if alt_ft == GEOLIFE_INVALID_ALTITUDE_FT:
                alt_ft = None
            if len(f) >= 7 and f[5] and f[6]:
                t = _parse_utc(f"{f[5]} {f[6]}", "date/time")
            else:  # OziExplorer may leave the strings out: days since 1899-12-30 (UTC)
                t = OLE_EPOCH + timedelta(days=_required(_float(f[4], "days"), "time"))
            yield TracePoint(
                time=t,
                latitude=lat,
                longitude=lon,
                altitude_m=alt_ft * FEET_M if alt_ft is not None else None,
            )
        except _SkipRow as exc:
            reader.skip(f"line {no}", str(exc))


def _parse_utc(text: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _SkipRow(f"bad {what}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# ---------------------------------------------------------------------------
# NMEA 0183


@dataclass
class _Epoch:
    """RMC and GGA sentences sharing one UTC time of day."""

    tod: time
    line_no: int
    rmc: pynmea2.RMC | None = None
    gga: pynmea2.GGA | None = None


def _nmea_rows(reader: TraceReader, lines: Iterator[tuple[int, str]]) -> Iterator[TracePoint]:
    epoch: _Epoch | None = None
    zda_date: date | None = None  # last date seen in a ZDA sentence
    zda_tod: time | None = None
    for no, line in lines:
        if not line.strip():
            continue
        try:
            msg = pynmea2.parse(line)
        except pynmea2.ChecksumError:
            reader.skip(f"line {no}", "bad checksum")
            continue
        except pynmea2.SentenceTypeError:
            continue  # a sentence pynmea2 does not know, e.g. $GPMSS: not a fix
        except ValueError:  # pynmea2.ParseError and anything else its parser raises
            reader.skip(f"line {no}", "not an NMEA sentence")
            continue
        if isinstance(msg, pynmea2.ZDA):
            try:
                zda_date, zda_tod = msg.datestamp, msg.timestamp
            except (TypeError, ValueError):
                reader.skip(f"line {no}", "bad ZDA date")
            continue
        if not isinstance(msg, pynmea2.RMC | pynmea2.GGA):
            continue
        tod = msg.timestamp
        if not isinstance(tod, time):
            reader.skip(f"line {no}", "bad time of day")
            continue
        if epoch is None or epoch.tod != tod:
            if epoch is not None:
                yield from _nmea_flush(reader, epoch, zda_date, zda_tod)
            epoch = _Epoch(tod=tod, line_no=no)
        if isinstance(msg, pynmea2.RMC):
            epoch.rmc = msg
        else:
            epoch.gga = msg
    if epoch is not None:
        yield from _nmea_flush(reader, epoch, zda_date, zda_tod)


def _nmea_flush(
    reader: TraceReader, e: _Epoch, zda_date: date | None, zda_tod: time | None
) -> Iterator[TracePoint]:
    where = f"line {e.line_no}"
    rmc, gga = e.rmc, e.gga
    try:
        day: date | None = None
        if rmc is not None and isinstance(rmc.datestamp, date):
            day = rmc.datestamp
        elif zda_date is not None:
            day = zda_date
            # A fix just after midnight following a ZDA of the previous evening.
            if zda_tod is not None and _seconds(e.tod) + 43200 < _seconds(zda_tod):
                day += timedelta(days=1)
        if day is None:
            raise _SkipRow("no date (GGA without RMC or ZDA)")
        t = datetime.combine(day, e.tod.replace(tzinfo=None), tzinfo=UTC)

        src = rmc if rmc is not None and rmc.lat and rmc.lon else gga
        if src is None or not src.lat or not src.lon:
            raise _SkipRow("no position")
        if src.lat_dir not in ("N", "S") or src.lon_dir not in ("E", "W"):
            raise _SkipRow("bad position")  # pynmea2 would read a missing hemisphere as 0.0
        try:
            lat, lon = _coords(float(src.latitude), float(src.longitude))
        except (TypeError, ValueError):
            raise _SkipRow("bad position") from None

        valid: bool | None = None
        if rmc is not None:
            valid = rmc.status == "A" and bool(rmc.is_valid)
        if gga is not None:
            gga_ok = isinstance(gga.gps_qual, int) and gga.gps_qual > 0
            valid = gga_ok if valid is None else (valid and gga_ok)

        speed_kn = _num(rmc.spd_over_grnd) if rmc is not None else None
        sats = _num(gga.num_sats) if gga is not None else None
        alt = None
        if gga is not None and (gga.altitude_units or "M").upper() == "M":
            alt = _num(gga.altitude)
        yield TracePoint(
            time=t,
            latitude=lat,
            longitude=lon,
            altitude_m=alt,
            speed_mps=speed_kn * KNOT_MPS if speed_kn is not None else None,
            course_deg=_num(rmc.true_course) if rmc is not None else None,
            hdop=_num(gga.horizontal_dil) if gga is not None else None,
            satellites=int(sats) if sats is not None else None,
            valid=valid,
        )
    except _SkipRow as exc:
        reader.skip(where, str(exc))


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _num(v: object) -> float | None:
    """A pynmea2 field value as a float: pynmea2 returns the raw text when conversion fails."""
    if v is None or v == "":
        return None
    return _opt_float(v)


# ---------------------------------------------------------------------------
# CSV: go_track and other latitude,longitude,time files


def _csv_rows(lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    for no, line in lines:
        if line.strip():
            yield no, next(csv.reader([line]))


def _latlon_rows(
    reader: TraceReader,
    lines: Iterator[tuple[int, str]],
    track: str | None,
    zone: tzinfo,
) -> Iterator[TracePoint]:
    rows = _csv_rows(lines)
    _, header = next(rows)
    col = {name.strip().lower(): i for i, name in enumerate(header)}
    i_lat, i_lon, i_time = col["latitude"], col["longitude"], col["time"]
    i_track = col.get("track_id")
    if track is not None and i_track is None:
        raise InvalidInput(f"{reader.path}: no track_id column, so no track {track!r} to select")
    seen_tracks: set[str] = set()
    for no, r in rows:
        try:
            if i_track is not None and len(r) > i_track:
                seen_tracks.add(r[i_track].strip())
                if track is not None and r[i_track].strip() != track:
                    continue
            if len(r) < len(header):
                raise _SkipRow("too few fields")
            lat, lon = _coords(_float(r[i_lat], "latitude"), _float(r[i_lon], "longitude"))
            try:
                t = datetime.fromisoformat(r[i_time].strip())
            except ValueError:
                raise _SkipRow("bad time") from None
            if t.tzinfo is None:
                t = t.replace(tzinfo=zone)  # local wall time (fold=0 in a DST overlap)
            yield TracePoint(time=t.astimezone(UTC), latitude=lat, longitude=lon)
        except _SkipRow as exc:
            reader.skip(f"line {no}", str(exc))
    if track is not None and track not in seen_tracks:
        some = ", ".join(sorted(seen_tracks, key=lambda s: (len(s), s))[:10])
        raise InvalidInput(f"{reader.path}: no track_id {track!r} (tracks include {some})")


# ---------------------------------------------------------------------------
# CSV: MTK logger data exported by GPSBabel

# GPSBabel mtk_logger.cc writes the fix mode of the VALID column as one of these.
_MTK_VALID = {"sps": True, "dgps": True, "pps": True, "rtk": True, "frtk": True}
_MTK_INVALID = ("no fix", "estimated", "manual", "simulator")


def _mtk_rows(reader: TraceReader, lines: Iterator[tuple[int, str]]) -> Iterator[TracePoint]:
    rows = _csv_rows(lines)
    _, header = next(rows)
    col = {name.strip().upper(): i for i, name in enumerate(header)}

    def field(r: list[str], name: str) -> str | None:
        i = col.get(name)
        return r[i] if i is not None and i < len(r) else None

    for no, r in rows:
        try:
            lat = _required(_float(field(r, "LATITUDE"), "latitude"), "latitude")
            lon = _required(_float(field(r, "LONGITUDE"), "longitude"), "longitude")
            if (field(r, "N/S") or "N").strip().upper() == "S":
                lat = -lat
            if (field(r, "E/W") or "E").strip().upper() == "W":
                lon = -lon
            lat, lon = _coords(lat, lon)
            d, tm = (field(r, "DATE") or "").strip(), (field(r, "TIME") or "").strip()
            t = _parse_utc(f"{d.replace('/', '-')} {tm}", "date/time")
            mode = (field(r, "VALID") or "").strip().lower()
            valid: bool | None
            if mode in _MTK_VALID:
                valid = True
            elif mode.startswith(_MTK_INVALID):
                valid = False
            else:
                valid = None
            speed_kmh = _float(field(r, "SPEED"), "speed", unit="km/h")
            nsat = (field(r, "NSAT (USED/VIEW)") or field(r, "NSAT") or "").strip()
            used = nsat.split("(", 1)[0].strip()
            yield TracePoint(
                time=t,
                latitude=lat,
                longitude=lon,
                altitude_m=_float(field(r, "HEIGHT"), "height", unit="m"),
                speed_mps=speed_kmh * KMH_MPS if speed_kmh is not None else None,
                course_deg=_float(field(r, "HEADING"), "heading"),
                hdop=_float(field(r, "HDOP"), "HDOP"),
                satellites=int(used) if used.isdigit() else None,
                valid=valid,
            )
        except _SkipRow as exc:
            reader.skip(f"line {no}", str(exc))


# ---------------------------------------------------------------------------
# CSV: Android GnssLogger "Fix" records

# Older logs (2016): Fix,Provider,Latitude,Longitude,Altitude,Speed,Accuracy,UTCTimeInMs
# Newer logs: Fix,Provider,LatitudeDegrees,LongitudeDegrees,AltitudeMeters,SpeedMps,
#             AccuracyMeters,BearingDegrees,UnixTimeMillis,...
_GNSS_OLD_HEADER = ["Fix", "Provider", "Latitude", "Longitude", "Altitude", "Speed", "Accuracy",
                    "UTCTimeInMs"]  # fmt: skip
_GNSS_ALIASES = {
    "lat": ("latitude", "latitudedegrees"),
    "lon": ("longitude", "longitudedegrees"),
    "alt": ("altitude", "altitudemeters"),
    "speed": ("speed", "speedmps"),
    "acc": ("accuracy", "accuracymeters"),
    "bearing": ("bearing", "bearingdegrees"),
    "ms": ("utctimeinms", "unixtimemillis"),
}


def _gnsslogger_rows(reader: TraceReader, lines: Iterator[tuple[int, str]]) -> Iterator[TracePoint]:
    header = [h.lower() for h in _GNSS_OLD_HEADER]
    idx: dict[str, int] = {}

    def set_header(names: list[str]) -> None:
        nonlocal header, idx
        header = [n.strip().lower() for n in names]
        idx = {}
        for key, aliases in _GNSS_ALIASES.items():
            for a in aliases:
                if a in header:
                    idx[key] = header.index(a)
                    break

    set_header(_GNSS_OLD_HEADER)
    for no, line in lines:
        stripped = line.strip()
        body = stripped.lstrip("#").strip()
        if not body.startswith("Fix,"):
            continue  # comments, Raw/Status/Nav records: not fixes
        r = next(csv.reader([body]))
        if stripped.startswith("#") or (len(r) > 2 and r[2].strip().lower().startswith("lat")):
            set_header(r)
            continue
        try:
            if "lat" not in idx or "lon" not in idx or "ms" not in idx:
                raise _SkipRow("Fix header has no latitude/longitude/time column")

            def get(key: str, row: list[str] = r) -> str | None:
                i = idx.get(key)
                return row[i] if i is not None and i < len(row) else None

            lat, lon = _coords(_float(get("lat"), "latitude"), _float(get("lon"), "longitude"))
            ms = _required(_float(get("ms"), "time"), "time")
            yield TracePoint(
                time=datetime.fromtimestamp(ms / 1000.0, tz=UTC),
                latitude=lat,
                longitude=lon,
                altitude_m=_float(get("alt"), "altitude"),
                speed_mps=_float(get("speed"), "speed"),
                course_deg=_float(get("bearing"), "bearing"),
                accuracy_m=_float(get("acc"), "accuracy"),
            )
        except _SkipRow as exc:
            reader.skip(f"line {no}", str(exc))
