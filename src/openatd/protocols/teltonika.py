"""Teltonika FM / FMB / GH trackers: Codec 7, 8, 8E, 16 (AVL) and 12 / 13 (serial), TCP and UDP.

Source: Teltonika "Codec" wiki pages (Codec 8, 8 Extended, 16, 12, 13; GH3000
Codec 7) and "FMB AVL ID" list. All integers big-endian.

TCP session::

    login:  IMEI length (2) | IMEI (ASCII)          -> reply 0x01 (accept) / 0x00 (refuse)
    data:   0x00000000 | data length (4) | data field | CRC-16/IBM (4, of the data field)
            -> reply: number of records accepted (4)
    ping:   0xFF (1 byte)                            -> no reply

UDP datagram::

    length (2) | packet id (2) | packet type (1) | AVL packet id (1) |
    IMEI length (2) | IMEI | data field
    -> reply: 0x0005 | packet id (2) | 0x01 | AVL packet id (1) | records accepted (1)

Data field: codec id (1) | record count (1) | records | record count (1).

AVL record (Codec 8 / 8E / 16)::

    timestamp (8, ms since 1970 UTC) | priority (1) |
    longitude (4, signed, 1e-7 degrees) | latitude (4, signed, 1e-7 degrees) |
    altitude (2, signed, m) | angle (2, degrees) | satellites (1) | speed (2, km/h) |
    event IO id (1; 2 in 8E and 16) | [generation type (1), Codec 16] |
    total IO count (1; 2 in 8E) |
    for N in 1, 2, 4, 8 bytes: count (1; 2 in 8E) then (IO id (1; 2 in 8E/16), value (N)) |
    [8E: count (2) then (IO id (2), length (2), value)]

A fix with 0 satellites is flagged invalid. The reply the decoder produces
for an IMEI login is 0x01 (accept): the ingest layer replaces it with 0x00
for a device it does not know. Record CRCs are not checked (TCP already
protects the stream, and several firmwares send a zero CRC or length).

IO elements are kept as ``extras["io<id>"]`` unless listed in :data:`IO_NAMES`;
the FMB-only ones (battery %, unplug, crash, towing, jamming, geofence, Eye
sensors) are read only when the session's ``model`` is an FMB-family name,
because other families use the same ids for other values.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from openatd.domain.messages import KMH_MPS, DeviceReport
from openatd.errors import ProtocolDecodeError
from openatd.protocols._common import ByteReader, ReportDraft, utc
from openatd.protocols.base import Decoded, ProtocolSession

PROTOCOL = "teltonika"

CODEC_GH3000 = 0x07
CODEC_8 = 0x08
CODEC_8_EXT = 0x8E
CODEC_12 = 0x0C
CODEC_13 = 0x0D
CODEC_16 = 0x10

_EPOCH = utc(1970, 1, 1)
_GH_EPOCH = utc(2007, 1, 1)
_MAX_MILLIS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_FMB = re.compile(r"FM[B-Z]...|MTB100|MSP500")
_FM6 = re.compile(r"FM.6..")

Setter = Callable[[ReportDraft, ByteReader], None]


def _set(key: str, read: Callable[[ByteReader], object]) -> Setter:
    def setter(d: ReportDraft, r: ByteReader) -> None:
        d.extras[key] = read(r)

    return setter


def _alarm_if(name: str) -> Setter:
    def setter(d: ReportDraft, r: ByteReader) -> None:
        if r.u8() > 0:
            d.alarm(name)

    return setter


def _battery_v(d: ReportDraft, r: ByteReader) -> None:
    d.battery_v = r.u16() / 1000.0


def _battery_pct(d: ReportDraft, r: ByteReader) -> None:
    d.battery_pct = float(r.u8())


def _hdop(d: ReportDraft, r: ByteReader) -> None:
    d.hdop = r.u16() / 10.0


def _driver(d: ReportDraft, r: ByteReader) -> None:
    value = int.from_bytes(r.take(8), "little")
    if value:
        d.extras["driverUniqueId"] = f"{value:016X}"


def _green_driving(d: ReportDraft, r: ByteReader) -> None:
    d.alarm({1: "hardAcceleration", 2: "hardBraking", 3: "hardCornering"}.get(r.u8()))


def _geofence(d: ReportDraft, r: ByteReader) -> None:
    d.alarm("geofenceEnter" if r.u8() > 0 else "geofenceExit")


def _u8(r: ByteReader) -> int:
    return r.u8()


def _bool(r: ByteReader) -> bool:
    return r.u8() > 0


def _s16(scale: float) -> Callable[[ByteReader], float]:
    return lambda r: r.sint(2) / scale


IO_NAMES: dict[int, Setter] = {
    # Universal AVL ids (all FM families).
    1: _set("in1", _bool), 2: _set("in2", _bool), 3: _set("in3", _bool), 4: _set("in4", _bool),
    16: _set("odometer", lambda r: r.u32()),
    17: _set("axisX", lambda r: r.sint(2)), 18: _set("axisY", lambda r: r.sint(2)),
    19: _set("axisZ", lambda r: r.sint(2)), 21: _set("rssi", _u8),
    25: _set("bleTemp1", _s16(100)), 26: _set("bleTemp2", _s16(100)),
    27: _set("bleTemp3", _s16(100)), 28: _set("bleTemp4", _s16(100)),
    66: _set("power", lambda r: r.u16() / 1000.0),  # external voltage, mV
    67: _battery_v,  # battery voltage, mV
    78: _driver,  # iButton id, little-endian
    179: _set("out1", _bool), 180: _set("out2", _bool),
    181: _set("pdop", lambda r: r.u16() / 10.0), 182: _hdop,
    199: _set("tripOdometer", lambda r: r.u32()),
    236: _alarm_if("general"),
    239: _set("ignition", _bool), 240: _set("motion", _bool),
    241: _set("operator", lambda r: r.u32()),
    253: _green_driving,
}  # fmt: skip

FMB_IO_NAMES: dict[int, Setter] = {
    9: _set("adc1", lambda r: r.u16() / 1000.0), 10: _set("adc2", lambda r: r.u16() / 1000.0),
    24: _set("gnssSpeed", lambda r: r.u16()),  # km/h
    113: _battery_pct,
    175: _geofence,
    246: _alarm_if("tow"), 247: _alarm_if("accident"), 249: _alarm_if("jamming"),
    251: _alarm_if("idle"), 252: _alarm_if("powerCut"),  # 252 = unplug
    10800: _set("eyeTemp1", _s16(100)), 10801: _set("eyeTemp2", _s16(100)),
    10802: _set("eyeTemp3", _s16(100)), 10803: _set("eyeTemp4", _s16(100)),
}  # fmt: skip

_BEACON_IDS = frozenset({548, 10828, 10829, 10831, 11317})


@dataclass
class TeltonikaSession(ProtocolSession):
    """One Teltonika connection (TCP) or one device's datagrams (UDP).

    Attributes:
        model: the configured device model (``"FMB130"`` ...); FMB-family ids are
            decoded only for FMB-family models.
        extended_io: the device sends a 16-byte IO group (Codec 8 only, a
            configuration option of some firmwares).
    """

    protocol: ClassVar[str] = PROTOCOL
    default_port: ClassVar[int] = 5027
    transports: ClassVar[frozenset[str]] = frozenset({"tcp", "udp"})

    max_frame: ClassVar[int] = 8192
    """Teltonika "Codec" documentation: an AVL data packet is at most 1,280 bytes on FM
    devices (larger on some trackers; the largest captured frame is 2,079 bytes). 8 KiB."""

    model: str | None = None
    extended_io: bool = False

    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut a ping (0xFF), an IMEI login, or an AVL packet (preamble + length + CRC)."""
        if not buffer:
            return None
        if buffer[0] == 0xFF:
            del buffer[:1]
            return b"\xff"
        if len(buffer) < 2:
            return None
        imei_length = int.from_bytes(buffer[:2], "big")
        if imei_length > 0:
            # no start marker to resynchronise on: a bad length drops the whole buffer
            total = self.check_length(buffer, 2 + imei_length, minimum=3, drop_all=True)
        else:
            if len(buffer) < 8:
                return None
            total = self.check_length(
                buffer, 8 + int.from_bytes(buffer[4:8], "big") + 4, minimum=13, drop_all=True
            )
        if len(buffer) < total:
            return None
        frame = bytes(buffer[:total])
        del buffer[:total]
        return frame

    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode a TCP frame (ping, login, AVL packet) or a UDP datagram.

        The forms are told apart by their first bytes: 0xFF ping; a length
        followed by that many ASCII digits is a TCP login; four zero bytes begin
        a TCP AVL packet; anything else must be a UDP datagram (length, packet id,
        packet type, AVL packet id, IMEI length, IMEI, data field).
        """
        if frame == b"\xff":
            return Decoded()
        if len(frame) < 8:
            raise ProtocolDecodeError(PROTOCOL, "frame shorter than 8 bytes", frame)
        head = int.from_bytes(frame[:2], "big")
        if head > 0 and head == len(frame) - 2 and frame[2:].isdigit():
            return Decoded(reply=b"\x01", unique_id=frame[2:].decode("ascii"))
        if frame[:4] == b"\x00\x00\x00\x00":
            r = ByteReader(frame, 8)
            messages, count, codec = self._data(r, frame, self.unique_id)
            ack = None if codec in (CODEC_12, CODEC_13) else count.to_bytes(4, "big")
            return Decoded(messages=messages, reply=ack)
        return self._udp(frame)

    def _udp(self, datagram: bytes) -> Decoded:
        r = ByteReader(datagram)
        r.skip(2)  # length
        packet_id = r.u16()
        r.skip(1)  # packet type
        avl_id = r.u8()
        imei = r.take(r.u16()).decode("ascii")
        if not imei.isdigit():
            raise ProtocolDecodeError(PROTOCOL, f"UDP IMEI {imei!r} is not digits", datagram)
        messages, count, _codec = self._data(r, datagram, imei)
        ack = b"\x00\x05" + packet_id.to_bytes(2, "big") + b"\x01" + bytes([avl_id, count & 0xFF])
        return Decoded(messages=messages, reply=ack, unique_id=imei)

    def _data(
        self, r: ByteReader, frame: bytes, unique_id: str | None
    ) -> tuple[tuple[DeviceReport, ...], int, int]:
        codec, count = r.u8(), r.u8()
        if codec not in (CODEC_GH3000, CODEC_8, CODEC_8_EXT, CODEC_12, CODEC_13, CODEC_16):
            raise ProtocolDecodeError(PROTOCOL, f"unknown codec 0x{codec:02x}", frame)
        reports: list[DeviceReport] = []
        for _ in range(count):
            d = ReportDraft(unique_id=unique_id)
            if codec == CODEC_13:
                keep = _codec13(r, d)
            elif codec == CODEC_12:
                keep = _codec12(r, d)
            elif codec == CODEC_GH3000:
                keep = _gh3000(r, d)
            else:
                keep = self._avl(r, d, codec)
            if keep:
                reports.append(d.build())
        return tuple(reports), count, codec

    def _avl(self, r: ByteReader, d: ReportDraft, codec: int) -> bool:
        wide = codec == CODEC_8_EXT
        wide_id = codec in (CODEC_8_EXT, CODEC_16)
        millis = r.uint(8)
        d.extras["priority"] = r.u8()
        longitude, latitude = r.sint(4) / 1e7, r.sint(4) / 1e7
        altitude, course, satellites, speed = r.sint(2), r.u16(), r.u8(), r.u16()
        if millis > _MAX_MILLIS:
            # an impossible time: the record's IO (battery, alarms) is still sound and is
            # delivered as a status report without a position (issue 14, item 7)
            d.extras["invalid_fields"] = "fix_time"
        else:
            d.fix_time = _EPOCH + timedelta(milliseconds=millis)
            d.longitude = longitude
            d.latitude = latitude
            d.altitude_m = float(altitude)
            d.course_deg = float(course)
            d.satellites = satellites
            d.valid = satellites != 0
            d.speed_mps = speed * KMH_MPS
        d.extras["event"] = r.u16() if wide_id else r.u8()
        if codec == CODEC_16:
            r.skip(1)  # generation type
        r.skip(2 if wide else 1)  # total IO count
        sizes = [1, 2, 4, 8] + ([16] if self.extended_io else [])
        for size in sizes:
            for _ in range(r.u16() if wide else r.u8()):
                io_id = r.u16() if wide_id else r.u8()
                self._io(d, io_id, ByteReader(r.take(size)), size)
        if wide:
            for _ in range(r.u16()):
                io_id, length = r.u16(), r.u16()
                _io_variable(d, io_id, r.take(length))
        return True

    def _io(self, d: ReportDraft, io_id: int, value: ByteReader, size: int) -> None:
        setter = IO_NAMES.get(io_id)
        model = self.model or ""
        fmb = bool(_FMB.fullmatch(model))
        if fmb and io_id in FMB_IO_NAMES and not (_FM6.fullmatch(model) and io_id >= 10800):
            setter = FMB_IO_NAMES[io_id]
        if setter is not None and size in (1, 2, 4, 8):
            try:
                setter(d, value)
                return
            except IndexError:
                value.pos = 0  # id with an unexpected width: keep it raw
        if size == 16:
            d.extras[f"io{io_id}"] = value.take(16).hex()
        else:
            d.extras[f"io{io_id}"] = value.uint(size)


def _io_variable(d: ReportDraft, io_id: int, data: bytes) -> None:
    """Codec 8 Extended variable-length IO elements (VIN, DTCs, BLE beacons)."""
    if io_id in (256, 325):
        d.extras["vin"] = data.decode("ascii", "replace")
    elif io_id == 281:
        d.extras["dtcs"] = data.decode("ascii", "replace").replace(",", " ")
    elif io_id in _BEACON_IDS:
        _ble_tags(d, ByteReader(data))
    else:
        d.extras[f"io{io_id}"] = data.hex()


def _ble_tags(d: ReportDraft, r: ByteReader) -> None:
    # BLE sensor list: header (1), then per tag: length (1) and TLV parameters
    # (id (1), length (1), value) - Teltonika "BLE sensors" AVL ids 548 / 10828-10831.
    r.skip(1)
    index = 1
    while r.left > 0:
        tag = ByteReader(r.take(r.u8()))
        prefix = f"tag{index}"
        while tag.left > 0:
            pid, size = tag.u8(), tag.u8()
            value = ByteReader(tag.take(size))
            if pid == 0:
                d.extras[f"{prefix}Rssi"] = value.sint(1)
            elif pid == 1:
                d.extras[f"{prefix}Id"] = value.take(size).hex()
            elif pid == 2:
                flags = value.u8()
                if flags & 0x40:
                    d.extras[f"{prefix}LowBattery"] = True
                if flags & 0x80:
                    d.extras[f"{prefix}Voltage"] = value.u8() * 10 + 2000  # mV
            elif pid == 5:
                d.extras[f"{prefix}Name"] = value.take(size).decode("utf-8", "replace")
            elif pid == 6:
                d.extras[f"{prefix}Temp"] = value.sint(2)
            elif pid == 7:
                d.extras[f"{prefix}Humidity"] = value.u8()
            elif pid == 8:
                d.extras[f"{prefix}Magnet"] = value.u8() > 0
            elif pid == 9:
                d.extras[f"{prefix}Motion"] = value.u8() > 0
            elif pid == 10:
                d.extras[f"{prefix}MotionCount"] = value.u16()
            elif pid == 13:
                d.extras[f"{prefix}LowBattery"] = value.u8()
            elif pid == 14:
                d.extras[f"{prefix}Battery"] = value.u16()
            elif pid == 15:
                d.extras[f"{prefix}Mac"] = value.take(6).hex()
        index += 1


def _printable(data: bytes) -> bool:
    return all(32 <= b < 127 or b in (9, 10, 13) for b in data)


def _codec12(r: ByteReader, d: ReportDraft) -> bool:
    # Codec 12 response: type (1: 0x06 response, 0x0D camera), size (4), payload.
    kind = r.u8()
    size = r.u32()
    payload = r.take(size)
    if kind == 0x0D:
        return False  # camera image transfer: not supported, nothing to report
    d.extras["type"] = kind
    if _printable(payload):
        d.extras["result"] = payload.decode("ascii").strip()
    else:
        d.extras["result"] = payload.hex()
    return True


def _codec13(r: ByteReader, d: ReportDraft) -> bool:
    # Codec 13: type (1), size (4, includes the timestamp), timestamp (4, s), payload.
    r.skip(1)
    size = r.u32() - 4
    d.extras["device_time"] = (_EPOCH + timedelta(seconds=r.u32())).isoformat()
    payload = r.take(size)
    if _printable(payload):
        text = payload.decode("ascii").strip()
        if text.startswith("GTSL"):
            d.extras["driverUniqueId"] = text.split("|")[4]
        else:
            d.extras["result"] = text
    else:
        d.extras["result"] = payload.hex()
    return True


_GH_IO: dict[int, Callable[[ReportDraft, int], None]] = {
    1: lambda d, v: setattr(d, "battery_pct", float(v)),
    67: lambda d, v: setattr(d, "battery_v", v / 1000.0),
    20: lambda d, v: setattr(d, "hdop", v / 10.0),
    222: lambda d, v: d.alarm("sos" if v == 1 else None),
}


def _gh3000(r: ByteReader, d: ReportDraft) -> bool:
    # Codec 7 (GH3000 personal trackers): time (4, bits 29-0 = s since 2007-01-01),
    # global mask (1: bit 0 location, bits 1-3 IO groups of 1/2/4 bytes), location
    # mask (1) then, per bit: 0 lat+lon (IEEE float each), 1 altitude (2),
    # 2 angle (1, ×360/256), 3 speed (1, km/h), 4 satellites (1), 5 LAC+cell id
    # (2+2), 6 signal (1), 7 operator (4).
    when = _GH_EPOCH + timedelta(seconds=r.u32() & 0x3FFFFFFF)
    mask = r.u8()
    if mask & 0x01:
        d.fix_time = when
        loc = r.u8()
        if loc & 0x01:
            d.latitude = _float32(r.take(4))
            d.longitude = _float32(r.take(4))
        if loc & 0x02:
            d.altitude_m = float(r.u16())
        if loc & 0x04:
            d.course_deg = r.u8() * 360.0 / 256.0
        if loc & 0x08:
            d.speed_mps = r.u8() * KMH_MPS
        if loc & 0x10:
            d.satellites = r.u8()
        if loc & 0x20:
            d.extras["cell"] = {"lac": r.u16(), "cid": r.u16()}
        if loc & 0x40:
            d.extras["rssi"] = r.u8()
        if loc & 0x80:
            d.extras["operator"] = r.u32()
    else:
        d.extras["device_time"] = when.isoformat()
    for bit, size in ((0x02, 1), (0x04, 2), (0x08, 4)):
        if mask & bit:
            for _ in range(r.u8()):
                io_id, value = r.u8(), r.uint(size)
                handler = _GH_IO.get(io_id)
                if handler is not None:
                    handler(d, value)
                elif io_id == 240:
                    d.extras["motion"] = value == 1
                else:
                    d.extras[f"io{io_id}"] = value
    return True


def _float32(raw: bytes) -> float:
    value: float = struct.unpack(">f", raw)[0]
    return value


SESSION = TeltonikaSession
