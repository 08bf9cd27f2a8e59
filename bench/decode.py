"""GT06 decode micro-benchmark: ``Gt06Session.receive_data`` per frame, single-threaded.

    .venv/bin/python bench/decode.py

Feeds 20,000 GT06 position frames (0x12, the GT06N document's layout, serials counting up so
every ACK differs) through one session, as the servers do: in 2 KiB slices, and once as a
single read (the framer must look at the buffer head only). Prints µs per frame, best of 3.
Decoding includes building the report and the ACK bytes (CRC-ITU).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openatd.protocols._common import crc16_x25
from openatd.protocols.gt06 import Gt06Session

# 78 78 | 1f | 12 | time 0f0a140e150b | gps c5 | lat 05e51e78 | lon 0293a9e8 | speed 00 |
# course/status 5400 | MCC 00f6 MNC 01 LAC 006e cell 0055da | serial | CRC | 0D 0A
_BODY = bytes.fromhex("1f120f0a140e150bc505e51e780293a9e800540000f601006e0055da")
FRAMES = 20_000


def frame(serial: int) -> bytes:
    body = _BODY + serial.to_bytes(2, "big")
    return b"\x78\x78" + body + crc16_x25(body).to_bytes(2, "big") + b"\r\n"


def timed(stream: bytes, slice_size: int) -> tuple[float, int]:
    session = Gt06Session(unique_id="353419036066061")
    n = errors = 0
    t = time.perf_counter()
    for i in range(0, len(stream), slice_size):
        for result in session.receive_data(stream[i : i + slice_size]):
            n += 1
            errors += result.error is not None
    elapsed = time.perf_counter() - t
    assert errors == 0 and n == FRAMES, (n, errors)
    return elapsed / n * 1e6, n


def main() -> None:
    stream = b"".join(frame(i & 0xFFFF) for i in range(FRAMES))
    for label, size in (("2 KiB reads", 2048), ("one read", len(stream))):
        best = min(timed(stream, size)[0] for _ in range(3))
        print(f"{label:12s} {best:6.1f} µs/frame  ({FRAMES} frames of {len(frame(0))} bytes)")


if __name__ == "__main__":
    main()
