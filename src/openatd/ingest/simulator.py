"""Simulated trackers: TEST TOOLING that drives the ingest servers over real loopback sockets.

Nothing here runs in production. ``openatd simulate`` and ``bench/ingest.py``
use it to connect N devices, replay real GPS traces through them by *encoding*
frames in a tracker protocol, and read the device-side ACKs to measure the
achieved rate and the ACK latency (send → ACK received, which includes durable
storage: the servers ACK only after the sink stored the positions).

Encoders (the device side of each protocol; the byte layouts are the ones the
decoders read, documented field by field below):

* ``gt06``: login 0x01 and GPS+LBS position 0x22, CRC-ITU (CRC-16/X-25).
  Position ACKs are matched by the packet serial number.
* ``teltonika``: IMEI login (2-byte length + ASCII, ACK ``0x01``) and Codec 8
  AVL data packets (CRC-16/IBM, a.k.a. CRC-16/ARC); the ACK is the record count
  (4 bytes), matched in order.
* ``gps103``: text ``##,imei:…,A;`` login (ACK ``LOAD``) and
  ``imei:…,tracker,…;`` positions, which the protocol does not acknowledge.
* ``h02``: text ``*HQ,…,V1,…#`` positions; no login, no ACK.

Fix times: a trace's own dates are years old and would be dropped by the
position filter's age check, so each device's fixes are re-timed to end at the
moment the run starts, keeping the trace's spacing clamped to 1..60 s (see
:func:`device_fixes`); coordinates, speeds and courses are the trace's. Fix
times stay unique and increasing per device at any sending rate.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, cast

from crc import Calculator, Crc16

from openatd.errors import InvalidInput
from openatd.ingest.traces import read_trace

__all__ = [
    "ENCODERS",
    "Fix",
    "SimulationReport",
    "device_fixes",
    "device_ids",
    "load_fixes",
    "simulate",
]

_IP_BIND_ADDRESS_NO_PORT = 24  # Linux <linux/in.h>: choose the source port at connect()

_CRC_X25 = Calculator(Crc16.X25.value, optimized=True)  # CRC-ITU as GT06 uses it
_CRC_IBM = Calculator(Crc16.IBM.value, optimized=True)  # CRC-16/IBM (ARC), Teltonika

KMH_PER_MPS = 3.6
KNOTS_PER_MPS = 3600.0 / 1852.0


@dataclass(frozen=True, slots=True)
class Fix:
    """One trace point to send: degrees WGS84, UTC fix time, m/s, degrees, metres."""

    time: datetime
    latitude: float
    longitude: float
    speed_mps: float = 0.0
    course_deg: float = 0.0
    altitude_m: float = 0.0


# -- traces --------------------------------------------------------------------------------


def _read_file(path: Path) -> list[list[Fix]]:
    """One trace file's fixes (via :func:`openatd.ingest.traces.read_trace`), split into runs.

    A run breaks where time goes backwards or more than ten minutes pass (a file
    such as go_track's CSV holds many tracks).
    """
    runs: list[list[Fix]] = [[]]
    last: Fix | None = None
    for p in read_trace(path):
        fix = Fix(
            p.time,
            p.latitude,
            p.longitude,
            p.speed_mps or 0.0,
            p.course_deg or 0.0,
            p.altitude_m or 0.0,
        )
        if last is not None and not timedelta(0) <= fix.time - last.time <= timedelta(minutes=10):
            runs.append([])
        runs[-1].append(fix)
        last = fix
    return [r for r in runs if len(r) >= 2]


def _with_motion(fixes: list[Fix]) -> list[Fix]:
    """Fill speed/course from consecutive fixes where the trace has none (haversine)."""
    out: list[Fix] = []
    for a, b in itertools.pairwise(fixes):
        if a.speed_mps or a.course_deg:
            out.append(a)
            continue
        dt = (b.time - a.time).total_seconds()
        lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
        dlon = math.radians(b.longitude - a.longitude)
        y = math.sin(dlon) * math.cos(lat2)
        x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
        h = (
            math.sin((lat2 - lat1) / 2) ** 2
            + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
        )
        dist = 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))
        speed = dist / dt if dt > 0 else 0.0
        course = (math.degrees(math.atan2(y, x)) + 360.0) % 360.0
        out.append(Fix(a.time, a.latitude, a.longitude, min(speed, 60.0), course, a.altitude_m))
    if fixes:
        out.append(fixes[-1])
    return out


def load_fixes(path: Path, limit: int | None = None) -> list[list[Fix]]:
    """Traces under *path* (a file, or a folder searched for ``.plt`` / ``.csv`` / ``.gpx``).

    Returns one list of fixes per continuous run, at most about *limit* fixes in all.

    Raises:
        InvalidInput: nothing readable found.
    """
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.rglob("*") if p.suffix.lower() in {".plt", ".csv", ".gpx"})
    )
    traces: list[list[Fix]] = []
    total = 0
    for f in files:
        try:
            runs = _read_file(f)
        except InvalidInput:
            continue  # not a trace (e.g. go_track's per-track metadata CSV)
        for fixes in runs:
            traces.append(_with_motion(fixes))
            total += len(fixes)
        if limit is not None and total >= limit:
            break
    if not traces:
        raise InvalidInput(f"no readable GPS trace under {path}")
    return traces


def device_fixes(traces: list[list[Fix]], index: int, count: int, end: datetime) -> list[Fix]:
    """The *count* fixes simulated device number *index* sends, re-timed to end at *end*.

    Device *index* replays trace ``index % len(traces)`` from a per-device offset,
    walking back along it when it reaches an end (no teleport from the last point
    to the first, which the position filter would rightly refuse as a jump). Fix
    times keep the trace's own spacing, clamped to 1..60 s, so fix times are unique
    and increasing per device and speeds stay plausible.
    """
    trace = traces[index % len(traces)]
    n = len(trace)
    offset = (index * 7919) % n
    period = max(1, 2 * (n - 1))

    def at(k: int) -> Fix:
        j = (offset + k) % period
        return trace[j if j < n else period - j]

    src = [at(k) for k in range(count)]
    gaps = [0.0]
    for a, b in itertools.pairwise(src):
        gaps.append(min(60.0, max(1.0, abs((b.time - a.time).total_seconds()))))
    elapsed = list(itertools.accumulate(gaps))
    start = end - timedelta(seconds=round(elapsed[-1]))
    return [
        Fix(
            start + timedelta(seconds=round(t)),
            f.latitude,
            f.longitude,
            f.speed_mps,
            f.course_deg,
            f.altitude_m,
        )
        for f, t in zip(src, elapsed, strict=True)
    ]


def device_ids(n: int, first: int = 0) -> list[str]:
    """*n* deterministic 15-digit IMEI-like ids (``86`` + 13 digits): the bench registers these."""
    return [f"86{first + i:013d}" for i in range(n)]


# -- encoders ------------------------------------------------------------------------------


class Encoder:
    """Device side of one protocol: login, position frames and ACK parsing."""

    protocol: ClassVar[str]
    acks_positions: ClassVar[bool] = False
    acks_login: ClassVar[bool] = False
    fixes_per_frame: ClassVar[int] = 1

    def __init__(self, unique_id: str) -> None:
        self.unique_id = unique_id

    def login(self) -> bytes | None:
        """The login frame, or ``None`` when the protocol has none."""
        return None

    def positions(self, fixes: Sequence[Fix]) -> tuple[bytes, int]:
        """A frame carrying *fixes* (``fixes_per_frame`` at most) and the key its ACK will carry."""
        raise NotImplementedError

    def acks(self, buffer: bytearray) -> list[int | None]:
        """Cut complete replies off *buffer*: position ACK keys, ``None`` for a login ACK."""
        buffer.clear()
        return []


class Gt06Encoder(Encoder):
    """GT06 (Concox) device side.

    Source: Concox GT06 protocol v1.8 and Traccar ``Gt06ProtocolDecoder``.
    Packet: ``78 78`` | length (1: protocol number .. serial) | protocol number (1) |
    content | serial (2) | CRC-ITU (2, over length .. serial) | ``0D 0A``.
    """

    protocol = "gt06"
    acks_positions = True
    acks_login = True

    def __init__(self, unique_id: str) -> None:
        super().__init__(unique_id)
        self.serial = 0

    def _packet(self, number: int, content: bytes) -> tuple[bytes, int]:
        self.serial = (self.serial + 1) & 0xFFFF
        body = bytes([len(content) + 5, number]) + content + self.serial.to_bytes(2, "big")
        crc = _CRC_X25.checksum(body)
        return b"\x78\x78" + body + crc.to_bytes(2, "big") + b"\x0d\x0a", self.serial

    def login(self) -> bytes:
        # 0x01 login: terminal ID = IMEI as 8 bytes BCD, left-padded with a 0 nibble.
        return self._packet(0x01, bytes.fromhex(self.unique_id.rjust(16, "0")))[0]

    def positions(self, fixes: Sequence[Fix]) -> tuple[bytes, int]:
        f = fixes[0]
        t = f.time
        course_status = int(f.course_deg) % 360 & 0x3FF  # bits 0-9 course
        course_status |= 1 << 12  # bit 12: GPS positioned
        if f.latitude >= 0:
            course_status |= 1 << 10  # bit 10: north latitude
        if f.longitude < 0:
            course_status |= 1 << 11  # bit 11: west longitude
        content = (
            bytes([t.year % 100, t.month, t.day, t.hour, t.minute, t.second])  # date-time, UTC
            + bytes([0xC9])  # GPS info length 12 (high nibble), 9 satellites (low nibble)
            + round(abs(f.latitude) * 60 * 30000).to_bytes(4, "big")  # minutes × 30000
            + round(abs(f.longitude) * 60 * 30000).to_bytes(4, "big")
            + bytes([min(255, round(f.speed_mps * KMH_PER_MPS))])  # km/h
            + course_status.to_bytes(2, "big")
            + bytes.fromhex("01cc")  # MCC 460
            + b"\x00"  # MNC
            + bytes.fromhex("287d")  # LAC
            + bytes.fromhex("001f71")  # cell id
            + b"\x00"  # ACC off
            + b"\x00"  # data upload mode
            + b"\x00"  # 0 = real-time upload (1 = re-upload)
        )
        return self._packet(0x22, content)

    def acks(self, buffer: bytearray) -> list[int | None]:
        keys: list[int | None] = []
        while len(buffer) >= 5:
            if buffer[0:2] == b"\x78\x78":
                total = 2 + 1 + buffer[2] + 2
            elif buffer[0:2] == b"\x79\x79":
                total = 2 + 2 + int.from_bytes(buffer[2:4], "big") + 2
            else:
                del buffer[0]
                continue
            if len(buffer) < total:
                break
            frame = bytes(buffer[:total])
            del buffer[:total]
            number = frame[3] if frame[0] == 0x78 else frame[4]
            serial = int.from_bytes(frame[total - 6 : total - 4], "big")
            keys.append(None if number == 0x01 else serial)
        return keys


class TeltonikaEncoder(Encoder):
    """Teltonika device side (FMB series), TCP.

    Source: Teltonika "Codec 8" data sending protocol (wiki.teltonika-gps.com,
    "Codec"). Login: IMEI length (2) + IMEI ASCII; the server answers ``01``.
    AVL packet: preamble ``00000000`` | data field length (4, codec id .. second
    record count) | codec id ``08`` | record count (1) | records | record count (1) |
    CRC-16/IBM of the data field (4). The server answers the record count (4).
    """

    protocol = "teltonika"
    acks_positions = True
    acks_login = True
    fixes_per_frame = 1

    def __init__(self, unique_id: str) -> None:
        super().__init__(unique_id)
        self.sent = 0
        self._login_pending = True

    def login(self) -> bytes:
        imei = self.unique_id.encode("ascii")
        return len(imei).to_bytes(2, "big") + imei

    @staticmethod
    def _record(f: Fix) -> bytes:
        return (
            struct.pack(">Q", round(f.time.timestamp() * 1000))  # timestamp, ms since epoch UTC
            + b"\x00"  # priority: low
            + struct.pack(">i", round(f.longitude * 1e7))  # longitude × 10^7, signed
            + struct.pack(">i", round(f.latitude * 1e7))  # latitude × 10^7, signed
            + struct.pack(">h", round(f.altitude_m))  # altitude, metres
            + struct.pack(">H", int(f.course_deg) % 360)  # angle, degrees
            + b"\x09"  # satellites
            + struct.pack(">H", round(f.speed_mps * KMH_PER_MPS))  # speed, km/h
            + b"\x00"  # event IO id: none
            + b"\x01"  # total IO count
            + b"\x01"
            + bytes([113, 90])  # 1-byte IOs: 113 battery level = 90 %
            + b"\x00"  # 2-byte IOs
            + b"\x00"  # 4-byte IOs
            + b"\x00"  # 8-byte IOs
        )

    def positions(self, fixes: Sequence[Fix]) -> tuple[bytes, int]:
        records = b"".join(self._record(f) for f in fixes)
        data = b"\x08" + bytes([len(fixes)]) + records + bytes([len(fixes)])
        crc = _CRC_IBM.checksum(data)
        self.sent += 1
        frame = b"\x00\x00\x00\x00" + len(data).to_bytes(4, "big") + data + crc.to_bytes(4, "big")
        return frame, self.sent

    def acks(self, buffer: bytearray) -> list[int | None]:
        keys: list[int | None] = []
        if self._login_pending and buffer:
            del buffer[0]  # 0x01 accepted (0x00 refused)
            self._login_pending = False
            keys.append(None)
        while len(buffer) >= 4:
            del buffer[:4]
            keys.append(-1)  # in order: matched FIFO by the caller
        return keys


def _nmea(value: float, deg_digits: int) -> str:
    """Degrees as NMEA ``d…dmm.mmmm`` (unsigned)."""
    v = abs(value)
    deg = int(v)
    minutes = (v - deg) * 60
    return f"{deg:0{deg_digits}d}{minutes:07.4f}"


class Gps103Encoder(Encoder):
    """GPS103 (Xexun/Coban TK103-2) text device side, frames ending in ``;``.

    Source: Coban GPS103 protocol document and Traccar ``Gps103ProtocolDecoder``:
    ``imei:<imei>,tracker,<yyMMddHHmmss>,,F,<hhmmss.sss>,A,<lat ddmm.mmmm>,<N|S>,
    <lon dddmm.mmmm>,<E|W>,<speed knots>,<course>;``. Login ``##,imei:<imei>,A;`` is
    answered ``LOAD``; positions are not acknowledged.
    """

    protocol = "gps103"
    acks_login = True

    def login(self) -> bytes:
        return f"##,imei:{self.unique_id},A;".encode("ascii")

    def positions(self, fixes: Sequence[Fix]) -> tuple[bytes, int]:
        f = fixes[0]
        t = f.time
        text = (
            f"imei:{self.unique_id},tracker,{t:%y%m%d%H%M%S},,F,{t:%H%M%S}.000,A,"
            f"{_nmea(f.latitude, 2)},{'N' if f.latitude >= 0 else 'S'},"
            f"{_nmea(f.longitude, 3)},{'E' if f.longitude >= 0 else 'W'},"
            f"{f.speed_mps * KNOTS_PER_MPS:.2f},{f.course_deg:.0f};"
        )
        return text.encode("ascii"), 0

    def acks(self, buffer: bytearray) -> list[int | None]:
        keys: list[int | None] = []
        while (i := buffer.find(b"LOAD")) >= 0:
            del buffer[: i + 4]
            keys.append(None)
        if len(buffer) > 4096:
            buffer.clear()
        return keys


class H02Encoder(Encoder):
    """H02 text device side: ``*HQ,<id>,V1,<hhmmss>,A,<lat>,N,<lon>,E,<knots>,<course>,<ddmmyy>,
    <status hex>#`` (Traccar ``H02ProtocolDecoder``). No login; positions are not acknowledged."""

    protocol = "h02"

    def positions(self, fixes: Sequence[Fix]) -> tuple[bytes, int]:
        f = fixes[0]
        t = f.time
        text = (
            f"*HQ,{self.unique_id},V1,{t:%H%M%S},A,"
            f"{_nmea(f.latitude, 2)},{'N' if f.latitude >= 0 else 'S'},"
            f"{_nmea(f.longitude, 3)},{'E' if f.longitude >= 0 else 'W'},"
            f"{f.speed_mps * KNOTS_PER_MPS:.2f},{f.course_deg:.0f},{t:%d%m%y},FFFFFBFF#"
        )
        return text.encode("ascii"), 0


ENCODERS: dict[str, type[Encoder]] = {
    e.protocol: e for e in (Gt06Encoder, TeltonikaEncoder, Gps103Encoder, H02Encoder)
}
"""Protocols the simulator can speak."""


# -- the simulated fleet -------------------------------------------------------------------


@dataclass
class SimulationReport:
    """What a simulation run achieved (rates per second, latencies in seconds)."""

    protocol: str
    devices: int
    host: str = "127.0.0.1"
    port: int = 0
    ids: list[str] = field(default_factory=list, repr=False)
    connect_errors: dict[str, int] = field(default_factory=dict)
    connected: int = 0
    logged_in: int = 0
    frames_sent: int = 0
    positions_sent: int = 0
    backlog_sent: int = 0
    """Frames of buffered fixes written in one burst after login (``backlog``)."""
    position_acks: int = 0
    duration_s: float = 0.0
    ack_latencies_s: list[float] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        """Positions sent per second over the sending phase."""
        return self.positions_sent / self.duration_s if self.duration_s > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        """ACK latency percentile *q* (0-100) in seconds, ``None`` without ACKs."""
        if not self.ack_latencies_s:
            return None
        data = sorted(self.ack_latencies_s)
        k = min(len(data) - 1, max(0, math.ceil(q / 100 * len(data)) - 1))
        return data[k]

    @property
    def acknowledged(self) -> bool:
        """Whether the server showed it took anything: an ACK where the protocol sends
        them (login or position), a connection where it sends none."""
        enc = ENCODERS[self.protocol]
        if enc.acks_positions and self.frames_sent:
            return self.position_acks > 0
        if enc.acks_login:
            return self.logged_in > 0
        return self.connected > 0

    def problems(self) -> list[str]:
        """Why the run fell short, one plain sentence each (empty when all went through).

        Names the cause a user can act on: the refused port, unregistered device ids,
        positions that were sent but never acknowledged.
        """
        out: list[str] = []
        enc = ENCODERS[self.protocol]
        where = f"{self.host}:{self.port}"
        errors = "; ".join(f"{reason} ({n}x)" for reason, n in self.connect_errors.items())
        if self.connected == 0:
            out.append(
                f"no device could connect to {where}: {errors or 'no answer'}. Is the server "
                f"running with the {self.protocol} listener (openatd serve --protocols "
                f"{self.protocol}), on that host and port?"
            )
            return out
        if self.connected < self.devices:
            out.append(
                f"{self.devices - self.connected} of {self.devices} devices could not "
                f"connect to {where}: {errors or 'no answer'}"
            )
        span = self._id_span()
        if enc.acks_login and self.logged_in < self.connected:
            who = (
                f"any of the {self.connected} connected devices"
                if self.logged_in == 0
                else (f"{self.connected - self.logged_in} of {self.connected} devices")
            )
            out.append(
                f"the server did not acknowledge the login of {who}: "
                f"{'is device' if len(self.ids) == 1 else 'are devices'} {span} "
                f"registered? Register the simulated ids first (openatd simulate "
                f"--register-for PARTICIPANT_ID, or POST /api/devices); the server neither "
                f"stores nor acknowledges data of unknown devices."
            )
        if enc.acks_positions and self.frames_sent and self.position_acks < self.frames_sent:
            out.append(
                f"{self.frames_sent - self.position_acks} of {self.frames_sent} position frames "
                f"were not acknowledged within the drain time"
                + (
                    ""
                    if self.position_acks
                    else f": are the devices {span} registered, and assigned to a participant?"
                )
            )
        return out

    def _id_span(self) -> str:
        if not self.ids:
            return "ids"
        return self.ids[0] if len(self.ids) == 1 else f"{self.ids[0]}..{self.ids[-1]}"

    def summary(self) -> str:
        """Human-readable lines for the CLI."""
        lines = [
            f"protocol {self.protocol}: {self.connected}/{self.devices} connected, "
            f"{self.logged_in} logged in",
            f"sent {self.positions_sent} positions in {self.frames_sent} frames over "
            f"{self.duration_s:.2f} s = {self.rate:,.0f} positions/s",
        ]
        if ENCODERS[self.protocol].acks_positions:
            p = [self.percentile(q) for q in (50, 90, 99)]
            fmt = ["n/a" if v is None else f"{v * 1000:.1f} ms" for v in p]
            lines.append(
                f"position ACKs {self.position_acks}/{self.frames_sent}; ACK latency "
                f"p50 {fmt[0]}, p90 {fmt[1]}, p99 {fmt[2]}"
            )
        else:
            lines.append(f"{self.protocol} does not acknowledge positions: no ACK latency")
        return "\n".join(lines)


class _DeviceClient(asyncio.Protocol):
    """One simulated device connection: writes frames, matches ACKs to send times."""

    def __init__(self, encoder: Encoder, report: SimulationReport) -> None:
        self.encoder = encoder
        self.report = report
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.logged_in = asyncio.get_running_loop().create_future()
        self.sent_at: dict[int, float] = {}
        self.fifo: deque[float] = deque()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop: no subclass

    def data_received(self, data: bytes) -> None:
        self.buffer.extend(data)
        now = time.perf_counter()
        for key in self.encoder.acks(self.buffer):
            if key is None:
                if not self.logged_in.done():
                    self.logged_in.set_result(True)
                continue
            sent = self.fifo.popleft() if key == -1 and self.fifo else self.sent_at.pop(key, None)
            if sent is not None:
                self.report.position_acks += 1
                self.report.ack_latencies_s.append(now - sent)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.logged_in.done():
            self.logged_in.set_result(False)

    def send(self, frame: bytes, key: int) -> None:
        assert self.transport is not None
        if self.encoder.acks_positions:
            if isinstance(self.encoder, TeltonikaEncoder):
                self.fifo.append(time.perf_counter())
            else:
                self.sent_at[key] = time.perf_counter()
        self.transport.write(frame)


async def _connect(
    host: str,
    port: int,
    factory: type[_DeviceClient],
    encoder: Encoder,
    report: SimulationReport,
    source_ip: str | None,
) -> _DeviceClient | None:
    loop = asyncio.get_running_loop()
    sock = None
    if source_ip is not None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source_ip, 0))
        sock.setblocking(False)
    try:
        if sock is not None:
            await loop.sock_connect(sock, (host, port))
            _, proto = await loop.create_connection(lambda: factory(encoder, report), sock=sock)
        else:
            _, proto = await loop.create_connection(lambda: factory(encoder, report), host, port)
    except OSError as exc:
        if sock is not None:
            sock.close()
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, ConnectionRefusedError):
            reason = f"connection refused on port {port}"
        report.connect_errors[reason] = report.connect_errors.get(reason, 0) + 1
        return None
    return proto


