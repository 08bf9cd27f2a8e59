"""Queclink @Track protocol (GL200/GL300/GL320/GL500 personal trackers, GV vehicle units), text.

Source: *Queclink @Track Air Interface Protocol* (GL300/GL320M/GL500/GV300/GV350M
editions): report messages ``+RESP:GTxxx`` (``+BUFF:GTxxx`` when sent from the
buffer), acknowledgements ``+ACK:GTxxx``, heartbeat ``+ACK:GTHBD`` answered by the
server with ``+SACK:GTHBD,<protocol version>,<count number>$``. Text frames end
with ``$`` (the delimiter is not part of the frame); the binary form of the same
messages (``+RSP``/``+EVT``/... or a 0x00 second byte) is length-prefixed.

Text layout: ``+RESP:GTxxx,<protocol version>,<IMEI>,<device name>,<message fields>,
<send time YYYYMMDDHHMMSS>,<count number hex>$``. Every fix is a "GPS block" of
fields ``<GPS accuracy (HDOP, 0 = no fix)>,<speed km/h>,<azimuth deg>,<altitude m>,
<longitude>,<latitude>,<GPS UTC time YYYYMMDDHHMMSS>,<MCC>,<MNC>,<LAC hex>,<cell id hex>``;
a message may carry several blocks (``<number>`` of them), each one fix. The
fields before and after the blocks depend on the message and device family; the
ones read here are documented where they are read.

Units: speed km/h -> m/s; altitude metres; voltages mV -> volts; battery in %.
``extras`` use Traccar's attribute names and units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from openatd.domain.messages import KMH_MPS, Alarm, DeviceReport, ReportKind
from openatd.errors import ProtocolDecodeError
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "gl200"

_TIME = re.compile(r"^\d{14}$")
_COORD = re.compile(r"^-?\d{1,3}\.\d+$")
_IMEI = re.compile(r"^(\d{15}|[0-9A-Fa-f]{14})$")
_STATUS = re.compile(r"^[0-9A-F]{6}$")
_BINARY_HEADERS = {b"+RSP", b"+BSP", b"+EVT", b"+BVT", b"+INF", b"+BNF", b"+HBD", b"+CRD",
                   b"+BRD", b"+LGN"}  # fmt: skip

_TYPE_ALARMS: dict[str, Alarm] = {
    "SOS": Alarm.SOS,
    "PFA": Alarm.POWER_OFF,  # power off by the user
    "MPF": Alarm.POWER_CUT,  # main (external) power disconnected
    "EPF": Alarm.POWER_CUT,  # external power disconnected
    "BPL": Alarm.LOW_BATTERY,  # backup battery low
    "SPD": Alarm.OVERSPEED,
}
"""Report types that are OpenATD alarms in themselves."""

_TYPE_OTHER_ALARMS: dict[str, str] = {
    "PNA": "powerOn",
    "MPN": "powerRestored",
    "EPN": "powerRestored",
    "JDS": "jamming",
    "JDR": "jamming",
    "CRA": "accident",
    "TOW": "tow",
}
"""Report types kept as ``extras["alarm"]`` under Traccar's alarm names."""


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _gps_blocks(f: list[str]) -> list[int]:
    """Indices of the GPS UTC time field of every GPS block (preceded by lon, lat)."""
    return [
        t
        for t in range(6, len(f))
        if _TIME.match(f[t])
        and _COORD.match(f[t - 1])
        and _COORD.match(f[t - 2])
        and abs(float(f[t - 1])) <= 90.0
    ]


