"""TK103 family (Xexun ``(...)`` frames and the comma-separated "ZC / DW" variants), port 5002.

Source: "TK103 GPS tracker communication protocol" (fixed-width form) and the
comma-separated variant used by personal trackers; TCP and UDP.

Frame: ``(`` ... ``)``; a free-text part between ``$`` signs may contain ``)``.

Fixed-width form, ``(<id 12><command 4><data><position>)``::

    position = yymmdd | A/V | ddmm.mmmm N/S | dddmm.mmmm E/W | speed (5, km/h) |
               hhmmss | course (6) | charge (1: 0 = charging) | ACC (1) |
               io (3 hex nibbles) | fuel (3 hex) | 'L' odometer (hex) [| temperature +ddd.d]

Comma form::

    (<imei>,<command>,ddmmyy,A/V,ddmm.mmmmN,dddmm.mmmmE,<speed km/h>,hhmmss,<course>...)

Commands with a meaning for supervision: ``BO01`` alarm (first data digit:
1 accident, 2 SOS, 3 vibration, 4 low speed, 5 overspeed, 6 geofence exit);
``ZC17/DW37/DW57`` device removed (strap), ``ZC26/DW3F/DW5F`` tamper,
``ZC12/DW32/DW52`` low battery, ``ZC13/DW33/DW53`` power cut, ``ZC25/DW3E/DW5E``
SOS, ``ZC11/DW31/DW51`` movement, ``ZC27/DW40/DW60`` low external power;
``ZC20`` battery report (level 2-6 -> 10/20/50/80/100 %, voltage /100 V, external
power /10 V, 255 / 65535 = absent).

Times: a date or time that names no instant (day 0, month 13, hour 25) is never
rolled over into a neighbouring one: the report keeps its identity, alarm and status
fields as a status report without a fix, ``extras["invalid_fields"] = "fix_time"``
(``"device_time"`` in reports without a fix), and is answered as usual.

Replies (TK103 document): handshake ``BP00`` -> ``(<id>AP01HSO)`` (the frame
decodes to nothing); login ``BP05`` -> ``(<id>AP05)``; alarm ``BO01`` ->
``(<id>AS01<alarm digit>)``. Speeds are km/h.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from openatd.domain.messages import KMH_MPS
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import ReportDraft, nmea_degrees, utc_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "tk103"
_MAX_FRAME = 1024

_POSITION = re.compile(
    r"""\(?
    (?:(?P<id12>.{12})|(?P<id>[^,]+),)
    (?P<cmd>.{4}),?
    (?:(?P<data>\d*)|,ALARM,(?P<alarm>\d),\d+,)
    (?P<d1>\d\d)(?P<d2>\d\d)(?P<d3>\d\d),?
    (?P<valid>[AV]),?
    \ *(?P<lat>\d*\d\d\.\d+)(?P<ns>[NS]),?
    \ *(?P<lon>\d*\d\d\.\d+)(?P<ew>[EW]),?
    (?P<speed>[\ \d.]{1,5})(?:\d*,)?
    (?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d),?
    (?:
      (?:(?P<course6>[\ \d.]{6})|(?P<course2>\d\d)),?
      (?P<charge>[01])(?P<acc>[01])
      (?P<io1>[0-9A-Fa-f])(?P<io2>[0-9A-Fa-f])(?P<io3>[0-9A-Fa-f])
      (?P<fuel>[0-9A-Fa-f]{3})L(?P<odo>[0-9A-Fa-f]+)
    |
      (?P<course>\d+\.\d+)
    )?
    .*?
    (?P<temp>[+-]\d{3}\.\d)?
    \)?$""",
    re.VERBOSE | re.DOTALL,
)

_TYPE_ALARMS = {
    **dict.fromkeys(("ZC11", "DW31", "DW51"), "movement"),
    **dict.fromkeys(("ZC12", "DW32", "DW52"), "lowBattery"),
    **dict.fromkeys(("ZC13", "DW33", "DW53"), "powerCut"),
    **dict.fromkeys(("ZC17", "DW37", "DW57"), "removing"),
    **dict.fromkeys(("ZC25", "DW3E", "DW5E"), "sos"),
    **dict.fromkeys(("ZC26", "DW3F", "DW5F"), "tampering"),
    **dict.fromkeys(("ZC27", "DW40", "DW60"), "lowPower"),
}
_IGNITION_ON = frozenset({"ZC15", "DW35", "DW55", "ZC29", "DW42", "DW62"})
_IGNITION_OFF = frozenset({"ZC16", "DW36", "DW56"})
_BO01_ALARMS = {
    1: "accident", 2: "sos", 3: "vibration", 4: "lowspeed", 5: "overspeed", 6: "geofenceExit",
}  # fmt: skip
_BQ81_ALARMS = {
    0: "lowBattery", 1: "overspeed", 2: "idle", 3: "hardAcceleration", 4: "hardBraking",
    5: "temperature",
}  # fmt: skip
_ZC20_LEVELS = {6: 100.0, 5: 80.0, 4: 50.0, 3: 20.0, 2: 10.0}


def _device_time(d: ReportDraft, date: str, time: str) -> None:
    """``extras["device_time"]`` from ``ddmmyy`` and ``hhmmss``; an impossible one (month 0,
    hour 25) is not rolled over into a guessed time but named in ``invalid_fields``."""
    when = utc_or_none(
        int(date[4:6]), int(date[2:4]), int(date[0:2]),
        int(time[0:2]), int(time[2:4]), int(time[4:6]),
    )  # fmt: skip
    if when is None:
        d.invalid("device_time")
    else:
        d.extras["device_time"] = when.isoformat()


def _apply_type(d: ReportDraft, command: str, data: str | None) -> None:
    d.alarm(_TYPE_ALARMS.get(command))
    if command in _IGNITION_ON:
        d.extras["ignition"] = True
    elif command in _IGNITION_OFF:
        d.extras["ignition"] = False
    elif command == "BO01" and data:
        d.alarm(_BO01_ALARMS.get(int(data[0])))
    elif command == "BQ81" and data:
        d.alarm(_BQ81_ALARMS.get(int(data)))


_TEXT_OR_END = re.compile(rb"[$)]")


@dataclass
class Tk103Session(ProtocolSession):
    """One TK103 connection."""

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5002
    transports: ClassVar[frozenset[str]] = frozenset({"tcp", "udp"})
    max_frame: ClassVar[int] = _MAX_FRAME
    """TK103 ``(...)`` frames of about 100 bytes (the largest captured is 245); the framer
    already resynchronises past 1 KiB."""

    _in_text: bool = field(default=False, repr=False)

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """From ``(`` to the first ``)`` outside a ``$...$`` free text; garbage dropped."""
        if self.scan_from == 0:
            start = buffer.find(b"(")
            if start < 0:
                buffer.clear()
                return None
            del buffer[:start]
            self._in_text = False
        # scan only what arrived since the last look (no quadratic rescans)
        in_text = self._in_text
        end = -1
        for match in _TEXT_OR_END.finditer(buffer, max(self.scan_from, 1)):
            if match.group() == b"$":
                in_text = not in_text
            elif not in_text:
                end = match.end()
                break
        if end > 0:
            frame = bytes(buffer[:end])
            del buffer[:end]
            return frame
        if len(buffer) > _MAX_FRAME:
            nxt = buffer.find(b"(", 1)
            del buffer[: nxt if nxt > 0 else len(buffer)]
            self.scan_from = 0
            return None
        self._in_text = in_text
        self.scan_from = len(buffer)
        return None

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one ``(...)`` frame; see the module docstring for forms and replies."""
        sentence = frame.decode("latin-1").strip()
        if not sentence.startswith("("):
            raise ProtocolDecodeError(PROTOCOL, "frame does not start with '('", frame)
        short_id, command = sentence[1:13], sentence[13:17]
        reply: bytes | None = None
        if command == "BP00":
            return Decoded(reply=f"({short_id}AP01HSO)".encode(), unique_id=short_id)
        if command == "BP05":
            reply = f"({short_id}AP05)".encode()
        d = ReportDraft()
        if "{" in sentence and "}" in sentence:
            unique_id = _cells(d, sentence)
        elif "ZC20" in sentence:
            unique_id = _battery(d, sentence)
        elif "BZ00" in sentence:
            unique_id = _network(d, sentence)
        elif "ZC03" in sentence:
            unique_id = _command_result(d, sentence)
        elif "DW5" in sentence:
            unique_id = _lbs_wifi(d, sentence)
        elif "BV00" in sentence:
            unique_id = short_id
            d.extras["vin"] = sentence[17:34]
        elif "BS50" in sentence or "BS51" in sentence:
            unique_id = short_id
            _bms(d, sentence)
        else:
            match = _POSITION.fullmatch(sentence)
            if match is None:
                return Decoded()  # not a report this decoder knows
            unique_id = _position(d, match)
            if match["cmd"] == "BO01" and match["data"]:
                reply = f"({short_id}AS01{match['data'][0]})".encode()
        d.unique_id = unique_id or self.unique_id
        return Decoded(messages=(d.build(),), reply=reply, unique_id=unique_id or None)


