"""Replay real traces to a real HTTP server on a loopback port and check what arrives.

The server here is a small recorder (``http.server`` in a thread) that answers
200, or 404 for the device id ``unknown``; the end-to-end test against
OpenATD's own OsmAnd intake belongs to the integration of ``openatd serve``.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import typer
from typer.testing import CliRunner

from openatd.cli.replay import register
from openatd.domain.clock import SimulatedClock
from openatd.errors import InvalidInput
from openatd.ingest.replay import ReplayConnectionError, replay
from openatd.ingest.traces import read_trace

if TYPE_CHECKING:
    from shared_paths import SharedData  # the tests/ fixture's type; not imported at run time

T = ("traces",)
START = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


@dataclass
class Recorder:
    url: str
    requests: list[Request] = field(default_factory=list)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            rec.requests.append(Request(self.command, parts.path, query, body, time.monotonic()))
            status, text = (404, b"unknown device") if query.get("id") == "unknown" else (200, b"")
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        do_GET = _handle
        do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fields_and_speed_in_knots(shared_data: SharedData, recorder: Recorder) -> None:
    path = shared_data.path(*T, "gpsbabel_loggers", "mtk_logger_m241.csv")
    points = list(itertools.islice(read_trace(path), 8))
    stats = replay(points, "dev-1", recorder.url, 0, rebase_to_now=False)
    assert (stats.sent, stats.accepted, stats.refused_total) == (8, 8, 0)
    assert len(recorder.requests) == 8
    first = recorder.requests[0]
    assert first.method == "POST" and first.path == "/" and first.body == b""
    # 1,B,2008/05/04,12:52:47.000,SPS,41.805592,N,12.679832,E,374.812 m,0.865 km/h,0,1.13,0.85,..
    assert first.query == {
        "id": "dev-1",
        "lat": "41.805592",
        "lon": "12.679832",
        "timestamp": str(int(datetime(2008, 5, 4, 12, 52, 47, tzinfo=UTC).timestamp())),
        "speed": "0.467",  # 0.865 km/h = 0.865 / 1.852 knots
        "altitude": "374.8",
        "hdop": "0.85",
        "valid": "true",
    }
    for req, p in zip(recorder.requests, points, strict=True):
        assert p.speed_mps is not None
        assert float(req.query["speed"]) == pytest.approx(p.speed_mps * 3600 / 1852, abs=5e-4)
        assert int(req.query["timestamp"]) == int(p.time.timestamp())


def test_paced_replay_rebases_and_divides_spacing(
    shared_data: SharedData, recorder: Recorder
) -> None:
    path = shared_data.path(*T, "uci_go_track", "go_track_trackspoints.csv")
    points = list(itertools.islice(read_trace(path, track="1"), 10))
    speedup = 40.0
    trace_span_s = (points[-1].time - points[0].time).total_seconds()
    assert trace_span_s == 49  # 07:24:32 .. 07:25:21 local, 5-6 s apart

    t_start = time.monotonic()
    stats = replay(points, "dev-2", recorder.url, speedup, clock=SimulatedClock(START))
    elapsed = time.monotonic() - t_start

    assert stats.accepted == 10
    assert stats.first_timestamp == START
    assert stats.last_timestamp == START + timedelta(seconds=trace_span_s / speedup)
    # Real-time pacing divided by the speedup (49 s / 40 = 1.225 s), not faster.
    assert elapsed >= trace_span_s / speedup - 0.01
    assert elapsed < trace_span_s / speedup + 2.0
    arrivals = [r.at - recorder.requests[0].at for r in recorder.requests]
    start_ms = int(START.timestamp() * 1000)
    for req, p, arrived in zip(recorder.requests, points, arrivals, strict=True):
        offset = (p.time - points[0].time).total_seconds() / speedup
        assert arrived >= offset - 0.05
        # Sub-second rebased times go as unix milliseconds so fixes do not collide.
        ts = int(req.query["timestamp"])
        expected_ms = start_ms + round(offset * 1000)
        assert ts == (expected_ms // 1000 if expected_ms % 1000 == 0 else expected_ms)
    assert "speed" not in recorder.requests[0].query  # go_track records no speed


def test_as_fast_as_possible_keeps_spacing_and_ends_now(
    shared_data: SharedData, recorder: Recorder
) -> None:
    path = shared_data.path(*T, "gpxpy_slovenia", "around-visnjan-with-car.gpx")
    points = list(read_trace(path))
    stats = replay(
        points, "dev-3", recorder.url, float("inf"), clock=SimulatedClock(START), method="GET"
    )
    assert stats.accepted == 104
    stamps = [int(r.query["timestamp"]) for r in recorder.requests]
    assert stamps[-1] == int(START.timestamp())
    originals = [int(p.time.timestamp()) for p in points]
    assert [s - stamps[0] for s in stamps] == [o - originals[0] for o in originals]
    assert all(r.method == "GET" for r in recorder.requests)


def test_refusals_are_counted_not_fatal(shared_data: SharedData, recorder: Recorder) -> None:
    path = shared_data.path(*T, "gpsbabel_loggers", "nmea_2004_illinois.nmea")
    points = list(itertools.islice(read_trace(path), 5))
    stats = replay(points, "unknown", recorder.url, 0)
    assert (stats.sent, stats.accepted) == (5, 0)
    assert stats.refused == {404: 5}
    assert [r.index for r in stats.refusals] == [0, 1, 2, 3, 4]
    assert stats.refusals[0].body == "unknown device"
    # NMEA carries course and speed: both sent.
    q = recorder.requests[0].query
    assert q["bearing"] == "138.9" and q["speed"] == "0.170"


def test_unreachable_server_is_retried_then_raised(shared_data: SharedData) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens
    path = shared_data.path(*T, "gpsbabel_loggers", "nmea_2004_illinois.nmea")
    points = list(itertools.islice(read_trace(path), 3))
    waits: list[float] = []
    with pytest.raises(ReplayConnectionError, match=f"127.0.0.1:{port}/ after 3 attempts"):
        replay(
            points,
            "dev-4",
            f"http://127.0.0.1:{port}/",
            0,
            attempts=3,
            retry_delay_s=0.25,
            sleep=waits.append,
        )
    assert waits == [0.25, 0.5]


def test_bad_arguments(recorder: Recorder) -> None:
    with pytest.raises(InvalidInput, match="speedup must be >= 0"):
        replay([], "d", recorder.url, -1)
    with pytest.raises(InvalidInput, match="intake URL"):
        replay([], "d", "127.0.0.1:5055", 1)


def test_given_client_is_used_and_left_open(shared_data: SharedData, recorder: Recorder) -> None:
    path = shared_data.path(
        *T, "android_gnsslogger_fix", "pseudoranges_log_2016_06_30_21_26_07_fix.csv"
    )
    points = list(itertools.islice(read_trace(path), 3))
    with httpx.Client(headers={"User-Agent": "replay-test"}) as client:
        stats = replay(points, "dev-5", recorder.url, 0, client=client)
        assert not client.is_closed
    assert stats.accepted == 3
    assert recorder.requests[0].query["accuracy"] == "3.0"


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root, so that ``replay`` stays a subcommand."""

    register(app)
    return app


def test_cli_replay(shared_data: SharedData, recorder: Recorder) -> None:
    path = shared_data.path(*T, "gpsbabel_loggers", "mtk_logger_bt-qt1000xt.csv")
    args = ["replay", str(path), "--speedup", "0", "--url", recorder.url, "--limit", "6"]
    result = CliRunner().invoke(_cli(), [*args, "--device", "cli-dev"])
    assert result.exit_code == 0, result.output
    assert "sent 6, accepted 6, refused 0" in result.output
    assert len(recorder.requests) == 6

    refused = CliRunner().invoke(_cli(), [*args, "--device", "unknown"])
    assert refused.exit_code == 1
    assert "HTTP 404: 6" in refused.output


def test_cli_unreadable_trace(tmp_path: object, recorder: Recorder) -> None:
    result = CliRunner().invoke(
        _cli(), ["replay", "/nonexistent/trace.gpx", "--device", "d", "--url", recorder.url]
    )
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "cannot read the trace: /nonexistent/trace.gpx: No such file or directory" in out
    assert out.count("cannot read") == 1  # said once, not "cannot read the trace: cannot read…"
    assert recorder.requests == []
