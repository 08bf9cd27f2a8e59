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

import gc
import struct
import threading
import time
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


DEFAULT_MAX_BUFFER = 64 * 1024
"""Bytes one session may hold (``OPENATD_PROTOCOL_MAX_BUFFER``); past it the session fails."""
DEFAULT_FRAME_BUDGET_S = 0.05
"""CPU seconds (thread time) one frame may take to cut and decode (``OPENATD_FRAME_BUDGET_S``)."""
FEED_CHUNK = 2048
"""Largest slice of input a session frames at once (:meth:`ProtocolSession.receive_data`)."""


class _GcClock(threading.local):
    """Per-thread CPU seconds spent in the cyclic garbage collector (generations 1 and 2)."""

    spent = 0.0
    started = -1.0


_gc_clock = _GcClock()


def _time_collections(phase: str, info: dict[str, int]) -> None:
    # Collections run in the thread whose allocation triggered them, holding the GIL; a
    # generation-0 pass is microseconds and not worth two clock reads.
    if phase == "start":
        _gc_clock.started = time.thread_time() if info.get("generation", 0) > 0 else -1.0
    elif _gc_clock.started >= 0.0:
        _gc_clock.spent += time.thread_time() - _gc_clock.started
        _gc_clock.started = -1.0


gc.callbacks.append(_time_collections)


def decode_cpu_time() -> float:
    """This thread's CPU time (seconds, :func:`time.thread_time`) less the time it spent in
    the garbage collector's generation-1 and -2 passes.

    The frame budget is charged with this clock: a full collection that happens to start
    while a frame is decoded (100 ms and more in a process with a large heap) is the
    process's cost, not the frame's, and must not get a good frame dropped.
    """
    return time.thread_time() - _gc_clock.spent


