"""Seeded mutation fuzzing of every decoder, on a small budget (issue 14).

For each protocol, 2,000 hostile variants of its captured frames
(:class:`openatd.protocols.fuzzing.Mutator`, fixed seed) are fed as a datagram, as one
read and, every 4th, in 7-byte reads. None may raise anything but
ProtocolDecodeError, take more than a second, or leave a session holding more than
its maximum frame plus one feed slice. ``bench/fuzz.py`` runs the same for 10^6 inputs.

``REGRESSIONS`` holds every input that ever broke a decoder (from a fuzzing run or a
trial), replayed the same way.
"""

from __future__ import annotations

from typing import Any

import pytest

from openatd.protocols.base import FEED_CHUNK
from openatd.protocols.fuzzing import FuzzStats, Mutator, corpus, run_one
from openatd.protocols.registry import PROTOCOL_NAMES, session_class
from shared_paths import SharedData

INPUTS = 2000
SEED = 20261205

REGRESSIONS: list[tuple[str, str]] = [
    # issue 14's trial of c4492cc: each froze the server or grew it without bound
    ("meitrack", b"$$z-127,860910605,AAC,1*D3".hex()),
    ("teltonika", "000000007fffffff0801" + "00" * 64),
    (
        "gl200",
        "2b000038000865134050947226820300030000006a3ed6f101895000521629fa8b28f402ac1a8e6a3ed6"
        "f100001600000010f505010ff824",
    ),
    (
        "gl200",
        b"+RESP:GTERI,4F0D06,865585041396684,,00000002,12665,10,1,1,0.0,342,38.6,49.846792,"
        b"40.426182,20260220064016,0400,0010,0F6E,08D7,00,0.0,,,,100,110000,,"
        b"999999999999999999999999999999,20260220064016,91C9$".hex(),
    ),
]


def _clean(protocol: str, stats: FuzzStats) -> None:
    assert not stats.crashes, f"{protocol}: {stats.crashes[:3]}"
    assert not stats.hangs, f"{protocol}: {[(d.hex(), s) for d, s in stats.hangs[:3]]}"
    assert stats.max_buffer <= session_class(protocol).max_frame + FEED_CHUNK


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_mutated_captured_frames_never_break_a_decoder(
    protocol: str, shared_data: SharedData
) -> None:
    frames = corpus(protocol, shared_data.path("protocols"))
    assert len(frames) >= 10, f"{protocol}: too few captured frames to fuzz from"
    stats = FuzzStats()
    mutator = Mutator(frames, SEED)
    for n in range(INPUTS):
        run_one(protocol, next(mutator), stats, small_reads=n % 4 == 0)
    assert stats.inputs == INPUTS
    _clean(protocol, stats)


@pytest.mark.parametrize(("protocol", "raw"), REGRESSIONS)
def test_inputs_that_once_broke_a_decoder(protocol: str, raw: str) -> None:
    stats = FuzzStats()
    run_one(protocol, bytes.fromhex(raw), stats)
    _clean(protocol, stats)


def test_the_mutator_is_reproducible_and_hostile() -> None:
    frames = [b"+RESP:GTFRI,1,2,3$", bytes.fromhex("78780d01086471700328358100093f040d0a")]
    first = [next(m) for m in [Mutator(frames, 1)] for _ in range(300)]
    again = [next(m) for m in [Mutator(frames, 1)] for _ in range(300)]
    assert first == again
    assert len(set(first)) > 200
    assert any(b"999999999999999999999999999999" in x for x in first)
    assert any(b"\x7f\xff\xff\xff" in x or b"\xff\xff\xff\x7f" in x for x in first)


def test_a_long_number_in_a_text_field_costs_no_backtracking() -> None:
    """bench/fuzz.py found a megastek frame whose GPRMC speed field was 5,000 digits: the
    pattern ``\\d+\\.?\\d*`` split the run every possible way (0.7-0.9 s of CPU on one
    frame, the event loop held). Now each number matches one way: linear time."""
    import time

    frame = (
        b"STX260475            $GPRMC,104032.001,A,4022.1119,N,01811.4081,E,"
        + b"9" * 4000
        + b"GVT900,S,141215,031804,A,,S,,E,00,04,00,5.17,0.000,193.05,117.1,0.0,510,10,"
        b"041B,0A5E,,0000,0000,22,12,0, , ,,1-1,98,Timer;!"
    )
    session = session_class("megastek")()
    started = time.thread_time()
    session.receive_datagram(frame)
    assert time.thread_time() - started < 0.1  # ~1 ms; was 700-900 ms


def test_the_garbage_collector_is_not_timed_as_the_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI once counted a 1.1 s full collection of a test worker's heap as a teltonika "hang"
    (the input decodes in 40 µs): the collector is off while an input is timed, and on again
    afterwards."""
    import gc

    from openatd.protocols import fuzzing

    seen: list[bool] = []
    real = session_class("gt06")

    class Watched(real):  # type: ignore[misc, valid-type]
        def receive_data(self, data: bytes) -> list[Any]:
            seen.append(gc.isenabled())
            return list(super().receive_data(data))

    monkeypatch.setattr(fuzzing, "session_class", lambda name: Watched)
    assert gc.isenabled()
    stats = FuzzStats()
    run_one("gt06", bytes.fromhex("78780d01086471700328358100093f040d0a"), stats)
    assert seen and not any(seen)
    assert gc.isenabled()
    assert stats.inputs == 1 and not stats.crashes and not stats.hangs
