"""Ingest test helpers: a fake sink, real captured device sessions, a TCP client.

The fake :class:`MemorySink` stands in for the position pipeline (our own
``ReportSink`` port); everything else is real: the servers listen on loopback,
the protocol sessions are the project's decoders, the frames are the captured
ones under ``../shared/data/protocols``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from openatd.domain.messages import DeviceReport
from openatd.errors import NotFound, OpenATDError
from openatd.protocols.base import Decoded, FrameResult, ProtocolSession
from openatd.protocols.registry import PROTOCOL_NAMES, session_class
from openatd.storage.db import Database

DELIMITERS = (b"", b"\r\n", b"\n", b";", b"#", b"\r")


def available_protocols() -> list[str]:
    """Protocols whose decoder module exists in this checkout (others are being written)."""
    return [
        p for p in PROTOCOL_NAMES if importlib.util.find_spec(f"openatd.protocols.{p}") is not None
    ]


class MemorySink:
    """In-memory ReportSink: known ids, optional gate (hold submits), optional failure."""

    def __init__(self, known: Sequence[str]) -> None:
        self.known = set(known)
        self.stored: list[tuple[str, str, list[DeviceReport]]] = []
        self.calls = 0
        self.fail: OpenATDError | None = None
        self.gate: asyncio.Event | None = None
        self.known_checks: list[str] = []

    async def is_known(self, unique_id: str) -> bool:
        self.known_checks.append(unique_id)
        return unique_id in self.known

    async def submit(self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        if unique_id not in self.known:
            raise NotFound(f"device {unique_id}")
        self.stored.append((unique_id, protocol, list(reports)))

    @property
    def reports(self) -> list[DeviceReport]:
        return [r for _, _, rs in self.stored for r in rs]


@dataclass
class ScriptFrame:
    """One frame of a captured session as the wire carries it, and what it decodes to offline."""

    wire: bytes
    decoded: Decoded
    device: str | None
    reports: list[DeviceReport] = field(default_factory=list)


def _raw(sample: dict[str, object]) -> bytes:
    raw = str(sample["raw"])
    return bytes.fromhex(raw) if sample["encoding"] == "hex" else raw.encode("latin-1")


def _single(session: ProtocolSession, wire: bytes) -> FrameResult | None:
    """The one result *wire* gives in *session*, or None (0 or several frames, or bytes left)."""
    try:
        results = session.receive_data(wire)
    except Exception:  # a decoder bug on a wrong delimiter guess: not this framing
        session._buffer.clear()
        return None
    if len(results) == 1 and session.buffered == 0:
        return results[0]
    session._buffer.clear()
    return None


def session_script(
    protocol: str, samples: list[dict[str, object]], limit: int = 40
) -> list[ScriptFrame]:
    """A plausible device session built from captured samples, decoded offline in one session.

    A login sample goes first when the file has one; then samples that decode to
    reports, each completed with the protocol's delimiter when the capture has none.
    ``device`` is the identity the server must attribute (message id, else session id).
    """
    cls = session_class(protocol)
    offline = cls()
    logins = [s for s in samples if "login" in str(s.get("message_type", "")).lower()]
    rest = [s for s in samples if s not in logins]
    script: list[ScriptFrame] = []
    for sample in logins[:1] + rest:
        raw = _raw(sample)
        for delim in DELIMITERS:
            probe = cls()
            probe.unique_id = offline.unique_id
            result = _single(probe, raw + delim)
            if result is not None and result.decoded is not None:
                break
        else:
            continue
        # The stream so far plus this frame must split into exactly these frames, whole.
        whole = cls()
        try:
            together = whole.receive_data(b"".join(f.wire for f in script) + raw + delim)
        except Exception:
            continue
        if (
            len(together) != len(script) + 1
            or whole.buffered
            or any(r.decoded is None for r in together)
        ):
            continue
        result = offline.receive_data(raw + delim)[0]
        decoded = result.decoded
        if decoded is None:
            continue
        frame_id = decoded.unique_id or offline.unique_id
        ids = {m.unique_id or frame_id for m in decoded.messages}
        if None in ids or len(ids) > 1 or (not decoded.messages and frame_id is None):
            continue
        device = ids.pop() if ids else frame_id
        if not decoded.messages and decoded.reply is None:
            continue
        script.append(ScriptFrame(raw + delim, decoded, device, list(decoded.messages)))
        if len(script) >= limit:
            break
    return script


def stamped(frame: ScriptFrame, received: datetime) -> list[DeviceReport]:
    """The reports the server must hand to the sink for *frame*."""
    return [replace(m, received=received, unique_id=frame.device) for m in frame.reports]


def load_samples(path: object) -> list[dict[str, object]]:
    with open(str(path), encoding="utf-8") as fh:
        samples: list[dict[str, object]] = json.load(fh)["samples"]
    return samples


class Client:
    """A device's TCP connection to the server under test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), timeout)

    async def read_nothing(self, wait: float = 0.3) -> bytes:
        """Bytes arriving within *wait* seconds (expected: none)."""
        try:
            return await asyncio.wait_for(self.reader.read(65536), wait)
        except TimeoutError:
            return b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def register_devices(db: Database, ids: Sequence[str], protocol: str = "gt06") -> None:
    """Register devices *ids* of *protocol*, all on one participant (UTC, GPS supervision)."""
    now = datetime.now(UTC)
    with db.uow() as uow:
        p = uow.participants.add(
            name="P", timezone="UTC", supervision_level="gps", policy={}, active=True,
            created_at=now,
        )  # fmt: skip
        for uid in ids:
            uow.devices.add(unique_id=uid, protocol=protocol, participant_id=p.id, created_at=now)