def _position(d: ReportDraft, m: re.Match[str]) -> str:
    comma_form = m["id"] is not None
    unique_id = (m["id"] if comma_form else m["id12"]).strip().lstrip("(")
    command = m["cmd"]
    data = m["alarm"] if m["alarm"] is not None else m["data"]
    _apply_type(d, command, data)
    a, b, c = int(m["d1"]), int(m["d2"]), int(m["d3"])
    year, month, day = (c, b, a) if comma_form else (a, b, c)
    d.fix_time = utc_or_none(year, month, day, int(m["hh"]), int(m["mi"]), int(m["ss"]))
    impossible = d.fix_time is None
    d.valid = m["valid"] == "A"
    d.latitude = nmea_degrees(m["lat"], m["ns"])
    d.longitude = nmea_degrees(m["lon"], m["ew"])
    speed = m["speed"].strip()
    d.speed_mps = float(speed) * KMH_MPS if speed else 0.0
    course = m["course6"] or m["course2"] or m["course"]
    if course and course.strip():
        d.course_deg = float(course)
    if m["charge"] is not None:
        d.extras["charge"] = m["charge"] == "0"
        d.extras["ignition"] = m["acc"] == "1"
        io1, io2 = int(m["io1"], 16), int(m["io2"], 16)
        d.extras["in2"] = io1 & 1
        d.extras["panic"] = (io1 >> 1) & 1
        d.extras["out2"] = (io1 >> 2) & 1
        if io1 & 8:
            d.extras["blocked"] = 1
        if io2 & 8:
            d.extras["door"] = 1
        d.extras["io3"] = int(m["io3"], 16)
        d.extras["fuel"] = int(m["fuel"], 16)
        d.extras["odometer"] = int(m["odo"], 16)
    if m["temp"]:
        d.extras["temp1"] = float(m["temp"])
    if impossible:  # day 0, month 13, hour 25: the alarm and status stay, the fix does not
        d.drop_fix("fix_time")
    return unique_id


