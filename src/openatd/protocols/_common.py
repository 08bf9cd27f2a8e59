"""Helpers shared by the tracker decoders: BCD, times, NMEA coordinates, CRCs, sanity check.

Small and stable on purpose: every decoder may import it. Nothing here does I/O
or reads a clock; functions that need "now" take it as an argument.

Errors: helpers raise :class:`ValueError` on malformed input; a session's
``receive_datagram`` turns that into :class:`~openatd.errors.ProtocolDecodeError`
carrying the raw frame, so decoders need not wrap every field read.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from openatd.domain.messages import KNOT_MPS, Alarm, DeviceReport, ReportKind

__all__ = [
    "ALARM_NAMES",
    "FIX_FIELDS",
    "MAX_ALTITUDE_M",
    "MAX_SPEED_MPS",
    "MIN_ALTITUDE_M",
    "MIN_FIX_TIME",
    "ByteReader",
    "ReportDraft",
    "bcd",
    "crc16_arc",
    "crc16_x25",
    "dmy_hms_or_none",
    "nmea_degrees",
    "plausibility_problems",
    "status_report",
    "utc",
    "utc_from_dmy_hms",
    "utc_or_none",
]


def _reflected_crc16_table(poly_reflected: int) -> tuple[int, ...]:
    """The 256-entry lookup table of a reflected (LSB-first) CRC-16 with the given polynomial,
    itself given bit-reversed (0x1021 -> 0x8408, 0x8005 -> 0xA001)."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly_reflected if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


# Both CRCs are reflected (refin = refout = true), so one table per polynomial drives a
# byte-at-a-time loop: crc = (crc >> 8) ^ T[(crc ^ byte) & 0xFF]  (Williams, "A Painless Guide
# to CRC Error Detection Algorithms", §10, the reflected table-driven algorithm).
_X25_TABLE = _reflected_crc16_table(0x8408)  # poly 0x1021 reflected
_ARC_TABLE = _reflected_crc16_table(0xA001)  # poly 0x8005 reflected

MIN_FIX_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""Fixes dated before this are implausible (Traccar's rule: after 1999)."""
FUTURE_SLACK = timedelta(hours=25)
"""A fix may be dated at most this far after server time (time zones, clock skew)."""
MAX_SPEED_MPS = 869 * KNOT_MPS
"""Upper speed bound, 869 knots (Traccar's sanity rule), in m/s (about 447 m/s)."""
MIN_ALTITUDE_M = -12262.0
MAX_ALTITUDE_M = 18000.0


def bcd(data: bytes) -> int:
    """Packed BCD bytes as an integer, e.g. ``b"\\x12\\x34"`` -> 1234.

    Raises:
        ValueError: a nibble is not a decimal digit.
    """
    text = data.hex()
    if not text.isdigit():
        raise ValueError(f"not BCD: {text}")
    return int(text)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0
) -> datetime:
    """A timezone-aware UTC datetime; a two-digit *year* (< 100) means 20YY.

    Raises:
        ValueError: a field is out of range (month 13, second 60, ...).
    """
    if year < 100:
        year += 2000
    return datetime(year, month, day, hour, minute, second, ms * 1000, tzinfo=UTC)


def utc_or_none(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0
) -> datetime | None:
    """:func:`utc`, or ``None`` when the fields name no instant (day 0, month 13, 30 February,
    hour 24, minute 60, second 60 ...).

    An impossible time is never rolled over into a neighbouring one (hour 25 is not 01:00
    the next day): a guessed time would put a position at the wrong moment of the record.
    Decoders report it as a bad field instead (``extras["invalid_fields"]``).

    >>> utc_or_none(24, 2, 29, 23, 59, 59).isoformat()
    '2024-02-29T23:59:59+00:00'
    >>> utc_or_none(25, 2, 29) is None, utc_or_none(25, 13, 1) is None, utc_or_none(25, 1, 1, 24)
    (True, True, None)
    """
    try:
        return utc(year, month, day, hour, minute, second, ms)
    except ValueError:
        return None


