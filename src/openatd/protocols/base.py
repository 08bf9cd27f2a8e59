"""The sans-I/O contract every tracker protocol implements (after h11 and Traccar).

A :class:`ProtocolSession` is one device connection's protocol state, with no
socket: feed it bytes with :meth:`ProtocolSession.receive_data`, get back one
:class:`FrameResult` per complete frame (typed messages, the reply bytes the
device expects, or the decode error), and keep incomplete input buffered until
more bytes arrive. A malformed frame yields a result carrying a
:class:`~openatd.errors.ProtocolDecodeError`; the session goes on with the next
frame, so one bad packet never takes the connection or other devices down.

For UDP every datagram is one frame: call :meth:`ProtocolSession.receive_datagram`.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from openatd.domain.messages import DeviceReport
from openatd.errors import ProtocolDecodeError


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one frame decodes to.

    Attributes:
        messages: zero or more reports, in the order the frame carries them
            (a buffered upload carries many).
        reply: bytes to send back to the device (login / position ACK), or ``None``.
        unique_id: the device identity this frame established (a login), if any.
    """

    messages: tuple[DeviceReport, ...] = ()
    reply: bytes | None = None
    unique_id: str | None = None


@dataclass(frozen=True, slots=True)
class FrameResult:
    """One complete frame and its outcome: exactly one of ``decoded`` / ``error`` is set."""

    frame: bytes
    decoded: Decoded | None = None
    error: ProtocolDecodeError | None = None


@dataclass
class ProtocolSession(ABC):
    """Per-connection protocol state; subclass once per tracker family.

    Subclasses set the class attributes and implement :meth:`next_frame` (stream
    framing) and :meth:`decode_frame` (one frame → :class:`Decoded`).
    ``self.unique_id`` is the device identity known on this session (set after
    a login frame); decoders stamp it on messages that do not carry their own.
    """

    protocol: ClassVar[str]
    default_port: ClassVar[int]
    transports: ClassVar[frozenset[str]] = frozenset({"tcp"})

    unique_id: str | None = None
    _buffer: bytearray = field(default_factory=bytearray, repr=False)

    @abstractmethod
    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut the first complete frame off *buffer* (mutating it) and return it.

        Returns ``None`` when more bytes are needed. Garbage before a frame start
        is discarded so that the stream resynchronises.
        """

    @abstractmethod
    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one complete frame.

        Raises:
            ProtocolDecodeError: the frame breaks the protocol (carries the raw hex).
        """

    def receive_data(self, data: bytes) -> list[FrameResult]:
        """Feed stream bytes; return one result per frame completed by them."""
        self._buffer.extend(data)
        results: list[FrameResult] = []
        while True:
            try:
                frame = self.next_frame(self._buffer)
            except ProtocolDecodeError as exc:
                results.append(FrameResult(frame=b"", error=exc))
                continue
            if frame is None:
                return results
            results.append(self.receive_datagram(frame))

    def receive_datagram(self, frame: bytes) -> FrameResult:
        """Decode one complete frame (a UDP datagram, or a frame the caller already cut)."""
        try:
            decoded = self.decode_frame(frame)
        except ProtocolDecodeError as exc:
            return FrameResult(frame=frame, error=exc)
        except (ValueError, IndexError, KeyError, ArithmeticError, struct.error) as exc:
            err = ProtocolDecodeError(self.protocol, f"malformed frame: {exc}", frame)
            return FrameResult(frame=frame, error=err)
        if decoded.unique_id:
            self.unique_id = decoded.unique_id
        return FrameResult(frame=frame, decoded=decoded)

    @property
    def buffered(self) -> int:
        """Bytes waiting for the rest of their frame."""
        return len(self._buffer)