@dataclass
class ProtocolSession(ABC):
    """Per-connection protocol state; subclass once per tracker family.

    Subclasses set the class attributes and implement :meth:`next_frame` (stream
    framing) and :meth:`decode_frame` (one frame → :class:`Decoded`).
    ``self.unique_id`` is the device identity known on this session (set after
    a login frame); decoders stamp it on messages that do not carry their own.

    The framing contract, enforced here once for every protocol (:meth:`receive_data`):

    - each call of :meth:`next_frame` consumes at least one byte, waits for more
      (returns ``None``), or raises :class:`ProtocolDecodeError`. A step that returns a
      frame or raises without consuming anything is a framer bug: the session drops one
      byte and reports a decode error, so no input can loop it;
    - a frame is at most ``max_frame`` bytes (per protocol, from its documentation).
      Framers check lengths read from the wire with :meth:`check_length` before waiting
      for the bytes; a framer still waiting with more than ``max_frame`` bytes buffered
      gets its buffer dropped as one decode error;
    - the session never holds more than ``max_buffer`` bytes: past it the buffer is
      dropped, :attr:`failed` is set and the caller closes the connection;
    - cutting and decoding one frame may take ``frame_budget_s`` seconds of thread CPU
      time (garbage collection excluded: :func:`decode_cpu_time`); a frame that took
      longer is reported as a decode error instead of its result
      (decoders bound their loops by the bytes present, so they always return).
    """

    protocol: ClassVar[str]
    default_port: ClassVar[int]
    transports: ClassVar[frozenset[str]] = frozenset({"tcp"})
    max_frame: ClassVar[int] = 4096
    """Largest frame in bytes, delimiters included (override per protocol, with the source)."""

    unique_id: str | None = None
    max_buffer: int = DEFAULT_MAX_BUFFER
    frame_budget_s: float = DEFAULT_FRAME_BUDGET_S
    failed: ProtocolDecodeError | None = None
    """Set when the session cannot go on (buffer bound exceeded): close the connection."""
    _buffer: bytearray = field(default_factory=bytearray, repr=False)
    scan_from: int = field(default=0, repr=False)
    """Framers' scan offset: bytes of the buffer already searched for a frame end without
    success, so that a frame arriving in many reads is not rescanned from its start
    (reset to 0 by :meth:`receive_data` whenever bytes are consumed)."""

    @abstractmethod
    def next_frame(self, buffer: bytearray) -> bytes | None:
        """Cut the first complete frame off *buffer* (mutating it) and return it.

        Returns ``None`` when more bytes are needed. Garbage before a frame start
        is discarded so that the stream resynchronises.

        Raises:
            ProtocolDecodeError: bytes were discarded (a bad length, garbage); the
                framer has already removed at least one byte from *buffer*.
        """

    @abstractmethod
    def decode_frame(self, frame: bytes) -> Decoded:
        """Decode one complete frame.

        Raises:
            ProtocolDecodeError: the frame breaks the protocol (carries the raw hex).
        """

    def check_length(
        self, buffer: bytearray, total: int, minimum: int = 1, *, drop_all: bool = False
    ) -> int:
        """Check a frame's total size *total* (bytes, as read from the wire) before waiting for it.

        Returns *total* when ``minimum <= total <= max_frame``.

        Raises:
            ProtocolDecodeError: out of range; the first byte of *buffer* (the frame's
                start) is dropped so that the stream resynchronises on the next start, or
                the whole buffer with *drop_all* (protocols without a start marker).
        """
        if minimum <= total <= self.max_frame:
            return total
        bad = bytes(buffer[:16])
        del buffer[: len(buffer) if drop_all else 1]
        raise ProtocolDecodeError(
            self.protocol,
            f"frame length {total} outside {minimum}..{self.max_frame} bytes",
            bad,
        )

    def receive_data(self, data: bytes) -> list[FrameResult]:
        """Feed stream bytes; return one result per frame completed by them (or per decode error).

        Input is framed in slices of :data:`FEED_CHUNK` bytes, so one read of any size
        costs time linear in its length. After :attr:`failed` is set nothing more is read.
        """
        results: list[FrameResult] = []
        if self.failed is not None:
            return results
        if len(data) <= FEED_CHUNK:
            self._feed(data, results)
            return results
        view = memoryview(data)
        for i in range(0, len(data), FEED_CHUNK):
            self._feed(view[i : i + FEED_CHUNK], results)
            if self.failed is not None:
                break
        return results

    def _feed(self, data: bytes | memoryview, results: list[FrameResult]) -> None:
        buffer = self._buffer
        buffer.extend(data)
        if len(buffer) > self.max_buffer:
            self._fail(results)
            return
        clock = decode_cpu_time
        # Consecutive resynchronisation errors (bytes dropped one step at a time while
        # looking for a frame start) are reported as one result per slice, not per byte.
        resync: ProtocolDecodeError | None = None
        more = 0
        while buffer:
            size = len(buffer)
            try:
                frame = self.next_frame(buffer)
            except ProtocolDecodeError as exc:
                if len(buffer) >= size:  # raised without consuming: drop a byte
                    del buffer[:1]
                self.scan_from = 0
                if resync is None:
                    resync = exc
                else:
                    more += 1
                continue
            except Exception as exc:  # a framer bug must not loop or take the connection down
                bad = bytes(buffer[:64])
                buffer.clear()
                self.scan_from = 0
                err = ProtocolDecodeError(self.protocol, f"framing failed: {exc!r}", bad)
                results.append(FrameResult(frame=b"", error=err))
                break
            if resync is not None:
                results.append(_resync_result(resync, more))
                resync, more = None, 0
            if frame is None:
                if len(buffer) > self.max_frame:
                    bad = bytes(buffer[:64])
                    dropped = len(buffer)
                    buffer.clear()
                    self.scan_from = 0
                    err = ProtocolDecodeError(
                        self.protocol,
                        f"no complete frame within {self.max_frame} bytes; dropped {dropped}",
                        bad,
                    )
                    results.append(FrameResult(frame=b"", error=err))
                return
            self.scan_from = 0
            if len(buffer) >= size or not frame:
                if len(buffer) >= size:
                    del buffer[:1]
                err = ProtocolDecodeError(
                    self.protocol, "framer returned an empty frame or consumed nothing", frame
                )
                results.append(FrameResult(frame=frame, error=err))
                continue
            # the budget covers decoding; framing is linear by the contract above, and a
            # clock read per resynchronisation step cost more than the step (~3 us each)
            results.append(self._decode(frame, clock()))
        if resync is not None:
            results.append(_resync_result(resync, more))

    def _fail(self, results: list[FrameResult]) -> None:
        held = len(self._buffer)
        bad = bytes(self._buffer[:64])
        self._buffer.clear()
        self.scan_from = 0
        self.failed = ProtocolDecodeError(
            self.protocol,
            f"session buffer bound exceeded: {held} bytes held, at most {self.max_buffer}",
            bad,
        )
        results.append(FrameResult(frame=b"", error=self.failed))

    def receive_datagram(self, frame: bytes) -> FrameResult:
        """Decode one complete frame (a UDP datagram, or a frame the caller already cut).

        A datagram longer than ``max_frame`` is refused as a decode error without decoding.
        """
        if len(frame) > self.max_frame:
            err = ProtocolDecodeError(
                self.protocol,
                f"datagram of {len(frame)} bytes exceeds {self.max_frame}",
                frame[:64],
            )
            return FrameResult(frame=frame[:64], error=err)
        return self._decode(frame, decode_cpu_time())

    def _decode(self, frame: bytes, started: float) -> FrameResult:
        try:
            decoded = self.decode_frame(frame)
        except ProtocolDecodeError as exc:
            return FrameResult(frame=frame, error=exc)
        except (ValueError, IndexError, KeyError, ArithmeticError, struct.error) as exc:
            err = ProtocolDecodeError(self.protocol, f"malformed frame: {exc}", frame)
            return FrameResult(frame=frame, error=err)
        spent = decode_cpu_time() - started
        if spent > self.frame_budget_s:
            err = ProtocolDecodeError(
                self.protocol,
                f"frame took {spent * 1000:.0f} ms of CPU, budget "
                f"{self.frame_budget_s * 1000:.0f} ms; result dropped",
                frame,
            )
            return FrameResult(frame=frame, error=err)
        if decoded.unique_id:
            self.unique_id = decoded.unique_id
        return FrameResult(frame=frame, decoded=decoded)

    @property
    def buffered(self) -> int:
        """Bytes waiting for the rest of their frame."""
        return len(self._buffer)


def _resync_result(first: ProtocolDecodeError, more: int) -> FrameResult:
    """One result for a run of resynchronisation errors: the first, and how many followed."""
    if more:
        first = ProtocolDecodeError(
            first.protocol,
            f"{first.reason} (and {more} more bytes dropped resynchronising)",
            bytes.fromhex(first.raw_hex),
        )
    return FrameResult(frame=b"", error=first)
