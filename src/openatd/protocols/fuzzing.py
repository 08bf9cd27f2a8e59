"""A seeded mutation fuzzer for the tracker decoders (used by the tests and ``bench/fuzz.py``).

From a corpus of captured frames (the shared Traccar samples), :class:`Mutator` makes
hostile variants: bit flips, random bytes, truncation, splices of two frames, inserted
and repeated chunks, length fields set to 0 / 0x7fffffff / 0xffffffff / negative values
at every plausible offset, and decimal numbers in text set to huge, negative or empty
values. :func:`run_one` feeds one input to fresh sessions the ways a server does (as a
datagram, as one stream read, and in small reads) and reports what went wrong: an
exception other than :class:`~openatd.errors.ProtocolDecodeError` escaping (or a framer
crash the session base had to catch), the time taken, and the largest buffer held.

Everything is deterministic for a given seed (``random.Random``); nothing here does I/O.
"""

from __future__ import annotations

import gc
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openatd.errors import ProtocolDecodeError
from openatd.protocols.registry import session_class

__all__ = ["FuzzStats", "Mutator", "corpus", "run_one"]

_NUMBER = re.compile(rb"-?\d+")
_HUGE_TEXT = (
    b"0",
    b"-1",
    b"-127",
    b"",
    b"999999999999999999999999999999",
    b"4294967295",
    b"2147483647",
    b"9" * 5000,
)
_WIDE = (
    (1, (0, 0xFF, 0x7F, 0x80)),
    (2, (0, 0xFFFF, 0x7FFF, 0x8000)),
    (4, (0, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000)),
)


class Mutator:
    """Hostile variants of a corpus of frames, reproducible from *seed*.

    Args:
        corpus: captured frames of one protocol (at least one, none empty).
        seed: the random seed; the same seed and corpus give the same inputs.

    Raises:
        ValueError: an empty corpus.
    """

    def __init__(self, corpus: Sequence[bytes], seed: int) -> None:
        frames = [bytes(f) for f in corpus if f]
        if not frames:
            raise ValueError("empty corpus")
        self.corpus = frames
        self.rng = random.Random(seed)

    def __iter__(self) -> Mutator:
        return self

    def __next__(self) -> bytes:
        return self.mutate(self.rng.choice(self.corpus))

    def mutate(self, frame: bytes) -> bytes:
        """One to three mutations of *frame*."""
        data = bytearray(frame)
        for _ in range(self.rng.randint(1, 3)):
            data = self._one(data)
        return bytes(data)

    def _one(self, data: bytearray) -> bytearray:
        rng = self.rng
        kind = rng.randrange(10)
        if not data:
            return bytearray(rng.choice(self.corpus))
        if kind == 0:  # bit flips
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # random bytes
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2:  # truncation
            data = data[: rng.randrange(len(data))]
        elif kind == 3:  # splice with another frame
            other = rng.choice(self.corpus)
            data = data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other)) :]
        elif kind in (4, 5):  # a length-like field at a plausible offset
            width, values = rng.choice(_WIDE)
            value = rng.choice(values)
            at = rng.randrange(min(len(data), 16))
            order = rng.choice(("big", "little"))
            data[at : at + width] = value.to_bytes(width, order)  # type: ignore[arg-type]
        elif kind == 6:  # a number in text: huge, negative, empty
            numbers = list(_NUMBER.finditer(data))
            if numbers:
                m = rng.choice(numbers)
                data[m.start() : m.end()] = rng.choice(_HUGE_TEXT)
            else:
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 7:  # repeat a chunk
            i = rng.randrange(len(data))
            chunk = data[i : i + rng.randint(1, 16)]
            data[i:i] = chunk * rng.randint(2, 200)
        elif kind == 8:  # insert random bytes
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.randbytes(rng.randint(1, 8))
        else:  # two frames back to back (a stream)
            data = data + rng.choice(self.corpus)
        return data


