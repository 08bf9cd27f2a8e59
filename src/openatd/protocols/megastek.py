"""Megastek trackers (GVT900, MT-90 personal/ankle units): ``$MGV002`` and older ``STX`` reports.

Sources: *Megastek GVT900/MT90 GPRS protocol* (``$MGV002`` sentence) and the older
*Megastek STX protocol* (an NMEA ``$GPRMC`` sentence wrapped with id and status).
Text over TCP, ASCII.

Framing: a frame that starts with four digits carries its own length (``0137$MGV...``:
137 bytes follow the four digits); otherwise a frame ends at its first ``!`` (kept in the
frame), CR LF or LF (dropped); CR and LF between frames are skipped. The first delimiter,
not a preferred one, so that the frames never depend on where the reads of the stream
happened to end (``...;!`` then a CR LF report in one read once made one frame of both).

``$MGV002`` fields (comma separated): ``$MGV002, IMEI, name, R|S (S = stored), ddmmyy,
hhmmss, A|V, lat ddmm.mmmm, N|S, lon dddmm.mmmm, E|W, -, satellites, -, HDOP, speed,
course, altitude m, odometer km, mcc, mnc, lac hex, cid hex, gsm, [heart rate],
input, output, adc1..3, temperature 1, temperature 2, RFID, charge+belt digits,
battery %, alert text, [Wi-Fi "mac:rssi|..."], ...;`` Speed is read in knots, as
Traccar's decoder reads it (the document gives no unit).

``STX`` reports: ``STX,<id>,$GPRMC,...*cs,F|L,<alarm>,imei:<imei>,<sats>[/<visible>],
<altitude m>,Battery=<n>%,[,]<charger>,mcc,mnc,lac,cid;cs`` or the fixed-width
``STX<id, 16 chars>  $GPRMC,...*cs,mcc,mnc,lac,cid,gsm,battery %,flags,inputs,
[outputs,]adc1,[adc2,adc3,]<alarm>;cs``. NMEA RMC speed is knots.

A date or time that names no instant (day 0, month 13, hour 25) drops the fix only:
the report keeps its identity, alert, battery and status as a status report with
``extras["invalid_fields"] = "fix_time"``.

Replies: the devices expect none.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from openatd.domain.messages import KNOT_MPS, Alarm, DeviceReport, ReportKind
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import status_report, utc_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "megastek"

_ALARMS: dict[str, Alarm] = {
    "sos": Alarm.SOS,
    "help": Alarm.SOS,
    "poweroff": Alarm.POWER_OFF,
    "over speed": Alarm.OVERSPEED,
    "overspeed": Alarm.OVERSPEED,
    "low battery": Alarm.LOW_BATTERY,
    "lowbattery": Alarm.LOW_BATTERY,
    "vib": Alarm.VIBRATION,
    "hit": Alarm.VIBRATION,
    "move in": Alarm.GEOFENCE_ENTER,
    "move out": Alarm.GEOFENCE_EXIT,
    "psd": Alarm.POWER_CUT,  # power supply disconnected
}
"""Alert texts (lower case) that are OpenATD alarms."""

_OTHER_ALARMS: dict[str, str] = {
    "pw on": "powerOn",
    "poweron": "powerOn",
    "psr": "powerRestored",
    "low extern voltage": "lowPower",
    "gps cut": "gpsAntennaCut",
    "lowspeed": "lowSpeed",
    "corner": "cornering",
    "fatigue": "fatigueDriving",
    "belt on": "lock",
    "belton": "lock",
    "belt off": "unlock",
    "beltoff": "unlock",
    "error": "fault",
}
"""Alert texts kept as ``extras["alarm"]`` under Traccar's alarm names."""

_RMC = re.compile(
    r"\$GPRMC,(\d{2})(\d{2})(\d{2})(?:\.(\d+))?,([AV]),"
    r"(\d+\.\d+),([NS]),(\d+\.\d+),([EW]),(\d+(?:\.\d*)?)?,(\d+(?:\.\d*)?)?,(\d{2})(\d{2})(\d{2})"
)
r"""NMEA RMC inside a frame. Each number has one way to match (``\d+(?:\.\d*)?``, not
``\d+\.?\d*``, whose split of a digit run is ambiguous): a 5,000-digit field once cost
0.7-0.9 s of backtracking on one frame (bench/fuzz.py, megastek)."""


_DELIMITER = re.compile(rb"[!\n]")
"""What ends a frame without a length prefix: ``!``, or LF (of CR LF, or alone)."""


