"""A stream's frames must not depend on where the reads of it happened to end.

TCP delivers a device's bytes in reads whose boundaries the sender does not choose: one
frame per read on an idle server, many frames in one read when the server is busy. A
framer that decides where a frame ends from whatever else is in its buffer splits the
same stream differently under load, and what it merges is lost without a decode error.
That happened to Megastek (a ``...;!`` report read together with a later CR LF report
became one frame: ten reports gone, a low-battery alert never raised; the live session
test saw it in about 1 run of 10 with ``-n 2``).

Here every protocol's captured session (real frames from ``../shared/data/protocols``)
is fed one frame per read, then cut at each frame start, at random places and byte by
byte; the frames and what they decode to must be the same every time. The last test
sends the session that lost reports to a running server over a real socket, cut the way
that lost them, and checks in the database that every device's reports arrived.
"""

from __future__ import annotations

import itertools
import random
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from ingest_support import (
    ScriptFrame,
    available_protocols,
    load_samples,
    register_devices,
    session_script,
)
from live import start_live_server

from free_ports import free_port
from openatd.protocols.base import FrameResult
from openatd.protocols.registry import session_class
from openatd.storage.db import Database

TWENTY_YEARS_S = 20 * 365 * 86400
SPLIT_FAULTS = {
    "h02": "a binary frame's length (32 or 45 bytes) is guessed from the first read holding "
    "a '$' frame (45 bytes read alone: long), as Traccar's H02FrameDecoder does; the same "
    "frames read together are cut as 32-byte frames",
}
"""Framers known to depend on read boundaries: strict xfails until they are fixed."""


def _script(protocol: str, shared_data: Any) -> list[ScriptFrame]:
    return session_script(protocol, load_samples(shared_data.path("protocols", f"{protocol}.json")))


def _outcome(protocol: str, reads: Sequence[bytes]) -> list[tuple[bytes, str, list[Any]]]:
    """Each frame a fresh session cuts from *reads*: its bytes, error and decoded reports."""
    session = session_class(protocol)()
    results: list[FrameResult] = []
    for chunk in reads:
        results += session.receive_data(chunk)
    return [
        (
            bytes(r.frame),
            r.error.reason if r.error is not None else "",
            [] if r.decoded is None else [(m.unique_id, m.fix_time, m.battery_pct, m.latitude)
                                          for m in r.decoded.messages],
        )
        for r in results
    ]  # fmt: skip


def _cut(stream: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize(
    "protocol",
    [
        pytest.param(p, marks=pytest.mark.xfail(reason=SPLIT_FAULTS[p], strict=True))
        if p in SPLIT_FAULTS
        else p
        for p in available_protocols()
    ],
)
def test_frames_do_not_depend_on_read_boundaries(protocol: str, shared_data: Any) -> None:
    script = _script(protocol, shared_data)
    stream = b"".join(f.wire for f in script)
    reference = _outcome(protocol, [f.wire for f in script])
    assert len(reference) == len(script)
    assert all(not error for _, error, _ in reference), f"{protocol}: a captured frame fails"
    starts = [sum(len(f.wire) for f in script[:i]) for i in range(1, len(script))]
    rng = random.Random(protocol)
    splits = [[s] for s in starts]  # all before one frame in one read, the rest in another
    splits += [rng.sample(range(1, len(stream)), rng.randint(1, 12)) for _ in range(40)]
    splits.append(list(range(1, len(stream))))  # byte by byte
    for cuts in splits:
        got = _outcome(protocol, _cut(stream, cuts))
        assert got == reference, f"{protocol}: other frames when the reads end at {cuts[:12]}"


def test_megastek_dot_bang_report_then_crlf_report_are_two_frames() -> None:
    mgv = b"$MGV002,013777007536434,,R,010114,000057,V,0000.0000,N,00000.0000,E,00,00,00,99.9,"
    stx = b"STX,865067021328417,$GPRMC,064721.000,A,2232.48,N,11403.60,E,0,0,300316,,,A*7F"
    session = session_class("megastek")()
    frames = [r.frame for r in session.receive_data(mgv + b"x;!" + stx + b"\r\n")]
    assert frames == [mgv + b"x;!", stx]


def _counter(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_megastek_session_cut_into_two_reads_is_stored_whole(db_url: str, shared_data: Any) -> None:
    """The cut that lost reports in the live test: the first frame read alone, the rest of
    the session in one read, then the device hangs up (Megastek gets no ACK)."""
    script = _script("megastek", shared_data)
    devices = sorted({f.device for f in script if f.device})
    db = Database(db_url)
    db.migrate()
    register_devices(db, devices, "megastek")
    port = free_port()
    server = start_live_server(
        db_url, protocols=f"megastek:{port}", max_age_s=TWENTY_YEARS_S, protocol_host="127.0.0.1"
    )
    frames_metric = 'openatd_ingest_frames_total{protocol="megastek"}'
    reports_metric = 'openatd_ingest_reports_stored_total{protocol="megastek"}'
    reports = sum(len(f.reports) for f in script)

    def metrics() -> str:
        with urllib.request.urlopen(server.api + "/metrics", timeout=10) as r:
            return str(r.read().decode())

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(script[0].wire)
            deadline = time.monotonic() + 10
            while _counter(metrics(), frames_metric) < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            s.sendall(b"".join(f.wire for f in script[1:]))
        deadline = time.monotonic() + 15
        while _counter(metrics(), reports_metric) < reports and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = metrics()
        assert _counter(seen, frames_metric) == len(script)
        assert _counter(seen, reports_metric) == reports
        with db.engine.connect() as c:
            last_seen = dict(
                c.execute(sa.text("SELECT unique_id, last_seen_at FROM devices")).tuples().all()
            )
            alerts = Counter(r[0] for r in c.execute(sa.text("SELECT type FROM alerts")).all())
        assert sorted(d for d, at in last_seen.items() if at is not None) == devices
        assert "low_battery" in alerts  # 15 % and 10 % readings sit in the middle of the session
    finally:
        server.stop()
        db.dispose()