@dataclass
class Gl200Session(ProtocolSession):
    """One Queclink connection (TCP) or datagram source (UDP); see the module docstring.

    Replies: ``+SACK:GTHBD,<version>,<count>$`` to heartbeats. Other reports need no
    reply unless the device is configured for server acknowledgements (``AT+GTSRI``
    with SACK enabled); set :attr:`sack_all` for those devices to answer every report
    with ``+SACK:<count number>$``.
    """

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5004
    transports: ClassVar[frozenset[str]] = frozenset({"tcp", "udp"})
    max_frame: ClassVar[int] = 4096
    """Queclink @Track protocol: text reports are a few hundred bytes, binary records
    carry a 2-byte length; the largest captured frame is 1,422 bytes. 4 KiB."""

    sack_all: bool = False

    # -- framing ----------------------------------------------------------------------

    @staticmethod
    def _is_binary(buffer: bytes | bytearray) -> bool:
        if len(buffer) > 1 and buffer[1] == 0:
            return True
        head = bytes(buffer[:4])
        if head == b"+ACK":
            return buffer[4:5] != b":"
        return head in _BINARY_HEADERS

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Binary frames by their length field; text frames up to ``$`` (or NUL)."""
        start = buffer.find(b"+")
        if start < 0:
            buffer.clear()
            return None
        del buffer[:start]
        if len(buffer) < 11:
            return None
        if self._is_binary(buffer):
            head = bytes(buffer[:4])
            if buffer[1] == 0:
                length = int.from_bytes(buffer[2:4], "big")
            elif head == b"+ACK":
                length = buffer[6]
            elif head in (b"+INF", b"+BNF"):
                length = int.from_bytes(buffer[7:9], "big")
            elif head == b"+HBD":
                length = buffer[5]
            elif head in (b"+CRD", b"+BRD", b"+LGN"):
                length = int.from_bytes(buffer[6:8], "big")
            else:
                length = int.from_bytes(buffer[9:11], "big")
            self.check_length(buffer, length, minimum=4)
            if len(buffer) < length:
                return None
            frame = bytes(buffer[:length])
            del buffer[:length]
            return frame
        # scan only what arrived since the last look (no quadratic rescans)
        end = buffer.find(b"$", self.scan_from)
        if end < 0:
            end = buffer.find(b"\x00", self.scan_from)
        if end < 0:
            self.scan_from = len(buffer)
            return None
        frame = bytes(buffer[:end])
        del buffer[: end + 1]
        return frame

    # -- decoding ---------------------------------------------------------------------

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one text or binary @Track message."""
        if self._is_binary(frame):
            return self._decode_binary(frame)
        text = frame.decode("latin-1").strip().rstrip("$")
        if not text.startswith("+") or ":" not in text[:8]:
            raise ProtocolDecodeError(PROTOCOL, "not an @Track message", frame)
        f = text.split(",")
        head = f[0]
        kind, _, msg = head[1:].partition(":")
        msg_type = msg[2:] if msg.startswith("GT") else msg
        imei_at = next((i for i in (2, 1) if i < len(f) and _IMEI.match(f[i])), None)
        if imei_at is None:
            raise ProtocolDecodeError(PROTOCOL, f"{head} carries no IMEI", frame)
        uid = f[imei_at]
        if kind == "ACK" and msg_type == "HBD":
            return Decoded(reply=f"+SACK:GTHBD,{f[1]},{f[-1]}$".encode(), unique_id=uid)
        reply = f"+SACK:{f[-1]}$".encode() if self.sack_all and kind in ("RESP", "BUFF") else None
        reports = self._decode_text(kind, msg_type, f, uid, imei_at)
        return Decoded(tuple(reports), reply, uid)

    def _decode_text(
        self, kind: str, msg_type: str, f: list[str], uid: str, imei_at: int
    ) -> list[DeviceReport]:
        common: dict[str, Any] = {"type": msg_type}
        if kind == "BUFF":
            common["archive"] = True
        alarms: set[Alarm] = set()
        if msg_type in _TYPE_ALARMS:
            alarms.add(_TYPE_ALARMS[msg_type])
        if msg_type in _TYPE_OTHER_ALARMS:
            common["alarm"] = _TYPE_OTHER_ALARMS[msg_type]
        if msg_type == "IGN":
            common["ignition"] = True
        elif msg_type == "IGF":
            common["ignition"] = False
        elif msg_type == "DAR" and len(f) > 4:
            common["warningType"] = int(f[4])  # driver assistance warning type
        if kind == "ACK":
            common["result"] = f[0][1:]
        blocks = _gps_blocks(f)
        battery_pct: float | None = None
        last_extras: dict[str, Any] = {}
        if blocks:
            t = blocks[-1]
            tail = f[t + 5 : -2]  # after MCC, MNC, LAC, cell id; before send time, count
            battery_pct = self._battery(msg_type, f, blocks[0], tail)
            if msg_type == "ERI" and imei_at + 2 < len(f):
                _eri_data(int(f[imei_at + 2], 16), tail, last_extras)
            first = blocks[0] - 6  # GPS accuracy field of the first block
            if msg_type in ("BAA", "BID") and first - 1 > imei_at:
                # Bluetooth accessory alarm/report: accessory voltage in mV before the fix
                mv = _int(f[first - 1])
                if mv is not None:
                    last_extras["accessoryVoltage"] = mv / 1000.0
        elif msg_type in ("INF",) and len(f) > 12:
            self._inf(f, imei_at, last_extras)
        elif msg_type == "DTT" and len(f) > 4:
            _dtt_data(f[-3], last_extras)
        if not blocks:
            return [
                DeviceReport(
                    kind=ReportKind.HEARTBEAT,
                    unique_id=uid,
                    battery_pct=battery_pct,
                    alarms=frozenset(alarms),
                    extras={**common, **last_extras},
                )
            ]
        reports = []
        for n, t in enumerate(blocks):
            last = n == len(blocks) - 1
            extras = dict(common)
            if t + 4 < len(f) and f[t + 4]:
                extras["cell"] = {
                    "mcc": f[t + 1],
                    "mnc": f[t + 2],
                    "lac": f[t + 3],
                    "cid": f[t + 4],
                }
            if last:
                extras.update(last_extras)
            hdop = _float(f[t - 6])
            speed = _float(f[t - 5])
            course = _float(f[t - 4])
            altitude = _float(f[t - 3])
            reports.append(
                DeviceReport(
                    unique_id=uid,
                    fix_time=_time(f[t]),
                    latitude=float(f[t - 1]),
                    longitude=float(f[t - 2]),
                    valid=hdop is None or hdop > 0,
                    hdop=hdop,
                    speed_mps=speed * KMH_MPS if speed is not None else None,
                    course_deg=course,
                    altitude_m=altitude,
                    battery_pct=battery_pct if last else None,
                    alarms=frozenset(alarms),
                    extras=extras,
                )
            )
        return reports

    @staticmethod
    def _battery(msg_type: str, f: list[str], first: int, tail: list[str]) -> float | None:
        """Battery percentage, where the message family documents one.

        - GL500/GL530 ``CTN``/``STR``/``STT``-style: ``...,<battery %>,<GPS accuracy>,...``
          (the field before the first GPS block's accuracy).
        - GV series: ``...,<mileage>,<hour meter>,<ADC>...,<backup battery %>,<device
          status (6 hex)>,...`` after the last block.
        - GL300-series tails: ``<reserved>,<battery %>`` or ``<reserved>,<rssi>,
          <battery %>`` or ``<reserved>,<rssi>,<battery mV>,<battery %>,<mode>,<motion>,
          <temperature>``.
        """

        def pct(text: str) -> float | None:
            value = _int(text)
            return float(value) if value is not None and value <= 100 else None

        if msg_type in ("CTN", "STR"):
            return pct(f[first - 7]) if first - 7 > 2 else None
        status_at = next((i for i, v in enumerate(tail) if _STATUS.match(v)), None)
        if status_at is not None and status_at > 0 and any("." in v for v in tail[:status_at]):
            return pct(tail[status_at - 1])
        if len(tail) == 7:
            return pct(tail[3])
        if len(tail) in (2, 3):
            return pct(tail[-1])
        return None

    @staticmethod
    def _inf(f: list[str], imei_at: int, extras: dict[str, Any]) -> None:
        """``GTINF`` device information (no fix): ``<state>,<ICCID>,<CSQ RSSI>,<CSQ BER>,
        <external power supply 0/1>,<external power mV>,...,<backup battery V>,
        <charging>,...``; newer GV units add a second power input in mV."""
        i = imei_at + 2
        extras["state"] = f[i]
        extras["iccid"] = f[i + 1]
        extras["rssi"] = _int(f[i + 2])
        for j in range(i + 4, min(i + 9, len(f))):
            v = f[j]
            if re.fullmatch(r"\d\.\d{1,2}", v):
                extras["battery"] = float(v)
                mv = [_int(x) for x in f[i + 5 : j]]
                volts = [x / 1000.0 for x in mv if x is not None and x > 1000]
                if volts:
                    extras["power"] = volts[0]
                if len(volts) > 1:
                    extras["power2"] = volts[1]
                break

    # -- binary -----------------------------------------------------------------------

    def _decode_binary(self, frame: bytes) -> Decoded:
        """Binary @Track messages (GL300/GV binary protocol).

        ``+RSP``/``+BSP`` (position reports) and ``+EVT``/``+BVT`` (events): type u8,
        mask u32, length u16, device type u8, protocol version u16, firmware u16, IMEI
        u64 (decimal), battery % u8, external power mV u16, [GEO: 2 reserved], motion
        u8, satellites u8, [index u8], then GPS blocks (:func:`_binary_block`).
        ``+ACK``: command acknowledgement (no position). A 0x00 second byte marks the
        newer record-based form (:meth:`_decode_records`).
        """
        if frame[1] == 0:
            reports = self._decode_records(frame)
            uid = reports[0].unique_id if reports else None
            return Decoded(tuple(reports), unique_id=uid)
        head = frame[:4]
        if head in (b"+RSP", b"+BSP"):
            reports = self._decode_rsp(frame)
        elif head in (b"+EVT", b"+BVT"):
            reports = [self._decode_evt(frame)]
        else:
            return Decoded()  # +ACK, +INF, +HBD ...: no position
        return Decoded(tuple(reports), unique_id=reports[0].unique_id if reports else None)

    @staticmethod
    def _binary_head(r: _Reader) -> tuple[int, str, float, float]:
        """type, IMEI, battery %, power V from the common binary header."""
        kind = r.u8()
        r.take(4 + 2 + 1 + 2 + 2)  # mask, length, device type, protocol version, firmware
        imei = f"{r.u(8):015d}"
        battery = float(r.u8())
        power = r.u(2) / 1000.0
        return kind, imei, battery, power

    def _decode_rsp(self, frame: bytes) -> list[DeviceReport]:
        r = _Reader(frame, 4)
        kind, imei, battery, power = self._binary_head(r)
        if kind == 8:  # GEO report: two reserved bytes
            r.take(2)
        r.u8()  # motion status
        satellites = r.u8()
        if kind == 100:
            return _compressed_track(r, imei)
        r.u8()  # report index
        if kind == 3:  # location by call: phone number, BCD ended by an F nibble
            r.u8()
            while True:
                b = r.u8()
                if b & 0x0F == 0x0F or b & 0xF0 == 0xF0:
                    break
        extras = {"type": kind, "power": power}
        return [
            _binary_block(r, imei, battery, satellites, dict(extras), frozenset())
            for _ in range(r.u8())
        ]

    def _decode_evt(self, frame: bytes) -> DeviceReport:
        r = _Reader(frame, 4)
        kind, imei, battery, power = self._binary_head(r)
        r.u8()  # motion status
        satellites = r.u8()
        # event-specific fields before the GPS block, by event type
        skip = {6: 2, 45: 7, 46: 7, 15: 3, 17: 4, 21: 5, 26: 12, 31: 2, 35: 1, 33: 1, 23: 1, 34: 3}
        r.take(skip.get(kind, 0))
        r.u8()  # count
        alarms = frozenset({Alarm.LOW_BATTERY}) if kind == 6 else frozenset()
        extras: dict[str, Any] = {"event": kind, "power": power}
        return _binary_block(r, imei, battery, satellites, extras, alarms)

    def _decode_records(self, frame: bytes) -> list[DeviceReport]:
        """Record form: header u8, identifier u8 (0), frame length u16, flags u8 (bit7:
        frame count/number u16 follows), IMEI 8 bytes BCD (first nibble padding), device
        type u16, protocol version u16, custom version u8, reserved (length u8 + bytes),
        then records up to the last 4 bytes: record length (variable), generated time
        u32, count u16, record id u8, event code u8, then data items (id, length both
        variable). Item 0x52 is the GNSS fix: flags u8 (bits 2-3 = 0b10 fix valid),
        lon/lat i32 1e-6 deg, time u32 Unix s, speed u16 0.1 km/h, HDOP u8 x10, course
        u16, altitude u24 0.1 m, satellites u8."""
        r = _Reader(frame)
        r.take(2)
        frame_length = r.u(2)
        if r.u8() & 0x80:
            r.take(2)
        imei = r.take(8).hex()[1:]
        r.take(2 + 2 + 1)
        r.take(r.u8())
        end = min(frame_length, len(frame)) - 4
        reports = []
        while r.pos < end:
            record_start = r.pos
            record_end = record_start + r.varlen()
            if record_end <= r.pos:
                raise ProtocolDecodeError(PROTOCOL, f"record length 0 at {record_start}", frame)
            r.take(4 + 2 + 1)
            event = r.u8()
            while r.pos < record_end:
                item_id = r.varlen()
                length_at = r.pos
                item_end = length_at + r.varlen()  # the length counts its own field
                if item_end <= length_at:
                    raise ProtocolDecodeError(PROTOCOL, f"item length 0 at {length_at}", frame)
                if item_id == 0x52:
                    flags = r.u8()
                    lon = r.s32() / 1e6
                    lat = r.s32() / 1e6
                    fix_time = datetime.fromtimestamp(r.u(4), UTC)
                    speed = r.u(2) / 10.0 * KMH_MPS
                    hdop = r.u8() / 10.0
                    course = float(r.u(2))
                    altitude = r.u(3) / 10.0
                    reports.append(
                        DeviceReport(
                            unique_id=imei,
                            fix_time=fix_time,
                            latitude=lat,
                            longitude=lon,
                            valid=(flags >> 2 & 3) == 0b10,
                            speed_mps=speed,
                            hdop=hdop,
                            course_deg=course,
                            altitude_m=altitude,
                            satellites=r.u8(),
                            extras={"event": event},
                        )
                    )
                r.pos = item_end
            r.pos = record_end
        return reports


