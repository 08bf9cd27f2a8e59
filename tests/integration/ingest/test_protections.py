"""What one hostile connection may cost the ingest servers (issue 14), over real sockets.

Before a registered device identifies itself a connection gets a small byte allowance
and a short deadline; a session past its buffer bound is closed; every closing is
counted by reason; the listeners bind the HTTP host unless OPENATD_PROTOCOL_HOST is
set. Registered devices on other connections keep being served throughout.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ingest_support import Client, MemorySink, load_samples, session_script
from prometheus_client import CollectorRegistry

from openatd.domain.clock import SimulatedClock
from openatd.ingest.servers import IngestServer, ListenerSpec
from openatd.settings import get_settings

NOW = datetime(2026, 3, 8, 9, 30, 0, tzinfo=UTC)


async def _server(sink: MemorySink, protocol: str = "gt06", **kwargs: Any) -> tuple[Any, int]:
    server = IngestServer(
        sink,
        [ListenerSpec(protocol, port=0, udp=False)],
        clock=SimulatedClock(NOW),
        registry=CollectorRegistry(),
        **kwargs,
    )
    bound = await server.start()
    return server, bound[protocol].tcp_port


def _closed(server: IngestServer, protocol: str, reason: str) -> float:
    value = server.metrics.registry.get_sample_value(
        "openatd_ingest_closed_early_total", {"protocol": protocol, "reason": reason}
    )
    return 0.0 if value is None else value


async def _eof(client: Client, timeout: float = 3.0) -> bool:
    try:
        while await asyncio.wait_for(client.reader.read(65536), timeout):
            pass
    except ConnectionError:
        return True
    return True


def _gt06_script(shared_data: Any) -> list[Any]:
    return session_script("gt06", load_samples(shared_data.path("protocols", "gt06.json")))


def test_unidentified_connection_past_its_allowance_is_closed(shared_data: Any) -> None:
    script = _gt06_script(shared_data)
    device = next(f.device for f in script if f.device)

    async def main() -> None:
        sink = MemorySink([device])
        server, port = await _server(sink, unidentified_bytes=1024)
        try:
            hostile = await Client.connect(port)
            registered = await Client.connect(port)
            await hostile.send(b"\x78\x78" + b"\x00" * 2000)  # no login, just bytes
            assert await asyncio.wait_for(_eof(hostile), 3.0)
            assert _closed(server, "gt06", "unidentified_bytes") == 1
            # a registered device is not limited once its login is known
            login = script[0]
            await registered.send(login.wire)
            assert await registered.read_exactly(len(login.decoded.reply or b""))
            await asyncio.sleep(0.05)
            filler = [f for f in script[1:] if f.reports and f.decoded.reply] * 10
            for frame in filler:
                await registered.send(frame.wire)
            want = b"".join(f.decoded.reply or b"" for f in filler)
            assert await registered.read_exactly(len(want)) == want
            assert sum(len(f.wire) for f in filler) > 1024
            await hostile.close()
            await registered.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_unidentified_connection_is_closed_after_its_deadline(shared_data: Any) -> None:
    script = _gt06_script(shared_data)
    login = script[0]

    async def main() -> None:
        sink = MemorySink([])  # the login's device is not registered
        server, port = await _server(sink, unidentified_timeout_s=0.3)
        try:
            client = await Client.connect(port)
            await client.send(login.wire)
            assert await client.read_nothing(0.1) == b""  # unknown: no ACK
            assert await asyncio.wait_for(_eof(client), 3.0)
            assert _closed(server, "gt06", "unidentified_timeout") == 1
            await client.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_session_past_its_buffer_bound_is_closed_and_counted() -> None:
    async def main() -> None:
        sink = MemorySink([])
        # watch frames may be 32 KiB; a 4 KiB bound closes an endless one early
        server, port = await _server(sink, "watch", max_buffer=4096, unidentified_bytes=10**6)
        try:
            client = await Client.connect(port)
            await client.send(b"[SG*8800000015*0002*LK" + b"x" * 8000)
            assert await asyncio.wait_for(_eof(client), 3.0)
            assert _closed(server, "watch", "buffer_bound") == 1
            errors = server.metrics.value("openatd_ingest_decode_errors_total", "watch")
            assert errors >= 1
            await client.close()
        finally:
            await server.stop()

    asyncio.run(main())


def test_listeners_bind_the_http_host_unless_a_protocol_host_is_set() -> None:
    settings = get_settings(http_host="127.0.0.1", protocols="gt06")
    assert settings.protocol_host is None and settings.tracker_host == "127.0.0.1"
    server = IngestServer.from_settings(settings, MemorySink([]))
    assert server.host == "127.0.0.1"
    other = get_settings(http_host="127.0.0.1", protocol_host="0.0.0.0", protocols="gt06")
    assert IngestServer.from_settings(other, MemorySink([])).host == "0.0.0.0"
    limits = IngestServer.from_settings(
        get_settings(protocol_max_buffer=2048, protocol_unidentified_bytes=512), MemorySink([])
    )
    assert limits.new_session(limits.classes.get("gt06") or _gt06()).max_buffer == 2048
    assert limits.unidentified_bytes == 512


def _gt06() -> Any:
    from openatd.protocols.gt06 import Gt06Session

    return Gt06Session


def test_peer_log_lets_one_line_a_minute_through_per_address_and_kind() -> None:
    from openatd.ingest.servers import _PeerLog

    plog = _PeerLog(period_s=60.0, max_keys=3)
    assert plog.allow(("10.0.0.1", 5000), "decode") == (True, 0)
    assert plog.allow(("10.0.0.1", 5001), "decode") == (False, 0)  # same host, other port
    assert plog.allow(("10.0.0.1", 5001), "unknown") == (True, 0)
    assert plog.allow(("10.0.0.2", 5000), "decode") == (True, 0)
    plog._seen[("10.0.0.1", "decode")][0] -= 61  # a minute later
    assert plog.allow(("10.0.0.1", 5000), "decode") == (True, 1)  # says 1 was suppressed
    assert plog.allow(("10.0.0.9", 1), "decode") == (True, 0)  # table full: starts afresh
    assert len(plog._seen) == 1


def test_gt06_alarm_with_an_impossible_date_is_stored_as_status_and_acked(
    shared_data: Any,
) -> None:
    script = _gt06_script(shared_data)
    login = script[0]
    alarm = bytes.fromhex(
        "7878251613020c12141ac5027951430c2a16f60014000900000000001a00007c550300020002f1e70d0a"
    )
    broken = alarm[:5] + b"\x0d" + alarm[6:]  # month 13

    async def main() -> None:
        sink = MemorySink([login.device or ""])
        server, port = await _server(sink)
        try:
            client = await Client.connect(port)
            await client.send(login.wire)
            assert await client.read_exactly(len(login.decoded.reply or b""))
            await client.send(broken)
            ack = await client.read_exactly(10)
            assert ack[:4] == b"\x78\x78\x05\x16"  # the alarm's ACK
            await client.close()
        finally:
            await server.stop()
        (report,) = sink.reports
        assert not report.has_fix and report.battery_pct == 85.0
        assert server.metrics.value("openatd_ingest_partial_frames_total", "gt06") == 1
        assert server.metrics.value("openatd_ingest_decode_errors_total", "gt06") == 0

    asyncio.run(main())


def test_watch_strap_alarm_with_an_impossible_date_is_stored_as_status_and_answered(
    shared_data: Any,
) -> None:
    """Issue 14 item 7 over a live socket: a 'watch taken off' AL frame dated month 13 is
    answered with AL, stored as a status report with the strap alarm, and counted."""
    from openatd.domain.messages import Alarm
    from openatd.protocols.watch import WatchSession

    samples = load_samples(shared_data.path("protocols", "watch.json"))
    [raw] = [s["raw"] for s in samples if s["test"] == "WatchProtocolDecoderTest.java:41"]
    broken = str(raw).replace("AL,221121,", "AL,221321,", 1).encode("latin-1")  # month 13
    answer = WatchSession().decode_frame(str(raw).encode("latin-1")).reply or b""
    assert answer.endswith(b"*AL]")

    async def main() -> None:
        sink = MemorySink(["689466020014198"])
        server, port = await _server(sink, "watch")
        try:
            client = await Client.connect(port)
            await client.send(broken)
            assert await client.read_exactly(len(answer)) == answer
            await client.close()
        finally:
            await server.stop()
        (report,) = sink.reports
        assert not report.has_fix and report.strap == "open"
        assert Alarm.STRAP_TAMPER in report.alarms
        assert report.extras["invalid_fields"] == "fix_time"
        assert server.metrics.value("openatd_ingest_partial_frames_total", "watch") == 1
        assert server.metrics.value("openatd_ingest_decode_errors_total", "watch") == 0

    asyncio.run(main())


def test_a_registered_device_without_login_may_burst_past_the_allowance(
    shared_data: Any,
) -> None:
    """H02 has no login: every frame names the device. A registered device's first burst,
    larger than the allowance, is held (reading paused) until the registry answers, then
    stored and answered; the same burst from an unregistered id is closed."""
    script = session_script("h02", load_samples(shared_data.path("protocols", "h02.json")))
    frames = [f for f in script if f.device and f.reports]
    device = frames[0].device or ""
    mine = [f for f in frames if f.device == device]
    burst = b"".join(f.wire for f in mine) * (2048 // sum(len(f.wire) for f in mine) + 1)
    assert len(burst) > 1024

    async def main(known: list[str]) -> tuple[IngestServer, MemorySink, bool]:
        sink = MemorySink(known)
        server, port = await _server(sink, "h02", unidentified_bytes=1024)
        try:
            client = await Client.connect(port)
            await client.send(burst)
            for _ in range(100):
                if sink.reports or server.connection_count == 0:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            still_open = server.connection_count == 1
            await client.close()
        finally:
            await server.stop()
        return server, sink, still_open

    server, sink, still_open = asyncio.run(main([device]))
    assert still_open and sink.reports
    assert _closed(server, "h02", "unidentified_bytes") == 0
    server, sink, still_open = asyncio.run(main([]))
    assert not still_open and not sink.reports
    assert _closed(server, "h02", "unidentified_bytes") == 1