@dataclass
class FuzzStats:
    """What a run found for one protocol.

    Attributes:
        inputs: inputs fed.
        hangs: inputs that took longer than the hang threshold (seconds of thread CPU
            time, so that a loaded machine does not make slow inputs look hung).
        crashes: (input, exception repr) for exceptions other than ProtocolDecodeError
            that escaped a session, or framer crashes the session base caught.
        max_buffer: the most bytes a session held after any input (bytes).
        slowest_s: the most CPU time one input took (seconds).
        slowest_wall_s: the longest wall time one input took (seconds).
    """

    inputs: int = 0
    hangs: list[tuple[bytes, float]] = field(default_factory=list)
    crashes: list[tuple[bytes, str]] = field(default_factory=list)
    max_buffer: int = 0
    slowest_s: float = 0.0
    slowest_wall_s: float = 0.0


def run_one(
    protocol: str, data: bytes, stats: FuzzStats, *, hang_s: float = 1.0, small_reads: bool = True
) -> None:
    """Feed *data* to fresh *protocol* sessions as a datagram, one read and (with
    *small_reads*) 7-byte reads.

    Records into *stats*: the input, any escaping exception other than
    ProtocolDecodeError (and any ``framing failed`` result: a framer crash), a hang
    when it took more than *hang_s* seconds of this thread's CPU time (the cyclic garbage
    collector paused meanwhile), and the largest buffer held.
    """
    cls = session_class(protocol)
    stats.inputs += 1
    # The cyclic garbage collector is off while the input is timed: a full collection of the
    # whole process's heap (seen at 1.1 s in a test worker that had run hundreds of
    # integration tests) is not the decoder's time. Decoding garbage is freed by reference
    # counting; the collector runs again after the input.
    collecting = gc.isenabled()
    gc.disable()
    started = time.perf_counter()
    started_cpu = time.thread_time()
    try:
        results = [cls().receive_datagram(data)]
        stream = cls()
        results.extend(stream.receive_data(data))
        stats.max_buffer = max(stats.max_buffer, stream.buffered)
        if small_reads:
            small = cls()
            for i in range(0, len(data), 7):
                results.extend(small.receive_data(data[i : i + 7]))
                stats.max_buffer = max(stats.max_buffer, small.buffered)
        for result in results:
            if result.error is not None and result.error.reason.startswith("framing failed"):
                stats.crashes.append((data, result.error.reason))
    except ProtocolDecodeError:
        pass  # allowed, though sessions normally return it as a result
    except Exception as exc:
        stats.crashes.append((data, repr(exc)))
    finally:
        spent = time.thread_time() - started_cpu
        wall = time.perf_counter() - started
        if collecting:
            gc.enable()
    stats.slowest_s = max(stats.slowest_s, spent)
    stats.slowest_wall_s = max(stats.slowest_wall_s, wall)
    if spent > hang_s:
        stats.hangs.append((data, spent))


def corpus(protocol: str, shared: Path) -> list[bytes]:
    """Every captured frame of *protocol* under *shared* (the ``data/protocols`` folder):
    ``<protocol>.json`` samples, ``frames/<protocol>.json`` framer inputs and the
    protocol's alarm samples in ``em_relevant_samples.json``. Missing files are skipped.

    Raises:
        ValueError: a sample whose ``encoding`` is neither ``hex`` nor ``text``.
    """

    def raw(item: dict[str, object]) -> bytes:
        text = str(item["raw"])
        encoding = item.get("encoding", "hex")
        if encoding == "hex":
            return bytes.fromhex(text)
        if encoding == "text":
            return text.encode("latin-1")
        raise ValueError(f"sample encoding {encoding!r}")

    frames: list[bytes] = []
    main = shared / f"{protocol}.json"
    if main.exists():
        frames += [raw(s) for s in json.loads(main.read_text())["samples"]]
    framing = shared / "frames" / f"{protocol}.json"
    if framing.exists():
        frames += [raw(c["input"]) for c in json.loads(framing.read_text())["cases"]]
    alarms = shared / "em_relevant_samples.json"
    if alarms.exists():
        samples = json.loads(alarms.read_text())["samples"]
        frames += [raw(s) for s in samples if s["protocol"] == protocol]
    return frames
