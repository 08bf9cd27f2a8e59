"""Suntech ST200/ST300/ST500/ST600, SA200, ST4xx, ST9xx and "universal" reports.

Sources: *Suntech ST300 series protocol* (STT/EMG/EVT/ALT/ALV/UEX/CMD reports),
*ST600 protocol*, *ST4955/ST419 protocol*, *ST910 protocol*, and the *Suntech
Universal protocol* (``STT;<dev>;<mask hex>;...`` whose fields are selected by a
bit mask, plus its binary form starting 0x81/0x82). Text reports are
``;``-separated ASCII ended by CR; a report may carry CR LF *inside* (serial data),
so only a CR not followed by LF ends a frame. A CR that is the last byte read so far
ends the frame unless it falls inside a UEX report's serial data (by the length the
report gives it): then the frame waits for the LF, whichever read brings it. Binary
"zip" reports start 0x02.

Units on the wire: speed km/h, course degrees, altitude not reported, latitude and
longitude signed degrees, time UTC (``YYYYMMDD;HH:MM:SS``), voltages in volts,
engine hours in minutes.

A date or time that names no instant (day 0, month 13, hour 25) drops the fix only:
the report keeps its identity, status, alarms and voltages as a status report with
``extras["invalid_fields"] = "fix_time"``.

Replies: Suntech devices do not wait for an acknowledgement of reports or of
``ALV`` keep-alives, so this session never replies.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

from openatd.domain.messages import KMH_MPS, Alarm, DeviceReport, ReportKind
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import status_report, utc_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "suntech"

_EMERGENCY: dict[int, Alarm] = {
    1: Alarm.SOS,
    3: Alarm.POWER_CUT,
    7: Alarm.MOVEMENT,
    8: Alarm.VIBRATION,
}
"""EMG_ID codes (ST300 protocol): 1 panic button, 3 main power removed, 7 movement, 8 shock."""

_ALERTS: dict[int, Alarm] = {
    1: Alarm.OVERSPEED,
    5: Alarm.GEOFENCE_EXIT,
    6: Alarm.GEOFENCE_ENTER,
    14: Alarm.LOW_BATTERY,  # backup battery low
    15: Alarm.VIBRATION,  # shock
    41: Alarm.POWER_CUT,  # main power removed
    42: Alarm.SOS,
}
"""ALT_ID codes (ST300/universal protocols) that are OpenATD alarms; the rest stay in extras."""

_DATE = re.compile(r"(\d{4})(\d\d)(\d\d)")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)")
_HEX14 = re.compile(r"^[0-9A-Fa-f]{14}$")


def _time(date: str, time: str) -> datetime | None:
    """``YYYYMMDD`` and ``HH:MM:SS`` (UTC); ``None`` when they name no instant (day 0,
    month 13, hour 25): the caller keeps the report's status without its fix.

    Raises:
        ValueError: the fields are not a date and a time at all (a malformed report).
    """
    d, t = _DATE.fullmatch(date), _TIME.fullmatch(time)
    if d is None or t is None:
        raise ValueError(f"bad date/time {date!r} {time!r}")
    return utc_or_none(*(int(v) for v in d.groups() + t.groups()))


def _checked(report: DeviceReport, impossible: bool) -> DeviceReport:
    """*report*, or when its time was impossible its status part (issue 14 item 7)."""
    return status_report(report, "fix_time") if impossible else report


def _bcd(data: bytes) -> int:
    return int(data.hex())


class SuntechSession(ProtocolSession):
    """One Suntech connection; see the module docstring. No replies are sent."""

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5011
    max_frame: ClassVar[int] = 4096
    """Suntech text reports are a few hundred bytes, binary ones carry a 2-byte length
    (the largest captured frame is 384 bytes). 4 KiB."""

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Binary: 0x02 + length u16 + body + 0x03, or 0x8x 0x00 + length u16; text: up to CR."""
        if not buffer:
            return None
        if buffer[0] == 0x02:
            if len(buffer) < 3:
                return None
            length = self.check_length(buffer, 1 + 2 + int.from_bytes(buffer[1:3], "big") + 1)
        elif len(buffer) > 1 and buffer[1] == 0x00:
            if len(buffer) < 3:
                return None
            length = self.check_length(buffer, 1 + 2 + int.from_bytes(buffer[1:3], "big"))
        else:
            start = 0
            while True:
                cr = buffer.find(b"\r", start)
                if cr < 0:
                    return None
                if cr + 1 < len(buffer) and buffer[cr + 1] == 0x0A:
                    start = cr + 1  # CR LF inside serial data, not the end
                    continue
                if cr + 1 == len(buffer) and self._serial_open(bytes(buffer[:cr])):
                    return None  # the read ended between the CR and LF of serial data
                frame = bytes(buffer[:cr])
                del buffer[: cr + 1]
                return frame
        if len(buffer) < length:
            return None
        frame = bytes(buffer[:length])
        del buffer[:length]
        return frame

    def _serial_open(self, text: bytes) -> bool:
        """Whether *text* (up to a CR that ends the bytes read so far) is a UEX report
        whose serial data has fewer characters than its length says, so that the CR
        belongs to the serial data's CR LF. Whether a CR ends a report must not depend
        on whether the LF after it came in the same read."""
        if b"UEX" not in text[:10]:
            return False
        self._serial_short = 0
        try:
            self.decode_frame(text)
        except (ProtocolDecodeError, ValueError, IndexError, KeyError, ArithmeticError):
            return False  # not a report cut inside its serial data: decoded (and reported) whole
        return self._serial_short > 0

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one report; see the module docstring for the families."""
        if not frame:
            raise ProtocolDecodeError(PROTOCOL, "empty frame", frame)
        if frame[0] == 0x02:
            zipped = self._decode_zip(frame)
            return Decoded((zipped,), unique_id=zipped.unique_id)
        if len(frame) > 1 and frame[1] == 0x00:
            binary = self._decode_binary(frame)
            return Decoded((binary,), unique_id=binary.unique_id)
        if frame.startswith(b"CRR;"):
            return self._decode_crash(frame)
        values = frame.decode("latin-1").split(";")
        prefix = values[0]
        if len(values) < 2:
            return Decoded()  # "-Error" and similar device chatter
        report: DeviceReport | None
        if len(prefix) < 5:
            report = self._decode_universal(values, frame)
        elif prefix.startswith("ST9"):
            report = self._decode_st9(values, frame)
        elif prefix.startswith("ST4"):
            report = self._decode_st4(values, frame)
        elif prefix.startswith("S"):
            report = self._decode_st300(values, frame)
        else:
            raise ProtocolDecodeError(PROTOCOL, f"unknown report header {prefix!r}", frame)
        if report is None:
            uid = values[1] if values[1].isdigit() else None
            return Decoded(unique_id=uid)
        return Decoded((report,), unique_id=report.unique_id)

    # -- text families --------------------------------------------------------------

    def _decode_st300(self, values: list[str], frame: bytes) -> DeviceReport | None:
        """ST200/ST300/ST500/ST600/SA200 ``<model><type>;<dev>;...`` reports (ST300 protocol).

        ``STT|EMG|EVT|ALT|UEX``: dev id; [model (ST3xx/ST500/ST600)]; fw; date; time;
        [cell id hex (not ST500); ST600 adds mcc; mnc; lac hex; rx level]; lat; lon;
        speed km/h; course; satellites; fix (1 valid); odometer m; power V; io
        (ignition, in1-3, out1-2 as 0/1 digits); type-specific fields; then the optional
        ST300 extension: engine hours (min); backup battery V; mode (0 = buffered); ADC
        values; RPM; driver id (14 hex) and registered flag; temperature sensors
        ``<id>:<value>``; serving cell (cid; mcc; mnc; rssi; lac; ta).
        ``CMD;Res;<dev>;...`` is a command result; ``ALV`` a keep-alive.
        """
        model, kind = values[0][:5], values[0][5:]
        i = 1
        if values[1] == "Res":
            uid = values[2]
            result = ";".join(values[3:])
            return DeviceReport(
                kind=ReportKind.HEARTBEAT, unique_id=uid, extras={"type": kind, "result": result}
            )
        uid = values[i]
        i += 1
        if kind == "HTE":
            # travel (trip) report: no fix; the driver id is its last field
            return DeviceReport(
                kind=ReportKind.HEARTBEAT,
                unique_id=uid,
                extras={"type": kind, "driverUniqueId": values[-1]},
            )
        if kind not in ("STT", "EMG", "EVT", "ALT", "UEX"):
            return None
        if model.startswith("ST3") or model in ("ST500", "ST600"):
            i += 1  # model number
        extras: dict[str, Any] = {"type": kind, "versionFw": values[i]}
        i += 1
        fix_time = _time(values[i], values[i + 1])
        i += 2
        if model != "ST500":
            extras["cellId"] = values[i]
            i += 1
            if model == "ST600":
                extras["cell"] = {"mcc": values[i], "mnc": values[i + 1], "lac": values[i + 2]}
                extras["rssi"] = int(values[i + 3])
                i += 4
        lat, lon = float(values[i]), float(values[i + 1])
        speed = float(values[i + 2]) * KMH_MPS
        course = float(values[i + 3])
        satellites = int(values[i + 4])
        valid = values[i + 5] == "1"
        extras["odometer"] = int(values[i + 6])
        extras["power"] = float(values[i + 7])
        io = values[i + 8]
        i += 9
        if len(io) >= 6:
            extras["ignition"] = io[0] == "1"
            for n in (1, 2, 3):
                extras[f"in{n}"] = io[n] == "1"
            extras["out1"], extras["out2"] = io[4] == "1", io[5] == "1"
        alarms: set[Alarm] = set()
        if kind == "STT":
            extras["status"] = int(values[i])
            extras["index"] = int(values[i + 1])
            i += 2
        elif kind == "EMG":
            code = int(values[i])
            extras["emergency"] = code
            if code in _EMERGENCY:
                alarms.add(_EMERGENCY[code])
            i += 1
        elif kind == "EVT":
            extras["event"] = int(values[i])
            i += 1
        elif kind == "ALT":
            code = int(values[i])
            extras["alert"] = code
            if code in _ALERTS:
                alarms.add(_ALERTS[code])
            i += 1
        else:
            i = self._serial_data(values, i, extras)
        battery_v = self._extension(values[i:], extras)
        report = DeviceReport(
            unique_id=uid,
            fix_time=fix_time,
            latitude=lat,
            longitude=lon,
            valid=valid,
            satellites=satellites,
            speed_mps=speed,
            course_deg=course,
            battery_v=battery_v,
            alarms=frozenset(alarms),
            extras=extras,
        )
        return _checked(report, fix_time is None)

    _serial_short = 0
    """Characters the last decoded UEX serial block lacked (0: complete)."""

    def _serial_data(self, values: list[str], i: int, extras: dict[str, Any]) -> int:
        """UEX serial block: its length in characters, then that many characters of
        ``;``-separated items (CabAVL fuel, ``GTSL|..|driver|..`` driver id,
        ``t_n=``/``N_n=``/``Q_D=`` hex sensor values, or free text), then a checksum field.
        Returns the index after the checksum; records in ``_serial_short`` how many
        characters the block lacked when the report ended inside it."""
        remaining = int(values[i])
        i += 1
        total_fuel = 0.0
        while remaining > 0 and i < len(values):
            item = values[i]
            i += 1
            remaining -= len(item) + 1
            if item.startswith("CabAVL"):
                parts = item.split(",")
                for n, raw in ((1, parts[2]), (2, parts[3])):
                    fuel = float(raw)
                    if fuel > 0:
                        extras[f"fuel{n}"] = fuel
                        total_fuel += fuel
            elif item.startswith("GTSL"):
                extras["driverUniqueId"] = item.split("|")[4]
            elif "=" in item:
                key, _, raw = item.partition("=")
                value = int(raw.strip().split(".")[0], 16)
                if key.startswith("t_"):
                    extras[f"temp{key[2:]}"] = value
                elif key.startswith("N_"):
                    extras[f"fuel{key[2:]}"] = value
                    total_fuel += value
                elif key == "Q_D":
                    extras["drivingQuality"] = value
            else:
                extras["serial"] = item.strip()
        if total_fuel > 0:
            extras["fuel"] = total_fuel
        self._serial_short = max(remaining, 0)
        return i + 1  # checksum field

    @staticmethod
    def _extension(rest: list[str], extras: dict[str, Any]) -> float | None:
        """The optional ST300 tail; returns the backup battery voltage if present."""
        battery_v = None
        if rest and rest[0].isdigit():
            extras["hours"] = int(rest[0]) * 60_000  # minutes -> ms
        if len(rest) > 1 and rest[1]:
            battery_v = float(rest[1])
        if len(rest) > 2 and rest[2] == "0":
            extras["archive"] = True
        tail = rest[3:]
        temps = [v for v in tail if ":" in v]
        other = [v for v in tail if ":" not in v]
        driver_at = next((n for n, v in enumerate(other) if _HEX14.match(v)), None)
        if driver_at is not None:
            aux = other[:driver_at]
            # 3 ADC values, then RPM when enabled (a lone value is the RPM)
            adcs, rpm = (aux[:3], aux[3:4]) if len(aux) != 1 else ([], aux)
            for n, v in enumerate(adcs, start=1):
                if v:
                    extras[f"adc{n}"] = float(v)
            if rpm and rpm[0]:
                extras["rpm"] = int(float(rpm[0]))
            if other[driver_at].strip("0"):
                extras["driverUniqueId"] = other[driver_at]
        elif len(other) >= 5 and other[-3].lstrip("-").isdigit() and other[-3].startswith("-"):
            cid, mcc, mnc, rssi, lac = other[-6:-1] if len(other) >= 6 else other[-5:]
            extras["cell"] = {"cid": cid, "mcc": mcc, "mnc": mnc, "lac": lac}
            extras["rssi"] = int(rssi)
        for n, v in enumerate(temps, start=1):
            value = v.split(":", 1)[1]
            if value:
                extras[f"temp{n}"] = float(value)
        return battery_v

    def _decode_st9(self, values: list[str], frame: bytes) -> DeviceReport | None:
        """ST9xx personal trackers: ``ST910;Location|Emergency|Alert;<dev>;[fw;]date;time;
        [cell;]lat;lon;speed km/h;course;fix(1 valid);...`` (ST910 protocol). Emergency
        is the panic button (SOS)."""
        kind = values[1]
        if kind not in ("Location", "Emergency", "Alert"):
            return None
        uid = values[2]
        i = 3
        extras: dict[str, Any] = {"type": kind}
        if not re.fullmatch(r"\d{8}", values[i]):
            extras["versionFw"] = values[i]
            i += 1
        fix_time = _time(values[i], values[i + 1])
        i += 2
        if "." not in values[i]:
            extras["cellId"] = values[i]
            i += 1
        alarms = frozenset({Alarm.SOS}) if kind == "Emergency" else frozenset()
        report = DeviceReport(
            unique_id=uid,
            fix_time=fix_time,
            latitude=float(values[i]),
            longitude=float(values[i + 1]),
            speed_mps=float(values[i + 2]) * KMH_MPS,
            course_deg=float(values[i + 3]),
            valid=values[i + 4] == "1",
            alarms=alarms,
            extras=extras,
        )
        return _checked(report, fix_time is None)

    def _decode_st4(self, values: list[str], frame: bytes) -> DeviceReport | None:
        """ST4xx: ``ST4nnSTT;<dev>;fw;model;[variant (41x)];7 x cell(cid;mcc;mnc;lac|rssi;
        rssi|lac;ta);battery V;mode;index;status;[collab];[41x: collab;temp;motion];
        date;time;lat;lon;speed km/h;course;satellites;fix`` (ST4955 protocol)."""
        kind = values[0][5:]
        if kind not in ("STT", "ALT"):
            return None
        uid = values[1]
        extras: dict[str, Any] = {"type": kind, "versionFw": values[2]}
        model = int(values[3])
        i = 5 if model == 41 else 4
        cells = []
        for _ in range(7):
            cid = int(values[i])
            if cid > 0:
                cells.append({"cid": cid, "mcc": values[i + 1], "mnc": values[i + 2]})
            i += 6
        if cells:
            extras["cells"] = cells
        battery_v = float(values[i])
        if values[i + 1] == "0":
            extras["archive"] = True
        extras["index"] = int(values[i + 2])
        extras["status"] = int(values[i + 3])
        i += 4
        if len(values[i]) == 3:
            i += 1  # collaborative network
        if model == 41:
            i += 2  # collaborative network, temperature
            extras["motion"] = int(values[i]) == 2
            i += 1
        if not values[i]:
            return DeviceReport(
                kind=ReportKind.HEARTBEAT, unique_id=uid, battery_v=battery_v, extras=extras
            )
        fix_time = _time(values[i], values[i + 1])
        report = DeviceReport(
            unique_id=uid,
            fix_time=fix_time,
            latitude=float(values[i + 2]),
            longitude=float(values[i + 3]),
            speed_mps=float(values[i + 4]) * KMH_MPS,
            course_deg=float(values[i + 5]),
            satellites=int(values[i + 6]),
            valid=values[i + 7] == "1",
            battery_v=battery_v,
            extras=extras,
        )
        return _checked(report, fix_time is None)

    def _decode_universal(self, values: list[str], frame: bytes) -> DeviceReport | None:
        """Universal protocol ``<type>;<dev>;<mask hex>;<fields selected by mask>``.

        Mask bits: 1 model, 2 fw, 3 mode (0 buffered), 4+5 date;time, 6 cell id hex, 7 mcc,
        8 mnc, 9 lac hex, 10 rssi, 11 lat, 12 lon, 13 speed km/h, 14 course, 15 satellites,
        16 fix, 17 inputs, 18 outputs, 19-21 alert id/modifier/data (ALT) or mode/reason/
        index, 22 reserved, 23 assign mask (hex) followed by one value per set bit.
        ``BLE`` reports have a fixed mask (model, fw, date, time, lat, lon) and a tag list;
        ``RES`` is a command result.
        """
        kind, uid = values[0], values[1]
        if kind not in ("STT", "ALT", "BLE", "RES", "UEX"):
            return None
        extras: dict[str, Any] = {"type": kind}
        if kind == "RES":
            extras["result"] = ";".join(values[2:])
            return DeviceReport(kind=ReportKind.HEARTBEAT, unique_id=uid, extras=extras)
        i = 2
        if kind == "BLE":
            mask = 0b1100000110110
        else:
            mask = int(values[i], 16)
            i += 1

        def bit(n: int) -> bool:
            return bool(mask >> n & 1)

        fields: dict[str, Any] = {}
        alarms: set[Alarm] = set()
        impossible = False
        if bit(1):
            extras["model"] = values[i]
            i += 1
        if bit(2):
            extras["versionFw"] = values[i]
            i += 1
        if bit(3):
            if values[i] == "0":
                extras["archive"] = True
            i += 1
        if bit(4) and bit(5):
            fields["fix_time"] = _time(values[i], values[i + 1])
            impossible = fields["fix_time"] is None
            i += 2
        for n, key in ((6, "cellId"), (7, "mcc"), (8, "mnc"), (9, "lac")):
            if bit(n):
                extras[key] = values[i]
                i += 1
        if bit(10):
            extras["rssi"] = int(values[i])
            i += 1
        if bit(11):
            fields["latitude"] = float(values[i])
            i += 1
        if bit(12):
            fields["longitude"] = float(values[i])
            i += 1
        if kind == "BLE":
            count = int(values[i])
            i += 1
            tags = []
            for _ in range(count):
                tags.append(
                    {
                        "rssi": int(values[i]),
                        "id": values[i + 3],
                        "samples": int(values[i + 4]),
                        "major": int(values[i + 5]),
                        "minor": int(values[i + 6]),
                    }
                )
                i += 7
            extras["bleTags"] = tags
        else:
            if bit(13):
                fields["speed_mps"] = float(values[i]) * KMH_MPS
                i += 1
            if bit(14):
                fields["course_deg"] = float(values[i])
                i += 1
            if bit(15):
                fields["satellites"] = int(values[i])
                i += 1
            if bit(16):
                fields["valid"] = values[i] == "1"
                i += 1
            if bit(17):
                inputs = int(values[i])
                extras["input"] = inputs
                extras["ignition"] = bool(inputs & 1)
                i += 1
            if bit(18):
                extras["output"] = int(values[i])
                i += 1
            if kind == "ALT":
                if bit(19):
                    code = int(values[i])
                    extras["alert"] = code
                    if code in _ALERTS:
                        alarms.add(_ALERTS[code])
                    i += 1
                if bit(20):
                    extras["alertModifier"] = values[i]
                    i += 1
                if bit(21):
                    extras["alertData"] = values[i]
                    i += 1
            elif kind == "UEX":
                i = self._serial_data(values, i, extras)
            else:
                for n, key in ((19, "mode"), (20, "reason"), (21, "index")):
                    if bit(n):
                        extras[key] = int(values[i])
                        i += 1
            if bit(22):
                i += 1
            if bit(23) and kind != "UEX" and i < len(values):
                assign = int(values[i], 16)
                i += 1
                for n in range(31):
                    if assign >> n & 1 and i < len(values):
                        extras[f"io{n + 1}"] = values[i]
                        i += 1
            extra_n = 1
            while i < len(values):
                if values[i]:
                    extras[f"assign{extra_n}"] = values[i]
                extra_n += 1
                i += 1
        has_fix = all(fields.get(k) is not None for k in ("fix_time", "latitude", "longitude"))
        if kind == "BLE":
            fields.setdefault("valid", True)
        report = DeviceReport(
            kind=ReportKind.POSITION if has_fix else ReportKind.HEARTBEAT,
            unique_id=uid,
            alarms=frozenset(alarms),
            extras=extras,
            **fields,
        )
        return _checked(report, impossible)

    # -- binary families --------------------------------------------------------------

    def _decode_binary(self, frame: bytes) -> DeviceReport:
        """Universal binary report (0x81 status, 0x82 alert): type u8, length u16, device
        id 5 bytes BCD, mask u24 big endian, then the mask's fields in binary: model u8,
        fw 3 x u8, mode u8, date 3 x u8 (yy mm dd) and time 3 x u8, cell u32, mcc u16,
        mnc u16, lac u16, rssi u8, lat/lon sign-magnitude i32 1e-6 deg, speed u16 1/100
        km/h, course u16 1/100 deg, satellites u8, fix u8, inputs u8, outputs u8, alert
        id u8, modifier u16, alert data (8 bytes driver id for alert 59)."""
        kind = frame[0]
        uid = frame[3:8].hex()
        mask = int.from_bytes(frame[8:11], "big")
        pos = 11
        extras: dict[str, Any] = {"type": f"0x{kind:02x}"}
        fields: dict[str, Any] = {}
        alarms: set[Alarm] = set()

        def take(n: int) -> bytes:
            nonlocal pos
            if pos + n > len(frame):
                raise ProtocolDecodeError(PROTOCOL, "binary report shorter than its mask", frame)
            chunk = frame[pos : pos + n]
            pos += n
            return chunk

        def u(n: int) -> int:
            return int.from_bytes(take(n), "big")

        def sign_magnitude(raw: int) -> int:
            return -(raw & 0x7FFFFFFF) if raw & 0x80000000 else raw

        def bit(n: int) -> bool:
            return bool(mask >> n & 1)

        if bit(1):
            extras["model"] = u(1)
        if bit(2):
            extras["versionFw"] = ".".join(str(b) for b in take(3))
        if bit(3) and u(1) == 0:
            extras["archive"] = True
        impossible = False
        if bit(4) and bit(5):
            y, mo, d, h, mi, s = take(6)
            fields["fix_time"] = utc_or_none(2000 + y, mo, d, h, mi, s)
            impossible = fields["fix_time"] is None
        for n, size, key in ((6, 4, "cellId"), (7, 2, "mcc"), (8, 2, "mnc"), (9, 2, "lac")):
            if bit(n):
                extras[key] = u(size)
        if bit(10):
            extras["rssi"] = u(1)
        if bit(11):
            fields["latitude"] = sign_magnitude(u(4)) / 1e6
        if bit(12):
            fields["longitude"] = sign_magnitude(u(4)) / 1e6
        if bit(13):
            fields["speed_mps"] = u(2) / 100.0 * KMH_MPS
        if bit(14):
            fields["course_deg"] = u(2) / 100.0
        if bit(15):
            fields["satellites"] = u(1)
        if bit(16):
            fields["valid"] = u(1) > 0
        if bit(17):
            inputs = u(1)
            extras["input"] = inputs
            extras["ignition"] = bool(inputs & 1)
        if bit(18):
            extras["output"] = u(1)
        alert = 0
        if bit(19):
            alert = u(1)
            extras["alert"] = alert
            if kind == 0x82 and alert in _ALERTS:
                alarms.add(_ALERTS[alert])
        if bit(20):
            extras["alertModifier"] = u(2)
        if bit(21) and alert == 59:
            extras["driverUniqueId"] = take(8).hex()
        has_fix = all(fields.get(k) is not None for k in ("fix_time", "latitude", "longitude"))
        report = DeviceReport(
            kind=ReportKind.POSITION if has_fix else ReportKind.HEARTBEAT,
            unique_id=uid,
            alarms=frozenset(alarms),
            extras=extras,
            **fields,
        )
        return _checked(report, impossible)

    def _decode_zip(self, frame: bytes) -> DeviceReport:
        """ "Zip" report (ST300 compressed protocol): 0x02, length u16, type u8 (0x10 status),
        device id 5 bytes BCD (9 digits), model u8, fw u16, date yy mm dd and time hh mm ss
        (u8 each), lac u16, cid u8, lat: degrees u8 + 6 BCD digits of 1e-6 deg, lon likewise,
        speed u16 + 2 BCD digits (1/100), course likewise, flags u8 (bit7 valid, bit6 south,
        bit5 west), odometer u32 m, power u8 + 2 BCD digits V, io u8, event u8, ..., 0x03."""
        if len(frame) < 44 or frame[3] != 0x10:
            raise ProtocolDecodeError(PROTOCOL, "unsupported zip report type", frame)
        uid = frame[4:9].hex()[:9]
        y, mo, d, h, mi, s = frame[12:18]
        lat = frame[21] + _bcd(frame[22:25]) / 1e6
        lon = frame[25] + _bcd(frame[26:29]) / 1e6
        speed = int.from_bytes(frame[29:31], "big") + _bcd(frame[31:32]) / 100.0
        course = int.from_bytes(frame[32:34], "big") + _bcd(frame[34:35]) / 100.0
        flags = frame[35]
        extras: dict[str, Any] = {
            "odometer": int.from_bytes(frame[36:40], "big"),
            "power": frame[40] + _bcd(frame[41:42]) / 100.0,
        }
        io = frame[42]
        extras["ignition"] = bool(io & 1)
        extras["event"] = frame[43]
        fix_time = utc_or_none(2000 + y, mo, d, h, mi, s)
        report = DeviceReport(
            unique_id=uid,
            fix_time=fix_time,
            latitude=-lat if flags & 0x40 else lat,
            longitude=-lon if flags & 0x20 else lon,
            valid=bool(flags & 0x80),
            speed_mps=speed * KMH_MPS,
            course_deg=course,
            extras=extras,
        )
        return _checked(report, fix_time is None)

    def _decode_crash(self, frame: bytes) -> Decoded:
        """Crash report ``CRR;<dev>;<part>;<parts>;<len>;<binary>``: accelerometer
        samples around an impact, uploaded in parts; reported as a heartbeat carrying
        the part number and raw sample bytes (hex), since the parts carry no fix."""
        head = frame.split(b";", 5)
        if len(head) < 6:
            raise ProtocolDecodeError(PROTOCOL, "crash report header is incomplete", frame)
        uid = head[1].decode("ascii")
        extras = {
            "crashPart": int(head[2]),
            "crashParts": int(head[3]),
            "gSensorHex": head[5].hex(),
        }
        report = DeviceReport(kind=ReportKind.HEARTBEAT, unique_id=uid, extras=extras)
        return Decoded((report,), unique_id=uid)


SESSION = SuntechSession