def _cells(d: ReportDraft, sentence: str) -> str:
    # (<id 12><type 4>[imei 15],{mcc,mnc,lac,cid}\n{...}\n,<odometer 8>)
    body = sentence[17 : sentence.rindex(",")]
    cells = []
    for item in re.findall(r"\{([^}]*)\}", body):
        mcc, mnc, lac, cid = (int(v) for v in item.split(","))
        cells.append({"mcc": mcc, "mnc": mnc, "lac": lac, "cid": cid})
    d.extras["cells"] = cells
    d.extras["odometer"] = int(sentence[sentence.rindex(",") + 1 : -1], 16)
    return sentence[1:13]


def _battery(d: ReportDraft, sentence: str) -> str:
    # (<imei>,ZC20,ddmmyy,hhmmss,<level>,<battery V×100>,<power V×10>,<installed>)
    fields = sentence.strip("()").split(",")
    _device_time(d, fields[2], fields[3])
    level, battery, power = int(fields[4]), int(fields[5]), int(fields[6])
    if level != 255 and level in _ZC20_LEVELS:
        d.battery_pct = _ZC20_LEVELS[level]
    if battery != 65535:
        d.battery_v = battery / 100.0
    if power != 65535:
        d.extras["power"] = power / 10.0
    return fields[0]


