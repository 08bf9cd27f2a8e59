"""Concox / Jimi GT06 family (GT06N, GT02, JM-VL, JM-LL, GK310, X1, many clones), TCP 5023.

Source documents: "GT06N GPS Tracker Communication Protocol" v1.8 (Concox),
"JM-VL01/VL03 Communication Protocol" (Jimi IoT), "GK310 protocol" and the
device variants that Traccar's tests capture (read for understanding only).

Frame (all integers big-endian)::

    0x78 0x78 | length (1) | protocol number (1) | content | serial (2) | CRC (2) | 0x0D 0x0A
    0x79 0x79 | length (2) | protocol number (1) | content | serial (2) | CRC (2) | 0x0D 0x0A

``length`` counts protocol number + content + serial + CRC. CRC-ITU (X-25)
covers length .. serial. A few old devices omit serial and CRC; the Wi-Fi
messages 0x69 / 0x17 put a count in the length byte and are cut at 0x0D 0x0A.
Incoming CRCs are not verified (several firmwares send wrong ones).

Common blocks (GT06N doc §5.2):

- date/time: 6 bytes ``YY MM DD hh mm ss`` in the time zone the login
  announced (UTC unless the login carries a time-zone extension);
- GPS: length(4 bits) + satellites(4 bits); latitude and longitude (4 bytes
  each, minutes × 30000, unsigned); speed (1 byte, km/h); course/status (2
  bytes: bit 15 ACC when bit 14 set, bit 13 differential, bit 12 fixed, bit 11
  west, bit 10 north, bits 9-0 course);
- LBS: MCC (2; bit 15 means a 2-byte MNC), MNC (1/2), LAC (2), cell id (3);
  4G types use LAC (4) and cell id (8);
- terminal information (1): bit 0 armed, 1 ACC, 2 charging, bits 5-3 alarm
  (1 vibration, 2 power cut, 3 low battery, 4 SOS, 6 geofence, 7 removal),
  bit 7 fuel/power cut relay;
- voltage level (1): 0-6 scale (documented as a level, read as 100/6 % steps)
  or a percentage above 6; GSM signal (1); alarm/language (2).

Replies: the server echoes the protocol number and serial
(``78 78 05 <type> <serial> <crc> 0D 0A``) for login, heartbeat, status,
alarm and position messages; the Wi-Fi messages 0x69 / 0x17 are answered with
their BCD time; address requests (0x2A) with an empty address. Time requests
(0x8A) need server time, which a decoder does not read: the frame decodes to
nothing and no reply; the ingest layer may answer it with :func:`reply`
(content ``YY MM DD hh mm ss`` UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from openatd.domain.messages import KMH_MPS
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import ByteReader, ReportDraft, bcd, crc16_x25, utc
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "gt06"

# Protocol numbers (GT06N / Jimi documents; device family in brackets).
LOGIN = 0x01
GPS = 0x10
GPS_LBS_6 = 0x11
GPS_LBS_1 = 0x12
STATUS = 0x13
STRING = 0x15
GPS_LBS_STATUS_1 = 0x16
WIFI = 0x17  # also GPS+LBS+RFID on RFID readers
LBS_EXTEND = 0x18
LBS_STATUS = 0x19
GPS_PHONE = 0x1A
GPS_LBS_EXTEND = 0x1E
STRING_INFO = 0x21
GPS_LBS_2 = 0x22
HEARTBEAT = 0x23  # GK310
LBS_MULTIPLE_3 = 0x24
GPS_LBS_DRIVER = 0x25  # XT40
GPS_LBS_STATUS_2 = 0x26
GPS_LBS_STATUS_3 = 0x27
LBS_MULTIPLE_1 = 0x28
ADDRESS_REQUEST = 0x2A
LBS_WIFI = 0x2C
GPS_LBS_4 = 0x2D
LBS_MULTIPLE_2 = 0x2E
GPS_LBS_5 = 0x31
GPS_LBS_STATUS_4 = 0x32  # also AZ735 GPS when extended
WIFI_5 = 0x33  # also AZ735 alarm when extended
X1_GPS = 0x34  # also LBS_3 on SL4X
X1_PHOTO_INFO = 0x35
STATUS_2 = 0x36  # also X1 photo data / TRX16i RFID location
GPS_LBS_3 = 0x37
GPS_LBS_8 = 0x38
ALARM_MODULE = 0x39
BMS = 0x40
MULTIMEDIA = 0x41
IBUTTON = 0x61
WIFI_2 = 0x69
GPS_MODULAR = 0x70
COMMANDS = frozenset({0x80, 0x81, 0x82})
TIME_REQUEST = 0x8A
OBD = 0x8C
INFO = 0x94
ALARM = 0x95
ADDRESS_RESPONSE = 0x97
SERIAL = 0x9B
GPS_LBS_7 = 0xA0
LBS_2 = 0xA1
WIFI_3 = 0xA2  # also GPS+LBS+status on LW4G
FENCE_SINGLE = 0xA3  # status on Seeworld
FENCE_MULTI = 0xA4
LBS_ALARM = 0xA5
LBS_ADDRESS = 0xA7
WIFI_ALARM = 0xA9
BLUETOOTH_CLOCK = 0xB2
DEVICE_STATUS = 0xF1
PERIPHERAL = 0xF2
WIFI_4 = 0xF3

NT_MODELS = frozenset({"NT11", "NT20", "NT26", "NT40", "NT46", "VL100", "XT40"})
VL_MODELS = frozenset({"VL103", "LL303", "VL512", "G18"})

_GPS_TYPES = frozenset(
    {
        GPS, GPS_LBS_1, GPS_LBS_2, GPS_LBS_DRIVER, GPS_LBS_3, GPS_LBS_4, GPS_LBS_5, GPS_LBS_6,
        GPS_LBS_STATUS_1, GPS_LBS_STATUS_2, GPS_LBS_STATUS_3, GPS_LBS_STATUS_4, WIFI_3,
        GPS_PHONE, GPS_LBS_EXTEND, GPS_LBS_7, WIFI, FENCE_MULTI, ALARM_MODULE,
    }
)  # fmt: skip
_LBS_TYPES = frozenset(
    {
        LBS_STATUS, GPS_LBS_1, GPS_LBS_2, GPS_LBS_DRIVER, GPS_LBS_3, GPS_LBS_4, GPS_LBS_5,
        GPS_LBS_6, GPS_LBS_STATUS_1, GPS_LBS_STATUS_2, GPS_LBS_STATUS_3, GPS_LBS_STATUS_4,
        WIFI_3, GPS_LBS_7, WIFI, FENCE_MULTI, ALARM_MODULE, LBS_ALARM, LBS_ADDRESS,
    }
)  # fmt: skip
_STATUS_TYPES = frozenset(
    {
        STATUS, STATUS_2, LBS_STATUS, GPS_LBS_STATUS_1, GPS_LBS_STATUS_2, GPS_LBS_STATUS_3,
        GPS_LBS_STATUS_4, WIFI_3, FENCE_MULTI, ALARM_MODULE, LBS_ALARM,
    }
)  # fmt: skip
_LBS_LIST_TYPES = frozenset(
    {LBS_MULTIPLE_1, LBS_MULTIPLE_2, LBS_MULTIPLE_3, LBS_EXTEND, LBS_WIFI, LBS_2, WIFI_ALARM}
)

# Terminal-information alarm field (bits 5-3), GT06N doc §5.3.
_STATUS_ALARMS = {1: "vibration", 2: "powerCut", 3: "lowBattery", 4: "sos", 6: "geofence"}

# Alarm/language byte of status and alarm messages (GT06N / Jimi alarm tables).
_ALARM_CODES: dict[int, str] = {
    0x01: "sos", 0x02: "powerCut", 0x03: "vibration", 0x04: "geofenceEnter",
    0x05: "geofenceExit", 0x06: "overspeed", 0x09: "vibration", 0x0E: "lowBattery",
    0x0F: "lowBattery", 0x11: "powerOff", 0x0C: "tampering", 0x13: "tampering",
    0x25: "tampering", 0x32: "tampering", 0x14: "door", 0x18: "removing", 0x19: "lowBattery",
    0x1A: "hardBraking", 0x27: "hardBraking", 0xF1: "hardBraking", 0x1B: "hardCornering",
    0x2A: "hardCornering", 0x2B: "hardCornering", 0x2E: "hardCornering", 0x23: "fallDown",
    0x26: "hardAcceleration", 0xF0: "hardAcceleration", 0x28: "hardBraking",
    0x29: "hardAcceleration", 0x2C: "accident", 0xF2: "accident", 0x30: "jamming",
    0x33: "lock", 0x34: "unlock", 0x53: "fuelLeak", 0x5B: "temperature", 0x5C: "temperature",
    0xC9: "idle", 0x0107: "jamming", 0x010B: "jamming",
}  # fmt: skip

# Event byte of the 0x95 alarm message (JC100 / JC400 dashcams).
_EVENT_ALARMS = {
    0x0E: "lowPower", 0x76: "temperature", 0x80: "vibration", 0x87: "overspeed",
    0x88: "powerCut", 0x90: "hardAcceleration", 0x91: "hardBraking", 0x92: "hardCornering",
    0x93: "accident",
}  # fmt: skip

# Event byte of the 0x70 modular message, module 0x34.
_MODULAR_EVENTS = {
    0x10: "door", 0x12: "removing", 0x14: "geofenceEnter", 0x15: "geofenceExit",
    0x16: "temperature", 0x1A: "lowBattery", 0x1B: "overspeed", 0x1C: "powerOn",
    0x1D: "powerOff", 0x20: "vibration", 0x21: "powerCut", 0x23: "tampering",
}  # fmt: skip


def _variant(extended: bool, kind: int, length: int, frame: bytes) -> str:
    """The device family a frame's (protocol number, length) pair identifies.

    Several vendors reuse a protocol number with a different layout; the
    length tells them apart (the pairs are those of the captured devices).
    """
    if extended:
        return "STANDARD"
    table = {
        (GPS_LBS_1, 0x24): "VXT01", (GPS_LBS_STATUS_1, 0x24): "VXT01",
        (LBS_MULTIPLE_3, 0x31): "WANWAY_S20", (LBS_MULTIPLE_3, 0x2E): "SR411_MINI",
        (GPS_LBS_1, 0x21): "BENWAY", (GPS_LBS_1, 0x2B): "S5", (STATUS, 0x13): "OBD6",
        (GPS_LBS_1, 0x29): "WETRUST", (X1_GPS, 0x37): "SL4X", (GPS_LBS_5, 0x2A): "SL4X",
        (GPS_LBS_STATUS_4, 0x27): "SL4X", (GPS_LBS_STATUS_4, 0x29): "SL4X",
        (GPS_LBS_2, 0x2F): "SEEWORLD", (GPS_LBS_STATUS_1, 0x26): "SEEWORLD",
        (FENCE_SINGLE, 0x0C): "SEEWORLD", (FENCE_SINGLE, 0x18): "SEEWORLD",
        (WIFI, 0x28): "RFID", (WIFI_3, 0x40): "LW4G", (STATUS_2, 0x35): "TRX16I",
        (GPS_LBS_STATUS_1, 0x2D): "TRX16I",
    }  # fmt: skip
    if (kind, length) in table:
        return table[(kind, length)]
    if kind == GPS_LBS_1 and length >= 0x71:
        return "GT06E_CARD"
    if kind == LBS_STATUS and length >= 0x17:
        return "SPACE10X"
    if kind == ALARM and frame[4:6] == b"\xff\xff":
        return "JC400"
    return "STANDARD"


def reply(kind: int, serial: int, content: bytes = b"", *, extended: bool = False) -> bytes:
    """A server packet: start, length, protocol number, *content*, serial, CRC-ITU, stop."""
    length = 5 + len(content)
    head = length.to_bytes(2, "big") if extended else bytes([length])
    body = head + bytes([kind]) + content + serial.to_bytes(2, "big")
    start = b"\x79\x79" if extended else b"\x78\x78"
    return start + body + crc16_x25(body).to_bytes(2, "big") + b"\r\n"


@dataclass
class _Ctx:
    """What one frame's decoding needs to know besides its bytes."""

    kind: int
    length: int
    extended: bool
    variant: str
    model: str
    tz: timedelta
    bad_fields: list[str] = field(default_factory=list)
    """Fields that could not be trusted (an impossible date): the frame's sound parts are
    still delivered, without a position (issue 14, item 7)."""

    @property
    def lw(self) -> bool:
        return self.model.startswith("LW")

    @property
    def seeworld(self) -> bool:
        return self.model == "SEEWORLD"

    @property
    def nt(self) -> bool:
        return self.model in NT_MODELS

    @property
    def vl(self) -> bool:
        return self.model in VL_MODELS


