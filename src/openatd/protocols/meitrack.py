"""Meitrack GPRS protocol (MVT/T1/T3/T366/MT90/P88L ...), text ``AAA`` and binary ``CCC``/``CCE``.

Source: *Meitrack GPRS Protocol* (v1.x/v2.x/v3.x), sections "GPRS data packet format",
"AAA - real-time location report", "CCC - cached binary report", "CCE - extended
binary report" and "AAC - heartbeat". Every frame has one envelope::

    $$ <flag:1 char> <length:decimal> , <IMEI> , <command:3> , <payload> * <checksum:2 hex> \\r\\n

``length`` counts the bytes from the comma after it up to and including the
trailing CR LF. ``checksum`` is the byte sum mod 256 of everything before it,
``*`` included (real devices and captured frames sometimes carry a wrong one, so
it is not enforced on receive; it is always written correctly on replies).

Units on the wire: speed km/h, altitude metres, latitude/longitude signed
degrees, time UTC, battery/external power in 1/100 V (hex) in the analog field.
A text report whose time names no instant (day 0, month 13, hour 25) keeps its event,
voltages and status as a status report without the fix, ``extras["invalid_fields"] =
"fix_time"``; binary times (seconds since 2000) cannot be impossible.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from openatd.domain.messages import KMH_MPS, Alarm, DeviceReport, ReportKind
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import status_report, utc_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "meitrack"

_STAMP = re.compile(r"\d{12}")
"""``yymmddhhmmss`` of a text report."""
_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)
"""Binary time fields are seconds since 2000-01-01 00:00:00 UTC."""

_EVENT_ALARMS: dict[int, Alarm] = {
    1: Alarm.SOS,  # SOS button pressed
    17: Alarm.LOW_BATTERY,  # internal (backup) battery low
    19: Alarm.OVERSPEED,
    20: Alarm.GEOFENCE_ENTER,
    21: Alarm.GEOFENCE_EXIT,
    23: Alarm.POWER_CUT,  # external power cut
    40: Alarm.POWER_OFF,  # device switched off
}
"""Meitrack event codes (protocol "Event code" table) that are OpenATD alarms."""

_EVENT_NAMES: dict[int, str] = {
    18: "low_external_power",
    22: "power_restored",
    24: "gps_signal_lost",
    25: "gps_signal_recovered",
    29: "reboot",
    31: "heartbeat",
    34: "polled",
    35: "interval",
    36: "tow",
    37: "rfid",
    44: "jamming",
}
"""Other event codes kept by name in ``extras["eventName"]``."""


_T1 = (3.3 * 2 / 4096, 3.3 * 16 / 4096)
_ADC_VOLTS: dict[str, tuple[float, float]] = {
    "MVT340": (3.0 * 2 / 1024, 3.0 * 16 / 1024),
    "MVT380": (3.0 * 2 / 1024, 3.0 * 16 / 1024),
    "MT90": (3.3 * 2 / 4096, 1.0),
    "MT90G": (3.0 * 2 / 4096, 1.0),
    "T1": _T1,
    "T3": _T1,
    "MVT100": _T1,
    "MVT600": _T1,
    "MVT800": _T1,
    "TC68": _T1,
    "TC68S": _T1,
}
"""Volts per ADC count (battery, external power) of the ``AAA`` analog field by model
(Meitrack protocol, "analog input" notes per device: 10-bit ADC at 3.0 V reference or
12-bit at 3.3 V, behind a 1:2 battery and 1:16 power divider). Other models report
1/100 V."""


def _signed(value: int, bits: int) -> int:
    """Two's-complement reading of an unsigned *bits*-wide integer."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _checksum(data: bytes) -> str:
    return f"{sum(data) & 0xFF:02X}"


