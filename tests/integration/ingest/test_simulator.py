"""The simulator's device-side encoders against the real decoders, and a simulated fleet run.

The encoders are test tooling, but the bench's figures are only worth something
if the servers decode what they send to the same coordinates and times.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from ingest_support import MemorySink, available_protocols
from prometheus_client import CollectorRegistry

from openatd.domain.messages import ReportKind
from openatd.ingest.servers import IngestServer, ListenerSpec
from openatd.ingest.simulator import ENCODERS, Fix, device_ids, load_fixes, simulate
from openatd.protocols.registry import session_class

SIMULATED = [p for p in ENCODERS if p in available_protocols()]


def trace_fixes(shared_data: Any) -> list[list[Fix]]:
    return load_fixes(shared_data.path("traces", "gpxpy_slovenia", "around-visnjan-with-car.gpx"))


def test_traces_are_read_with_motion(shared_data: Any) -> None:
    traces = trace_fixes(shared_data)
    fixes = [f for t in traces for f in t]
    assert len(fixes) == 104  # the drive's point count (PROVENANCE.md)
    assert all(44.0 < f.latitude < 46.0 and 13.0 < f.longitude < 14.5 for f in fixes)
    assert max(f.speed_mps for f in fixes) > 5.0  # a car drive: speeds derived from the fixes


@pytest.mark.parametrize("protocol", SIMULATED)
@pytest.mark.parametrize(
    "fix",
    [
        Fix(datetime(2026, 3, 8, 9, 30, 5, tzinfo=UTC), 45.2841667, 13.7230556, 13.4, 271.0, 88.0),
        Fix(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), -33.8665433, -70.61930, 0.0, 5.0, 0.0),
    ],
    ids=["north-east", "south-west"],
)
def test_encoded_fix_decodes_to_the_same_values(protocol: str, fix: Fix) -> None:
    encoder = ENCODERS[protocol](device_ids(1)[0])
    session = session_class(protocol)()
    login = encoder.login()
    wire = (login or b"") + encoder.positions([fix])[0]
    results = session.receive_data(wire)
    assert [r.error for r in results] == [None] * len(results)
    reports = [m for r in results if r.decoded for m in r.decoded.messages]
    positions = [m for m in reports if m.kind is ReportKind.POSITION]
    assert len(positions) == 1
    p = positions[0]
    assert (p.unique_id or session.unique_id) == encoder.unique_id
    assert p.fix_time == fix.time
    assert p.latitude == pytest.approx(fix.latitude, abs=1e-5)
    assert p.longitude == pytest.approx(fix.longitude, abs=1e-5)
    assert p.valid is True
    # speeds travel as whole km/h (gt06, teltonika) or knots with 2 decimals
    assert p.speed_mps == pytest.approx(fix.speed_mps, abs=0.3)
    if login is not None and encoder.acks_login:
        assert results[0].decoded is not None and results[0].decoded.reply
        assert encoder.acks(bytearray(results[0].decoded.reply)) == [None]


async def _run_fleet(
    sink: MemorySink, protocol: str, ids: list[str], traces: list[list[Fix]], **options: Any
) -> Any:
    """A real server on a free port; the simulated fleet *ids* sends to it for 0.5 s
    (*options* go to :func:`simulate`); returns once *sink* holds what was sent."""
    server = IngestServer(
        sink, [ListenerSpec(protocol, 0, udp=False)], registry=CollectorRegistry()
    )
    bound = await server.start()
    try:
        report = await simulate(
            "127.0.0.1", bound[protocol].tcp_port, protocol, len(ids), duration_s=0.5,
            traces=traces, ids=ids, **options,
        )  # fmt: skip
        for _ in range(100):
            if len(sink.reports) >= report.positions_sent:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.stop()
    return report


@pytest.mark.parametrize("protocol", SIMULATED)
def test_simulated_fleet_is_stored_and_acknowledged(shared_data: Any, protocol: str) -> None:
    devices = 20
    ids = device_ids(devices, 500)
    sink = MemorySink(ids)
    traces = trace_fixes(shared_data)

    report = asyncio.run(_run_fleet(sink, protocol, ids, traces, rate=400, drain_s=3.0))
    assert report.connected == devices
    assert report.logged_in == devices
    assert report.positions_sent == 200
    positions = [r for r in sink.reports if r.kind is ReportKind.POSITION]
    assert len(positions) == report.positions_sent
    assert {r.unique_id for r in positions} == set(ids)
    for uid in ids:  # per-device order: fix times strictly increasing
        times = [r.fix_time for r in positions if r.unique_id == uid]
        assert times == sorted(times) and len(set(times)) == len(times) == 10
    if ENCODERS[protocol].acks_positions:
        assert report.position_acks == report.frames_sent
        p99 = report.percentile(99)
        assert p99 is not None and p99 < 1.0


@pytest.mark.skipif("gt06" not in SIMULATED, reason="gt06 decoder not in this checkout")
def test_simulate_command_reports_rate_and_ack_latency(shared_data: Any) -> None:
    from typer.testing import CliRunner

    from openatd.cli.main import app

    ids = device_ids(5, 900)
    sink = MemorySink(ids)
    loop = asyncio.new_event_loop()
    server = IngestServer(sink, [ListenerSpec("gt06", 0, udp=False)], registry=CollectorRegistry())
    bound = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        trace = shared_data.path("traces", "gpxpy_slovenia", "around-visnjan-with-car.gpx")
        result = CliRunner().invoke(
            app,
            [
                "simulate",
                "--devices",
                "5",
                "--protocol",
                "gt06",
                "--rate",
                "100",
                "--duration",
                "0.5",
                "--port",
                str(bound["gt06"].tcp_port),
                "--trace",
                str(trace),
                "--first-id",
                "900",
            ],
        )
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert result.exit_code == 0, result.output
    assert "5/5 connected, 5 logged in" in result.output
    assert "sent 50 positions in 50 frames" in result.output
    assert "position ACKs 50/50" in result.output
    assert len(sink.reports) == 50


@pytest.mark.skipif("gt06" not in SIMULATED, reason="gt06 decoder not in this checkout")
def test_a_backlog_is_written_first_and_older_than_the_live_fixes(shared_data: Any) -> None:
    """``backlog``: after login each device writes its buffered fixes at once, then its live
    ones; every frame is ACKed, and per device the buffered fixes are the oldest."""
    devices, backlog = 8, 12
    ids = device_ids(devices, 700)
    sink = MemorySink(ids)
    traces = trace_fixes(shared_data)

    report = asyncio.run(
        _run_fleet(sink, "gt06", ids, traces, rate=80, drain_s=5.0, backlog=backlog)
    )
    assert report.backlog_sent == devices * backlog
    assert report.positions_sent == devices * (backlog + 5)
    assert report.position_acks == report.frames_sent == report.positions_sent
    positions = [r for r in sink.reports if r.kind is ReportKind.POSITION]
    for uid in ids:
        times = [r.fix_time for r in positions if r.unique_id == uid]
        assert len(times) == backlog + 5
        assert times == sorted(times) and len(set(times)) == len(times)  # buffered ones first
