"""H02 (Sinotrack ST-901/906, "HQ" clones): text ``*HQ,...#`` and 32/45-byte binary ``$`` frames.

Source: "H02 protocol" (Sinotrack / H02 GPRS communication protocol v1.x) and
the captured devices. TCP and UDP, default port 5013.

Text frame: ``*XX,<id>,<command>,<fields...>#`` (ASCII, ``XX`` the maker, usually HQ):

- ``V1`` (position), ``V4`` (command confirmation + position), and relatives::

      *HQ,<id>,V1,hhmmss,<A|V>,<lat>,<N|S>,<lon>,<E|W>,<speed knots>,<course>,
          [battery,]ddmmyy,<status hex8>[,...]#

  Latitude/longitude come as ``ddmm.mmmm`` / ``dddmm.mmmm``, as ``ddmmmmmm``
  (minutes with four implied decimals) or as ``-dd-mm.mmmm``. A ``V4`` reply
  puts the confirmed command between ``V4`` and the time (``extras["result"]``).
- ``HTBT`` / ``V0`` heartbeat ``*HQ,<id>,HTBT,<battery %>#``: the server echoes
  ``*HQ,<id>,HTBT#``.
- ``NBR`` / ``V3`` / ``VP1,V``: cell towers without a fix; ``LINK``: rssi,
  satellites, battery %, steps; ``SMS``: free text.

Status (4 bytes, each bit active-low, H02 doc "vehicle status"): bit 0 clear =
vibration, bit 1 or 18 clear = SOS, bit 2 clear = overspeed, bit 19 clear =
power cut; bit 10 set = ACC on. Speed is in knots.

Binary frame (BCD nibbles, 32 bytes; 45 with extra data; 42 with an 8-byte id)::

    '$' | id (5 BCD bytes; 8 when the frame is 42 bytes) | hhmmss (3) | ddmmyy (3) |
    latitude ddmm.mmmm (8 nibbles) | battery (1) | longitude dddmm.mmmm (9 nibbles) |
    flags nibble (bit 1 valid, bit 2 north, bit 3 east) | speed (3 nibbles, knots) |
    course (3 nibbles) | status (4)

Battery in binary frames: 1-3 -> 0/10/20 %, 4-6 -> 60/80/100 %, 7-100 %, 0xF1-0xF6 1-6 %.

A position sentence with coordinates but no time/date is a position with
``fix_time=None``: like OsmAnd, the ingest layer dates it with server time. A date
of ``000000`` is no fix (nothing is reported). An impossible date or time (day 0,
month 13, hour 25, ``160169``) is never rolled over into a guessed one: the frame's
identity, status, alarms and battery are delivered as a status report without the
fix, with ``extras["invalid_fields"] = "fix_time"`` (``"device_time"`` in the cell
and link reports, which carry no fix).

Replies: only the heartbeat echo. The V1 confirmation (``*HQ,<id>,V4,V1,<server
time yyyyMMddHHmmss>#``) needs server time and is left to the ingest layer;
devices do not require it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from openatd.domain.messages import KNOT_MPS, ReportKind
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import ReportDraft, dmy_hms_or_none, utc_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "h02"

SHORT_BINARY = 32
LONG_BINARY = 45

_MINUTES_DOTTED = re.compile(r"(\d*)(\d\d\.\d+)")
_MINUTES_IMPLIED = re.compile(r"(\d+)(\d\d)(\d{4})")
_DEG_DASH_MIN = re.compile(r"-(\d+)-(\d+\.\d+)")
_HHMMSS = re.compile(r"\d{6}")


def _coordinate(value: str, hemisphere: str) -> float:
    """Degrees from one of the three H02 coordinate forms (see module docstring)."""
    value = value.strip()
    if m := _DEG_DASH_MIN.fullmatch(value):
        result = int(m.group(1)) + float(m.group(2)) / 60.0
    elif m := _MINUTES_DOTTED.fullmatch(value):
        result = int(m.group(1) or "0") + float(m.group(2)) / 60.0
    elif m := _MINUTES_IMPLIED.fullmatch(value):
        result = int(m.group(1)) + float(f"{m.group(2)}.{m.group(3)}") / 60.0
    else:
        raise ValueError(f"bad coordinate {value!r}")
    return -result if hemisphere in ("S", "W") else result


def _status(d: ReportDraft, status: int) -> None:
    d.extras["status"] = status
    d.extras["ignition"] = bool(status & (1 << 10))
    if not status & 1:
        d.alarm("vibration")
    elif not status & 2 or not status & (1 << 18):
        d.alarm("sos")
    elif not status & 4:
        d.alarm("overspeed")
    elif not status & (1 << 19):
        d.alarm("powerCut")


def _binary_battery(value: int) -> float | None:
    if value == 0:
        return None
    if value <= 3:
        return float((value - 1) * 10)
    if value <= 6:
        return float((value - 1) * 20)
    if value <= 100:
        return float(value)
    if 0xF1 <= value <= 0xF6:
        return float(value - 0xF0)
    return None


_START = re.compile(rb"[*$X]")
"""A frame start: ``*`` text, ``$`` binary, ``X`` short binary."""


@dataclass
class H02Session(ProtocolSession):
    """One H02 connection; ``binary_length`` is learnt from the first binary frame."""

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5013
    transports: ClassVar[frozenset[str]] = frozenset({"tcp", "udp"})
    max_frame: ClassVar[int] = 4096
    """H02: text frames ``*HQ,...#`` of about 100-200 bytes, binary frames of 32 or 45 bytes
    (the largest captured frame is 152 bytes). 4 KiB leaves room for long cell lists."""

    binary_length: int = 0

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Text up to ``#`` (then CR/LF dropped); ``$`` frames of 32 or 45 bytes; ``X`` of 32."""
        found = _START.search(buffer)
        if found is None:
            buffer.clear()
            return None
        del buffer[: found.start()]
        marker = buffer[0]
        if marker == ord("*"):
            # scan only what arrived since the last look (no quadratic rescans)
            end = buffer.find(b"#", max(self.scan_from, 1))
            if end < 0:
                self.scan_from = len(buffer)
                return None
            frame = bytes(buffer[: end + 1])
            end += 1
            while end < len(buffer) and buffer[end] in b"\r\n":
                end += 1
            del buffer[:end]
            return frame
        if marker == ord("$"):
            if self.binary_length == 0:
                self.binary_length = LONG_BINARY if len(buffer) == LONG_BINARY else SHORT_BINARY
            size = self.binary_length
        else:
            size = SHORT_BINARY
        if len(buffer) < size:
            return None
        frame = bytes(buffer[:size])
        del buffer[:size]
        return frame

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one text or binary frame; see the module docstring."""
        if frame[:1] == b"$":
            return self._binary(frame)
        if frame[:1] == b"*":
            return self._text(frame)
        if frame[:1] == b"X":
            return Decoded()  # 'X' frames carry no documented payload
        raise ProtocolDecodeError(PROTOCOL, "frame starts with neither '*', '$' nor 'X'", frame)

    def _binary(self, frame: bytes) -> Decoded:
        digits = frame.hex()
        long_id = len(frame) == 42
        id_end = 2 + (16 if long_id else 10)
        unique_id = digits[2:id_end][:15] if long_id else digits[2:id_end]
        p = id_end
        hh, mi, ss = int(digits[p : p + 2]), int(digits[p + 2 : p + 4]), int(digits[p + 4 : p + 6])
        day, mo, yy = (int(digits[p + 6 + i : p + 8 + i]) for i in (0, 2, 4))
        p += 12
        lat = int(digits[p : p + 2]) + int(digits[p + 2 : p + 8]) / 10000.0 / 60.0
        p += 8
        battery = int(digits[p : p + 2], 16)
        p += 2
        lon = int(digits[p : p + 3]) + int(digits[p + 3 : p + 9]) / 10000.0 / 60.0
        flags = int(digits[p + 9], 16)
        p += 10
        speed = int(digits[p : p + 3])
        course = int(digits[p + 3 : p + 6])
        p += 6
        status = int(digits[p : p + 8], 16)
        d = ReportDraft(unique_id=unique_id or self.unique_id)
        d.fix_time = utc_or_none(yy, mo, day, hh, mi, ss)
        d.valid = bool(flags & 0x02)
        d.latitude = lat if flags & 0x04 else -lat
        d.longitude = lon if flags & 0x08 else -lon
        d.speed_mps = speed * KNOT_MPS
        d.course_deg = float(course)
        d.battery_pct = _binary_battery(battery)
        _status(d, status)
        if d.fix_time is None:  # an impossible date or time: battery and status still hold
            d.drop_fix("fix_time")
        return Decoded(messages=(d.build(),), unique_id=unique_id or None)

    def _text(self, frame: bytes) -> Decoded:
        sentence = frame.decode("latin-1").strip()
        body = sentence[1:-1] if sentence.endswith("#") else sentence[1:]
        fields = body.split(",")
        if len(fields) < 3 or not fields[2]:
            return Decoded()  # no command: nothing to decode
        unique_id = fields[1].strip() or None
        command = fields[2]
        d = ReportDraft(unique_id=unique_id or self.unique_id)
        reply: bytes | None = None
        keep = True
        if command in ("HTBT", "V0"):
            reply = f"*{fields[0]},{fields[1]},{command}#".encode("latin-1")
            keep = len(fields) > 3 and fields[3].strip().isdigit()
            if keep:
                d.battery_pct = float(int(fields[3]))
        elif command == "SMS":
            d.extras["result"] = body.split(",", 3)[3]
        elif command == "NBR":
            keep = _nbr(d, fields)
        elif command == "LINK":
            keep = _link(d, fields)
        elif command == "V3":
            keep = _v3(d, fields)
        elif command == "VP1":
            keep = _vp1(d, fields)
        else:
            keep = _position(d, fields)
        messages = (d.build(),) if keep else ()
        return Decoded(messages=messages, reply=reply, unique_id=unique_id)


def _position(d: ReportDraft, fields: list[str]) -> bool:
    """V1 / V4 / V5 / V8 ... position sentences; False when no coordinates are found."""
    i = next(
        (
            k
            for k in range(3, len(fields) - 4)
            if fields[k + 2].strip() in ("N", "S") and fields[k + 4].strip() in ("E", "W")
        ),
        None,
    )
    if i is None:
        return False
    if fields[2] == "V4":
        d.extras["result"] = ",".join(fields[3 : i - 1])
    when = fields[i - 1].strip()
    validity = fields[i].strip()
    if not fields[i + 1].strip() or not fields[i + 3].strip():
        return False  # no coordinates (device without a fix yet)
    d.valid = validity == "A" or validity.isdigit()
    d.latitude = _coordinate(fields[i + 1], fields[i + 2].strip())
    d.longitude = _coordinate(fields[i + 3], fields[i + 4].strip())
    tail = fields[i + 5 :]
    d.speed_mps = float(tail[0] or 0) * KNOT_MPS if tail else None
    if len(tail) > 1 and tail[1].strip():
        d.course_deg = float(tail[1])
    rest = tail[2:]
    if rest and not _HHMMSS.fullmatch(rest[0].strip()) and len(rest) > 1:
        d.extras["battery_raw"] = rest[0]
        rest = rest[1:]
    impossible = False
    if rest and _HHMMSS.fullmatch(rest[0].strip()) and _HHMMSS.fullmatch(when):
        date = rest[0].strip()
        if date == "000000":
            return False
        d.fix_time = dmy_hms_or_none(date, when)
        impossible = d.fix_time is None
        rest = rest[1:]
    elif rest and not rest[0].strip():
        rest = rest[1:]  # empty date: the report is dated on arrival (see module docstring)
    if d.fix_time is None:
        d.kind = ReportKind.POSITION
    if rest and re.fullmatch(r"[0-9A-Fa-f]{8}", rest[0].strip()):
        _status(d, int(rest[0], 16))
        rest = rest[1:]
        if len(rest) == 6 and all(v.strip() for v in rest):
            try:
                d.extras["odometer"] = int(rest[0])
                d.extras["temp1"] = int(rest[1])
                d.extras["fuel"] = float(rest[2])
                d.altitude_m = float(int(rest[3]))
                d.extras["cell"] = {"lac": int(rest[4], 16), "cid": int(rest[5], 16)}
                rest = []
            except ValueError:
                pass
        for n, value in enumerate(rest, start=1):
            d.extras[f"io{n}"] = value.strip()
    if impossible:  # day 0, month 13, hour 25 ...: the status is still sound, the fix is not
        d.drop_fix("fix_time")
    return True


def _date_time(d: ReportDraft, date: str, time: str) -> None:
    """The device time of a report without a fix; an impossible one (``160169``, day 0) is
    left out and named in ``invalid_fields`` rather than rolled over into a guessed time."""
    when = dmy_hms_or_none(date, time)
    if when is None:
        d.invalid("device_time")
    else:
        d.extras["device_time"] = when.isoformat()


def _nbr(d: ReportDraft, fields: list[str]) -> bool:
    # *HQ,id,NBR,hhmmss,mcc,mnc,delay,count,(lac,cid,rssi)*,ddmmyy,status[,...]#
    if len(fields) < 10:
        return False
    mcc, mnc = int(fields[4]), int(fields[5])
    count = int(fields[7])
    cells = []
    for k in range(count):
        lac, cid, rssi = fields[8 + 3 * k : 11 + 3 * k]
        cells.append({"mcc": mcc, "mnc": mnc, "lac": int(lac), "cid": int(cid), "rssi": int(rssi)})
    p = 8 + 3 * count
    d.extras["cells"] = cells
    _date_time(d, fields[p], fields[3])
    _status(d, int(fields[p + 1], 16))
    return True


def _link(d: ReportDraft, fields: list[str]) -> bool:
    # *HQ,id,LINK,hhmmss,rssi,satellites,battery %,steps,turnovers,ddmmyy,status#
    if len(fields) < 11:
        return False
    d.extras["rssi"] = int(fields[4])
    d.extras["satellites_visible"] = int(fields[5])
    d.battery_pct = float(int(fields[6]))
    d.extras["steps"] = int(fields[7])
    d.extras["turnovers"] = int(fields[8])
    _date_time(d, fields[9], fields[3])
    _status(d, int(fields[10], 16))
    return True


def _v3(d: ReportDraft, fields: list[str]) -> bool:
    # *HQ,id,V3,hhmmss,<mcc(3)><mnc>,count,(lac,cid,rssi,)*...,battery hex4,reboot,X,ddmmyy,status#
    if len(fields) < 9:
        return False
    mcc, mnc = int(fields[4][:3]), int(fields[4][3:])
    count = int(fields[5])
    cells = []
    for k in range(count):
        lac, cid = fields[6 + 4 * k], fields[7 + 4 * k]
        cells.append({"mcc": mcc, "mnc": mnc, "lac": int(lac), "cid": int(cid)})
    d.extras["cells"] = cells
    x = fields.index("X", 6)
    d.extras["battery_raw"] = int(fields[x - 2], 16)
    _date_time(d, fields[x + 1], fields[3])
    _status(d, int(fields[x + 2], 16))
    return True


def _vp1(d: ReportDraft, fields: list[str]) -> bool:
    # *hq,imei,VP1,V,mcc,mnc,<lac,cid,rssi>Y<lac,cid,rssi>...#   (no fix: cells)
    # *hq,imei,VP1,A,ddmm.mmmm,N,dddmm.mmmm,E,speed,course,ddmmyy#   (date only)
    if len(fields) < 6:
        return False
    if fields[3] == "V":
        mcc, mnc = int(fields[4]), int(fields[5])
        cells = []
        for cell in ",".join(fields[6:]).split("Y"):
            lac, cid, rssi = cell.split(",")[:3]
            cells.append(
                {"mcc": mcc, "mnc": mnc, "lac": int(lac), "cid": int(cid), "rssi": int(rssi)}
            )
        d.extras["cells"] = cells
        return True
    if len(fields) < 11:
        return False
    d.valid = True
    d.latitude = _coordinate(fields[4], fields[5])
    d.longitude = _coordinate(fields[6], fields[7])
    d.speed_mps = float(fields[8]) * KNOT_MPS
    d.course_deg = float(fields[9])
    d.fix_time = dmy_hms_or_none(fields[10].strip()[:6], "000000")
    if d.fix_time is None:  # an impossible date: only the identity is left, as a heartbeat
        d.drop_fix("fix_time")
    return True


SESSION = H02Session
