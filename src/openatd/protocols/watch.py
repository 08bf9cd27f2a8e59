"""3G / 4G wrist trackers and kids' watches ("SeTracker" protocol: ``[SG*id*LEN*...]``), TCP 5093.

Source: "3G watch communication protocol" (Wonlex / Setracker, v1.x), the
same family sold as personal and wrist trackers.

Frame::

    '[' maker (2: SG, 3G, CS, ZJ ...) '*' id '*' [index (4 hex) '*'] length (4 hex) '*'
        content ']'

Inside a frame ``}`` escapes: ``}01`` = ``}``, ``}02`` = ``[``, ``}03`` = ``]``,
``}04`` = ``,``, ``}05`` = ``*`` (needed for binary audio). The splitter counts
brackets on the escaped stream and hands over the unescaped frame.

Content ``<type>[,<fields>]``:

- ``LK[,steps,tumbles,battery %]`` link keep-alive -> reply ``LK``;
- ``UD`` / ``UD2`` / ``UD3`` / ``UD_WCDMA`` / ``WT`` position, ``AL`` alarm (reply ``AL``)::

      ddmmyy,hhmmss,A|V,lat,[N|S],lon,[E|W],speed km/h,course,altitude,satellites,
      rssi,battery %,steps,tumbles,status (hex),cell count,TA,MCC,MNC,(LAC,CID,rssi)*,
      wifi count,(name,MAC,rssi)*

  Status bits: 0 low battery, 1 geofence exit, 2 geofence enter, 4 moving,
  14 power cut, 16 SOS, 17 low battery, 18 geofence exit, 19 geofence enter,
  20 **watch taken off** (strap tamper alarm, ``strap="open"``), 21/22 fall.
  An ``AL`` without a known bit is a general alarm. A date or time that names no
  instant (day 0, month 13, hour 25) drops the fix only: the report keeps status,
  strap, battery and the ``AL`` reply, ``extras["invalid_fields"] = "fix_time"``.
- health ``PULSE`` / ``HEART`` (heart rate), ``BLOOD`` / ``BPHRT`` (pressure high,
  low[, rate]), ``TEMP`` (body temperature), ``btemp2`` (valid flag, temperature),
  ``oxygen`` (valid flag, SpO2 %);
- ``INIT`` -> reply ``INIT,1``; ``TKQ`` / ``TKQ2`` -> echoed; ``JXTK`` audio chunk
  -> ``JXTKR,1``; ``TK`` audio.

Replies are ``[<maker>*<id>*[<index>*]<len 4 hex>*<content>]``. Audio and
images are not stored (decoders do no I/O): their size goes to ``extras``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from openatd.domain.messages import KMH_MPS
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import ReportDraft, dmy_hms_or_none
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "watch"

_UNESCAPE = {1: ord("}"), 2: ord("["), 3: ord("]"), 4: ord(","), 5: ord("*")}
_HEALTH = frozenset({"PULSE", "HEART", "BLOOD", "BPHRT", "TEMP", "BTEMP2", "OXYGEN"})
_INDEX = re.compile(rb"[0-9A-Fa-f]{4}")

# Status bit -> alarm, in the order the device sets them (first match wins).
_STATUS_ALARMS = (
    (0, "lowBattery"), (1, "geofenceExit"), (2, "geofenceEnter"), (14, "powerCut"),
    (16, "sos"), (17, "lowBattery"), (18, "geofenceExit"), (19, "geofenceEnter"),
    (20, "removing"), (21, "fallDown"), (22, "fallDown"),
)  # fmt: skip


def reply(maker: str, unique_id: str, index: str | None, content: str) -> bytes:
    """A server packet ``[maker*id*[index*]LLLL*content]`` (length in 4 hex digits)."""
    middle = f"{index}*" if index is not None else ""
    return f"[{maker}*{unique_id}*{middle}{len(content):04X}*{content}]".encode("latin-1")


@dataclass
class WatchSession(ProtocolSession):
    """One watch connection."""

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5093
    max_frame: ClassVar[int] = 32768
    """Watch (3G) protocol: frames carry voice and photo chunks besides reports; the
    largest captured frame is 5,813 bytes. 32 KiB."""

    _depth: int = field(default=0, repr=False)

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """The first balanced ``[...]`` (escapes resolved); bytes before ``[`` dropped.

        The bracket depth reached by the previous look is kept with ``scan_from``, so a
        long frame arriving in many reads is scanned once.
        """
        if self.scan_from == 0:
            start = buffer.find(b"[")
            if start < 0:
                buffer.clear()
                return None
            del buffer[:start]
            self._depth = 0
        depth = self._depth
        end = -1
        for match in _BRACKET.finditer(buffer, self.scan_from):
            depth += 1 if match.group() == b"[" else -1
            if depth == 0:
                end = match.end()
                break
        if end < 0:
            self._depth = depth
            self.scan_from = len(buffer)
            return None
        raw = bytes(buffer[:end])
        del buffer[:end]
        return _unescape(raw)

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one unescaped frame; see the module docstring."""
        if len(frame) < 8 or frame[:1] != b"[" or frame[-1:] != b"]" or frame[3:4] != b"*":
            raise ProtocolDecodeError(PROTOCOL, "not a [XX*id*len*content] frame", frame)
        maker = frame[1:3].decode("ascii")
        rest = frame[4:-1]
        star = rest.index(b"*")
        unique_id = rest[:star].decode("ascii")
        rest = rest[star + 1 :]
        index: str | None = None
        # an index is a 4-hex field followed by another 4-hex length field
        if (
            len(rest) > 10
            and rest[4:5] == b"*"
            and _INDEX.fullmatch(rest[5:9])
            and rest[9:10] == b"*"
        ):
            index = rest[:4].decode("ascii")
            rest = rest[5:]
        content = rest[5:]  # skip length (4 hex) and '*'
        comma = content.find(b",")
        kind = (content if comma < 0 else content[:comma]).decode("latin-1")
        data = b"" if comma < 0 else content[comma + 1 :]

        def answer(text: str) -> bytes:
            return reply(maker, unique_id, index, text)

        d = ReportDraft(unique_id=unique_id)
        upper = kind.upper()
        if kind == "INIT":
            return Decoded(reply=answer("INIT,1"), unique_id=unique_id)
        if kind in ("TKQ", "TKQ2"):
            return Decoded(reply=answer(kind), unique_id=unique_id)
        if kind == "LK":
            values = data.decode("latin-1").split(",") if data else []
            if len(values) < 3:
                return Decoded(reply=answer("LK"), unique_id=unique_id)
            d.extras["steps"] = int(values[0])
            d.extras["tumbles"] = int(values[1])
            d.battery_pct = float(int(values[2]))
            return Decoded(messages=(d.build(),), reply=answer("LK"), unique_id=unique_id)
        if kind.startswith(("UD", "AL", "WT")):
            if not _position(d, data.decode("latin-1")):
                return Decoded(unique_id=unique_id)
            ack = None
            if kind.startswith("AL"):
                if not d.alarms and not d.other_alarms:
                    d.alarm("general")
                ack = answer("AL")
            return Decoded(messages=(d.build(),), reply=ack, unique_id=unique_id)
        if upper in _HEALTH:
            if not data:
                return Decoded(unique_id=unique_id)
            _health(d, upper, data.decode("latin-1").split(","))
            return Decoded(messages=(d.build(),), unique_id=unique_id)
        if kind == "JXTK":
            # JXTK,<len>,<name>,<chunk no>,<chunk count>,<AMR bytes>
            head = data.split(b",", 4)
            current, total = int(head[2]), int(head[3])
            ack = answer("JXTKR,1")
            if current < total:
                return Decoded(reply=ack, unique_id=unique_id)
            d.extras["audio_bytes"] = len(head[4]) if len(head) > 4 else 0
            return Decoded(messages=(d.build(),), reply=ack, unique_id=unique_id)
        if kind in ("TK", "TK2"):
            if len(data) <= 1:
                return Decoded(unique_id=unique_id)
            d.extras["audio_bytes"] = len(data)
            return Decoded(messages=(d.build(),), unique_id=unique_id)
        if kind == "img":
            d.extras["image_bytes"] = max(0, len(data) - 14)
            return Decoded(messages=(d.build(),), unique_id=unique_id)
        return Decoded(unique_id=unique_id)


_BRACKET = re.compile(rb"[\[\]]")


def _unescape(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == ord("}"):
            code = raw[i + 1] if i + 1 < len(raw) else -1
            if code not in _UNESCAPE:
                raise ProtocolDecodeError(PROTOCOL, f"bad escape 0x7d 0x{code & 0xFF:02x}", raw)
            out.append(_UNESCAPE[code])
            i += 2
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def _degrees(value: str, hemisphere: str) -> float:
    number = float(value.strip())
    negative = number < 0 or hemisphere in ("S", "W")
    return -abs(number) if negative else abs(number)


def _position(d: ReportDraft, text: str) -> bool:
    v = text.split(",")
    if len(v) < 16 or not re.fullmatch(r"\d{6}", v[0]) or v[2] not in ("A", "V"):
        return False
    d.fix_time = dmy_hms_or_none(v[0], v[1])
    d.valid = v[2] == "A"
    d.latitude = _degrees(v[3], v[4])
    d.longitude = _degrees(v[5], v[6])
    d.speed_mps = float(v[7]) * KMH_MPS
    d.course_deg = float(v[8])
    d.altitude_m = float(v[9])
    d.satellites = int(v[10])
    d.extras["rssi"] = int(v[11])
    d.battery_pct = float(int(v[12]))
    d.extras["steps"] = int(v[13])
    status = int(v[15], 16)
    d.extras["status"] = status
    for bit, name in _STATUS_ALARMS:
        if status >> bit & 1:
            d.alarm(name)
            break
    if status >> 20 & 1:
        d.strap = "open"  # the wear sensor says the watch is off the wrist
    if status >> 4 & 1:
        d.extras["motion"] = True
    try:
        _network(d, v[16:])
    except (ValueError, IndexError):
        d.extras["network_raw"] = ",".join(v[16:])
    if d.fix_time is None:
        # a zeroed date and time: the watch has no time, so no fix; an impossible one
        # (day 0, month 13, hour 25): the status, strap and battery stay, the fix does not
        zeroed = not (v[0] + v[1]).strip("0.")
        d.drop_fix(*(() if zeroed else ("fix_time",)))
    return True


def _network(d: ReportDraft, v: list[str]) -> None:
    """Cells (count, TA, MCC, MNC, then LAC, CID, rssi each) and Wi-Fi (count, name, MAC, rssi)."""
    if not v or not v[0]:
        return
    i = 0
    count = int(v[i])
    i += 1
    cells = []
    if count > 0:
        i += 1  # timing advance
        mcc = int(v[i]) if v[i] else 0
        i += 1
        mnc = int(v[i]) if v[i] else 0
        i += 1
        for _ in range(count):
            lac, cid, rssi = v[i], v[i + 1], v[i + 2]
            i += 3
            cell = {"mcc": mcc, "mnc": mnc, "lac": _int(lac), "cid": _int(cid)}
            if rssi:
                cell["rssi"] = int(rssi)
            cells.append(cell)
    if cells:
        d.extras["cells"] = cells
    if i < len(v) and v[i].isdigit():
        wifi = []
        for _ in range(int(v[i])):
            mac, rssi = v[i + 2], v[i + 3]
            i += 3
            if mac and mac != "0" and rssi:
                wifi.append({"mac": mac, "rssi": int(rssi)})
        if wifi:
            d.extras["wifi"] = wifi


def _int(value: str) -> int:
    """Decimal, or hex when the value has hex letters (some firmwares send hex LAC/CID)."""
    return int(value, 16) if re.search(r"[A-Fa-f]", value) else int(value)


def _health(d: ReportDraft, kind: str, values: list[str]) -> None:
    if kind == "TEMP":
        d.extras["temp1"] = float(values[0])
    elif kind == "BTEMP2":
        if int(values[0]) > 0:
            d.extras["temp1"] = float(values[1])
    elif kind == "OXYGEN":
        d.extras["bloodOxygen"] = int(values[1])
    else:
        i = 0
        if kind in ("BPHRT", "BLOOD"):
            d.extras["pressureHigh"] = values[0]
            d.extras["pressureLow"] = values[1]
            i = 2
        if i < len(values):
            d.extras["heartRate"] = int(values[i])


SESSION = WatchSession