def _frame(flag: str, imei: str, body: str) -> bytes:
    """A server command ``@@<flag><len>,<imei>,<body>*<cs>\\r\\n`` (length as documented)."""
    tail = f",{imei},{body}*"
    length = len(tail) + 4  # checksum (2) + CR LF (2)
    head = f"@@{flag}{length}{tail}"
    return (head + _checksum(head.encode()) + "\r\n").encode()


def _event_fields(event: int) -> tuple[frozenset[Alarm], dict[str, Any]]:
    extras: dict[str, Any] = {"event": event}
    if event in _EVENT_NAMES:
        extras["eventName"] = _EVENT_NAMES[event]
    alarm = _EVENT_ALARMS.get(event)
    return (frozenset({alarm}) if alarm else frozenset()), extras


@dataclass
class MeitrackSession(ProtocolSession):
    """One Meitrack connection (TCP) or datagram source (UDP).

    Replies: ``AAC`` heartbeats are echoed (``@@z27,<imei>,AAC,1*cs``); a ``CCC``
    cache upload is acknowledged with ``@@<flag><len>,<imei>,CCC,<count>*cs`` so the
    device deletes those records. ``AAA`` real-time reports need no reply.

    Attributes:
        model: the device model when known; it selects how the hex battery and power
            readings of ``AAA`` reports convert to volts (:data:`_ADC_VOLTS`).
    """

    model: str | None = None

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5020
    transports: ClassVar[frozenset[str]] = frozenset({"tcp", "udp"})
    max_frame: ClassVar[int] = 8192
    """Meitrack GPRS protocol: one packet carries at most a cache upload (``CCC``) of
    buffered binary records; the largest captured frame is 1,102 bytes. 8 KiB."""

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut ``$$<flag><length>,...`` using its decimal length field."""
        start = buffer.find(b"$$")
        if start < 0:
            # keep a trailing '$' that may start the next frame
            del buffer[: max(0, len(buffer) - 1)]
            return None
        del buffer[:start]
        if len(buffer) < 10:
            return None
        comma = buffer.find(b",", 3)
        if comma < 0:
            if len(buffer) > 16:
                bad = bytes(buffer[:2])
                del buffer[:2]
                raise ProtocolDecodeError(PROTOCOL, "no length field after '$$'", bad)
            return None
        field = bytes(buffer[3:comma])
        try:
            if not field.isdigit():
                raise ValueError(field)
            length = comma + int(field.decode("ascii"))
        except ValueError:
            bad = bytes(buffer[:comma])
            del buffer[:2]
            raise ProtocolDecodeError(
                PROTOCOL, "length field is not a decimal number", bad
            ) from None
        # the length counts from the comma to the CR LF; a frame is at least "$$X1,\r\n"
        self.check_length(buffer, length, minimum=comma + 3)
        if len(buffer) < length:
            return None
        frame = bytes(buffer[:length])
        del buffer[:length]
        return frame

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one ``$$`` frame; see the module docstring for the envelope."""
        if not frame.startswith(b"$$") or len(frame) < 10:
            raise ProtocolDecodeError(PROTOCOL, "frame does not start with '$$'", frame)
        first = frame.find(b",")
        second = frame.find(b",", first + 1)
        if first < 0 or second < 0:
            raise ProtocolDecodeError(PROTOCOL, "frame has no IMEI/command fields", frame)
        flag = chr(frame[2])
        imei = frame[first + 1 : second].decode("ascii")
        if not imei.isdigit():
            raise ProtocolDecodeError(PROTOCOL, f"IMEI field {imei!r} is not numeric", frame)
        command = frame[second + 1 : second + 4].decode("ascii")
        payload = frame[second + 5 :]
        if command == "AAC":
            return Decoded(reply=_frame("z", imei, "AAC,1"), unique_id=imei)
        if command == "CCE":
            return Decoded(tuple(self._decode_cce(imei, payload, frame)), unique_id=imei)
        if command == "CCC":
            reports = self._decode_ccc(imei, payload, frame)
            return Decoded(tuple(reports), _frame(flag, imei, f"CCC,{len(reports)}"), imei)
        if command in ("D00", "D03"):  # photo transfer chunks: nothing to report
            return Decoded(unique_id=imei)
        text = frame.decode("latin-1").rstrip("\r\n")
        star = text.rfind("*")
        if star < 0:
            raise ProtocolDecodeError(PROTOCOL, "text frame has no '*' checksum marker", frame)
        body = text[second + 1 : star]
        if command == "D82":
            # command result (for example "D82,0"): no location in it
            report = DeviceReport(
                kind=ReportKind.HEARTBEAT, unique_id=imei, extras={"result": body}
            )
            return Decoded((report,), unique_id=imei)
        return Decoded((self._decode_text(imei, body.split(","), frame),), unique_id=imei)

    def _decode_text(self, imei: str, fields: list[str], frame: bytes) -> DeviceReport:
        """``AAA``/``AFF`` field list (after IMEI), per the AAA section of the protocol.

        ``cmd,[n,]event,lat,lon,yymmddhhmmss,A|V,sats,gsm,speed km/h,course,hdop,
        altitude m,odometer m,runtime s,mcc|mnc|lac|cid,io(4 hex),analog,...``
        """
        command = fields[0]
        i = 1
        if command != "AAA" and len(fields) > 3 and "." not in fields[2]:
            i = 2  # AFF and similar carry one more field before the event code
        if len(fields) < i + 15:
            raise ProtocolDecodeError(PROTOCOL, f"{command} report has too few fields", frame)
        event = int(fields[i])
        alarms, extras = _event_fields(event)
        extras["command"] = command
        lat, lon = float(fields[i + 1]), float(fields[i + 2])
        stamp = fields[i + 3]
        if not _STAMP.fullmatch(stamp):
            raise ProtocolDecodeError(
                PROTOCOL, f"{command} time {stamp!r} is not yymmddhhmmss", frame
            )
        fix_time = utc_or_none(*(int(stamp[n : n + 2]) for n in range(0, 12, 2)))
        valid = fields[i + 4] == "A"
        extras["rssi"] = int(fields[i + 6])
        hdop = float(fields[i + 9])
        extras["odometer"] = int(fields[i + 11])
        extras["runtime"] = int(fields[i + 12])
        cell = fields[i + 13].split("|")
        if len(cell) == 4:
            extras["cell"] = {"mcc": cell[0], "mnc": cell[1], "lac": cell[2], "cid": cell[3]}
        io = fields[i + 14]
        if len(io) == 4:
            extras["input"] = int(io[:2], 16)
            extras["output"] = int(io[2:], 16)
        battery_v: float | None = None
        if len(fields) > i + 15:
            analog = fields[i + 15].split("|")
            if analog and "." in analog[0]:
                # newer firmware: battery V | power V | rtc V | mcu V | gps V (decimal)
                battery_v = float(analog[0])
                extras["power"] = float(analog[1])
            elif len(analog) >= 4:
                # adc1|adc2|adc3|battery|power, hex; battery and power in 1/100 V
                for n, value in enumerate(analog[:3], start=1):
                    if value:
                        extras[f"adc{n}"] = int(value, 16)
                to_battery, to_power = _ADC_VOLTS.get(
                    (self.model or "").upper(), (1 / 100.0, 1 / 100.0)
                )
                if analog[3]:
                    battery_v = int(analog[3], 16) * to_battery
                if len(analog) > 4 and analog[4]:
                    extras["power"] = int(analog[4], 16) * to_power
        if len(fields) > i + 16 and fields[i + 16]:
            extras["eventData"] = fields[i + 16]
        report = DeviceReport(
            kind=ReportKind.POSITION,
            unique_id=imei,
            fix_time=fix_time,
            latitude=lat,
            longitude=lon,
            valid=valid,
            satellites=int(fields[i + 5]),
            speed_mps=float(fields[i + 7]) * KMH_MPS,
            course_deg=float(fields[i + 8]),
            hdop=hdop,
            altitude_m=float(fields[i + 10]),
            battery_v=battery_v,
            alarms=alarms,
            extras=extras,
        )
        # day 0, month 13, hour 25: the event, voltages and status stay, the fix does not
        return report if fix_time else status_report(report, "fix_time")

    def _decode_ccc(self, imei: str, payload: bytes, frame: bytes) -> list[DeviceReport]:
        """``CCC``: protocol version (2), remaining cache (4), count (2), then 52-byte records.

        Record (little endian): event u8, lat i32 1e-6 deg, lon i32 1e-6 deg, time u32 s
        since 2000, valid u8, sats u8, gsm u8, speed u16 km/h, course u16, hdop u16 x10,
        altitude u16 m, odometer u32 m, runtime u32 s, mcc u16, mnc u16, lac u16, cid u16,
        io status u16, adc1 u16, battery u16 1/100 V, power u16, geofence u32.
        """
        data = payload[8:]
        reports = []
        record = struct.Struct("<BiiIBBBHHHHIIHHHHHHHHI")
        while len(data) >= record.size:
            (
                event,
                lat,
                lon,
                secs,
                valid,
                sats,
                gsm,
                speed,
                course,
                hdop,
                alt,
                odo,
                run,
                mcc,
                mnc,
                lac,
                cid,
                status,
                adc1,
                batt,
                power,
                _fence,
            ) = record.unpack_from(data)
            data = data[record.size :]
            alarms, extras = _event_fields(event)
            extras.update(
                command="CCC",
                rssi=gsm,
                odometer=odo,
                runtime=run,
                cell={"mcc": mcc, "mnc": mnc, "lac": lac, "cid": cid},
                status=status,
                adc1=adc1,
                power=power,
            )
            reports.append(
                DeviceReport(
                    unique_id=imei,
                    fix_time=_EPOCH_2000 + timedelta(seconds=secs),
                    latitude=lat / 1e6,
                    longitude=lon / 1e6,
                    valid=valid == 1,
                    satellites=sats,
                    speed_mps=speed * KMH_MPS,
                    course_deg=float(course),
                    hdop=hdop / 10.0,
                    altitude_m=float(alt),
                    battery_v=batt / 100.0,
                    alarms=alarms,
                    extras=extras,
                )
            )
        if not reports:
            raise ProtocolDecodeError(PROTOCOL, "CCC frame carries no complete record", frame)
        return reports

    def _decode_cce(self, imei: str, payload: bytes, frame: bytes) -> list[DeviceReport]:
        """``CCE``: remaining cache u32, packet count u16, then packets of typed parameters.

        Packet: length u16 (bytes after it), parameter count u16, then four groups
        (1-, 2-, 4-byte and length-prefixed values), each a count u8 followed by
        (id, value) pairs; an id starting with 0xFE is two bytes. All little endian.
        """
        count = struct.unpack_from("<H", payload, 4)[0]
        pos = 6
        reports = []
        for _ in range(count):
            length = struct.unpack_from("<H", payload, pos)[0]
            end = pos + 2 + length
            if end > len(payload):
                raise ProtocolDecodeError(PROTOCOL, "CCE packet runs past the frame", frame)
            reports.append(self._decode_cce_packet(imei, payload[pos + 4 : end], frame))
            pos = end
        return reports

    def _decode_cce_packet(self, imei: str, data: bytes, frame: bytes) -> DeviceReport:
        fields: dict[str, Any] = {}
        extras: dict[str, Any] = {"command": "CCE"}
        alarms: set[Alarm] = set()
        pos = 0

        def read_id() -> int:
            nonlocal pos
            if data[pos] == 0xFE:
                pid = (data[pos] << 8) | data[pos + 1]
                pos += 2
            else:
                pid = data[pos]
                pos += 1
            return pid

        def event(code: int) -> None:
            ev_alarms, ev_extras = _event_fields(code)
            alarms.update(ev_alarms)
            extras.update(ev_extras)

        for size, fmt in ((1, "<B"), (2, "<H"), (4, "<I")):
            n = data[pos]
            pos += 1
            for _ in range(n):
                pid = read_id()
                value = struct.unpack_from(fmt, data, pos)[0]
                pos += size
                match size, pid:
                    case 1, 0x01:
                        event(value)
                    case 1, 0x05:
                        fields["valid"] = value > 0
                    case 1, 0x06:
                        fields["satellites"] = value
                    case 1, 0x07:
                        extras["rssi"] = value
                    case 1, 0x14:
                        extras["output"] = value
                    case 1, 0x15:
                        extras["input"] = value
                    case 1, 0x47 if value > 0:
                        extras["lock"] = value == 2
                    case 1, 0xFE69:
                        fields["battery_pct"] = float(value)
                    case 2, 0x08:
                        fields["speed_mps"] = value * KMH_MPS
                    case 2, 0x09:
                        fields["course_deg"] = float(value)
                    case 2, 0x0A:
                        fields["hdop"] = value / 10.0
                    case 2, 0x0B:
                        fields["altitude_m"] = float(
                            struct.unpack("<h", struct.pack("<H", value))[0]
                        )
                    case 2, 0x16 | 0x17:
                        extras[f"adc{pid - 0x15}"] = value / 100.0
                    case 2, 0x19:
                        fields["battery_v"] = value / 100.0
                    case 2, 0x1A:
                        extras["power"] = value / 100.0
                    case 2, 0x40:
                        event(value)
                    case 4, 0x02:
                        fields["latitude"] = _signed(value, 32) / 1e6
                    case 4, 0x03:
                        fields["longitude"] = _signed(value, 32) / 1e6
                    case 4, 0x04:
                        fields["fix_time"] = _EPOCH_2000 + timedelta(seconds=value)
                    case 4, 0x0C:
                        extras["odometer"] = value
                    case 4, 0x0D:
                        extras["runtime"] = value
        n = data[pos]
        pos += 1
        for _ in range(n):
            pid = read_id()
            length = data[pos]
            value_bytes = data[pos + 1 : pos + 1 + length]
            pos += 1 + length
            if 0x2A <= pid <= 0x31 and length >= 3:
                # temperature sensor: label u8, value i16 1/100 degC
                extras[f"temp{pid - 0x2A}"] = struct.unpack_from("<h", value_bytes, 1)[0] / 100
            elif pid == 0xFE73 and length >= 2:
                # BLE tag: version u8, name length u8, name, MAC (6), battery u8,
                # temperature i16 1/256 degC, humidity i16 1/256 %
                name_len = value_bytes[1]
                rest = value_bytes[2 + name_len :]
                extras["tagName"] = value_bytes[2 : 2 + name_len].decode("latin-1")
                if len(rest) >= 11:
                    extras["tagBattery"] = rest[6]
                    extras["tagTemp"] = struct.unpack_from("<h", rest, 7)[0] / 256.0
                    extras["tagHumidity"] = struct.unpack_from("<h", rest, 9)[0] / 256.0
            elif pid == 0xFEA8 and length >= 6:
                # battery levels: three (present u8, percent u8) pairs, then an alert byte
                for k in range(3):
                    if value_bytes[2 * k] > 0:
                        pct = value_bytes[2 * k + 1]
                        if k == 0:
                            fields["battery_pct"] = float(pct)
                        else:
                            extras[f"battery{k + 1}Level"] = pct
        lat, lon, fix_time = fields.get("latitude"), fields.get("longitude"), fields.get("fix_time")
        kind = ReportKind.POSITION if None not in (lat, lon, fix_time) else ReportKind.HEARTBEAT
        return DeviceReport(
            kind=kind, unique_id=imei, alarms=frozenset(alarms), extras=extras, **fields
        )


SESSION = MeitrackSession