async def simulate(
    host: str,
    port: int,
    protocol: str,
    devices: int,
    rate: float,
    duration_s: float,
    traces: list[list[Fix]],
    *,
    ids: Sequence[str] | None = None,
    source_ips: int = 1,
    login_timeout_s: float = 10.0,
    drain_s: float = 5.0,
    connect_concurrency: int = 500,
    backlog: int = 0,
) -> SimulationReport:
    """Connect *devices* simulated trackers and send *rate* positions/s in total for *duration_s*.

    Frames are encoded before the timed phase; a single scheduler writes, every
    10 ms, the frames that are due, round-robin over the devices. After sending,
    waits up to *drain_s* for outstanding ACKs.

    Args:
        source_ips: spread the client sockets over ``127.0.0.1 .. 127.0.0.<n>`` as
            source addresses (more than ~28,000 connections to one port need it).
        backlog: fixes each device buffered while it could not reach the server (an
            outage): older than its live fixes, written in one burst right after login,
            before the timed phase (counted in ``frames_sent`` and ``backlog_sent``).

    Raises:
        InvalidInput: *protocol* has no encoder, or *devices*/*rate* not positive.
    """
    if protocol not in ENCODERS:
        raise InvalidInput(f"simulator speaks {', '.join(ENCODERS)}; not {protocol!r}")
    if devices <= 0 or rate <= 0:
        raise InvalidInput("devices and rate must be positive")
    enc_cls = ENCODERS[protocol]
    ids = list(ids) if ids is not None else device_ids(devices)
    report = SimulationReport(protocol, devices, host=host, port=port, ids=ids[:devices])
    total = max(1, round(rate * duration_s))
    per_device = math.ceil(total / devices)

    # Pre-encode every device's frames (re-timed trace fixes ending now).
    end = datetime.now(UTC).replace(microsecond=0)
    encoders = [enc_cls(uid) for uid in ids[:devices]]
    frames = [
        [enc.positions([fix]) for fix in device_fixes(traces, i, backlog + per_device, end)]
        for i, enc in enumerate(encoders)
    ]

    sem = asyncio.Semaphore(connect_concurrency)

    async def open_one(i: int) -> _DeviceClient | None:
        async with sem:
            src = f"127.0.0.{1 + i % source_ips}" if source_ips > 1 else None
            return await _connect(host, port, _DeviceClient, encoders[i], report, src)

    clients = await asyncio.gather(*(open_one(i) for i in range(devices)))
    live = [c for c in clients if c is not None]
    report.connected = len(live)
    if enc_cls.acks_login:
        for c in live:
            login = c.encoder.login()
            if login is not None and c.transport is not None:
                c.transport.write(login)
        if live:
            await asyncio.wait([c.logged_in for c in live], timeout=login_timeout_s)
        report.logged_in = sum(1 for c in live if c.logged_in.done() and c.logged_in.result())
    else:
        for c in live:
            login = c.encoder.login()
            if login is not None and c.transport is not None:
                c.transport.write(login)
        report.logged_in = len(live)

    # After an outage: every device writes what it buffered at once.
    for i, client in enumerate(clients):
        if client is None or client.lost:
            continue
        for frame, key in frames[i][:backlog]:
            client.send(frame, key)
            report.frames_sent += 1
            report.backlog_sent += 1
            report.positions_sent += enc_cls.fixes_per_frame

    # Timed phase: one scheduler, 10 ms ticks.
    cursor = [backlog] * devices
    sent_total = 0
    t0 = time.perf_counter()
    next_dev = 0
    tick = 0.01
    while sent_total < total:
        elapsed = time.perf_counter() - t0
        due = min(total, int(rate * elapsed) + 1) - sent_total
        while due > 0:
            client = clients[next_dev]
            k = cursor[next_dev]
            if client is not None and not client.lost and k < backlog + per_device:
                frame, key = frames[next_dev][k]
                client.send(frame, key)
                cursor[next_dev] = k + 1
                report.frames_sent += 1
                report.positions_sent += enc_cls.fixes_per_frame
            due -= 1
            sent_total += 1
            next_dev = (next_dev + 1) % devices
        await asyncio.sleep(max(0.0, tick - (time.perf_counter() - t0 - elapsed)))
    report.duration_s = time.perf_counter() - t0

    if enc_cls.acks_positions:
        deadline = time.perf_counter() + drain_s
        while report.position_acks < report.frames_sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
    for c in live:
        if c.transport is not None:
            c.transport.close()
    await asyncio.sleep(0)
    return report
