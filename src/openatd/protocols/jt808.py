"""JT/T 808 (China road transport terminal protocol, 2011/2013/2019) and its vendor variants.

Source: *JT/T 808-2011/2013* and *JT/T 808-2019* (terminal communication protocol and data
format for the road transport vehicle satellite positioning system),
sections 4 (frame), 8.1-8.4 (general responses, heartbeat, register, auth) and 8.18-8.19
(location report 0x0200 and additional information), 8.59 (batch upload 0x0704);
vendor extensions (additional-information ids 0x51-0xFE, 0x0210, 0x5501/0x5502, 0x0900
passthrough sub-types) as documented by Jimi/Concox, JC, Howen and e-lock makers.

Frame (section 4.4): ``0x7E | header | body | checksum | 0x7E`` where inside the frame
0x7E is sent as 0x7D 0x02 and 0x7D as 0x7D 0x01 (the splitter unescapes), and the
checksum is the XOR of header and body. Header (big endian): message id u16; body
attributes u16 (bits 0-9 body length, 10-12 encryption, 13 sub-packaged, 14 2019
version flag); [2019: protocol version u8]; terminal phone number BCD 6 bytes (2019:
10 bytes); message serial u16; [if sub-packaged: total u16, index u16]. Some vendors
also send ASCII frames ``(...)``.

Location (0x0200 body, section 8.18): alarm flags u32; status u32 (bit0 ACC, bit1
fix, bit2 south, bit3 west); latitude u32 and longitude u32 in 1e-6 degrees;
altitude i16 metres; speed u16 in 0.1 km/h; course u16 degrees; time BCD
YYMMDDhhmmss in GMT+8 (Beijing time, per the standard); then additional
information items ``id u8, length u8, value``. A time that names no instant (day 0,
month 13, hour 25) drops that location's fix only: its alarms, status and items are
delivered as a status report with ``extras["invalid_fields"] = "fix_time"``, the other
records of a batch as usual, and the frame is acknowledged; an all-zero time (no fix
yet) is a status report without a bad field; a time that is not BCD is a malformed frame.

Replies: the platform general response 0x8001 (reply serial, reply id, result 0)
to location reports, heartbeats, authentication and batch uploads; the
registration response 0x8100 (reply serial, result 0, authentication code =
the terminal id) to 0x0100. Replies are escaped and carry the XOR checksum.

Units: speed 0.1 km/h -> m/s; voltages in volts; ``extras`` use Traccar's
attribute names and units (``power``/``battery`` volts, ``odometer`` metres).

Some vendor fields depend on the device model (Traccar's per-device "model"):
set :attr:`Jt808Session.model` (for example ``"JC371"``, ``"AL300"``, ``"C5L"``,
``"MV710G"``) when the device is known to be one of those.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from openatd.domain.messages import KMH_MPS, KNOT_MPS, Alarm, DeviceReport, ReportKind
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import status_report, utc_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "jt808"

MSG_GENERAL_RESPONSE = 0x8001
MSG_REGISTER_RESPONSE = 0x8100
MSG_HEARTBEAT = 0x0002
MSG_LOGOUT = 0x0003
MSG_REGISTER = 0x0100
MSG_AUTH = 0x0102
MSG_ATTRIBUTES = 0x0107
MSG_LOCATION = 0x0200
MSG_LOCATION_BATCH_2 = 0x0210
MSG_COMMAND_RESPONSE = 0x0701
MSG_DRIVER_IDENTITY = 0x0702
MSG_LOCATION_BATCH = 0x0704
MSG_TRANSPARENT = 0x0900
MSG_TIMEZONE_SYNC = 0x1007
MSG_HEARTBEAT_2 = 0x0506
MSG_LOCATION_2 = 0x5501
MSG_LOCATION_BLIND = 0x5502
MSG_TEXT_REPORT = 0x6006
MSG_TEXT_RESPONSE = 0x1300
MSG_ACCELERATION = 0x2070

BEIJING = timedelta(hours=8)
"""JT/T 808 times are Beijing time (GMT+8)."""

_ACKED = {
    MSG_HEARTBEAT, MSG_LOGOUT, MSG_AUTH, MSG_ATTRIBUTES, MSG_LOCATION, MSG_LOCATION_BATCH,
    MSG_LOCATION_BATCH_2, MSG_TRANSPARENT, MSG_TIMEZONE_SYNC, MSG_HEARTBEAT_2, MSG_TEXT_REPORT,
}  # fmt: skip
"""Messages answered with the platform general response 0x8001."""

_JC_MODELS = frozenset({"JC371", "JC181", "JC182", "JC450", "JC451"})
_AOVX_MODELS = frozenset({"AL300", "GL100"})
_PADLOCK_MODELS = frozenset({"G-360P", "G-508P"})


def _escape(data: bytes) -> bytes:
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def _xor(data: bytes) -> int:
    value = 0
    for b in data:
        value ^= b
    return value


_NO_TIME = bytes(6)
"""An all-zero BCD time: the terminal has no time (no fix yet), which is not an error."""


def _bcd_time(
    data: bytes, *, day_first: bool = False, zone: timedelta = BEIJING
) -> datetime | None:
    """BCD ``YYMMDDhhmmss`` (``DDMMYYhhmmss`` with *day_first*) in *zone* -> UTC.

    ``None`` when the digits name no instant (day 0, month 13, hour 25, or all zeros):
    such a time is never rolled over into a neighbouring one.

    Raises:
        ValueError: a nibble is not a decimal digit (not a BCD time at all).
    """
    digits = data.hex()
    if len(digits) != 12 or not digits.isdigit():
        raise ValueError(f"time {digits!r} is not BCD")
    a, b, c, h, mi, s = (int(digits[n : n + 2]) for n in range(0, 12, 2))
    year, month, day = (c, b, a) if day_first else (a, b, c)
    local = utc_or_none(year, month, day, h, mi, s)
    return None if local is None else local - zone


def _terminal_id(raw: bytes) -> str:
    """The terminal phone number (BCD digits), or for non-BCD ids the IMEI they encode."""
    text = raw.hex()
    if text.isdigit():
        return text
    imei = int.from_bytes(raw[:6], "big")
    digits = str(imei)
    total = 0
    for n, ch in enumerate(reversed(digits)):
        d = int(ch)
        if n % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


@dataclass
class _Reader:
    """A cursor over a byte string (big endian)."""

    data: bytes
    pos: int = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"field of {n} bytes runs past the end at {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def i16(self) -> int:
        return int.from_bytes(self.take(2), "big", signed=True)

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def text(self, n: int) -> str:
        return self.take(n).decode("latin-1")


@dataclass
class _Fix:
    """A location being assembled: DeviceReport fields, alarms and extras."""

    fields: dict[str, Any]
    alarms: set[Alarm]
    extras: dict[str, Any]
    invalid: list[str] = field(default_factory=list)
    """Fields present but impossible (``"fix_time"``): the fix is dropped (issue 14 item 7)."""

    def fix_time(self, raw: bytes, *, day_first: bool = False, zone: timedelta = BEIJING) -> None:
        """Set the fix time from BCD *raw*; an impossible one is recorded as a bad field and
        an all-zero one (the terminal has no time) leaves the report without a fix."""
        when = _bcd_time(raw, day_first=day_first, zone=zone)
        self.fields["fix_time"] = when
        if when is None and raw != _NO_TIME:
            self.invalid.append("fix_time")

    def device_time(self, raw: bytes) -> None:
        """``extras["deviceTime"]`` of a report without a fix, or its name in ``invalid``."""
        when = _bcd_time(raw)
        if when is not None:
            self.extras["deviceTime"] = when.isoformat()
        elif raw != _NO_TIME:
            self.invalid.append("deviceTime")

    def other_alarm(self, name: str) -> None:
        """A device alarm with no OpenATD equivalent, kept under Traccar's name."""
        current = self.extras.get("alarm")
        if current is None:
            self.extras["alarm"] = name
        elif isinstance(current, list):
            current.append(name)
        else:
            self.extras["alarm"] = [current, name]

    def report(self, uid: str | None) -> DeviceReport:
        has_fix = all(k in self.fields for k in ("fix_time", "latitude", "longitude"))
        report = DeviceReport(
            kind=ReportKind.POSITION if has_fix else ReportKind.HEARTBEAT,
            unique_id=uid,
            alarms=frozenset(self.alarms),
            extras=self.extras,
            **self.fields,
        )
        untimed = "fix_time" in self.fields and self.fields["fix_time"] is None
        if untimed or self.invalid:  # no usable time: no fix, the rest is a status report
            return status_report(report, *self.invalid)
        return report


