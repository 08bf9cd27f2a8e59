"""Hostile input against every decoder: the framing contract of the shared session base.

Each input here froze or swelled ``openatd serve`` once (issue 14's trial of c4492cc):
a meitrack negative length, a GL200 ``GTERI`` sensor count of 10^30, a GL200 binary
record of length 0, unbounded buffering of an unfinished frame (teltonika length
0x7fffffff, and every delimiter-framed protocol), and quadratic rescans of the buffer.
Every test runs under a wall-clock bound (:func:`bounded`), so a regression fails
instead of hanging the suite.
"""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import pytest

from openatd.errors import ProtocolDecodeError
from openatd.protocols.base import FEED_CHUNK, Decoded, ProtocolSession
from openatd.protocols.registry import PROTOCOL_NAMES, new_session, session_class


class Hang(BaseException):  # not an Exception: no decoder may swallow it
    """The block ran past its bound."""


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the block after *seconds* of wall time (SIGALRM)."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


MEITRACK_NEGATIVE_LENGTH = b"$$z-127,860910605,AAC,1*D3"
GL200_ERI_HUGE_COUNT = (
    b"+RESP:GTERI,4F0D06,865585041396684,,00000002,12665,10,1,1,0.0,342,38.6,49.846792,"
    b"40.426182,20260220064016,0400,0010,0F6E,08D7,00,0.0,,,,100,110000,,"
    b"999999999999999999999999999999,20260220064016,91C9$"
)
_GL200_RECORDS = bytes.fromhex(
    "2b000038000865134050947226820300030000216a3ed6f101895000521629fa8b28f402ac1a8e6a3ed6"
    "f100001600000010f505010ff824"
)
GL200_ZERO_RECORD = _GL200_RECORDS[:19] + b"\x00" + _GL200_RECORDS[20:]
"""The captured record-form frame with its first record length set to 0."""
GL200_ZERO_ITEM = _GL200_RECORDS[:29] + b"\x00" + _GL200_RECORDS[30:]
"""... with the length of its first data item (0x52, the fix) set to 0."""
TELTONIKA_HUGE_LENGTH = b"\x00\x00\x00\x00\x7f\xff\xff\xff\x08\x01"

UNFINISHED_STARTS: dict[str, bytes] = {
    "gt06": b"\x79\x79\x0f\xf0\x94",
    "teltonika": TELTONIKA_HUGE_LENGTH,
    "h02": b"*HQ,865205030330012,V1,",
    "tk103": b"(027028641389BR00",
    "gps103": b"imei:359710049095095,tracker,",
    "gl200": b"+RESP:GTFRI,",
    "watch": b"[SG*8800000015*0002*LK",
    "jt808": b"\x7e\x02\x00\x00",
    "megastek": b"9999$MGV002,",
    "meitrack": b"$$A9999,",
    "suntech": b"ST300STT;",
}
"""A frame start each protocol must wait on: the rest never comes (only filler does)."""


def test_every_protocol_has_an_unfinished_start() -> None:
    assert set(UNFINISHED_STARTS) == set(PROTOCOL_NAMES)


def test_meitrack_negative_length_is_a_decode_error_not_a_loop() -> None:
    session = new_session("meitrack")
    with bounded(2):
        results = session.receive_data(MEITRACK_NEGATIVE_LENGTH)
    assert results and all(r.error is not None for r in results)
    assert session.buffered < len(MEITRACK_NEGATIVE_LENGTH)
    with bounded(2):  # a datagram is one frame whatever its length field says
        new_session("meitrack").receive_datagram(MEITRACK_NEGATIVE_LENGTH)


def test_gl200_eri_count_is_bounded_by_the_fields_present() -> None:
    with bounded(2):
        result = new_session("gl200").receive_datagram(GL200_ERI_HUGE_COUNT)
    # the fix is sound; the sensor list simply has no items
    assert result.decoded is not None, result.error
    assert not any(k.startswith("temp") for k in result.decoded.messages[0].extras)


@pytest.mark.parametrize("frame", [GL200_ZERO_RECORD, GL200_ZERO_ITEM], ids=["record", "item"])
def test_gl200_binary_zero_length_never_stalls(frame: bytes) -> None:
    with bounded(2):
        result = new_session("gl200").receive_datagram(frame)
        stream = new_session("gl200").receive_data(frame)
    assert result.error is not None
    assert "length 0" in result.error.reason
    assert [r.error is not None for r in stream] == [True]


def test_gl200_captured_record_frame_still_decodes() -> None:
    result = new_session("gl200").receive_datagram(_GL200_RECORDS)
    assert result.decoded is not None and result.decoded.messages


def test_teltonika_huge_length_is_refused_before_buffering() -> None:
    session = new_session("teltonika")
    results = session.receive_data(TELTONIKA_HUGE_LENGTH)
    assert results and results[0].error is not None
    assert "frame length" in results[0].error.reason
    assert session.buffered < len(TELTONIKA_HUGE_LENGTH)


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_an_endless_unfinished_frame_stays_bounded(protocol: str) -> None:
    """4 MiB of filler after a frame start: the buffer never exceeds the protocol's
    maximum frame plus one feed slice, and time stays linear (no rescans)."""
    session = new_session(protocol)
    cls = session_class(protocol)
    filler = b"A" * 4096
    peak = 0
    errors = 0
    with bounded(60):
        started = time.perf_counter()
        for r in session.receive_data(UNFINISHED_STARTS[protocol]):
            errors += r.error is not None
        for _ in range(1024):
            for r in session.receive_data(filler):
                errors += r.error is not None
            peak = max(peak, session.buffered)
        spent = time.perf_counter() - started
    assert peak <= cls.max_frame + FEED_CHUNK
    assert session.failed is None  # dropped as decode errors, the connection goes on
    # ~1 s here; a quadratic framer takes minutes (generous: CI machines are shared)
    assert spent < 20.0, f"{protocol}: 4 MiB took {spent:.1f} s"