_DMY = re.compile(r"\d{6}")
_HMS = re.compile(r"\d{6}(?:\.\d+)?")


def dmy_hms_or_none(date: str, time: str) -> datetime | None:
    """UTC time from NMEA-style ``ddmmyy`` and ``hhmmss[.sss]``; ``None`` when impossible.

    The two strings must have that shape (digits), else the field is not a date at all
    and :class:`ValueError` is raised (the frame is malformed); digits that name no
    instant (day 0, month 13, hour 24, minute 60) give ``None`` (see :func:`utc_or_none`).

    >>> dmy_hms_or_none("201015", "142111.000").isoformat()
    '2015-10-20T14:21:11+00:00'
    >>> dmy_hms_or_none("201315", "142111") is None, dmy_hms_or_none("201015", "250000") is None
    (True, True)

    Raises:
        ValueError: *date* or *time* is not digits of that shape.
    """
    if not _DMY.fullmatch(date) or not _HMS.fullmatch(time):
        raise ValueError(f"bad date/time {date!r} {time!r}")
    ms = round(float("0" + time[6:]) * 1000) % 1000 if len(time) > 7 else 0
    return utc_or_none(
        int(date[4:6]), int(date[2:4]), int(date[0:2]),
        int(time[0:2]), int(time[2:4]), int(time[4:6]), ms,
    )  # fmt: skip


def utc_from_dmy_hms(date: str, time: str) -> datetime:
    """UTC time from NMEA-style ``ddmmyy`` and ``hhmmss[.sss]`` strings.

    >>> utc_from_dmy_hms("201015", "142111.000").isoformat()
    '2015-10-20T14:21:11+00:00'

    Raises:
        ValueError: the strings are not digits or a field is out of range.
    """
    when = dmy_hms_or_none(date, time)
    if when is None:
        raise ValueError(f"impossible date/time {date!r} {time!r}")
    return when


def nmea_degrees(value: str, hemisphere: str = "") -> float:
    """Degrees from NMEA ``(d)ddmm.mmmm`` with hemisphere ``N/S/E/W`` (``S``/``W`` negative).

    >>> round(nmea_degrees("5456.7210", "N"), 5)
    54.94535

    Raises:
        ValueError: *value* is not a number.
    """
    raw = float(value)
    degrees = int(raw / 100)
    result = degrees + (raw - degrees * 100) / 60.0
    if hemisphere in ("S", "W", "s", "w"):
        result = -result
    return result