def _degrees(value: str, hemisphere: str) -> float:
    """NMEA ``(d)ddmm.mmmm`` -> signed degrees (S and W negative)."""
    raw = float(value)
    degrees = int(raw // 100)
    result = degrees + (raw - degrees * 100) / 60.0
    return -result if hemisphere in "SW" else result


def _alert(text: str, alarms: set[Alarm], extras: dict[str, Any]) -> None:
    value = text.strip().lower()
    if not value:
        return
    extras["alert"] = text.strip()
    if value.startswith("geo") and value.endswith("in"):
        alarms.add(Alarm.GEOFENCE_ENTER)
    elif value.startswith("geo") and value.endswith("out"):
        alarms.add(Alarm.GEOFENCE_EXIT)
    elif value in _ALARMS:
        alarms.add(_ALARMS[value])
    elif value in _OTHER_ALARMS:
        extras["alarm"] = _OTHER_ALARMS[value]


class MegastekSession(ProtocolSession):
    """One Megastek connection; see the module docstring. No replies are sent."""

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5024
    max_frame: ClassVar[int] = 4096
    """Megastek text reports are a few hundred bytes (the largest captured frame is 327);
    the 4-digit length prefix could claim 9,999. 4 KiB."""

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Length-prefixed (4 digits) or delimited (CR LF, ``!`` or LF) frames."""
        while buffer and buffer[0] in (0x0D, 0x0A):
            del buffer[:1]
        if len(buffer) < 10:
            return None
        if buffer[:4].isdigit():
            length = self.check_length(buffer, 4 + int(buffer[:4]), minimum=5)
            if len(buffer) < length:
                return None
            frame = bytes(buffer[:length])
            del buffer[:length]
            return frame
        # The first delimiter ends the frame, whichever it is. Preferring a CR LF anywhere in
        # the buffer (Traccar's order) made the framing depend on how the stream was cut into
        # reads: a "...;!" report read together with a later CR LF report became one frame,
        # and the reports between them were lost without a decode error.
        found = _DELIMITER.search(buffer)
        if found is None:
            return None
        end = found.start()
        cut = end  # an LF is dropped, and so is the CR of CR LF
        if buffer[end] == 0x21:  # "!" closes the report and stays in it (as when prefixed)
            cut = end + 1
        elif end and buffer[end - 1] == 0x0D:
            cut = end - 1
        frame = bytes(buffer[:cut])
        del buffer[: end + 1]
        return frame

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one ``$MGV002`` or ``STX`` report; see the module docstring."""
        text = frame.decode("latin-1").strip().removesuffix("!")
        if "$MG" in text:
            report = self._decode_mgv(text, frame)
        elif "STX" in text[:6] and "$GPRMC" in text:
            report = self._decode_stx(text, frame)
        else:
            raise ProtocolDecodeError(PROTOCOL, "neither a $MGV nor an STX report", frame)
        if report is None:
            return Decoded()
        return Decoded((report,), unique_id=report.unique_id)

    def _decode_mgv(self, text: str, frame: bytes) -> DeviceReport | None:
        body = text[text.index("$MG") :].rstrip("!").rstrip(";")
        f = body.split(",")
        if len(f) < 24 or not f[1].isdigit():
            raise ProtocolDecodeError(PROTOCOL, "$MGV report has too few fields", frame)
        uid = f[1]
        extras: dict[str, Any] = {}
        if f[2]:
            extras["name"] = f[2]
        if f[3] == "S":
            extras["archive"] = True
        alarms: set[Alarm] = set()
        # the alert text is the first field after the GSM level that is not a number
        tail = f[24:]
        alert_at = next(
            (n for n, v in enumerate(tail) if re.search(r"[A-Za-z]", v) and ":" not in v), None
        )
        battery_pct: float | None = None
        if alert_at is not None and alert_at >= 5:
            _alert(tail[alert_at], alarms, extras)
            if tail[alert_at - 1].strip():
                battery_pct = float(int(tail[alert_at - 1]))
            charge = tail[alert_at - 2].strip()
            if charge[:1] in ("0", "1"):
                extras["charge"] = charge[0] == "1"
                if len(charge) > 1 and charge[1].isdigit():
                    extras["belt"] = int(charge[1])
            if tail[alert_at - 3].strip():
                extras["driverUniqueId"] = tail[alert_at - 3].strip()
            for n, value in ((1, tail[alert_at - 5]), (2, tail[alert_at - 4])):
                if value.strip():
                    extras[f"temp{n}"] = float(value)
            io = tail[: alert_at - 5]
            if len(io) == 6:
                if io[0]:
                    extras["heartRate"] = int(io[0])
                io = io[1:]
            if len(io) == 5:
                for key, value in zip(("input", "output"), io[:2], strict=True):
                    if value:
                        binary = len(value) == 4 and set(value) <= {"0", "1"}
                        extras[key] = int(value, 2) if binary else int(value)
                for n, value in enumerate(io[2:], start=1):
                    if value.strip():
                        extras[f"adc{n}"] = int(value)
            if len(tail) > alert_at + 1 and tail[alert_at + 1]:
                extras["wifi"] = tail[alert_at + 1]
        if f[21] and f[22]:
            extras["cell"] = {"mcc": f[19], "mnc": f[20], "lac": f[21], "cid": f[22]}
        if f[23]:
            extras["rssi"] = int(f[23])
        if f[18]:
            extras["odometer"] = float(f[18]) * 1000.0  # km -> m
        if not f[7] or not f[9]:
            # no coordinates: a status/alert without a fix
            return DeviceReport(
                kind=ReportKind.HEARTBEAT,
                unique_id=uid,
                battery_pct=battery_pct,
                alarms=frozenset(alarms),
                extras=extras,
            )
        d, t = f[4], f[5]
        if not (len(d) == len(t) == 6 and (d + t).isdigit()):
            raise ProtocolDecodeError(PROTOCOL, "$MGV date/time is not ddmmyy,hhmmss", frame)
        fix_time = utc_or_none(
            int(d[4:6]), int(d[2:4]), int(d[0:2]), int(t[0:2]), int(t[2:4]), int(t[4:6])
        )
        report = DeviceReport(
            unique_id=uid,
            fix_time=fix_time,
            valid=f[6] == "A",
            latitude=_degrees(f[7], f[8]),
            longitude=_degrees(f[9], f[10]),
            satellites=int(f[12]) if f[12] else None,
            hdop=float(f[14]) if f[14] else None,
            speed_mps=float(f[15]) * KNOT_MPS if f[15] else None,
            course_deg=float(f[16]) if f[16] else None,
            altitude_m=float(f[17]) if f[17] else None,
            battery_pct=battery_pct,
            alarms=frozenset(alarms),
            extras=extras,
        )
        return report if fix_time else status_report(report, "fix_time")

    def _decode_stx(self, text: str, frame: bytes) -> DeviceReport | None:
        rmc = _RMC.search(text)
        if rmc is None:
            raise ProtocolDecodeError(PROTOCOL, "STX report without a $GPRMC sentence", frame)
        hh, mm, ss, _frac, valid, lat, ns, lon, ew, speed, course, dd, mo, yy = rmc.groups()
        extras: dict[str, Any] = {}
        alarms: set[Alarm] = set()
        simple = text[3] == "," or text[6] == ","
        if simple:
            start = text.index(",") + 1
            uid = text[start : text.index(",", start)]
        else:
            uid = text[3:19].strip()
        star = text.find("*", rmc.end())
        status = text[star + 4 :] if star >= 0 else ""
        satellites: int | None = None
        altitude: float | None = None
        battery_pct: float | None = None
        m = re.match(
            r"[FL],([^,]*),imei:(\d+),(\d+)(?:/(\d+))?,(\d+\.\d+)?,Battery=(\d+)%,,?(\d)?,"
            r"(\d+)?,(\d+)?,([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4});",
            status,
        )
        if simple and m:
            alert, imei, sats, visible, alt, batt, charger, mcc, mnc, lac, cid = m.groups()
            _alert(alert if alert != "Nil-Alarms" else "", alarms, extras)
            uid = imei
            satellites = int(sats)
            if visible:
                extras["satVisible"] = int(visible)
            altitude = float(alt) if alt else None
            battery_pct = float(batt)
            if charger:
                extras["charge"] = charger == "1"
            extras["cell"] = {"mcc": mcc, "mnc": mnc, "lac": lac, "cid": cid}
        elif not simple:
            parts = status.split(";")[0].split(",")
            if len(parts) >= 9:
                extras["cell"] = {
                    "mcc": parts[0],
                    "mnc": parts[1],
                    "lac": parts[2],
                    "cid": parts[3],
                }
                extras["rssi"] = int(parts[4])
                battery_pct = float(parts[5])
                extras["flags"] = parts[6]
                extras["input"] = parts[7]
                _alert(parts[-1], alarms, extras)
        if not uid:
            raise ProtocolDecodeError(PROTOCOL, "STX report without a device id", frame)
        fix_time = utc_or_none(int(yy), int(mo), int(dd), int(hh), int(mm), int(ss))
        report = DeviceReport(
            unique_id=uid,
            fix_time=fix_time,
            valid=valid == "A",
            latitude=_degrees(lat, ns),
            longitude=_degrees(lon, ew),
            speed_mps=float(speed) * KNOT_MPS if speed else None,
            course_deg=float(course) if course else None,
            satellites=satellites,
            altitude_m=altitude,
            battery_pct=battery_pct,
            alarms=frozenset(alarms),
            extras=extras,
        )
        return report if fix_time else status_report(report, "fix_time")


SESSION = MegastekSession
