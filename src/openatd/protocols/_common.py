"""Helpers shared by the tracker decoders: BCD, times, NMEA coordinates, CRCs, sanity check.

Small and stable on purpose: every decoder may import it. Nothing here does I/O
or reads a clock; functions that need "now" take it as an argument.

Errors: helpers raise :class:`ValueError` on malformed input; a session's
``receive_datagram`` turns that into :class:`~openatd.errors.ProtocolDecodeError`
carrying the raw frame, so decoders need not wrap every field read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crc import Calculator, Crc16

from openatd.domain.messages import KNOT_MPS, DeviceReport

__all__ = [
    "MAX_ALTITUDE_M",
    "MAX_SPEED_MPS",
    "MIN_ALTITUDE_M",
    "MIN_FIX_TIME",
    "bcd",
    "crc16_arc",
    "crc16_x25",
    "nmea_degrees",
    "plausibility_problems",
    "utc",
    "utc_from_dmy_hms",
]

_CRC_X25 = Calculator(Crc16.X25.value, optimized=True)
_CRC_ARC = Calculator(Crc16.IBM.value, optimized=True)

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


def utc_from_dmy_hms(date: str, time: str) -> datetime:
    """UTC time from NMEA-style ``ddmmyy`` and ``hhmmss[.sss]`` strings.

    >>> utc_from_dmy_hms("201015", "142111.000").isoformat()
    '2015-10-20T14:21:11+00:00'

    Raises:
        ValueError: the strings are not digits or a field is out of range.
    """
    if len(date) != 6 or len(time) < 6:
        raise ValueError(f"bad date/time {date!r} {time!r}")
    ms = 0
    if len(time) > 7 and time[6] == ".":
        ms = round(float("0" + time[6:]) * 1000) % 1000
    return utc(
        int(date[4:6]), int(date[2:4]), int(date[0:2]), int(time[0:2]), int(time[2:4]),
        int(time[4:6]), ms,
    )  # fmt: skip


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
    """CRC-ITU as GT06 / Concox use it (CRC-16/X-25: poly 0x1021 reflected, init/xorout 0xFFFF)."""
    return int(_CRC_X25.checksum(data))


def crc16_arc(data: bytes) -> int:
    """CRC-16/IBM (ARC: poly 0x8005 reflected, init 0), Teltonika's AVL data CRC."""
    return int(_CRC_ARC.checksum(data))


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