class _Reader:
    """A big-endian cursor over a binary frame."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"binary field of {n} bytes runs past the end at {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def u8(self) -> int:
        return self.u(1)

    def s16(self) -> int:
        return int.from_bytes(self.take(2), "big", signed=True)

    def s32(self) -> int:
        return int.from_bytes(self.take(4), "big", signed=True)

    def varlen(self) -> int:
        """One byte, or two when the first has bit 7 set (15-bit value)."""
        value = self.u8()
        if value & 0x80:
            value = (value & 0x7F) << 8 | self.u8()
        return value


def _compressed_track(r: _Reader, imei: str) -> list[DeviceReport]:
    """Compressed track (+RSP type 100): count u16, then points, one second apart.

    A point starts with 2 bits: ``01`` full point (3 bytes of bits: 2 attribute, 1 fix
    type, 12 speed 0.1 km/h, 9 heading deg; then lon i32, lat i32 1e-6 deg and, for the
    first full point, time u32 Unix s); ``10`` delta point (5 bytes of bits: 2 attribute,
    1 fix type, signed deltas speed 7, heading 7, lon 12, lat 11 bits); else one byte
    (an invalid or repeated point, skipped)."""

    def bits(raw: bytes, widths: tuple[int, ...]) -> list[int]:
        value, left, out = int.from_bytes(raw, "big"), len(raw) * 8, []
        for width in widths:
            left -= width
            out.append(value >> left & ((1 << width) - 1))
        return out

    def signed(value: int, width: int) -> int:
        return value - (1 << width) if value >> (width - 1) & 1 else value

    reports: list[DeviceReport] = []
    speed = heading = lat = lon = 0
    time = 0
    for _ in range(r.u(2)):
        if time > 0:
            time += 1
        mode = r.data[r.pos] >> 6 if r.pos < len(r.data) else 0
        if mode == 1:
            _, _, speed, heading = bits(r.take(3), (2, 1, 12, 9))
            lon, lat = r.s32(), r.s32()
            if time == 0:
                time = r.u(4)
        elif mode == 2:
            _, _, ds, dh, dlon, dlat = bits(r.take(5), (2, 1, 7, 7, 12, 11))
            speed += signed(ds, 7)
            heading += signed(dh, 7)
            lon += signed(dlon, 12)
            lat += signed(dlat, 11)
        else:
            r.u8()
            continue
        reports.append(
            DeviceReport(
                unique_id=imei,
                fix_time=datetime.fromtimestamp(time, UTC),
                latitude=lat / 1e6,
                longitude=lon / 1e6,
                speed_mps=speed / 10.0 * KMH_MPS,
                course_deg=float(heading),
                extras={"type": 100},
            )
        )
    return reports


def _binary_block(
    r: _Reader,
    imei: str,
    battery: float,
    satellites: int,
    extras: dict[str, Any],
    alarms: frozenset[Alarm],
) -> DeviceReport:
    """Binary GPS block: HDOP u8 (0 = no fix), speed u24 0.1 km/h, course u16, altitude
    i16 m, lon i32 and lat i32 1e-6 deg, time (year u16, month, day, hour, minute,
    second u8), MCC u16, MNC u16, LAC u16, cell id u16, reserved u8."""
    hdop = r.u8()
    speed = r.u(3) / 10.0 * KMH_MPS
    course = float(r.u(2))
    altitude = float(r.s16())
    lon = r.s32() / 1e6
    lat = r.s32() / 1e6
    year = r.u(2)
    month, day, hour, minute, second = r.take(5)
    extras["cell"] = {"mcc": r.u(2), "mnc": r.u(2), "lac": r.u(2), "cid": r.u(2)}
    r.u8()
    try:
        fix_time = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        # no fix (a zeroed time) or an impossible one: the status and alarms are still
        # sound and are delivered without a position (issue 14, item 7)
        if year or month or day or hour or minute or second:
            extras["invalid_fields"] = "fix_time"
        return DeviceReport(
            kind=ReportKind.HEARTBEAT,
            unique_id=imei,
            satellites=satellites,
            battery_pct=battery,
            alarms=alarms,
            extras=extras,
        )
    return DeviceReport(
        unique_id=imei,
        fix_time=fix_time,
        latitude=lat,
        longitude=lon,
        valid=hdop > 0,
        hdop=float(hdop),
        speed_mps=speed,
        course_deg=course,
        altitude_m=altitude,
        satellites=satellites,
        battery_pct=battery,
        alarms=alarms,
        extras=extras,
    )


def _eri_data(mask: int, tail: list[str], extras: dict[str, Any]) -> None:
    """``GTERI`` extra data after ``<device status>,<reserved>``, selected by the ERI
    mask: bit 0 digital fuel sensor (one hex level, or on UART units ``<count>,
    (<type>,<uart id>,<level hex>)...``), bit 1 1-wire sensors ``<count>,(<id>,<type>,
    <temperature hex, signed 1/16 degC>)...``."""
    status_at = next((i for i, v in enumerate(tail) if _STATUS.match(v)), None)
    if status_at is None:
        return
    data = tail[status_at + 2 :]
    if mask & 1 and data:
        if len(data) == 1 or (len(data) > 1 and not mask & 2 and len(data) < 4):
            if data[0]:
                extras["fuel"] = int(data[0], 16)
            data = data[1:]
        elif len(data) >= 4 and data[0].isdigit():
            count = min(int(data[0]), len(data))
            levels = data[1 : 1 + 3 * count]
            if len(levels) == 3 * count and count:
                extras["fuel"] = int(levels[2], 16)
            data = data[1 + 3 * count :]
    if mask & 2 and data and data[0].isdigit():
        # the count is read from the wire: never loop past the items actually present
        count = min(int(data[0]), (len(data) - 1) // 3)
        for n in range(1, count + 1):
            item = data[1 + 3 * (n - 1) : 1 + 3 * n]
            if len(item) == 3 and item[2]:
                raw = int(item[2], 16)
                extras[f"temp{n}"] = (raw - 0x10000 if raw & 0x8000 else raw) * 0.0625


def _dtt_data(hex_data: str, extras: dict[str, Any]) -> None:
    """``GTDTT`` transparent data (hex of the serial payload); fuel sensors send
    ``COMB,<n>,<fuel level>,...`` lines."""
    try:
        text = bytes.fromhex(hex_data).decode("latin-1")
    except ValueError:
        return
    extras["data"] = text
    for line in text.splitlines():
        parts = line.split(",")
        if parts[0] == "COMB" and len(parts) > 2:
            level = _float(parts[2])
            if level is not None:
                extras["fuel"] = level


SESSION = Gl200Session