def crc16_x25(data: bytes) -> int:
    """CRC-ITU as GT06 / Concox compute it: CRC-16/IBM-SDLC, alias CRC-16/X-25.

    Parameters (Greg Cook's "Catalogue of parametrised CRC algorithms", CRC-16/IBM-SDLC):
    width 16, poly 0x1021, init 0xFFFF, refin true, refout true, xorout 0xFFFF,
    check 0x906E (the CRC of ``b"123456789"``). Table-driven, one lookup per byte.

    >>> hex(crc16_x25(b"123456789"))
    '0x906e'
    """
    crc = 0xFFFF
    table = _X25_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (alias CRC-16/IBM, CRC-16/LHA), Teltonika's AVL data CRC.

    Parameters (Greg Cook's "Catalogue of parametrised CRC algorithms", CRC-16/ARC):
    width 16, poly 0x8005, init 0x0000, refin true, refout true, xorout 0x0000,
    check 0xBB3D (the CRC of ``b"123456789"``). Table-driven, one lookup per byte.

    >>> hex(crc16_arc(b"123456789"))
    '0xbb3d'
    """
    crc = 0
    table = _ARC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def plausibility_problems(report: DeviceReport, now: datetime) -> list[str]:
    """Why a decoded position is implausible (empty list when it passes).

    Traccar's sanity rule for decoded positions: fix time after 1999 and no later
    than *now* + 25 h, |latitude| <= 90, |longitude| <= 180, altitude in
    [-12262, 18000] m, speed in [0, 869 knots], course in [0, 360] degrees.
    Fields the report does not carry are not checked. *now* is server time (UTC).
    """
    problems: list[str] = []
    if report.fix_time is None:
        problems.append("no fix time")
    elif not MIN_FIX_TIME <= report.fix_time <= now + FUTURE_SLACK:
        problems.append(f"fix time {report.fix_time.isoformat()} out of range")
    if report.latitude is None or not -90.0 <= report.latitude <= 90.0:
        problems.append(f"latitude {report.latitude} out of range")
    if report.longitude is None or not -180.0 <= report.longitude <= 180.0:
        problems.append(f"longitude {report.longitude} out of range")
    if report.altitude_m is not None and not MIN_ALTITUDE_M <= report.altitude_m <= MAX_ALTITUDE_M:
        problems.append(f"altitude {report.altitude_m} m out of range")
    if report.speed_mps is not None and not 0.0 <= report.speed_mps <= MAX_SPEED_MPS:
        problems.append(f"speed {report.speed_mps} m/s out of range")
    if report.course_deg is not None and not 0.0 <= report.course_deg <= 360.0:
        problems.append(f"course {report.course_deg} out of range")
    return problems


ALARM_NAMES: dict[str, Alarm] = {
    "removing": Alarm.STRAP_TAMPER,
    "tampering": Alarm.STRAP_TAMPER,
    "lowBattery": Alarm.LOW_BATTERY,
    "powerCut": Alarm.POWER_CUT,
    "powerOff": Alarm.POWER_OFF,
    "sos": Alarm.SOS,
    "vibration": Alarm.VIBRATION,
    "movement": Alarm.MOVEMENT,
    "overspeed": Alarm.OVERSPEED,
    "fallDown": Alarm.FALL_DOWN,
    "geofenceEnter": Alarm.GEOFENCE_ENTER,
    "geofenceExit": Alarm.GEOFENCE_EXIT,
}
"""Alarm names in Traccar's vocabulary that map onto ours (strap removal and tamper
both become :attr:`Alarm.STRAP_TAMPER`). Other names (``hardBraking``, ``accident``,
``door`` ...) are kept verbatim in ``extras["alarm"]`` (comma-joined)."""


FIX_FIELDS: tuple[str, ...] = (
    "fix_time", "latitude", "longitude", "valid", "accuracy_m", "hdop", "satellites",
    "speed_mps", "course_deg", "altitude_m",
)  # fmt: skip
"""The :class:`DeviceReport` fields that describe one fix: none of them is kept when the
fix cannot be trusted (:func:`status_report`, :meth:`ReportDraft.drop_fix`)."""

_NO_FIX = DeviceReport(kind=ReportKind.HEARTBEAT)


def status_report(report: DeviceReport, *bad: str) -> DeviceReport:
    """*report* without its fix, as a status report naming the fields that were impossible.

    For a frame whose identity and status/alarm fields decode soundly but whose fix cannot
    be trusted (its time is impossible: day 0, month 13, hour 25): the fix fields
    (:data:`FIX_FIELDS`) are reset, the kind becomes heartbeat and *bad* (field names,
    ``"fix_time"``) is added to ``extras["invalid_fields"]`` (comma-separated), which the
    ingest layer counts as a partial frame; with no *bad* (a time the device left zeroed:
    no fix, but nothing broken) none is added. Battery, strap, alarms and other extras stay.
    """
    extras = dict(report.extras)
    names = [*str(extras.get("invalid_fields", "")).split(","), *bad]
    joined = ",".join(dict.fromkeys(n for n in names if n))
    if joined:
        extras["invalid_fields"] = joined
    cleared = {name: getattr(_NO_FIX, name) for name in FIX_FIELDS}
    return dataclasses.replace(report, kind=ReportKind.HEARTBEAT, extras=extras, **cleared)


@dataclass
class ReportDraft:
    """A mutable :class:`DeviceReport` under construction (fields as there, same units).

    Decoders fill it field by field, add alarms by name with :meth:`alarm`, put
    raw values in ``extras`` and call :meth:`build`. ``kind`` defaults to a
    position when latitude, longitude and fix time are all set, else heartbeat.
    """

    unique_id: str | None = None
    fix_time: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    valid: bool = True
    accuracy_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None
    battery_v: float | None = None
    strap: str | None = None
    alarms: set[Alarm] = field(default_factory=set)
    other_alarms: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    kind: ReportKind | None = None
    invalid_fields: list[str] = field(default_factory=list)
    """Fields found impossible (``"fix_time"``): built into ``extras["invalid_fields"]``."""

    def drop_fix(self, *bad: str) -> None:
        """The fix cannot be trusted: clear its fields (:data:`FIX_FIELDS`), make this a
        status report and record *bad* as invalid fields (see :func:`status_report`)."""
        for name in FIX_FIELDS:
            setattr(self, name, getattr(_NO_FIX, name))
        self.kind = ReportKind.HEARTBEAT
        self.invalid(*bad)

    def invalid(self, *names: str) -> None:
        """Record fields that were present but impossible (and so left out)."""
        for name in names:
            if name not in self.invalid_fields:
                self.invalid_fields.append(name)

    def alarm(self, name: str | Alarm | None) -> None:
        """Add an alarm: one of ours, a Traccar-vocabulary name, or ``None`` (ignored)."""
        if name is None:
            return
        if isinstance(name, Alarm):
            self.alarms.add(name)
        elif name in ALARM_NAMES:
            self.alarms.add(ALARM_NAMES[name])
        elif name not in self.other_alarms:
            self.other_alarms.append(name)

    @property
    def has_fix(self) -> bool:
        """Latitude, longitude and fix time are all set."""
        return None not in (self.latitude, self.longitude, self.fix_time)

    def build(self) -> DeviceReport:
        """The frozen report."""
        extras = dict(self.extras)
        if self.other_alarms:
            extras["alarm"] = ",".join(self.other_alarms)
        if self.invalid_fields:
            extras["invalid_fields"] = ",".join(self.invalid_fields)
        kind = self.kind or (ReportKind.POSITION if self.has_fix else ReportKind.HEARTBEAT)
        return DeviceReport(
            kind=kind,
            unique_id=self.unique_id,
            fix_time=self.fix_time,
            latitude=self.latitude,
            longitude=self.longitude,
            valid=self.valid,
            accuracy_m=self.accuracy_m,
            hdop=self.hdop,
            satellites=self.satellites,
            speed_mps=self.speed_mps,
            course_deg=self.course_deg,
            altitude_m=self.altitude_m,
            battery_pct=self.battery_pct,
            battery_v=self.battery_v,
            strap=self.strap,
            alarms=frozenset(self.alarms),
            extras=extras,
        )


class ByteReader:
    """Big-endian reads over ``data[start:end]``; reading past the end raises ``IndexError``.

    ``left`` counts the bytes not yet read. Decoders give it the frame and read
    fields in document order.
    """

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    @property
    def left(self) -> int:
        """Bytes not yet read."""
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        """The next *n* bytes."""
        if n < 0 or self.pos + n > self.end:
            raise IndexError(f"read of {n} bytes at {self.pos} past end {self.end}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def skip(self, n: int) -> None:
        """Skip *n* bytes."""
        self.take(n)

    def peek(self, offset: int = 0) -> int:
        """The byte *offset* bytes ahead, without consuming it."""
        if self.pos + offset >= self.end:
            raise IndexError(f"peek at {self.pos + offset} past end {self.end}")
        return self.data[self.pos + offset]

    def uint(self, n: int) -> int:
        """An unsigned big-endian integer of *n* bytes."""
        return int.from_bytes(self.take(n), "big")

    def sint(self, n: int) -> int:
        """A signed (two's complement) big-endian integer of *n* bytes."""
        return int.from_bytes(self.take(n), "big", signed=True)

    def u8(self) -> int:
        """One unsigned byte."""
        return self.uint(1)

    def u16(self) -> int:
        """Unsigned 16-bit."""
        return self.uint(2)

    def u32(self) -> int:
        """Unsigned 32-bit."""
        return self.uint(4)
