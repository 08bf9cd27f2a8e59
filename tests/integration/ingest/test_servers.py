"""Real loopback TCP sessions against the ingest servers, with every decoder present.

For each protocol whose module exists, a captured session (login first where the
protocol has one, then real position frames from ``../shared/data/protocols``)
is sent over a real socket. The sink is an in-memory fake of our own
``ReportSink`` port; the end-to-end tests with the real pipeline live elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from crc import Calculator, Crc16
from ingest_support import (
    Client,
    MemorySink,
    ScriptFrame,
    available_protocols,
    load_samples,
    session_script,
    stamped,
)
from prometheus_client import CollectorRegistry

from openatd.domain.clock import SimulatedClock
from openatd.errors import InvalidInput, OpenATDError
from openatd.ingest.servers import (
    IngestServer,
    ListenerSpec,
    event_loop_factory,
    listeners_from_settings,
)
from openatd.protocols.registry import session_class
from openatd.settings import get_settings

PROTOCOLS = available_protocols()
NOW = datetime(2026, 3, 8, 9, 30, 0, tzinfo=UTC)


def run(coro: Awaitable[Any], loop_factory: Any = None) -> Any:
    async def main() -> Any:
        return await coro

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


def script_for(shared_data: Any, protocol: str) -> list[ScriptFrame]:
    script = session_script(
        protocol, load_samples(shared_data.path("protocols", f"{protocol}.json"))
    )
    assert any(f.reports for f in script), f"{protocol}: no captured frame decodes to a report"
    return script


async def with_server(
    sink: MemorySink,
    protocol: str,
    body: Callable[[IngestServer, int], Awaitable[None]],
    **kwargs: Any,
) -> IngestServer:
    server = IngestServer(
        sink,
        [ListenerSpec(protocol, port=0, udp=False)],
        clock=SimulatedClock(NOW),
        registry=CollectorRegistry(),
        **kwargs,
    )
    bound = await server.start()
    try:
        await body(server, bound[protocol].tcp_port)
    finally:
        await server.stop()
    return server


def metric(server: IngestServer, name: str, protocol: str) -> float:
    return server.metrics.value(name, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_session_is_stored_in_order_and_acknowledged(shared_data: Any, protocol: str) -> None:
    script = script_for(shared_data, protocol)
    sink = MemorySink([f.device for f in script if f.device])
    replies = b"".join(f.decoded.reply or b"" for f in script)

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        for frame in script:  # one write per frame, as devices do
            await client.send(frame.wire)
        got = await client.read_exactly(len(replies)) if replies else b""
        assert got == replies
        for _ in range(100):
            if len(sink.reports) == sum(len(f.reports) for f in script):
                break
            await asyncio.sleep(0.02)
        await client.close()

    server = run(with_server(sink, protocol, body))
    expected = [r for f in script for r in stamped(f, NOW)]
    assert sink.reports == expected  # same reports, same order, received + device id stamped
    assert all(protocol == p for _, p, _ in sink.stored)
    assert metric(server, "openatd_ingest_reports_stored_total", protocol) == len(expected)
    assert metric(server, "openatd_ingest_decode_errors_total", protocol) == 0
    # the decode stage's time: one observation per read (at least one, at most one per frame)
    reads = metric(server, "openatd_ingest_decode_seconds_count", protocol)
    assert 1 <= reads <= len(script)
    assert metric(server, "openatd_ingest_decode_seconds_sum", protocol) > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_ack_before_the_sink_has_stored(shared_data: Any, protocol: str) -> None:
    script = script_for(shared_data, protocol)
    acked = [f for f in script if f.reports and f.decoded.reply]
    if not acked:
        pytest.skip(f"{protocol}: no captured report frame that the protocol acknowledges")
    frame = acked[0]
    prefix = [
        f for f in script[: script.index(frame)] if not f.reports and f.device == frame.device
    ]
    sink = MemorySink([frame.device or ""])

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        for login in prefix:
            await client.send(login.wire)
            if login.decoded.reply:
                assert await client.read_exactly(len(login.decoded.reply)) == login.decoded.reply
        sink.gate = asyncio.Event()
        await client.send(frame.wire)
        assert await client.read_nothing(0.4) == b""  # submit is pending: no ACK yet
        assert sink.stored == []
        sink.gate.set()
        assert frame.decoded.reply is not None
        assert await client.read_exactly(len(frame.decoded.reply)) == frame.decoded.reply
        assert sink.reports == stamped(frame, NOW)
        await client.close()

    run(with_server(sink, protocol, body))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_failed_submit_is_not_acknowledged_and_connection_goes_on(
    shared_data: Any, protocol: str
) -> None:
    script = script_for(shared_data, protocol)
    acked = [f for f in script if f.reports and f.decoded.reply]
    if not acked:
        pytest.skip(f"{protocol}: no captured report frame that the protocol acknowledges")
    frame = acked[0]
    prefix = [
        f for f in script[: script.index(frame)] if not f.reports and f.device == frame.device
    ]
    sink = MemorySink([frame.device or ""])

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        for login in prefix:
            await client.send(login.wire)
            if login.decoded.reply:
                await client.read_exactly(len(login.decoded.reply))
        sink.fail = OpenATDError("database is locked")
        await client.send(frame.wire)
        assert await client.read_nothing(0.4) == b""
        assert metric(server, "openatd_ingest_submit_failures_total", protocol) == 1
        sink.fail = None
        await client.send(frame.wire)  # the device retries on the same connection
        assert frame.decoded.reply is not None
        assert await client.read_exactly(len(frame.decoded.reply)) == frame.decoded.reply
        await client.close()

    run(with_server(sink, protocol, body))
    assert sink.reports == stamped(frame, NOW)


def corrupt(protocol: str, frame: bytes, following: bytes) -> bytes | None:
    """A damaged copy of *frame* that the framer still cuts and the decoder rejects.

    Tried offline: overwrite one byte, from the end backwards (checksums, terminators
    stay framed), with a byte that breaks checksums and numbers alike.
    """
    cls = session_class(protocol)
    for pos in range(len(frame) - 3, 1, -1):
        for value in (0x00, 0x7E, 0x5A):
            if frame[pos] == value:
                continue
            bad = frame[:pos] + bytes([value]) + frame[pos + 1 :]
            probe = cls()
            results = probe.receive_data(bad + following)
            if (
                len(results) == 2
                and results[0].error is not None
                and results[1].decoded is not None
                and probe.buffered == 0
            ):
                return bad
    return None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_malformed_frame_is_counted_and_the_connection_survives(
    shared_data: Any, protocol: str
) -> None:
    script = script_for(shared_data, protocol)
    # Self-identifying report frames (no login needed), so the frame after the bad one is stored.
    frames = [f for f in script if f.reports and f.decoded.unique_id]
    if not frames:
        frames = [f for f in script if f.reports]
    good = frames[-1]
    bad = None
    for victim in script:
        bad = corrupt(protocol, victim.wire, good.wire)
        if bad is not None:
            break
    assert bad is not None, f"{protocol}: could not damage a captured frame"
    logins = [f for f in script if not f.reports and f.decoded.unique_id == good.device]
    sink = MemorySink([good.device or ""])

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        for login in logins[:1]:
            await client.send(login.wire)
        await client.send(bad)
        await client.send(good.wire)
        for _ in range(100):
            if sink.reports:
                break
            await asyncio.sleep(0.02)
        assert metric(server, "openatd_ingest_decode_errors_total", protocol) == 1
        assert server.connection_count == 1  # still connected
        await client.close()

    run(with_server(sink, protocol, body))
    assert sink.reports == stamped(good, NOW)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_device_is_neither_stored_nor_acknowledged(shared_data: Any, protocol: str) -> None:
    script = script_for(shared_data, protocol)
    sink = MemorySink(["000000000000000"])  # none of the captured devices

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        for frame in script:
            await client.send(frame.wire)
        assert await client.read_nothing(0.5) == b""  # not even a login ACK
        assert server.connection_count == 1
        await client.close()

    server = run(with_server(sink, protocol, body))
    assert sink.stored == []
    assert sink.calls == 0
    assert metric(server, "openatd_ingest_unknown_device_frames_total", protocol) == len(script)
    assert set(sink.known_checks) == {f.device for f in script}


@pytest.mark.parametrize(
    "protocol", PROTOCOLS[:1] + [p for p in ("gt06", "teltonika") if p in PROTOCOLS]
)
def test_idle_connection_is_closed(protocol: str) -> None:
    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        await asyncio.sleep(0.05)
        assert server.connection_count == 1
        assert metric(server, "openatd_ingest_connections", protocol) == 1
        data = await asyncio.wait_for(client.reader.read(100), 3.0)
        assert data == b""  # EOF: the server closed the silent connection
        await asyncio.sleep(0.05)
        assert server.connection_count == 0
        assert metric(server, "openatd_ingest_connections", protocol) == 0
        await client.close()

    server = run(with_server(MemorySink([]), protocol, body, idle_timeout_s=0.3))
    assert metric(server, "openatd_ingest_idle_closed_total", protocol) == 1


def gt06_ack(number: int, serial: bytes) -> bytes:
    """GT06 server response: 78 78 05 <protocol number> <serial 2> <CRC-ITU 2> 0D 0A."""
    body = bytes([0x05, number]) + serial
    crc = Calculator(Crc16.X25.value).checksum(body)
    return b"\x78\x78" + body + crc.to_bytes(2, "big") + b"\x0d\x0a"


@pytest.mark.skipif("gt06" not in PROTOCOLS, reason="gt06 decoder not in this checkout yet")
def test_gt06_login_ack_bytes_follow_the_protocol(shared_data: Any) -> None:
    script = script_for(shared_data, "gt06")
    login = script[0]
    assert login.wire[3] == 0x01  # the captured login frame goes first
    expected = gt06_ack(0x01, login.wire[-6:-4])
    assert login.decoded.reply == expected
    sink = MemorySink([login.device or ""])

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        await client.send(login.wire)
        assert await client.read_exactly(len(expected)) == expected
        await client.close()

    run(with_server(sink, "gt06", body))


@pytest.mark.skipif("teltonika" not in PROTOCOLS, reason="teltonika decoder not in this checkout")
def test_teltonika_acks_login_with_01_and_data_with_record_count(shared_data: Any) -> None:
    script = script_for(shared_data, "teltonika")
    login = script[0]
    assert login.decoded.reply == b"\x01"
    # AVL data codecs 8, 8 Extended and 16 (codecs 12/13 are command traffic, not ACKed)
    data = [f for f in script if f.reports and f.wire[8] in (0x08, 0x8E, 0x10)]
    assert data
    for frame in data:
        count = frame.wire[9]  # preamble 4, length 4, codec id at 8, record count at 9
        assert frame.decoded.reply == count.to_bytes(4, "big")
        assert len(frame.reports) == count


def test_listeners_from_settings_reads_names_and_ports() -> None:
    settings = get_settings(protocols="gt06, teltonika:6027 ,h02:0")
    assert listeners_from_settings(settings) == [
        ListenerSpec("gt06", None),
        ListenerSpec("teltonika", 6027),
        ListenerSpec("h02", 0),
    ]
    with pytest.raises(InvalidInput, match="not an integer"):
        listeners_from_settings(get_settings(protocols="gt06:abc"))
    with pytest.raises(InvalidInput, match="twice"):
        listeners_from_settings(get_settings(protocols="gt06,gt06:1"))
    with pytest.raises(InvalidInput, match="unknown protocol"):
        IngestServer(MemorySink([]), ["nosuch"])


@pytest.mark.skipif(event_loop_factory() is None, reason="uvloop not installed (optional)")
@pytest.mark.parametrize("protocol", [p for p in ("gt06", "teltonika") if p in PROTOCOLS][:1])
def test_session_on_uvloop(shared_data: Any, protocol: str) -> None:
    """uvloop's transports are not asyncio's classes; the servers must not care."""
    script = script_for(shared_data, protocol)
    sink = MemorySink([f.device for f in script if f.device])
    replies = b"".join(f.decoded.reply or b"" for f in script)

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        await client.send(b"".join(f.wire for f in script))  # one burst this time
        assert await client.read_exactly(len(replies)) == replies
        await client.close()

    run(with_server(sink, protocol, body), loop_factory=event_loop_factory())
    assert sink.reports == [r for f in script for r in stamped(f, NOW)]


def udp_protocols() -> list[str]:
    # Teltonika's UDP datagrams carry their own header (packet id, IMEI) around the AVL data,
    # unlike its TCP frames in the captures; the other UDP protocols send the same frames.
    return [p for p in PROTOCOLS if "udp" in session_class(p).transports and p != "teltonika"]


@pytest.mark.parametrize("protocol", udp_protocols())
def test_udp_datagrams_are_stored_and_answered(shared_data: Any, protocol: str) -> None:
    script = [f for f in script_for(shared_data, protocol) if f.reports and f.decoded.unique_id]
    if not script:
        pytest.skip(f"{protocol}: no self-identifying captured report frame for UDP")
    sink = MemorySink([f.device or "" for f in script])
    replies = [f.decoded.reply for f in script if f.decoded.reply]

    async def main() -> IngestServer:
        server = IngestServer(
            sink,
            [ListenerSpec(protocol, 0)],
            clock=SimulatedClock(NOW),
            registry=CollectorRegistry(),
        )
        bound = await server.start()
        port = bound[protocol].udp_port
        assert port is not None
        loop = asyncio.get_running_loop()
        got: list[bytes] = []

        class Device(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                got.append(data)

        transport, _ = await loop.create_datagram_endpoint(Device, remote_addr=("127.0.0.1", port))
        try:
            for frame in script:
                transport.sendto(frame.wire)
                await asyncio.sleep(0.01)
            for _ in range(100):
                if len(sink.reports) == sum(len(f.reports) for f in script) and len(got) == len(
                    replies
                ):
                    break
                await asyncio.sleep(0.02)
        finally:
            transport.close()
            await server.stop()
        assert got == replies
        return server

    asyncio.run(main())
    assert sink.reports == [r for f in script for r in stamped(f, NOW)]


@pytest.mark.skipif("gt06" not in PROTOCOLS, reason="gt06 decoder not in this checkout")
@pytest.mark.parametrize(
    "limits",
    [{"max_pending_frames": 4}, {"max_pending_frames": 10_000, "max_pending_bytes": 150}],
    ids=["frames", "bytes"],
)
def test_back_pressure_pauses_reading_and_keeps_order(limits: dict[str, int]) -> None:
    """With more frames (or bytes of frames) waiting than allowed, reading pauses; nothing
    is lost. GT06 position frames are 36 bytes: 150 bytes is about 4 frames."""
    from openatd.ingest.simulator import Fix, Gt06Encoder

    encoder = Gt06Encoder("860000000000042")
    fixes = [
        Fix(datetime(2026, 3, 8, 9, 0, k, tzinfo=UTC), 45.0 + k / 1e4, 13.7, 5.0, 90.0)
        for k in range(60)
    ]
    login = encoder.login()
    frames = [encoder.positions([f]) for f in fixes]
    sink = MemorySink([encoder.unique_id])

    async def body(server: IngestServer, port: int) -> None:
        client = await Client.connect(port)
        await client.send(login)
        await client.read_exactly(10)  # login ACK: 78 78 05 01 serial crc 0d 0a
        sink.gate = asyncio.Event()
        for frame, _ in frames:
            await client.send(frame)
        for _ in range(100):  # the server reads at its own pace on a loaded machine
            await asyncio.sleep(0.05)
            if server._connections and next(iter(server._connections))._paused:
                break
        (conn,) = server._connections
        assert conn._paused  # the gated sink holds the worker: reading stopped
        sink.gate.set()
        acks = await client.read_exactly(10 * len(frames))
        serials = [int.from_bytes(acks[i + 4 : i + 6], "big") for i in range(0, len(acks), 10)]
        assert serials == [key for _, key in frames]  # every position ACKed, in order
        assert not conn._paused
        await client.close()

    run(with_server(sink, "gt06", body, **limits))
    assert [r.fix_time for r in sink.reports] == [f.time for f in fixes]