def _network(d: ReportDraft, sentence: str) -> str:
    # (<id 12>BZ00,<mcc>,<mnc>,<lac hex>,<cid hex>,...)
    fields = sentence.strip("()").split(",")
    d.extras["cell"] = {
        "mcc": int(fields[1]), "mnc": int(fields[2]),
        "lac": int(fields[3], 16), "cid": int(fields[4], 16),
    }  # fmt: skip
    return sentence[1:13]


def _command_result(d: ReportDraft, sentence: str) -> str:
    # (<imei>,ZC03,ddmmyy,hhmmss,$<free text>$)
    fields = sentence.strip("()").split(",", 4)
    _device_time(d, fields[2], fields[3])
    d.extras["result"] = fields[4].strip().strip("$")
    return fields[0]


def _lbs_wifi(d: ReportDraft, sentence: str) -> str:
    # (<imei>,DW5x,<mcc>,<mnc>,<lac>,<cid>,<n>,<mac*rssi*channel>,...,ddmmyy,hhmmss)
    fields = sentence.strip("()").split(",")
    _apply_type(d, fields[1], "0")
    d.extras["cell"] = {
        "mcc": int(fields[2]), "mnc": int(fields[3]), "lac": int(fields[4]), "cid": int(fields[5]),
    }  # fmt: skip
    count = int(fields[6])
    wifi = []
    for item in fields[7 : 7 + count]:
        mac, rssi, channel = item.split("*")
        wifi.append({"mac": mac.lower(), "rssi": int(rssi), "channel": int(channel)})
    d.extras["wifi"] = wifi
    _device_time(d, fields[7 + count], fields[8 + count])
    return fields[0]


def _bms(d: ReportDraft, sentence: str) -> None:
    """Battery management reports BS50 (binary, little-endian) and BS51 (key:hex pairs)."""
    payload = sentence[17:-1]
    if sentence[13:17] == "BS50":
        data = bytes.fromhex(payload)

        def le(i: int) -> int:
            return int.from_bytes(data[i : i + 2], "little")

        count = data[3]
        for i in range(1, 25):
            if i <= count:
                d.extras[f"battery{i}"] = le(4 + 2 * (i - 1)) / 1000.0
        p = 4 + 48
        d.extras["charge"] = data[p] == 0
        d.extras["current"] = le(p + 1) / 10.0
        d.battery_v = le(p + 3) / 100.0
        d.battery_pct = float(data[p + 5])
        d.extras["batteryOverheat"] = data[p + 6] > 0
        d.extras["chargeProtection"] = data[p + 7] > 0
        d.extras["dischargeProtection"] = data[p + 8] > 0
        p += 11  # drop line, balanced
        d.extras["cycles"] = le(p)
        d.extras["faultAlarm"] = data[p + 2]
        p += 3 + 6
        temps = data[p]
        d.extras["powerTemp"] = data[p + 1] - 40
        d.extras["equilibriumTemp"] = data[p + 2] - 40
        for i in range(1, 8):
            if i <= temps:
                d.extras[f"batteryTemp{i}"] = data[p + 2 + i] - 40
        return
    for pair in payload.split(","):
        key, _, value = pair.partition(":")
        data = bytes.fromhex(value)
        le2 = _le16(data)
        code = int(key, 16)
        if code == 0x90:
            d.extras["cumulativeVoltage"] = le2(0) / 10.0
            d.extras["gatherVoltage"] = le2(2) / 10.0
            d.extras["current"] = (le2(4) - 30000) / 10.0
            d.extras["soc"] = le2(6) / 10.0
        elif code == 0x91:
            d.extras["maxCellVoltage"] = le2(0) / 1000.0
            d.extras["maxCellVoltageCount"] = data[2]
            d.extras["minCellVoltage"] = le2(3) / 1000.0
            d.extras["minCellVoltageCount"] = data[5]
        elif code == 0x92:
            d.extras["maxTemp"] = data[0] - 40
            d.extras["maxTempCount"] = data[1]
            d.extras["minTemp"] = data[2] - 40
            d.extras["minTempCount"] = data[3]


def _le16(data: bytes) -> Callable[[int], int]:
    def read(i: int) -> int:
        return int.from_bytes(data[i : i + 2], "little")

    return read


SESSION = Tk103Session