@dataclass
class Jt808Session(ProtocolSession):
    """One JT/T 808 connection; see the module docstring.

    Attributes:
        model: the device model when known (selects vendor-specific field layouts).
    """

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5015
    max_frame: ClassVar[int] = 4096
    """JT/T 808-2013 §4.4: a message body is at most 1,023 bytes (10-bit length), so an
    escaped frame is at most about 2,100 bytes (the largest captured is 565). 4 KiB."""

    model: str | None = None

    # -- framing ----------------------------------------------------------------------

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut ``0x7E ... 0x7E`` (returned unescaped, delimiters kept) or ``( ... )``."""
        start = 0
        while start < len(buffer) and buffer[start] not in (0x28, 0x7E):
            start += 1
        del buffer[:start]
        if len(buffer) < 2:
            return None
        if buffer[0] == 0x28:
            end = buffer.find(b")", 1)
            if end < 0:
                return None
            frame = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            return frame
        end = buffer.find(b"\x7e", 1)
        if end < 0:
            return None
        raw = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        return (
            raw[:1]
            + raw[1:-1].replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
            + raw[-1:]
        )

    # -- replies ----------------------------------------------------------------------

    @staticmethod
    def _message(msg_id: int, terminal: bytes, version: int | None, body: bytes) -> bytes:
        """A platform message: header (same terminal id form as the device used), body,
        XOR checksum, escaped, between 0x7E delimiters. Serial number 0."""
        attributes = len(body) | (0x4000 if version is not None else 0)
        header = struct.pack(">HH", msg_id, attributes)
        if version is not None:
            header += bytes([version])
        content = header + terminal + b"\x00\x00" + body
        return b"\x7e" + _escape(content + bytes([_xor(content)])) + b"\x7e"

    # -- decoding ---------------------------------------------------------------------

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one unescaped frame; see the module docstring."""
        if frame[:1] == b"(":
            return self._decode_text(frame)
        if len(frame) < 15 or frame[0] != 0x7E or frame[-1] != 0x7E:
            raise ProtocolDecodeError(PROTOCOL, "frame is not delimited by 0x7E", frame)
        content = frame[1:-2]
        # The XOR checksum (frame[-2]) is not enforced: captured devices send wrong ones
        # (Traccar does not check it either); a truncated body still fails to parse.
        r = _Reader(content)
        msg_id = r.u16()
        attributes = r.u16()
        version = r.u8() if attributes & 0x4000 else None
        terminal = r.take(10 if version is not None else 6)
        serial = r.u8() if msg_id in (MSG_LOCATION_2, MSG_LOCATION_BLIND) else r.u16()
        if attributes & 0x2000:
            r.take(4)  # sub-package total and index
        uid = _terminal_id(terminal).lstrip("0") or "0"
        body_length = attributes & 0x3FF

        def ack() -> bytes:
            return self._message(
                MSG_GENERAL_RESPONSE, terminal, version, struct.pack(">HHB", serial, msg_id, 0)
            )

        reply = ack() if msg_id in _ACKED else None
        reports: list[DeviceReport] = []
        if msg_id == MSG_REGISTER:
            code = _terminal_id(terminal).encode("ascii")
            body = struct.pack(">HB", serial, 0) + code
            return Decoded(
                reply=self._message(MSG_REGISTER_RESPONSE, terminal, version, body), unique_id=uid
            )
        if msg_id == MSG_LOCATION:
            reports.append(self._location(r, uid))
        elif msg_id == MSG_LOCATION_BATCH:
            r.u16()  # count
            buffered = r.u8() > 0  # 0 normal batch, 1 blind-area (buffered) upload
            while r.left() > 0:
                item = _Reader(r.take(r.u16()))
                reports.append(self._location(item, uid, archive=buffered))
        elif msg_id == MSG_LOCATION_BATCH_2:
            if body_length == 7:
                # battery level u8, then the device time (no fix)
                fix = _Fix({}, set(), {})
                fix.fields["battery_pct"] = float(r.u8())
                fix.device_time(r.take(6))
                reports.append(fix.report(uid))
            else:
                while r.left() > 0:
                    reports.append(self._location(_Reader(r.take(r.u8())), uid))
        elif msg_id in (MSG_LOCATION_2, MSG_LOCATION_BLIND):
            if attributes & 0x8000:
                body = struct.pack(">HB", msg_id, 0)
                reply = self._short_ack(terminal, body)
            reports.append(self._location2(r, uid, msg_id))
        elif msg_id == MSG_HEARTBEAT:
            if r.left() >= 3:
                # vendor heartbeat body: battery %, rssi, status
                battery = r.u8()
                beat = {"rssi": r.u8(), "status": r.u8()}
                reports.append(
                    DeviceReport(
                        kind=ReportKind.HEARTBEAT,
                        unique_id=uid,
                        battery_pct=float(battery),
                        extras=beat,
                    )
                )
        elif msg_id == MSG_ATTRIBUTES:
            r.take(2 + 5 + 20 + 7)  # terminal type, maker, model, terminal id
            reports.append(
                DeviceReport(
                    kind=ReportKind.HEARTBEAT, unique_id=uid, extras={"iccid": r.take(10).hex()}
                )
            )
        elif msg_id == MSG_TEXT_REPORT:
            r.u8()  # encoding
            text = r.take(r.left()).decode("gbk", errors="replace")
            reports.append(_result(uid, text))
        elif msg_id == MSG_TEXT_RESPONSE:
            r.u16()  # serial of the platform message answered
            text = r.take(max(0, body_length - 2)).decode("utf-16-be", errors="replace")
            reports.append(_result(uid, text.strip()))
        elif msg_id == MSG_ACCELERATION:
            # samples: time (6 bytes BCD), then x, y, z as sign-magnitude u16
            samples = []
            while r.left() >= 12:
                r.take(6)
                samples.append([_sign_magnitude(r.u16()) for _ in range(3)])
            reports.append(
                DeviceReport(kind=ReportKind.HEARTBEAT, unique_id=uid, extras={"gSensor": samples})
            )
        elif msg_id == MSG_COMMAND_RESPONSE:
            reports.append(_result(uid, r.text(r.u32())))
        elif msg_id == MSG_DRIVER_IDENTITY:
            fix = _Fix({}, set(), {"cardStatus": r.u8()})
            fix.device_time(r.take(6))
            card = fix.extras
            card["cardResult"] = r.u8()
            card["driver"] = r.text(r.u8())
            card["cardCode"] = r.text(20).strip("\x00 ")
            card["cardAgency"] = r.text(r.u8())
            card["cardValidity"] = r.take(4).hex()
            reports.append(fix.report(uid))
        elif msg_id == MSG_TRANSPARENT:
            report = self._transparent(r, uid)
            if report is not None:
                reports.append(report)
        return Decoded(tuple(reports), reply, uid)

    @staticmethod
    def _short_ack(terminal: bytes, body: bytes) -> bytes:
        """Response 0x4401 to 0x5501/0x5502 when the device asks for one (attribute bit 15):
        the header carries a one-byte serial."""
        content = struct.pack(">HH", 0x4401, len(body)) + terminal + b"\x01" + body
        return b"\x7e" + _escape(content + bytes([_xor(content)])) + b"\x7e"

    def _decode_text(self, frame: bytes) -> Decoded:
        """ASCII ``(imei,...)`` frames: a time request ``BASE,2,TIME`` (answered by the
        server clock in ingest, not here) or a command result."""
        text = frame.decode("latin-1")
        if "BASE,2" in text:
            return Decoded()
        return Decoded((_result(self.unique_id, text),))

    # -- location bodies --------------------------------------------------------------

    def _alarm_flags(self, value: int, fix: _Fix) -> None:
        """Alarm flag bits (JT/T 808 table 24; bits 15-17 vendor-defined)."""
        if self.model in _PADLOCK_MODELS:
            if value & 0x11:
                fix.alarms.add(Alarm.STRAP_TAMPER)  # lock removed
            if value & 0x2:
                fix.alarms.add(Alarm.STRAP_TAMPER)  # tampering
            return
        if self.model in _AOVX_MODELS:
            if value >> 16 & 1:
                fix.alarms.add(Alarm.MOVEMENT)
            return
        bits = {n for n in range(32) if value >> n & 1}
        if 0 in bits:
            fix.alarms.add(Alarm.SOS)  # emergency alarm
        if 1 in bits:
            fix.alarms.add(Alarm.OVERSPEED)
        if 7 in bits or 18 in bits:
            fix.alarms.add(Alarm.LOW_BATTERY)  # main power under-voltage
        if 8 in bits:
            fix.alarms.add(Alarm.POWER_CUT)  # main power supply cut
        if 15 in bits:
            fix.alarms.add(Alarm.VIBRATION)
        if 16 in bits or 17 in bits:
            fix.alarms.add(Alarm.STRAP_TAMPER)  # vendor tamper bits
        if 28 in bits:
            fix.alarms.add(Alarm.MOVEMENT)  # illegal displacement
        for bit, name in ((2, "fatigueDriving"), (5, "gpsAntennaCut"), (20, "geofence"),
                          (29, "accident"), (30, "accident")):  # fmt: skip
            if bit in bits:
                fix.other_alarm(name)

    def _location(self, r: _Reader, uid: str | None, archive: bool = False) -> DeviceReport:
        """0x0200 body (section 8.18) followed by additional information items."""
        fix = _Fix({}, set(), {"archive": True} if archive else {})
        self._alarm_flags(r.u32(), fix)
        status = r.u32()
        fix.extras["ignition"] = bool(status & 1)
        fix.extras["blocked"] = bool(status >> 10 & 1)
        fix.extras["charge"] = bool(status >> 26 & 1)
        if self.model in ("MV810G", "MV710G"):
            fix.extras["door"] = bool(status >> 16 & 1)
        lat, lon = r.u32() / 1e6, r.u32() / 1e6
        fix.fields.update(
            valid=bool(status & 2),
            latitude=-lat if status & 4 else lat,
            longitude=-lon if status & 8 else lon,
            altitude_m=float(r.i16()),
            speed_mps=r.u16() / 10.0 * KMH_MPS,
            course_deg=float(r.u16()),
        )
        fix.fix_time(r.take(6))
        if r.left() == 20:
            # short vendor tail: remaining battery + mileage (4), odometer km u32,
            # battery 0.1 V u16, area id u32, rssi u8, reserved (3)
            r.take(4)
            fix.extras["odometer"] = r.u32() * 1000
            fix.fields["battery_v"] = r.u16() / 10.0
            r.u32()
            fix.extras["rssi"] = r.u8()
            return fix.report(uid)
        obd = False
        while r.left() >= 2:
            item_id, length = r.u8(), r.u8()
            if length > r.left():
                break
            value = _Reader(r.take(length))
            try:
                if obd:
                    _obd_item(item_id, value, fix)
                else:
                    self._item(item_id, value, fix)
            except ValueError:
                fix.extras.setdefault("malformedItems", []).append(item_id)
            # 0x80 opens a block: the items after it use the OBD extension table
            obd = obd or item_id == 0x80
        return fix.report(uid)

    def _item(self, item_id: int, v: _Reader, fix: _Fix) -> None:
        """One additional-information item (standard ids 0x01-0x31, vendor ids above)."""
        e, n = fix.extras, len(v.data)
        match item_id:
            case 0x01:
                e["odometer"] = v.u32() * 100  # 0.1 km -> m
            case 0x02:
                fuel = v.u16()
                e["fuel"] = fuel & 0x7FFF if fuel & 0x8000 else fuel / 10.0
            case 0x03:
                e["obdSpeed"] = v.u16() / 10.0
            case 0x06:
                fix.fields["battery_pct"] = float(v.u8())
            case 0x0B:
                e["lockCommand"] = v.u8()
                if 5 <= n <= 6:
                    e["lockCard"] = v.u32()
                elif n >= 7:
                    e["lockPassword"] = v.text(6)
                if n % 2 == 0:
                    e["unlockResult"] = v.u8()
            case 0x25:
                e["input"] = v.u32()
            case 0x2B | 0xA7:
                e["adc1"], e["adc2"] = v.u16() / 100.0, v.u16() / 100.0
            case 0x30:
                e["rssi"] = v.u8()
            case 0x31:
                fix.fields["satellites"] = v.u8()
            case 0x51 if n in (2, 16):
                for i in range(1, n // 2 + 1):
                    raw = v.u16()
                    if raw != 0xFFFF:
                        e[f"temp{i}"] = (-(raw & 0x7FFF) if raw & 0x8000 else raw) / 10.0
            case 0x56:
                fix.fields["battery_pct"] = float(v.u8() * 10)
            case 0x57:
                flags = v.u16()
                for bit, name in (
                    (8, "hardAcceleration"),
                    (9, "hardBraking"),
                    (10, "hardCornering"),
                ):
                    if flags >> bit & 1:
                        fix.other_alarm(name)
                v.u16()
                more = v.u32()
                if self.model in ("MV810G", "MV710G") and more >> 16 & 1:
                    fix.other_alarm("door")
            case 0x60:
                event = v.u16()
                e["event"] = event
                if 0x61 <= event <= 0x66:
                    v.take(6)
                    e["driverUniqueId"] = v.text(8)
            case 0x63:
                for i in range(1, n // 11 + 1):
                    e[f"lock{i}Id"] = v.take(6).hex()
                    e[f"lock{i}Battery"] = v.u16() / 1000.0
                    e[f"lock{i}Seal"] = v.u8() == 0x31
                    v.take(2)
            case 0x69:
                fix.fields["battery_v"] = v.u16() / 100.0
            case 0x70:
                v.u32()
                v.u8()
                kind = v.u8()
                names = {
                    1: "hardAcceleration",
                    2: "hardBraking",
                    3: "hardCornering",
                    0x16: "accident",
                }
                if kind in names:
                    fix.other_alarm(names[kind])
            case 0x77:
                while v.left() >= 7:
                    i = v.u8()
                    e[f"tire{i}SensorId"] = v.take(3).hex()
                    e[f"tire{i}Pressure"] = (v.u16() & 0x3FF) / 40.0
                    e[f"tire{i}Temp"] = v.u8() - 50
                    e[f"tire{i}Status"] = v.u8()
            case 0x82 | 0xD3:
                e["power"] = v.u16() / 10.0
            case 0xAC:
                e["odometer"] = v.u32()
            case 0xBC:
                e["driver"] = v.text(n).strip(_BLANKS)
            case 0xBD:
                e["driverUniqueId"] = v.text(n)
            case 0xD0:
                if v.u32() >> 3 & 1:
                    fix.alarms.add(Alarm.VIBRATION)
            case 0xD4 | 0xE1 | 0xE9 if n == 1:
                level = v.u8()
                if level == 0xFF:
                    e["charge"] = True
                else:
                    fix.fields["battery_pct"] = float(level)
            case 0xE1 if n == 2:
                e["power"] = v.u16() / 10.0
            case 0xD5:
                if n == 2:
                    fix.fields["battery_v"] = v.u16() / 100.0
                else:
                    for i in range(1, v.u8() + 1):
                        e[f"lock{i}Id"] = v.take(5).hex()
                        e[f"lock{i}Card"] = v.take(5).hex()
                        e[f"lock{i}Battery"] = v.u8()
                        e[f"lock{i}Locked"] = not v.u16() >> 5 & 1
            case 0xDA:
                v.u16()
                state = v.u8()
                e["string"] = bool(state & 1)
                e["motion"] = bool(state >> 2 & 1)
                e["cover"] = bool(state >> 3 & 1)
            case 0x33:
                if n == 1:
                    e["mode"] = v.u8()
                else:
                    text = v.text(n)
                    if text.startswith("*M00") and len(text) >= 15:
                        # e-lock status "*M00,<xx>,<sss><bbb>...": battery in 0.01 V
                        fix.fields["battery_v"] = int(text[10:13]) / 100.0
            case 0xE3 if n >= 4:
                v.u8()
                fix.fields["battery_pct"] = float(v.u8())
                fix.fields["battery_v"] = v.u16() / 100.0
            case 0xE4:
                if v.u8() == 0:
                    e["charge"] = True
                fix.fields["battery_pct"] = float(v.u8())
            case 0xE5 if n == 1:
                e["motion"] = v.u8() == 1
            case 0xE6 if v.data.startswith(b"$OBD-RT"):
                _obd_rt(v.text(n), fix)
            case 0xE6 if n >= 11 and n % 11 == 0:
                while v.left() >= 11:
                    i = v.u8()
                    v.take(6)
                    e[f"temp{i}"] = _custom_double(v)
                    e[f"humidity{i}"] = _custom_double(v)
            case 0xE7 if n == 8:
                flags = v.u16()
                if flags & 1:
                    fix.alarms.add(Alarm.VIBRATION)
                if flags >> 1 & 0x7:
                    fix.alarms.add(Alarm.SOS)
            case 0xE8 if self.model in _JC_MODELS:
                self._jc_item(v, fix)
            case 0xEB:
                self._eb_item(v, fix)
            case 0xED:
                e["card"] = v.text(n).strip()
            case 0xEE if n == 6:
                e["rssi"] = v.u8()
                e["power"] = v.u16() / 1000.0
                fix.fields["battery_v"] = v.u16() / 1000.0
                fix.fields["satellites"] = v.u8()
            case 0xF1:
                e["power"] = v.u32() / 1000.0
            case 0xF2:
                e["versionFw"] = v.text(n)
            case 0xF6 if n == 2 and self.model not in _AOVX_MODELS:
                e["airPressure"] = v.u16()
            case 0xF6 if n == 8 and self.model not in _AOVX_MODELS:
                e["imei"] = v.take(8).hex()[1:]
            case 0xF6:
                # sensor block: event u8 (2 = motion), mask u8, then light u16, temp i16
                # 0.1 degC, humidity i16 0.1 %, g-sensor 3 x i16, thresholds (10), pressure u16
                event = v.u8()
                e["event"] = event
                if event == 2:
                    e["motion"] = True
                mask = v.u8()
                if mask & 1:
                    e["lightSensor"] = v.u16()
                if mask & 2:
                    e["temp1"] = v.i16() / 10.0
                if mask & 4:
                    e["humidity"] = v.i16() / 10.0
                if mask & 8:
                    e["gSensor"] = f"[{v.i16()},{v.i16()},{v.i16()}]"
                if mask & 16:
                    v.take(10)
                if mask & 32:
                    e["airPressure"] = v.u16()
            case 0xF7:
                if n == 2:
                    e["humidity"] = v.u16() / 10.0
                else:
                    fix.fields["battery_v"] = v.u32() / 1000.0
                    if n >= 5 and v.u8() in (2, 3):
                        e["charge"] = True
                    if n >= 6:
                        fix.fields["battery_pct"] = float(v.u8())
            case 0xF8 if self.model in ("C5", "C5L"):
                e["steps"] = v.u16()
            case 0xF8 if self.model not in _AOVX_MODELS:
                e["temp2"] = v.u16() / 10.0 - 50
            case 0xFC:
                e["geofence"] = v.u8()
            case 0xFE:
                if n == 1:
                    fix.fields["battery_pct"] = float(v.u8())
                elif n == 2:
                    e["power"] = v.u16() / 10.0
                elif n == 4:
                    e["odometer"] = v.u32()
                else:
                    if v.u8() == 0x7C:
                        while v.left() > 1:
                            sub, sub_len = v.u8(), v.u8()
                            sub_value = v.take(sub_len)
                            if sub == 0x01 and sub_len >= 4:
                                # driving alarms: bit0 acceleration, 1 braking, 2 cornering,
                                # 3 collision, 4 tamper
                                flags = int.from_bytes(sub_value[:4], "big")
                                for bit, name in enumerate(_DRIVING_ALARMS):
                                    if flags >> bit & 1:
                                        fix.other_alarm(name)
                                if flags >> 4 & 1:
                                    fix.alarms.add(Alarm.STRAP_TAMPER)
                    if v.left():
                        fix.fields["battery_pct"] = float(v.u8())
            case _:
                pass

    def _jc_item(self, v: _Reader, fix: _Fix) -> None:
        """0xE8 on JC dash cams: an extended event code or status block."""
        kind = v.u16()
        e = fix.extras
        if kind == 0x2003:
            v.u8()
            e["charge"] = v.u8() == 1
            level = v.u8()
            if 1 <= level <= 6:
                fix.fields["battery_pct"] = float(level * 100 // 6)
            fix.fields["battery_v"] = v.u16() / 100.0
            e["rssi"] = v.u8()
            e["power"] = v.u16() / 100.0
            return
        if kind == 0x2005:
            v.u8()
            while v.left() >= 3:
                sid, slen = v.u16(), v.u8()
                s = _Reader(v.take(slen))
                if sid == 0x0001:
                    fix.fields["battery_v"] = s.u16() / 100.0
                elif sid == 0x0003:
                    fix.fields["battery_pct"] = float(s.u8())
                elif sid == 0x0004:
                    e["charge"] = s.u8() == 0
                elif sid == 0x0007:
                    fix.fields["hdop"] = s.u16() / 10.0
                elif sid == 0x2001:
                    e["power"] = s.u16() / 10.0
            return
        ours = {
            0x0406: Alarm.VIBRATION, 0x0408: Alarm.GEOFENCE_ENTER, 0x0409: Alarm.GEOFENCE_EXIT,
            0x0403: Alarm.OVERSPEED, 0x0C01: Alarm.SOS, 0x0C0E: Alarm.POWER_CUT,
            0x0C0F: Alarm.LOW_BATTERY, 0x0C10: Alarm.POWER_OFF, 0x0C12: Alarm.STRAP_TAMPER,
        }  # fmt: skip
        if kind in ours:
            fix.alarms.add(ours[kind])
        elif kind == 0x0C03:
            e["ignition"] = True
        elif kind == 0x0C04:
            e["ignition"] = False

    def _eb_item(self, v: _Reader, fix: _Fix) -> None:
        """0xEB: cell list, a printable time-zone string, or nested (u16 length, u16 id) items."""
        e, n = fix.extras, len(v.data)
        if n >= 3 and int.from_bytes(v.data[:2], "big") > 200 and (n - 3) % 5 == 0:
            return  # mcc, mnc, then (lac, cid, rssi) cells: network data, not kept
        if all(32 <= b < 127 for b in v.data):
            e["timezone"] = v.text(n)
            return
        while v.left() >= 4:
            sub_len = v.u16()
            if sub_len < 2 or sub_len > v.left():
                break
            sub = _Reader(v.take(sub_len))
            sub_id = sub.u16()
            if sub_id == 0x0001 and sub.left() >= 2:
                e["fuel1"] = sub.u16() / 10.0
            elif sub_id == 0x0023 and sub.left() >= 6:
                e["fuel2"] = float(sub.text(6))
            elif sub_id == 0x002D:
                if sub_len == 6:
                    e["power"] = sub.u32() / 1000.0
                else:
                    fix.fields["battery_v"] = sub.u16() / 1000.0
            elif sub_id == 0x0089 and sub.left() >= 4:
                flags = sub.u32()
                if not flags & 1:
                    fix.alarms.add(Alarm.POWER_OFF)
                if not flags >> 12 & 1:
                    fix.alarms.add(Alarm.STRAP_TAMPER)  # device removed
            elif sub_id == 0x00B2 and sub.left() >= 10:
                e["iccid"] = sub.take(10).hex().rstrip("f")
            elif sub_id == 0x00C5 and sub.left() >= 4:
                flags = sub.u32()
                if not flags >> 6 & 1:
                    fix.alarms.add(Alarm.VIBRATION)
                motion = flags >> 23 & 0x3
                if motion in (0, 1):
                    e["motion"] = motion == 0
            elif sub_id == 0x00C6 and sub.left() >= 1:
                level = sub.u8()
                e["batteryAlarm"] = level
                if level in (3, 4):
                    fix.alarms.add(Alarm.LOW_BATTERY)
            elif sub_id == 0x00CE and sub.left() >= 2:
                e["power"] = sub.u16() / 100.0
            elif sub_id in (0x00A8, 0x00E1) and sub.left() >= 1:
                fix.fields["battery_pct"] = float(sub.u8())

    def _location2(self, r: _Reader, uid: str | None, msg_id: int) -> DeviceReport:
        """0x5501/0x5502 (e-lock, JT600-style body): time BCD ddmmyyhhmmss (UTC), latitude
        8 BCD digits ddmm.mmmm, longitude 9 BCD digits dddmm.mmmm sharing a byte with the
        flags nibble (bit0 valid, bit1 north, bit2 east), speed 2 BCD digits (knots),
        course u8 x2; rssi u8, satellites u8, odometer u32 km, battery u8 (% or 0xAA/0xAB
        charging), cell id u32, lac u16, product u8, status u16, alarm u16, then items."""
        stamp = r.take(6)
        lat_digits = r.take(4).hex()
        lon_bytes = r.take(5)
        lon_digits = lon_bytes.hex()[:9]
        flags = lon_bytes[4]

        def coordinate(digits: str) -> float:
            raw = int(digits)
            return raw // 1_000_000 + (raw % 1_000_000) / 10_000.0 / 60.0

        lat, lon = coordinate(lat_digits), coordinate(lon_digits)
        fix = _Fix({}, set(), {})
        fix.fix_time(stamp, day_first=True, zone=timedelta(0))
        fix.fields.update(
            latitude=lat if flags & 2 else -lat,
            longitude=lon if flags & 4 else -lon,
            valid=msg_id != MSG_LOCATION_BLIND,
            speed_mps=int(r.take(1).hex()) * KNOT_MPS,
            course_deg=r.u8() * 2.0,
        )
        fix.extras["rssi"] = r.u8()
        fix.fields["satellites"] = r.u8()
        fix.extras["odometer"] = r.u32() * 1000
        battery = r.u8()
        if battery <= 100:
            fix.fields["battery_pct"] = float(battery)
        elif battery in (0xAA, 0xAB):
            fix.extras["charge"] = True
        r.u32()  # cell id
        r.u16()  # lac
        product, status, alarm = r.u8(), r.u16(), r.u16()
        fix.extras["status"] = status
        if product == 3:
            fix.extras["blocked"] = bool(status >> 5 & 1)
            for bit, a in ((0, Alarm.OVERSPEED), (2, Alarm.VIBRATION), (3, Alarm.LOW_BATTERY),
                           (5, Alarm.GEOFENCE_ENTER), (6, Alarm.GEOFENCE_EXIT)):  # fmt: skip
                if alarm >> bit & 1:
                    fix.alarms.add(a)
        while r.left() >= 2:
            item_id, length = r.u8(), r.u8()
            if length > r.left():
                break
            v = _Reader(r.take(length))
            if item_id == 0x02 and length >= 2:
                fix.fields["altitude_m"] = float(v.i16())
            elif item_id == 0x0B:
                self._item(0x0B, v, fix)
            elif item_id == 0x0C and length >= 6:
                fix.extras["tilt"] = f"[{v.i16()},{v.i16()},{v.i16()}]"
            elif item_id == 0x10 and length >= 1:
                fix.extras["wakeSource"] = v.u8()
            elif item_id == 0xFC and length >= 1:
                fix.extras["geofence"] = v.u8()
        return fix.report(uid)

    def _transparent(self, r: _Reader, uid: str | None) -> DeviceReport | None:
        """0x0900 uplink passthrough: the first byte says what the payload is."""
        kind = r.u8()
        if kind == 0x41:
            fix = _Fix({}, set(), {})
            _obd_rt(r.take(r.left()).decode("latin-1").strip(_BLANKS), fix)
            return fix.report(uid)
        if kind == 0x40:
            data = r.take(r.left()).decode("latin-1").strip(_BLANKS)
            if data.startswith("GTSL"):
                values = data.split("|")
                if len(values) > 4:
                    return DeviceReport(
                        kind=ReportKind.HEARTBEAT, unique_id=uid,
                        extras={"driverUniqueId": values[4]},
                    )  # fmt: skip
            return DeviceReport(kind=ReportKind.HEARTBEAT, unique_id=uid, extras={"data": data})
        if kind == 0xF0:
            stamp = r.take(6)
            fix = _Fix({}, set(), {})
            if r.u8() > 0:
                fix.extras["archive"] = True
            r.u8()  # vehicle type
            sub = r.u8()
            fix.extras["passthroughType"] = sub
            if sub == 0x01:
                for _ in range(r.u8()):
                    item_id, length = r.u16(), r.u8()
                    value = r.take(length)
                    if length in (1, 2, 4):
                        fix.extras[f"io{item_id}"] = int.from_bytes(value, "big")
            elif sub == 0x03:
                for _ in range(r.u8()):
                    item_id, length = r.u8(), r.u8()
                    r.take(length)
                    if item_id == 0x02:
                        fix.alarms.add(Alarm.POWER_CUT)
            else:
                return fix.report(uid)
            status = r.u32()
            lat, lon = r.u32() / 1e6, r.u32() / 1e6
            fix.fix_time(stamp)
            fix.fields.update(
                valid=bool(status & 2),
                latitude=-lat if status & 4 else lat,
                longitude=-lon if status & 8 else lon,
            )
            return fix.report(uid)
        if kind == 0xFF:
            fix = _Fix({}, set(), {})
            fix.fix_time(r.take(6))
            fix.fields.update(
                valid=True,
                latitude=r.u32() / 1e6,
                longitude=r.u32() / 1e6,
                altitude_m=float(r.i16()),
                speed_mps=r.u16() / 10.0 * KMH_MPS,
                course_deg=float(r.u16()),
            )
            return fix.report(uid)
        if kind in (0x53, 0x54):
            fix = _Fix({}, set(), {})
            self._alarm_flags(0, fix)
            status = r.u32()
            lat, lon = r.u32() / 1e6, r.u32() / 1e6
            fix.fields.update(
                valid=bool(status & 2),
                latitude=-lat if status & 4 else lat,
                longitude=-lon if status & 8 else lon,
                altitude_m=float(r.i16()),
                speed_mps=r.u16() / 10.0 * KMH_MPS,
                course_deg=float(r.u16()),
            )
            fix.fix_time(r.take(6))
            if kind == 0x53:
                r.u8()
                while r.left() >= 8:
                    i = r.u8() + 1
                    fix.extras[f"tag{i}Mac"] = r.take(6).hex()
                    fix.extras[f"tag{i}Rssi"] = struct.unpack(">b", r.take(1))[0]
                    fix.extras[f"tag{i}Data"] = r.take(r.u8()).hex()
            else:
                while r.left() >= 8:
                    mask = r.u16()
                    r.take(6)
                    if mask & 1:
                        fix.extras["lightSensor"] = r.u16()
                    if mask & 2:
                        fix.extras["deviceTemp"] = r.i16() / 10.0
                        fix.extras["humidity"] = r.i16() / 10.0
                    if mask & 4:
                        fix.extras["temp3"] = r.i16() / 10.0
                    if mask & 8:
                        r.take(6)
                    if mask & 16:
                        fix.extras["airPressure"] = r.u16()
            return fix.report(uid)
        return None


_DRIVING_ALARMS = ("hardAcceleration", "hardBraking", "hardCornering", "accident")

_BLANKS = "".join(chr(c) for c in range(33))
"""Characters Java's ``String.trim`` removes (controls and space): vendors pad with NULs."""


def _obd_rt(data: str, fix: _Fix) -> None:
    """``$OBD-RT,<power V>,<rpm>,<speed km/h>,<throttle %>,<load %>,<coolant degC>,
    <instant l/100km>,<average l/100km>,<trip km>,<total km>,<trip fuel l>,<fuel used l>``."""
    keys = ("power", "rpm", "obdSpeed", "throttle", "engineLoad", "coolantTemp",
            "fuelConsumption", "fuelConsumption", "tripOdometer", "obdOdometer",
            "tripFuelUsed", "fuelUsed")  # fmt: skip
    for key, value in zip(keys, data.split(",")[1:], strict=False):
        if value.strip():
            fix.extras[key] = float(value)


def _obd_item(item_id: int, v: _Reader, fix: _Fix) -> None:
    """Items after an 0x80 block: the OBD extension table (vendor document)."""
    e = fix.extras
    match item_id:
        case 0x01:
            e["odometer"] = v.u32() * 100
        case 0x02:
            e["fuel"] = v.u16() / 10.0
        case 0x03:
            e["obdSpeed"] = v.u16() / 10.0
        case 0x56:
            v.u8()
            fix.fields["battery_pct"] = float(v.u8())
        case 0x61:
            e["power"] = v.u16() / 100.0
        case 0x69:
            fix.fields["battery_v"] = v.u16() / 100.0
        case 0x80:
            e["obdSpeed"] = v.u8()
        case 0x81:
            e["rpm"] = v.u16()
        case 0x82:
            e["power"] = v.u16() / 10.0
        case 0x83:
            e["engineLoad"] = v.u8()
        case 0x84:
            e["coolantTemp"] = v.u8() - 40
        case 0x85:
            e["fuelConsumption"] = v.u16()
        case 0x89:
            e["throttle"] = v.u8()
        case 0x8B:
            e["vin"] = v.text(17)
        case 0x8C:
            e["obdOdometer"] = v.u32() * 100
        case 0xA0:
            e["dtcs"] = v.text(len(v.data)).replace(",", " ")
        case 0xCC:
            e["iccid"] = v.text(20)
        case _:
            pass


def _sign_magnitude(value: int) -> int:
    """16-bit sign-magnitude: bit 15 sign, bits 0-14 magnitude."""
    return -(value & 0x7FFF) if value & 0x8000 else value & 0x7FFF


def _custom_double(v: _Reader) -> float:
    """Signed whole part (i8) plus fraction in 1/255 (u8)."""
    whole = int.from_bytes(v.take(1), "big", signed=True)
    fraction = v.u8() / 255.0
    sign = -1 if whole < 0 else 1
    return sign * (abs(whole) + fraction)


def _result(uid: str | None, text: str) -> DeviceReport:
    """A command result / text report: no location, the text under ``result``."""
    return DeviceReport(kind=ReportKind.HEARTBEAT, unique_id=uid, extras={"result": text})


SESSION = Jt808Session