@dataclass
class Gt06Session(ProtocolSession):
    """One GT06-family connection.

    Attributes:
        model: the device model configured for this device (``"NT20"``,
            ``"LW4G-4B"``, ``"SEEWORLD"``, ``"R11"``, ``"VL103"``, ``"QH302R"`` ...),
            for the few layouts that only the model tells apart; ``None`` for
            a standard GT06.
        tz_offset_s: the device clock's offset from UTC in seconds, from the
            login's time-zone extension (0 when absent).
    """

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5023
    max_frame: ClassVar[int] = 4096
    """GT06N v1.8 §4: ``78 78`` frames are at most 260 bytes (1-byte length); ``79 79``
    (2-byte length) carries info-transfer and Wi-Fi lists of a few hundred bytes (the
    largest captured frame is 228 bytes). 4 KiB."""

    model: str | None = None
    tz_offset_s: int = 0

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut one frame off the head of *buffer* by its length field.

        Framing (GT06N v1.8 §4, JM-VL03 §3): ``78 78 | len(1)`` or ``79 79 | len(2)``, then
        ``len`` bytes (protocol number .. CRC), then ``0D 0A``; so a frame is
        ``2 + 1 + len + 2`` (or ``2 + 2 + len + 2``) bytes. A frame is cut once that many bytes
        are buffered and its stop bytes are where the length puts them. A ``0D 0A`` inside the
        content (a fix time ``13 0D 0A``) never cuts a frame short while it is incomplete.

        Exceptions, each about the frame at the head of the buffer:

        - the Wi-Fi messages 0x69 / 0x17 (``78 78`` form) carry an access-point count in the
          length byte, so they are cut at their first ``0D 0A`` (as Traccar's
          ``Gt06FrameDecoder`` does);
        - old devices omit the serial and CRC but still count them in the length: a frame at
          most 4 bytes shorter than its length is cut at a ``0D 0A`` that ends the buffer or is
          followed by the next start marker;
        - a frame whose length field is corrupt (too long) is cut at a ``0D 0A`` followed by a
          complete, well-formed frame, instead of holding the stream until the length is in;
        - when the whole length is buffered but the stop bytes are wrong, the length field is
          wrong: the frame is cut at its first ``0D 0A`` if that comes before the next start
          marker (the frame then decodes, or fails, on its own), else the bytes up to the next
          start marker are discarded and reported. With neither in sight it waits, up to
          :data:`MAX_OVERRUN` bytes past the length.

        Garbage before a start marker is dropped silently. Only the head of the buffer is read,
        except to find a start marker after garbage or after a frame with a wrong length.

        Raises:
            ProtocolDecodeError: bytes were discarded to resynchronise (carries them); the
                buffer is already past them, so the caller just goes on.
        """
        if buffer[:2] not in _STARTS:
            start = _find_start(buffer, 0)
            if start < 0:
                # keep a trailing 0x78/0x79 that may begin a frame
                del buffer[: max(0, len(buffer) - 1)]
                return None
            del buffer[:start]
        size = len(buffer)
        if size < 5:
            return None
        if buffer[0] == 0x78:
            total = 2 + 1 + buffer[2] + 2
        else:
            total = self.check_length(buffer, 2 + 2 + ((buffer[2] << 8) | buffer[3]) + 2, 7)
        if size >= total and buffer[total - 2] == 0x0D and buffer[total - 1] == 0x0A:
            return _cut(buffer, total)
        if buffer[0] == 0x78 and buffer[3] in _COUNT_LENGTH_KINDS:
            end = buffer.find(b"\r\n", 4)
            return None if end < 0 else _cut(buffer, end + 2)
        if size < total:
            # Incomplete, unless a 0D 0A ends it early and is followed by nothing or by a start
            # marker, and either only serial and CRC are missing (old devices) or a whole
            # well-formed frame follows (the length field was corrupt).
            for cut in _cuts_before_a_start(buffer):
                if cut >= total - 4 or _complete_at(buffer, cut):
                    return _cut(buffer, cut)
            if size >= max(6, total - 4) and buffer[size - 2] == 0x0D and buffer[size - 1] == 0x0A:
                return _cut(buffer, size)
            return None
        # The stop bytes are not where the length says: the length field is wrong.
        nxt = _find_start(buffer, 2)
        end = buffer.find(b"\r\n", 2, nxt if nxt >= 0 else size)
        if end >= 0:
            return _cut(buffer, end + 2)
        if nxt < 0:
            if size <= total + MAX_OVERRUN:
                return None  # the 0D 0A or the next frame may still come
            nxt = size - 1  # keep a trailing byte that may begin a frame
        junk = bytes(buffer[:nxt])
        del buffer[:nxt]
        raise ProtocolDecodeError(
            PROTOCOL,
            f"no 0D0A stop bytes at the end of a {total}-byte frame (by its length field) nor "
            f"before the next start marker; discarded {len(junk)} bytes",
            junk,
        )

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one frame; see the module docstring for layouts and replies."""
        if len(frame) < 5 or frame[:2] not in (b"\x78\x78", b"\x79\x79"):
            raise ProtocolDecodeError(PROTOCOL, "frame does not start with 7878/7979", frame)
        extended = frame[0] == 0x79
        if extended:
            length, kind, start = int.from_bytes(frame[2:4], "big"), frame[4], 5
        else:
            length, kind, start = frame[2], frame[3], 4
        ctx = _Ctx(
            kind=kind,
            length=length,
            extended=extended,
            variant=_variant(extended, kind, length, frame),
            model=(self.model or "").upper(),
            tz=timedelta(seconds=self.tz_offset_s),
        )
        r = ByteReader(frame, start)
        serial = int.from_bytes(frame[-6:-4], "big") if len(frame) >= start + 6 else 0
        ack = reply(kind, serial)

        if kind == LOGIN:
            return self._login(r, ctx, frame, ack)

        d = ReportDraft(unique_id=self.unique_id)
        d.extras["type"] = kind
        result = _decode_body(r, d, ctx, frame, serial, ack)
        if result is None:
            return Decoded(reply=None if ctx.extended or kind in COMMANDS else ack)
        draft, answer = result
        if draft is not None and ctx.bad_fields:
            draft.extras["invalid_fields"] = ",".join(ctx.bad_fields)
        messages = (draft.build(),) if draft is not None else ()
        return Decoded(messages=messages, reply=answer)

    def _login(self, r: ByteReader, ctx: _Ctx, frame: bytes, ack: bytes) -> Decoded:
        # Login (GT06N §5.1): terminal id 8 bytes BCD (IMEI with a leading 0),
        # [type identification 2], [time zone / language 2: bits 15-4 zone × 100,
        # bit 3 west].
        imei = r.take(8).hex()[1:]
        if not imei.isdigit():
            raise ProtocolDecodeError(PROTOCOL, f"login terminal id {imei!r} is not BCD", frame)
        if ctx.length - 5 > 10:
            r.skip(2)
            bits = r.u16()
            zone = bits >> 4
            offset = ((zone // 100) * 60 + zone % 100) * 60
            self.tz_offset_s = -offset if bits & 0x08 else offset
        else:
            self.tz_offset_s = 0
        return Decoded(reply=ack, unique_id=imei)


_STARTS = (b"\x78\x78", b"\x79\x79")
_COUNT_LENGTH_KINDS = frozenset({WIFI, WIFI_2})
"""Protocol numbers whose ``78 78`` length byte is an access-point count, not a length."""


MAX_OVERRUN = 1024
"""Bytes a frame whose stop bytes are not where its length says may run on, without a 0D 0A or
a next start marker, before they are discarded (bounds the buffer of a garbage stream)."""


def _cut(buffer: bytearray, n: int) -> bytes:
    """The first *n* bytes of *buffer*, removed from it."""
    frame = bytes(buffer[:n])
    del buffer[:n]
    return frame


_MAX_EARLY_CUTS = 16
"""How many ``0D 0A`` + start marker places one call examines in an incomplete frame (bounds the
work a hostile stream can cause per read; beyond them the frame waits for its length)."""


def _cuts_before_a_start(buffer: bytearray) -> list[int]:
    """Offsets (from byte 6 on) right after a ``0D 0A`` that is followed by a start marker, in
    order, at most :data:`_MAX_EARLY_CUTS`."""
    cuts: list[int] = []
    for pattern in (b"\r\n\x78\x78", b"\r\n\x79\x79"):
        i = buffer.find(pattern, 4)
        while i >= 0 and len(cuts) < 2 * _MAX_EARLY_CUTS:
            cuts.append(i + 2)
            i = buffer.find(pattern, i + 1)
    cuts.sort()
    return cuts[:_MAX_EARLY_CUTS]


def _complete_at(buffer: bytearray, i: int) -> bool:
    """Whether a whole frame, stop bytes where its length puts them, starts at *i*."""
    if len(buffer) - i < 5:
        return False
    if buffer[i] == 0x78:
        total = 2 + 1 + buffer[i + 2] + 2
    else:
        total = 2 + 2 + ((buffer[i + 2] << 8) | buffer[i + 3]) + 2
    end = i + total
    return len(buffer) >= end and buffer[end - 2] == 0x0D and buffer[end - 1] == 0x0A


def _find_start(buffer: bytearray, begin: int) -> int:
    """Index of the first ``78 78`` or ``79 79`` at or after *begin*, or -1."""
    a = buffer.find(b"\x78\x78", begin)
    b = buffer.find(b"\x79\x79", begin, a if a >= 0 else len(buffer))
    return b if b >= 0 else a


def _time(r: ByteReader, ctx: _Ctx) -> datetime | None:
    """6-byte binary date/time in the device's zone -> UTC; ``None`` when all zero (no time)
    or impossible (day 0, month 13: then ``fix_time`` is added to ``ctx.bad_fields``)."""
    raw = r.take(6)
    if not any(raw):
        return None  # the device has no time: an undated fix
    y, mo, day, h, mi, s = raw
    try:
        return utc(y, mo, day, h, mi, s) - ctx.tz
    except ValueError:  # month 13, hour 25 ...: the rest of the frame may still be sound
        ctx.bad_fields.append("fix_time")
        return None


def _bcd_time(raw: bytes) -> datetime | None:
    """BCD ``YY MM DD hh mm ss``; ``None`` when zeroed or not a valid BCD date."""
    try:
        y, mo, day, h, mi, s = (bcd(raw[i : i + 1]) for i in range(6))
        return utc(y, mo, day, h, mi, s)
    except ValueError:
        return None


def _gps(
    r: ByteReader,
    d: ReportDraft,
    ctx: _Ctx,
    *,
    has_length: bool = False,
    has_satellites: bool = True,
    has_speed: bool = True,
    long_speed: bool = False,
    swap_flags: bool = False,
) -> bool:
    """The GPS block (GT06N §5.2.1); False when its length byte says "no GPS"."""
    bad_before = len(ctx.bad_fields)
    when = _time(r, ctx)
    if has_length and r.u8() == 0:
        d.extras["device_time"] = when.isoformat() if when else None
        return False
    if has_satellites:
        d.satellites = r.u8() & 0x0F
    lat = r.u32() / 60.0 / 30000.0
    lon = r.u32() / 60.0 / 30000.0
    flags = r.u16() if swap_flags else 0
    if has_speed:
        d.speed_mps = (r.u16() if long_speed else r.u8()) * KMH_MPS
    if not swap_flags:
        flags = r.u16()
    if len(ctx.bad_fields) > bad_before:  # an impossible fix time: not a position
        d.speed_mps = None
        d.satellites = None
        return False
    d.course_deg = float(flags & 0x3FF)
    d.valid = bool(flags & 0x1000)
    d.latitude = lat if flags & 0x0400 else -lat
    d.longitude = -lon if flags & 0x0800 else lon
    d.fix_time = when
    if flags & 0x4000:
        d.extras["ignition"] = bool(flags & 0x8000)
    return True


def _lbs(r: ByteReader, d: ReportDraft, ctx: _Ctx, *, has_length: bool) -> bool:
    """The cell-tower block (GT06N §5.2.1 LBS; 4G layouts of JM-VL03 / LW4G)."""
    kind, variant = ctx.kind, ctx.variant
    length = 0
    if has_length:
        length = r.u8()
        if length == 0:
            block = r.data[r.pos + 9 : min(r.pos + 45, r.end)]
            if not any(block):
                r.skip(min(r.left, 45))
            return False
    long_cells = kind in (GPS_LBS_8, ALARM_MODULE)
    cell_type = r.u8() if long_cells else 0
    mcc = r.u16()
    mnc = r.u16() if mcc & 0x8000 or kind == GPS_LBS_6 or variant == "SL4X" else r.u8()
    four_g = cell_type >= 3 or kind in (LBS_ALARM, GPS_LBS_7) or variant == "LW4G"
    lac = r.sint(4) if four_g else r.u16()
    if four_g or variant == "SL4X":
        cid = r.uint(8)
    elif (
        kind in (GPS_LBS_6, IBUTTON, GPS_LBS_DRIVER)
        or variant == "SEEWORLD"
        or (variant == "TRX16I" and kind == STATUS_2)
    ):
        cid = r.u32()
    else:
        cid = r.uint(3)
    if cell_type >= 3:
        r.skip(2)  # rssi
    elif long_cells:
        r.skip(1)  # rssi
    d.extras["cell"] = {"mcc": mcc & 0x7FFF, "mnc": mnc, "lac": lac, "cid": cid}
    if length > 9:
        r.skip(length - 9)
    return True


def _status(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> None:
    """Terminal-information byte (GT06N §5.3.1)."""
    status = r.u8()
    d.extras["status"] = status
    d.extras["ignition"] = bool(status & 0x02)
    d.extras["charge"] = bool(status & 0x04)
    d.extras["blocked"] = bool(status & 0x80)
    code = (status >> 3) & 0x07
    if code == 7:
        d.alarm("overspeed" if ctx.variant == "VXT01" else "removing")
    else:
        d.alarm(_STATUS_ALARMS.get(code))


def _alarm_code(value: int, ctx: _Ctx) -> str | None:
    """Alarm/language code -> alarm name; a few codes differ per device family."""
    trx = ctx.variant == "TRX16I"
    if value == 0x09:
        return "geofence" if trx else "tow" if ctx.vl else "vibration"
    if value == 0x0E and trx:
        return "lowPower"
    if value == 0x18 and ctx.lw:
        return "accident"
    if value == 0x19 and ctx.lw:
        return "hardAcceleration"
    if value == 0x28:
        return "hardCornering" if ctx.seeworld else "powerOff" if ctx.vl else "hardBraking"
    if value == 0x29 and ctx.seeworld:
        return "accident"
    if value == 0x30 and ctx.vl:
        return "hardBraking"
    return _ALARM_CODES.get(value)


def _battery_level(d: ReportDraft, level: int) -> None:
    # 0-6 is the documented voltage level (6 = full); 7-100 a percentage.
    d.extras["voltage_level"] = level
    if level <= 6:
        d.battery_pct = float(level * 100 // 6)
    elif level <= 100:
        d.battery_pct = float(level)


Result = tuple[ReportDraft | None, bytes | None] | None
"""(report or None, reply or None), or None for "no report, default ACK"."""


def _decode_body(
    r: ByteReader, d: ReportDraft, ctx: _Ctx, frame: bytes, serial: int, ack: bytes
) -> Result:
    kind, variant, ext = ctx.kind, ctx.variant, ctx.extended
    if kind == HEARTBEAT:
        # GK310 heartbeat: status bits, [battery mV/10 (2)], [rssi (1)].
        status = r.u8()
        d.extras["armed"] = bool(status & 0x01)
        d.extras["ignition"] = bool(status & 0x02)
        d.extras["charge"] = bool(status & 0x04)
        if r.left >= 2 + 6:
            d.battery_v = r.u16() / 100.0
        if r.left >= 1 + 6:
            d.extras["rssi"] = r.u8()
        return d, ack
    if kind == ADDRESS_REQUEST:
        address = b"NA&&NA&&0##"
        content = bytes([len(address)]) + b"\0\0\0\0" + address
        return None, reply(ADDRESS_RESPONSE, 0, content, extended=True)
    if kind == TIME_REQUEST:
        return None, None  # the answer carries server time: left to the ingest layer
    if kind == X1_GPS and variant != "SL4X":
        return _x1_gps(r, d, ctx), ack
    if kind == X1_PHOTO_INFO:
        return None  # photo transfer is not supported
    if (kind == WIFI and variant != "RFID") or kind in (WIFI_2, WIFI_4):
        return _wifi(r, d, ctx, frame)
    if kind == INFO and not ext:
        d.extras["power"] = r.sint(2) / 100.0
        return d, ack
    if kind == LBS_MULTIPLE_3 and variant == "SR411_MINI":
        _gps(r, d, ctx)
        _lbs(r, d, ctx, has_length=False)
        d.extras["ignition"] = r.u8() > 0
        d.extras["power"] = r.u16() / 100.0
        d.battery_v = r.u16() / 100.0
        return d, ack
    if (
        kind in _LBS_LIST_TYPES
        or (kind == X1_GPS and variant == "SL4X")
        or (kind == WIFI_3 and variant != "LW4G")
        or (kind == WIFI_5 and not ext)
    ):
        _lbs_list(r, d, ctx)
        return d, ack
    if kind == BLUETOOTH_CLOCK:
        d.fix_time = None
        d.extras["device_time"] = _iso(_time(r, ctx))
        d.extras["rssi"] = r.sint(1)
        d.extras["tagMac"] = r.take(6).hex()
        d.extras["tagUuid"] = r.take(16).hex()
        d.extras["tagMajor"] = r.u16()
        d.extras["tagMinor"] = r.u16()
        d.extras["tagBattery"] = r.u16() / 100.0
        d.extras["clock"] = (r.u8() >> 2) & 0x0F
        return d, ack
    if kind == STRING:
        # Command reply: length (1), server flag (4), text.
        size = r.u8()
        if size > 0:
            r.skip(4)
            text = r.take(size - 4).decode("ascii", "replace")
            if text.startswith("<ICCID:"):
                d.extras["iccid"] = text[7:27]
            else:
                d.extras["result"] = text
        return d, ack
    if kind == BMS:
        return _bms(r, d), ack
    if kind == STATUS and r.left == 22:
        # Extended status (16 content bytes): info, satellites (2), alarm,
        # language, battery %, mode, working voltage (2), reserved, working
        # times (2), working time (2), temperature (2, bit 15 = positive).
        r.skip(1 + 2 + 1 + 1)
        d.battery_pct = float(r.u8())
        r.skip(1 + 2 + 1 + 2 + 2)
        value = r.u16()
        temp = (value & 0x7FFF) / 10.0
        d.extras["temp1"] = temp if value & 0x8000 else -temp
        return d, ack
    if kind == IBUTTON:
        r.skip(8)  # imei
        _gps(r, d, ctx)
        _lbs(r, d, ctx, has_length=False)
        d.extras["driverUniqueId"] = str((r.u32() << 16) | r.u16())
        return d, ack
    if kind == STATUS_2 and variant == "TRX16I":
        _gps(r, d, ctx)
        _lbs(r, d, ctx, has_length=False)
        d.extras["ignition"] = r.u8() > 0
        d.extras["uploadMode"] = r.u8()
        d.extras["archive"] = r.u8() > 0
        d.extras["odometer"] = r.u32()
        d.extras["power"] = r.u16() / 100.0
        d.battery_v = r.u8() / 10.0
        d.extras["hours"] = r.uint(3) * 60 * 1000
        _rfid(r, d)
        return d, ack
    if _supported(kind, ctx) and not (ext and kind in (GPS_LBS_STATUS_4, STATUS_2)):
        if kind == LBS_STATUS and variant == "SPACE10X":
            return None  # multi-LBS report without a fix
        _generic(r, d, ctx)
        return d, ack
    if kind == ALARM:
        return _jc_alarm(r, d, ctx), ack
    if kind == STRING_INFO:
        return _string_info(r, d, ctx), None
    if kind == INFO:
        return _info(r, d, ctx)
    if kind == STATUS_2:
        return None  # X1 photo data: not supported
    if kind in (GPS_LBS_STATUS_4, WIFI_5):
        return _az735(r, d, ctx, serial)
    if kind == OBD:
        return _obd(r, d, ctx), ack
    if kind == GPS_MODULAR:
        return _modular(r, d, ctx, serial)
    if kind == MULTIMEDIA:
        return None
    if kind == SERIAL:
        r.skip(1)  # external device type
        data = r.take(r.left - 6)
        printable = all(32 <= b < 127 or b in (9, 10, 13) for b in data)
        d.extras["result"] = data.decode("ascii").strip() if printable else data.hex()
        return d, None
    if kind in (PERIPHERAL, DEVICE_STATUS):
        return _peripheral(r, d, ctx), ack
    if kind == GPS_LBS_8:
        _gps(r, d, ctx)
        r.skip(2)  # upload mode, re-upload
        _lbs(r, d, ctx, has_length=False)
        return d, ack
    return None


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _supported(kind: int, ctx: _Ctx) -> bool:
    return _has_gps(kind, ctx) or _has_lbs(kind, ctx) or _has_status(kind, ctx)


def _has_gps(kind: int, ctx: _Ctx) -> bool:
    return kind in _GPS_TYPES or (kind == FENCE_SINGLE and ctx.variant != "SEEWORLD")


def _has_lbs(kind: int, ctx: _Ctx) -> bool:
    return kind in _LBS_TYPES or (kind == FENCE_SINGLE and ctx.variant != "SEEWORLD")


def _has_status(kind: int, ctx: _Ctx) -> bool:
    if kind in _STATUS_TYPES:
        return True
    if kind in (GPS_LBS_2, GPS_LBS_DRIVER):
        return ctx.nt
    return kind == FENCE_SINGLE and ctx.variant == "SEEWORLD"


def _generic(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> None:
    """GPS / LBS / status messages: the blocks each protocol number carries, in order."""
    kind, variant = ctx.kind, ctx.variant
    nt_pos = ctx.nt and kind in (GPS_LBS_2, GPS_LBS_DRIVER)
    lw4g = kind == WIFI_3 and variant == "LW4G"
    if kind == GPS_LBS_1 and ctx.model == "QH302R":
        r.skip(8)  # imei
    if nt_pos:
        r.skip(1 + 8)  # location source type, imei
        d.extras["device_time"] = _iso(_time(r, ctx))
    if _has_gps(kind, ctx):
        _gps(r, d, ctx)
    if _has_lbs(kind, ctx) and r.left > 6:
        has_length = (
            _has_status(kind, ctx)
            and kind not in (LBS_STATUS, LBS_ALARM, ALARM_MODULE)
            and not (kind == GPS_LBS_STATUS_1 and variant == "VXT01")
            and not (kind == WIFI_3 and variant == "LW4G")
        )
        _lbs(r, d, ctx, has_length=has_length)
    if _has_status(kind, ctx):
        _status_block(r, d, ctx)
    if kind in (STATUS_2, GPS_LBS_STATUS_3, FENCE_MULTI, ALARM_MODULE) or nt_pos or lw4g:
        r.skip(1)  # language
    if kind == GPS_LBS_STATUS_1 and variant == "TRX16I":
        r.skip(1)  # language
        _rfid(r, d)
    if kind in (STATUS_2, ALARM_MODULE):
        while r.left > 6:
            module, size = r.u16(), r.u8()
            if module == 0x0018:
                d.battery_v = r.u16() / 100.0
            elif module == 0x0032:
                d.extras["startupStatus"] = r.u8()
            elif module == 0x006A:
                d.battery_pct = float(r.u8())
            else:
                r.skip(size)
    if kind == WIFI_3 and variant == "LW4G":
        d.extras["odometer"] = r.u32()
        d.extras["hours"] = r.u32() * 1000
        r.skip(8)  # terminal id
        d.extras["input"] = r.u16()
    if kind == GPS_LBS_1:
        _gps_lbs_1_tail(r, d, ctx)
    if kind == GPS_LBS_2 and variant == "SEEWORLD":
        d.extras["ignition"] = r.u8() > 0
        r.skip(2)  # reporting mode, supplementary transmission
        d.extras["odometer"] = r.u32()
        r.skip(4)  # travel time
        value = r.u16()
        temp = value & 0x7FFF if value & 0x8000 else value
        d.extras["temp1"] = (-temp if value & 0x8000 else temp) / 100.0
        d.extras["humidity"] = r.u16() / 100.0
    if kind == GPS_LBS_STATUS_4 and variant == "SL4X":
        d.altitude_m = float(r.sint(2))
    if kind in (GPS_LBS_2, GPS_LBS_3, GPS_LBS_4, GPS_LBS_5) and r.left >= 3 + 6 and not ctx.nt:
        d.extras["ignition"] = r.u8() > 0
        d.extras["event"] = r.u8()  # upload reason
        d.extras["archive"] = r.u8() > 0
        if variant == "SL4X":
            if r.left > 2 + 6:
                d.extras["odometer"] = r.u32()
            d.altitude_m = float(r.sint(2))
    if kind == GPS_LBS_3:
        module, size = r.u16(), r.u8()
        if module == 0x0027:
            d.extras["power"] = r.u16() / 100.0
        elif module == 0x002E:
            d.extras["odometer"] = r.u32()
        elif module == 0x003B:
            d.accuracy_m = r.u16() / 100.0
        else:
            r.skip(size)
    if kind == WIFI:  # RFID variant
        d.extras["driverUniqueId"] = r.take(8).hex()
        r.skip(1)  # validity
    if nt_pos:
        d.extras["odometer"] = r.uint(3)
        d.extras["hours"] = r.uint(3) * 60 * 1000
    if ctx.nt and kind == GPS_LBS_DRIVER:
        size = r.u8()
        if size > 0:
            r.skip(1)  # identifier type
            d.extras["driverUniqueId"] = r.take(size - 1).hex()
    if r.left in (3 + 6, 3 + 4 + 6):
        d.extras["ignition"] = r.u8() > 0
        r.skip(1)  # upload mode
        if r.u8() > 0:
            d.extras["archive"] = True
    if r.left == 4 + 6:
        d.extras["odometer"] = r.u32()
    if kind in (GPS_LBS_STATUS_3, FENCE_MULTI):
        d.extras["geofence"] = r.u8()


def _status_block(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> None:
    """Terminal info, voltage level, GSM signal, alarm/language (and model variants)."""
    kind, variant = ctx.kind, ctx.variant
    nt_pos = ctx.nt and kind in (GPS_LBS_2, GPS_LBS_DRIVER)
    if kind == WIFI_3 and variant == "LW4G":
        r.skip(1)  # network indicator
    _status(r, d, ctx)
    if variant == "OBD6":
        signal = r.u16()
        d.satellites = ((signal >> 10) & 0x1F) + ((signal >> 5) & 0x1F)
        d.extras["rssi"] = signal & 0x1F
        d.alarm(_alarm_code(r.u8(), ctx))
        r.skip(1)  # language
        d.battery_pct = float(r.u8())
        mode = r.u8()
        d.extras["power"] = r.u16() / 100.0
        r.skip(1 + 2)  # reserved, working time
        if mode == 4:
            d.extras["temp1"] = r.sint(2) / 10.0
        return
    if variant == "SEEWORLD" and ctx.length == 0x18:
        r.skip(2 + 1)  # extension bits, voltage level
        d.extras["rssi"] = r.u8()
        d.extras["power"] = float(r.u8())
        r.skip(3)  # language, sound, light
        d.extras["steps"] = r.u32()
        d.battery_pct = float(r.u8())
        d.extras["charge"] = r.u8() == 1
        d.extras["motion"] = r.u8() == 1
        return
    if (kind == WIFI_3 and variant == "LW4G") or nt_pos:
        d.extras["power"] = r.u16() / 100.0
    if kind == STATUS and ctx.model == "R11":
        d.extras["power"] = r.u16() / 100.0
    else:
        battery = r.u8()
        if nt_pos:
            d.battery_v = battery / 10.0
        else:
            _battery_level(d, battery)
    d.extras["rssi"] = r.u8()
    if kind == STATUS and ctx.lw:
        d.extras["power"] = (r.u16() & 0x0FFF) / 10.0
        return
    extension = r.u8()
    if kind in (GPS_LBS_STATUS_3, FENCE_MULTI, ALARM_MODULE):
        extension += (r.peek() >> 4) << 8
    if kind == STATUS and ctx.seeworld:
        d.extras["power"] = float(extension)
    elif variant != "VXT01":
        d.alarm(_alarm_code(extension, ctx))
        if variant == "TRX16I":
            d.extras["event"] = extension


def _gps_lbs_1_tail(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> None:
    """Vendor tails after GPS + LBS in 0x12 messages, told apart by length."""
    variant = ctx.variant
    if variant == "GT06E_CARD":
        d.extras["odometer"] = r.u32()
        card = r.take(r.u8()).decode("ascii", "replace")
        r.skip(2)  # alarm, swiped
        d.extras["card"] = card.strip()
    elif variant == "BENWAY":
        mask = r.u16()
        d.extras["ignition"] = bool(mask & 0x8000)
        d.extras["in2"] = bool(mask & 0x4000)
        if mask & 0x1000:
            value = mask & 0x1FF
            d.extras["temp1"] = -value if mask & 0x0200 else value
        else:
            value = mask & 0x3FF
            d.extras["adc1"] = value if mask & 0x2000 else value / 10.0
    elif variant in ("VXT01", "S5"):
        _status(r, d, ctx)
        d.extras["power"] = r.u16() / 100.0
        d.extras["rssi"] = r.u8()
        if variant == "VXT01":
            r.skip(1)  # alarm extension
            return
        d.alarm(_alarm_code(r.u8(), ctx))
        d.extras["oil"] = r.u16()
        temp = r.u8()
        d.extras["temp1"] = -(temp & 0x7F) if temp & 0x80 else temp
        d.extras["odometer"] = r.u32() * 10
    elif variant == "WETRUST":
        d.extras["odometer"] = r.u32()
        d.extras["card"] = r.take(r.u8()).decode("ascii", "replace")
        if r.u8() > 0:
            d.alarm("general")
        d.extras["cardStatus"] = r.u8()
        d.extras["drivingTime"] = r.u16()


def _rfid(r: ByteReader, d: ReportDraft) -> None:
    rfid = r.take(8).hex()
    if rfid.strip("0"):
        d.extras["driverUniqueId"] = rfid


def _x1_gps(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> ReportDraft:
    # X1: data/alarm (4), GPS, terminal info (2), odometer (4), MCC (2), MNC (1),
    # LAC (2), cell (4), driver id (4), battery V×100 (2), power V×100 (2),
    # port info (4: bits 23-20 ADC count), inputs (1), outputs (1), ADC V×100 (2 each).
    r.skip(4)
    _gps(r, d, ctx)
    r.skip(2)
    d.extras["odometer"] = r.u32()
    d.extras["cell"] = {"mcc": r.u16(), "mnc": r.u8(), "lac": r.u16(), "cid": r.u32()}
    driver = r.u32()
    if driver > 0:
        d.extras["driverUniqueId"] = str(driver)
    d.battery_v = r.u16() / 100.0
    d.extras["power"] = r.u16() / 100.0
    ports = r.u32()
    d.extras["input"] = r.u8()
    d.extras["output"] = r.u8()
    for i in range(1, ((ports >> 20) & 0x0F) + 1):
        d.extras[f"adc{i}"] = r.u16() / 100.0
    return d


def _wifi(r: ByteReader, d: ReportDraft, ctx: _Ctx, frame: bytes) -> Result:
    # Wi-Fi (0x69 / 0x17 / 0xF3): time (6, BCD; binary in 0xF3), then per access point
    # MAC (6) + signal (1) (0xF3: count first, 2 skipped bytes per entry, no
    # signal); 0x69/0x17 then cell count (1), MCC (2), MNC (1), per cell LAC (2),
    # cell id (2), signal (1). The count of 0x69/0x17 is the length byte.
    raw_time = r.take(6)
    kind = ctx.kind
    if kind == WIFI_4:  # 0xF3 carries a binary time, the others BCD
        d.extras["device_time"] = _iso(_time(ByteReader(raw_time), ctx))
    else:
        d.extras["device_time"] = _iso(_bcd_time(raw_time))
    count = r.u8() if kind == WIFI_4 else frame[2]
    wifi = []
    for _ in range(count):
        if kind == WIFI_4:
            r.skip(2)
        mac = ":".join(f"{b:02x}" for b in r.take(6))
        wifi.append({"mac": mac} if kind == WIFI_4 else {"mac": mac, "rssi": r.u8()})
    d.extras["wifi"] = wifi
    if kind == WIFI_4:
        return d, None
    cells = []
    cell_count = r.u8()
    mcc, mnc = r.u16(), r.u8()
    for _ in range(cell_count):
        cells.append({"mcc": mcc, "mnc": mnc, "lac": r.u16(), "cid": r.u16(), "rssi": r.u8()})
    d.extras["cells"] = cells
    return d, b"\x78\x78\x00" + bytes([kind]) + raw_time + b"\r\n"


def _lbs_list(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> None:
    # Multi-cell LBS (0x28/0x2E/0x24/0x18/0x2C/0xA1/0xA2/0x33/0x34/0xA9):
    # time (6), [TA], MCC (2), MNC (1/2), up to 7 cells (LAC, cell id, signal),
    # [TA], [Wi-Fi count + MAC (6) + signal (1) each], [alarm + language].
    kind, variant = ctx.kind, ctx.variant
    d.extras["device_time"] = _iso(_time(r, ctx))
    if variant in ("WANWAY_S20", "SL4X"):
        r.skip(1)  # timing advance
    mcc = r.u16()
    mnc = r.u16() if mcc & 0x8000 or variant == "SL4X" else r.u8()
    cell_4g = kind == WIFI_ALARM and r.u8() > 0
    counted = variant == "WANWAY_S20" or kind == WIFI_ALARM
    count = r.u8() if counted else 6 if kind == WIFI_5 else 7
    cells = []
    for _ in range(count):
        if kind in (LBS_2, WIFI_3) or cell_4g:
            lac, cid = r.sint(4), r.uint(8)
        elif kind in (WIFI_5, X1_GPS):
            lac, cid = r.u16(), r.u32()
        else:
            lac, cid = r.u16(), r.uint(3)
        rssi = -r.u8()
        if lac > 0:
            cells.append({"mcc": mcc & 0x7FFF, "mnc": mnc, "lac": lac, "cid": cid, "rssi": rssi})
    d.extras["cells"] = cells
    if variant not in ("WANWAY_S20", "SL4X"):
        r.skip(1)  # timing advance
    if kind not in (LBS_MULTIPLE_1, LBS_MULTIPLE_2, LBS_MULTIPLE_3, LBS_2, X1_GPS):
        wifi = []
        for _ in range(r.u8()):
            mac = ":".join(f"{b:02x}" for b in r.take(6))
            wifi.append({"mac": mac, "rssi": r.u8()})
        d.extras["wifi"] = wifi
    if kind == WIFI_ALARM:
        alarm, language = r.u8(), r.u8()
        d.alarm(_alarm_code((language >> 4) << 8 | alarm, ctx))


def _bms(r: ByteReader, d: ReportDraft) -> ReportDraft:
    # WD-209 battery management: serial (8), time (4, Unix s), capacities,
    # health, temperature (K×10), current, voltage (mV), cycles, 14 cell voltages...
    r.skip(8)
    d.extras["device_time"] = r.u32()
    d.extras["relativeCapacity"] = r.u8()
    d.extras["remainingCapacity"] = r.u16()
    d.extras["absoluteCapacity"] = r.u8()
    d.extras["fullCapacity"] = r.u16()
    d.extras["batteryHealth"] = r.u8()
    d.extras["batteryTemp"] = round(r.u16() / 10.0 - 273.1, 1)
    d.extras["current"] = r.u16()
    d.battery_v = r.u16() / 1000.0
    d.extras["cycleIndex"] = r.u16()
    for i in range(1, 15):
        d.extras[f"batteryCell{i}"] = r.u16() / 1000.0
    return d


def _jc_alarm(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> ReportDraft:
    # JC100/JC400 alarm (0x95): [marker (2) + version (1) on JC400], time (6),
    # [GPS when the content is longer than 7 bytes], [power V×10 (2) on JC400],
    # event (1), event data (2), [file names, ASCII].
    jc400 = ctx.variant == "JC400"
    extended_alarm = ctx.length - 5 > 7
    if extended_alarm:
        if jc400:
            r.skip(3)
        _gps(
            r, d, ctx, has_satellites=jc400, has_speed=jc400, long_speed=jc400,
            swap_flags=jc400,
        )  # fmt: skip
    else:
        d.extras["device_time"] = _iso(_time(r, ctx))
    if jc400:
        d.extras["power"] = r.u16() / 10.0
    event = r.u8()
    d.extras["event"] = event
    d.extras["eventData"] = r.u16()
    if event == 0x01:
        d.alarm("sos" if extended_alarm else "general")
    else:
        d.alarm(_EVENT_ALARMS.get(event))
    if r.left > 6:
        d.extras["eventFiles"] = r.take(r.left - 6).decode("ascii", "replace")
    return d


_LOCATION_TEXT = re.compile(
    r"Current position!Lat:([NS])(\d+\.\d+),Lon:([EW])(\d+\.\d+),Course:(\d+\.\d+),"
    r"Speed:(\d+\.\d+),DateTime:(\d{4})-(\d\d)-(\d\d) +(\d\d):(\d\d):(\d\d)"
)


def _string_info(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> ReportDraft:
    # 0x21: server flag (4), encoding (1: 1 = ASCII, else UTF-16BE), text. The
    # answer to a "where" command is "Current position!Lat:N54.7,Lon:E25.2,
    # Course:126.53,Speed:0.0000,DateTime:2017-05-26 10:27:47" (speed km/h).
    r.skip(4)
    encoding = r.u8()
    raw = r.take(r.left - 6)
    text = raw.decode("ascii", "replace") if encoding == 1 else raw.decode("utf-16-be", "replace")
    m = _LOCATION_TEXT.search(text)
    if m is None:
        d.extras["result"] = text
        return d
    lat, lon = float(m.group(2)), float(m.group(4))
    d.latitude = -lat if m.group(1) == "S" else lat
    d.longitude = -lon if m.group(3) == "W" else lon
    d.course_deg = float(m.group(5))
    d.speed_mps = float(m.group(6)) * KMH_MPS
    y, mo, day, h, mi, sec = (int(m.group(i)) for i in range(7, 13))
    d.fix_time = utc(y, mo, day, h, mi, sec) - ctx.tz
    d.valid = True
    return d


def _info(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> Result:
    # Information transfer (0x94, extended): sub-type (1) then its content.
    sub = r.u8()
    d.extras["info_type"] = sub
    if sub == 0x00:
        d.extras["adc1"] = r.u16() / 100.0
    elif sub == 0x04:
        text = r.take(r.left - 6).decode("ascii", "replace")
        for pair in text.split(";"):
            key, _, value = pair.partition("=")
            if key in ("ALM1", "ALM2", "ALM3", "ALM4"):
                d.extras[f"alarm{key[3]}Status"] = int(value, 16)
            elif key == "STA1":
                d.extras["otherStatus"] = int(value, 16)
            elif key == "DYD":
                d.extras["engineStatus"] = int(value, 16)
    elif sub == 0x05:
        if r.left >= 6 + 1 + 6:
            d.extras["device_time"] = _iso(_time(r, ctx))
        flags = r.u8()
        d.extras["door"] = bool(flags & 0x01)
        d.extras["io1"] = bool(flags & 0x04)
    elif sub == 0x0A:
        r.skip(16)  # imei, imsi
        d.extras["iccid"] = r.take(10).hex().rstrip("f")
    elif sub == 0x0B:
        size = ctx.length - 6
        if size == 1:
            d.extras["networkTechnology"] = "4G" if r.sint(1) > 0 else "2G"
        elif size == 2:
            d.extras["power"] = r.u16() / 100.0
    elif sub == 0x0D:
        if r.peek() != ord("!"):
            r.skip(6)
        text = r.take(r.left - 6).decode("ascii", "replace")
        # "!AIOIL,addr,output,temperature,version,status,measured,movement,times,xx"
        parts = text.split(",")
        if not text.startswith("!AIOIL,") or len(parts) < 8:
            return None
        d.extras["temp1"] = float(parts[3])
        d.extras["fuel"] = float(parts[6])
    elif sub == 0x1B:
        if chr(r.peek()).isalpha():
            d.extras["serial"] = r.take(r.left - 6).decode("ascii", "replace").strip()
        else:
            r.skip(2)  # header, type
            d.extras["driverUniqueId"] = r.take(4).hex()
    elif sub == 0x1E:
        d.extras["temp1"] = r.sint(4) / 10.0
        d.extras["humidity"] = r.sint(4) / 10.0
    else:
        return None
    return d, None


def _az735(r: ByteReader, d: ReportDraft, ctx: _Ctx, serial: int) -> Result:
    # AZ735 (extended 0x32 GPS / 0x33 alarm): GPS with length byte, LBS with
    # length byte + rssi, extra cells (len + data), Wi-Fi (len + data), status
    # (1), reserved extension (len + data).
    _gps(r, d, ctx, has_length=True)
    if _lbs(r, d, ctx, has_length=True):
        d.extras["rssi"] = r.u8()
    r.skip(r.u8())
    r.skip(r.u8())
    status = r.u8()
    d.extras["status"] = status
    if ctx.kind == WIFI_5:
        if status == 0xA0:
            d.extras["armed"] = True
        elif status == 0xA1:
            d.extras["armed"] = False
        elif status in (0xA2, 0xA3):
            d.alarm("lowBattery")
        elif status == 0xA4:
            d.alarm("general")
        elif status == 0xA5:
            d.alarm("door")
    r.skip(r.u8())
    return d, reply(ctx.kind, serial, extended=True)


def _obd(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> ReportDraft:
    # FM08 OBD (0x8C): time (6), ACC (1), "PID=value,..." ASCII (hex values ×100).
    d.extras["device_time"] = _iso(_time(r, ctx))
    d.extras["ignition"] = r.u8() > 0
    text = r.take(r.left - 18).decode("ascii", "replace")
    keys = {40: "odometer", 43: "fuel", 45: "coolantTemp", 53: "obdSpeed", 54: "rpm",
            71: "fuelUsed", 73: "hours"}  # fmt: skip
    for pair in text.split(","):
        values = pair.split("=")
        if len(values) >= 2:
            pid = int(values[0][:2], 16)
            if pid in keys:
                d.extras[keys[pid]] = int(values[1], 16) / 100.0
            elif pid == 74:
                d.extras["vin"] = values[1]
    return d


def _modular(r: ByteReader, d: ReportDraft, ctx: _Ctx, serial: int) -> Result:
    # Modular (0x70): repeated module type (2), length (2), content.
    while r.left > 6:
        module, size = r.u16(), r.u16()
        if module == 0x03:
            d.extras["iccid"] = r.take(10).hex()
        elif module == 0x09:
            d.satellites = r.u8()
        elif module == 0x0A:
            d.extras["satVisible"] = r.u8()
        elif module == 0x11:
            cell = {"mcc": r.u16(), "mnc": r.u16(), "lac": r.u16(), "cid": r.uint(3)}
            cell["rssi"] = r.u8()
            if cell["cid"] > 0:
                d.extras["cell"] = cell
        elif module == 0x18:
            d.battery_v = r.u16() / 100.0
        elif module == 0x28:
            d.hdop = r.u8() / 10.0
        elif module == 0x29:
            d.extras["index"] = r.u32()
        elif module == 0x2A:
            value = r.u8()
            d.extras["door"] = (value & 0x0F) > 0
            d.extras["tamper"] = (value >> 4) > 0
        elif module == 0x2B:
            d.extras["bootReason"] = r.u8()
        elif module == 0x2E:
            d.extras["odometer"] = int.from_bytes(r.take(4), "little")
        elif module == 0x33:
            # time (4, Unix s), satellites (1), altitude (2, signed), lat, lon,
            # speed (1, km/h), course/status (2) as in the GPS block.
            seconds = r.u32()
            d.fix_time = _unix(seconds) if seconds else None  # 0 = no fix yet
            d.satellites = r.u8()
            d.altitude_m = float(r.sint(2))
            lat, lon = r.u32() / 60.0 / 30000.0, r.u32() / 60.0 / 30000.0
            d.speed_mps = r.u8() * KMH_MPS
            flags = r.u16()
            d.course_deg = float(flags & 0x3FF)
            d.valid = bool(flags & 0x1000)
            d.latitude = lat if flags & 0x0400 else -lat
            d.longitude = -lon if flags & 0x0800 else lon
        elif module == 0x34:
            event = r.u8()
            d.alarm(_MODULAR_EVENTS.get(event))
            d.extras["event"] = event
            r.skip(4)  # time, little-endian
            r.skip(r.u8())
        elif module == 0x7F:
            d.extras["tag1Id"] = r.take(6).hex()
            d.extras["tag1Battery"] = r.u16() / 1000.0
            d.extras["tag1BatteryLevel"] = r.u8()
            d.extras["tag1Temp"] = r.sint(2) / 10.0
            d.extras["tag1Humidity"] = r.sint(2)
            d.extras["tag1Status"] = r.u8()
        else:
            r.skip(size)
    serial = r.u16() if r.left >= 2 else serial
    return d, reply(GPS_MODULAR, serial)


def _unix(seconds: int) -> datetime:
    return utc(1970, 1, 1) + timedelta(seconds=seconds)


def _peripheral(r: ByteReader, d: ReportDraft, ctx: _Ctx) -> ReportDraft:
    # 0xF2 peripheral / 0xF1 device status: time (4, Unix s), then status id (2),
    # length (1 or 2), content, repeated.
    d.extras["device_time"] = _unix(r.u32()).isoformat()
    while r.left > 6:
        status_id = r.u16()
        if ctx.kind == PERIPHERAL:
            if status_id == 0x000A:
                size = r.u16()
                r.skip(1)  # MAC type
                d.extras["mac"] = r.take(6).hex()
                event = r.u8()
                d.extras["event"] = event
                data = r.u8()
                if event > 0:
                    d.extras["eventData"] = data
                d.extras["dataType"] = r.u8()
                d.extras["dataDetails"] = r.take(size - 10).hex()
            elif status_id == 0x000C:
                r.skip(1)
                d.extras["externalBatteryLevel"] = r.u8()
                if r.u8() > 0:
                    d.extras["externalBatteryCharge"] = True
                d.extras["externalBatteryCycles"] = r.u16()
                r.skip(6)
            else:
                size = r.u8()
                r.skip(r.u8() if size == 0 else size)
        else:
            size = r.u8()
            if status_id == 0x0001:
                d.extras["motion"] = r.u8() in (0x02, 0x04)
            elif status_id == 0x0002:
                d.extras["armed"] = r.u8() > 0
            elif status_id == 0x0004:
                d.extras["ignition"] = r.u8() > 0
            elif status_id == 0x0005:
                d.extras["power"] = r.u16() / 100.0
            elif status_id == 0x0007:
                d.extras["charge"] = r.u8() > 0
            elif status_id == 0x000A:
                d.extras["chargeVoltage"] = r.u16()
            elif status_id == 0x000B:
                d.extras["batteryTemp"] = r.u16() / 10.0
            else:
                r.skip(size)
    return d


SESSION = Gt06Session
