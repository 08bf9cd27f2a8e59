"""GPS103 / Coban TK102-TK106 text protocol ("imei:" sentences), TCP and UDP, port 5001.

Source: Coban "GPS tracker TK102/TK103/TK104 GPRS protocol". Frames end with
``;`` or a line break.

- Login ``##,imei:<imei>,A;`` -> reply ``LOAD``.
- Heartbeat: the IMEI alone (``359586015829802;``) -> reply ``ON``.
- Report::

      imei:<imei>,<keyword>,<local yymmddhhmm[ss]>,<phone or RFID>,<F|L>,
      F: <UTC hhmmss.sss>,<A|V>,[N|S,]<ddmm.mmmm>,[N|S,][E|W,]<dddmm.mmmm>,[E|W],
         <speed knots>,<course>,[altitude],[ACC 0/1],[door 0/1],[fuel1 %],[fuel2 %],[temperature]
      L: ,,<LAC hex>,,<cell id hex>,,,   (no GPS: cell only)

  The fix time is the local date and time corrected by the offset between
  local and UTC hour/minute (within ±12 h), with the UTC seconds. Keywords:
  ``help me`` SOS (reply ``**,imei:<imei>,E;`` stops the device repeating it),
  ``low battery``, ``move``, ``speed`` (overspeed), ``ac alarm`` (power cut),
  ``stockade`` (geofence), ``door alarm``, ``sensor alarm`` (vibration),
  ``acc on``/``acc off``, ``T:<temp>``, ``oil <fuel>``; others go to
  ``extras["event"]``.
- A date or time that names no instant (day 0, month 13, local or UTC hour 25) is never
  rolled over into a neighbouring one: the report keeps its keyword alarm, extras and
  reply as a status report without a fix, ``extras["invalid_fields"] = "fix_time"``.
- ``imei:<imei>,OBD,yymmddhhmmss,...`` engine data (no fix); the "alternative"
  format ending in ``*`` carries decimal degrees and km/h.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from openatd.domain.messages import KMH_MPS, KNOT_MPS
from openatd.protocols._common import ReportDraft, nmea_degrees, utc_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "gps103"
_MAX_FRAME = 2048

_KEYWORD_ALARMS = {
    "help me": "sos", "low battery": "lowBattery", "stockade": "geofence", "move": "movement",
    "speed": "overspeed", "door alarm": "door", "ac alarm": "powerCut",
    "accident alarm": "accident", "sensor alarm": "vibration", "bonnet alarm": "bonnet",
    "footbrake alarm": "footBrake", "DTC": "fault",
}  # fmt: skip
_LOCAL_TIME = re.compile(r"(\d\d)/?(\d\d)/?(\d\d) ?(\d\d):?(\d\d)(\d\d)?")
_UTC_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.\d+)?")


@dataclass
class Gps103Session(ProtocolSession):
    """One GPS103 connection."""

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5001
    transports: ClassVar[frozenset[str]] = frozenset({"tcp", "udp"})
    max_frame: ClassVar[int] = _MAX_FRAME
    """GPS103 text reports of about 100 bytes (the largest captured is 1,049: a long
    OBD line); the framer already drops an unterminated line past 2 KiB."""

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut at ``;``, CR or LF (delimiters dropped, empty pieces skipped)."""
        while True:
            ends = [
                i for i in (buffer.find(b";"), buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0
            ]
            if not ends:
                if len(buffer) > _MAX_FRAME:
                    buffer.clear()
                return None
            end = min(ends)
            frame = bytes(buffer[:end])
            del buffer[: end + 1]
            if frame.strip():
                return frame

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one sentence; see the module docstring for forms and replies."""
        sentence = frame.decode("latin-1").strip().rstrip(";")
        if "imei:" in sentence and len(sentence) <= 30 and sentence.startswith("##"):
            imei = sentence.split("imei:")[1].split(",")[0]
            return Decoded(reply=b"LOAD", unique_id=imei or None)
        if sentence[:1].isdigit():
            start = sentence.find("imei:")
            if start < 0:
                imei = sentence.strip()
                return Decoded(reply=b"ON", unique_id=imei if imei.isdigit() else None)
            sentence = sentence[start:]
        if not sentence.startswith("imei:"):
            return Decoded()
        fields = sentence[5:].split(",")
        imei = fields[0]
        if len(fields) < 3 or fields[1].startswith("vr"):
            return Decoded(unique_id=imei or None)  # photo chunks: not supported
        d = ReportDraft(unique_id=imei or self.unique_id)
        reply = None
        if fields[1] == "OBD":
            keep = _obd(d, fields)
        elif sentence.endswith("*"):
            keep = _alternative(d, fields)
        else:
            keep = _regular(d, fields)
            if fields[1] == "help me":
                reply = f"**,imei:{imei},E;".encode()
        messages = (d.build(),) if keep else ()
        return Decoded(messages=messages, reply=reply, unique_id=imei or None)


def _keyword(d: ReportDraft, keyword: str) -> None:
    if keyword.startswith("T:"):
        d.alarm("temperature")
        d.extras["temp1"] = float(keyword[2:])
    elif keyword.startswith("oil"):
        d.alarm("fuelLeak")
        if keyword.startswith("oil "):
            d.extras["fuel"] = float(keyword[4:])
    elif keyword in _KEYWORD_ALARMS:
        d.alarm(_KEYWORD_ALARMS[keyword])
    elif keyword == "acc on":
        d.extras["ignition"] = True
    elif keyword == "acc off":
        d.extras["ignition"] = False
    elif keyword not in ("tracker", ""):
        d.extras["event"] = keyword


def _regular(d: ReportDraft, f: list[str]) -> bool:
    keyword = f[1]
    _keyword(d, keyword)
    local = _LOCAL_TIME.fullmatch(f[2].strip())
    if keyword == "rfid" and len(f) > 3:
        d.extras["driverUniqueId"] = f[3]
    if len(f) < 5:
        return True
    if f[4] == "L":
        if len(f) > 9 and f[7] and f[9]:
            d.extras["cell"] = {"lac": int(f[7], 16), "cid": int(f[9], 16)}
        return True
    if f[4] != "F" or len(f) < 10:
        return True
    utc_time = _UTC_TIME.fullmatch(f[5].strip())
    impossible = False
    if local is not None:
        yy, mo, dd, hh, mi = (int(local.group(i)) for i in range(1, 6))
        seconds = int(utc_time.group(3)) if utc_time else int(local.group(6) or 0)
        when = utc_or_none(yy, mo, dd, hh, mi, seconds)
        if utc_time and when is not None:
            uh, um = int(utc_time.group(1)), int(utc_time.group(2))
            if utc_or_none(0, 1, 1, uh, um) is None:
                when = None  # UTC hour 25 or minute 60: no offset can be trusted
            else:
                delta = (hh - uh) * 60 + mi - um
                if delta <= -12 * 60:
                    delta += 24 * 60
                elif delta > 12 * 60:
                    delta -= 24 * 60
                when -= timedelta(minutes=delta)
        d.fix_time = when
        impossible = when is None
    d.valid = f[6] == "A"
    i = 7
    lat_hemi = lon_hemi = ""
    if f[i] in ("N", "S"):
        lat_hemi, i = f[i], i + 1
    lat = f[i]
    i += 1
    if f[i] in ("N", "S"):
        lat_hemi, i = f[i], i + 1
    if f[i] in ("E", "W"):
        lon_hemi, i = f[i], i + 1
    lon = f[i]
    i += 1
    if not lon_hemi and i < len(f) and f[i] in ("E", "W", ""):
        lon_hemi, i = f[i], i + 1
    d.latitude = nmea_degrees(lat, lat_hemi)
    d.longitude = nmea_degrees(lon, lon_hemi)
    rest = [v.strip() for v in f[i:]] + [""] * 8
    d.speed_mps = float(rest[0]) * KNOT_MPS if rest[0] else 0.0
    if rest[1]:
        d.course_deg = float(rest[1])
    if rest[2] and re.fullmatch(r"-?\d+(?:\.\d*)?", rest[2]):
        d.altitude_m = float(rest[2])
    if rest[3] in ("0", "1"):
        d.extras["ignition"] = rest[3] == "1"
    if rest[4] in ("0", "1"):
        d.extras["door"] = rest[4] == "1"
    for key, value in (("fuel1", rest[5]), ("fuel2", rest[6])):
        if value.endswith("%"):
            d.extras[key] = float(value[:-1])
    if re.fullmatch(r"[-+]?\d+", rest[7]):
        d.extras["temp1"] = int(rest[7])
    if impossible:  # day 0, month 13, hour 25: the keyword's alarm stays, the fix does not
        d.drop_fix("fix_time")
    return True


def _obd(d: ReportDraft, f: list[str]) -> bool:
    # imei,OBD,yymmddhhmmss,odometer,fuel instant,fuel average,hours,speed,load %,
    # coolant temperature,throttle %,rpm,battery V,DTCs...
    if len(f) < 14:
        return False
    t = f[2]
    when = utc_or_none(
        int(t[0:2]), int(t[2:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12])
    )
    if when is None:
        d.invalid("device_time")
    else:
        d.extras["device_time"] = when.isoformat()
    if f[3]:
        d.extras["odometer"] = int(f[3])
    if f[5]:
        d.extras["fuelConsumption"] = float(f[5])
    if f[6]:
        d.extras["hours"] = int(f[6]) * 3600 * 1000
    d.extras["obdSpeed"] = int(f[7] or 0)
    d.extras["engineLoad"] = f[8]
    if re.fullmatch(r"[-+]?\d+", f[9]):
        d.extras["coolantTemp"] = int(f[9])
    d.extras["throttle"] = f[10]
    d.extras["rpm"] = int(f[11] or 0)
    d.battery_v = float(f[12] or 0)
    d.extras["dtcs"] = " ".join(v for v in f[13:] if v).strip()
    return True


def _alternative(d: ReportDraft, f: list[str]) -> bool:
    # imei,<name>,event,sensor id,sensor voltage,hhmmss,ddmmyy,rssi,gps status,
    # lat (deg),lon (deg),speed km/h,course,altitude,hdop,satellites,ACC,charge,error,*
    if len(f) < 19:
        return False

    def opt(v: str) -> str | None:
        return None if not v or set(v) == {"-"} else v

    if opt(f[2]):
        d.extras["event"] = f[2]
    if opt(f[3]):
        d.extras["sensorId"] = f[3]
    if opt(f[4]):
        d.extras["sensorVoltage"] = float(f[4])
    t, day = f[5], f[6]
    d.fix_time = utc_or_none(int(day[4:6]), int(day[2:4]), int(day[0:2]), int(t[0:2]),
                             int(t[2:4]), int(t[4:6]))  # fmt: skip
    impossible = d.fix_time is None
    d.extras["rssi"] = int(f[7])
    d.valid = int(f[8]) > 0
    d.latitude, d.longitude = float(f[9]), float(f[10])
    d.speed_mps = int(f[11]) * KMH_MPS
    d.course_deg = float(int(f[12]))
    d.altitude_m = float(int(f[13]))
    d.hdop = float(f[14])
    d.satellites = int(f[15])
    d.extras["ignition"] = int(f[16]) > 0
    d.extras["charge"] = int(f[17]) > 0
    if opt(f[18]):
        d.extras["error"] = f[18]
    if impossible:
        d.drop_fix("fix_time")
    return True


SESSION = Gps103Session
