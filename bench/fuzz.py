"""Long mutation-fuzzing run of every tracker decoder from the shared captured frames.

    .venv/bin/python bench/fuzz.py --inputs 1000000            # every decoder, 10^6 inputs each
    .venv/bin/python bench/fuzz.py --inputs 20000 --protocols gt06,h02 --seed 7

The corpus of a protocol is every captured frame in ``../shared/data/protocols``
(``<protocol>.json`` samples, ``frames/<protocol>.json`` framer inputs and the alarm
samples). Inputs come from :class:`openatd.protocols.fuzzing.Mutator` (seeded: the
same seed gives the same inputs); each is fed as a datagram, as one read and in
7-byte reads (every 4th input; :func:`openatd.protocols.fuzzing.run_one`). A true
infinite loop is cut by SIGALRM after ``--kill-s`` seconds and counted as a hang.

Prints one line per protocol: inputs, hangs (> 1 s of CPU time; wall time is not used
because a shared machine makes slow inputs look hung), exceptions other than
ProtocolDecodeError, the largest buffer a session held, the slowest input (CPU), inputs/s.
Every offending input is written as hex to ``--out`` (default ``fuzz-findings.txt``)
as soon as it is found, so that it can become a regression test. Exit status 1 when
anything was found.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openatd.protocols.base import FEED_CHUNK
from openatd.protocols.fuzzing import FuzzStats, Mutator, corpus, run_one
from openatd.protocols.registry import PROTOCOL_NAMES, session_class

ROOT = Path(__file__).resolve().parents[1]


class _Killed(BaseException):
    """SIGALRM: one input ran past ``--kill-s``."""


def fuzz(
    protocol: str, inputs: int, seed: int, kill_s: float, progress: int, out: TextIO
) -> tuple[FuzzStats, float]:
    """Run *inputs* mutated inputs against *protocol*; returns the stats and seconds taken."""
    shared = Path(os.environ.get("OPENATD_SHARED_DATA", ROOT.parent / "shared" / "data"))
    stats = FuzzStats()
    mutator = Mutator(corpus(protocol, shared / "protocols"), seed)

    def expire(signum: int, frame: object) -> None:
        raise _Killed

    signal.signal(signal.SIGALRM, expire)
    started = time.perf_counter()

    def interrupted(signum: int, frame: object) -> None:
        # a stopped run still reports what it did (bench/README.md figures)
        spent = time.perf_counter() - started
        print(
            f"{protocol:10} {stats.inputs:>9} {len(stats.hangs):>8} {len(stats.crashes):>10} "
            f"{stats.max_buffer:>10} {session_class(protocol).max_frame:>9} "
            f"{stats.slowest_s * 1000:>7.1f}ms {stats.inputs / spent:>9.0f} (stopped)",
            flush=True,
        )
        sys.exit(1 if stats.hangs or stats.crashes else 0)

    signal.signal(signal.SIGTERM, interrupted)
    for n in range(1, inputs + 1):
        data = next(mutator)
        signal.setitimer(signal.ITIMER_REAL, kill_s)
        found = len(stats.crashes) + len(stats.hangs)
        try:
            run_one(protocol, data, stats, small_reads=n % 4 == 0)
        except _Killed:
            stats.hangs.append((data, kill_s))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if len(stats.crashes) + len(stats.hangs) > found:
            for bad, reason in stats.crashes[-1:]:
                out.write(f"{protocol} #{n} exception {reason} {bad.hex()}\n")
            for bad, seconds in stats.hangs[-1:]:
                out.write(f"{protocol} #{n} hang {seconds:.2f}s {bad.hex()}\n")
            out.flush()
        if progress and n % progress == 0 and n < inputs:
            print(
                f"  {protocol}: {n} inputs, {len(stats.hangs)} hangs, "
                f"{len(stats.crashes)} exceptions, max buffer {stats.max_buffer}, "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
    return stats, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per decoder")
    parser.add_argument("--protocols", default=",".join(PROTOCOL_NAMES))
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--kill-s", type=float, default=30.0, help="wall seconds, then SIGALRM")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings.txt"))
    parser.add_argument("--progress", type=int, default=0, help="print a line every N inputs")
    args = parser.parse_args()
    found = 0
    print(
        f"{'protocol':10} {'inputs':>9} {'hangs>1s':>8} {'exceptions':>10} "
        f"{'max buffer':>10} {'max frame':>9} {'slowest':>9} {'inputs/s':>9}",
        flush=True,
    )
    with args.out.open("w") as out:
        for protocol in args.protocols.split(","):
            stats, spent = fuzz(protocol, args.inputs, args.seed, args.kill_s, args.progress, out)
            found += len(stats.crashes) + len(stats.hangs)
            bound = session_class(protocol).max_frame + FEED_CHUNK
            flag = "" if stats.max_buffer <= bound else " OVER BOUND"
            print(
                f"{protocol:10} {stats.inputs:>9} {len(stats.hangs):>8} {len(stats.crashes):>10} "
                f"{stats.max_buffer:>10} {session_class(protocol).max_frame:>9} "
                f"{stats.slowest_s * 1000:>7.1f}ms {stats.inputs / spent:>9.0f}{flag}",
                flush=True,
            )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