@pytest.mark.parametrize("protocol", ["gl200", "h02", "watch"])
def test_a_long_frame_in_small_reads_is_scanned_once(protocol: str) -> None:
    """A maximum-size frame fed a byte at a time costs linear, not quadratic, time:
    the framer keeps its scan offset between reads."""
    session = new_session(protocol)
    start = UNFINISHED_STARTS[protocol]
    body = start + b"x" * (session_class(protocol).max_frame - len(start) - 8)
    with bounded(10):
        started = time.perf_counter()
        for i in range(len(body)):
            session.receive_data(body[i : i + 1])
        spent = time.perf_counter() - started
    assert session.buffered == len(body)
    assert session.scan_from >= len(body) - 1
    assert spent < 2.0


# -- the contract, enforced in the base class for any framer ------------------------------


@dataclass
class _Misbehaving(ProtocolSession):
    """A framer that breaks the contract in the way selected by ``mode``."""

    protocol: ClassVar[str] = "test"
    default_port: ClassVar[int] = 0
    max_frame: ClassVar[int] = 100
    mode: str = "empty"
    burn_s: float = 0.0

    def next_frame(self, buffer: bytearray) -> bytes | None:
        if self.mode == "empty":
            return b""  # consumes nothing
        if self.mode == "raise":
            raise ProtocolDecodeError(self.protocol, "nothing consumed")
        if self.mode == "crash":
            raise RuntimeError("framer bug")
        if self.mode == "wait":
            return None
        frame = bytes(buffer[:1])
        del buffer[:1]
        return frame

    def decode_frame(self, frame: bytes) -> Decoded:
        if self.mode == "collect":
            gc.collect()  # a full collection the frame happens to trigger
        deadline = time.thread_time() + self.burn_s
        while time.thread_time() < deadline:
            pass
        return Decoded(unique_id="1")


def test_a_frame_that_consumes_nothing_costs_one_byte_and_an_error() -> None:
    session = _Misbehaving(mode="empty")
    with bounded(2):
        results = session.receive_data(b"abcdef")
    assert len(results) == 6 and all(r.error is not None for r in results)
    assert session.buffered == 0


def test_a_raise_that_consumes_nothing_costs_one_byte_and_one_error_per_run() -> None:
    session = _Misbehaving(mode="raise")
    with bounded(2):
        results = session.receive_data(b"abcdef")
    assert len(results) == 1 and results[0].error is not None
    assert "and 5 more bytes dropped" in results[0].error.reason
    assert session.buffered == 0


def test_a_crashing_framer_drops_its_buffer_with_one_error() -> None:
    session = _Misbehaving(mode="crash")
    results = session.receive_data(b"abcdef")
    assert len(results) == 1 and results[0].error is not None
    assert "framing failed" in results[0].error.reason
    assert session.buffered == 0


def test_waiting_past_max_frame_drops_the_buffer() -> None:
    session = _Misbehaving(mode="wait")
    assert session.receive_data(b"x" * 100) == []
    results = session.receive_data(b"x")
    assert [r.error is not None for r in results] == [True]
    assert session.buffered == 0 and session.failed is None


def test_past_the_session_bound_the_session_fails() -> None:
    session = _Misbehaving(mode="wait", max_buffer=50)
    results = session.receive_data(b"x" * 51)
    assert session.failed is not None and results[-1].error is session.failed
    assert "buffer bound" in session.failed.reason
    assert session.receive_data(b"x") == []  # nothing more is read
    assert session.buffered == 0


def test_a_frame_over_its_cpu_budget_is_cut_off_as_a_decode_error() -> None:
    slow = _Misbehaving(mode="ok", burn_s=0.03, frame_budget_s=0.01)
    results = slow.receive_data(b"a")
    assert results[0].error is not None and "budget" in results[0].error.reason
    assert slow.unique_id is None  # the over-budget result is not used
    fast = _Misbehaving(mode="ok", frame_budget_s=0.01)
    assert fast.receive_data(b"a")[0].decoded is not None


def test_a_garbage_collection_during_a_frame_is_not_charged_to_its_budget() -> None:
    # CI dropped a good Teltonika frame ("took 136 ms of CPU, budget 50 ms"): a full
    # collection of a large heap started while it was decoded. Decoding must still be
    # charged; the collector's time must not be.
    heap = [[i] for i in range(400_000)]
    started = time.thread_time()
    gc.collect()
    assert time.thread_time() - started > 0.004  # the collection alone exceeds the budget
    results = _Misbehaving(mode="collect", frame_budget_s=0.002).receive_data(b"a")
    assert results[0].decoded is not None, results[0].error
    burning = _Misbehaving(mode="collect", burn_s=0.01, frame_budget_s=0.002)
    assert "budget" in str(burning.receive_data(b"a")[0].error)
    assert len(heap) == 400_000


def test_a_datagram_over_max_frame_is_refused_undecoded() -> None:
    result = _Misbehaving(mode="ok").receive_datagram(b"x" * 101)
    assert result.error is not None and "exceeds" in result.error.reason
