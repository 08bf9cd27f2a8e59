"""The position bus over a real NATS JetStream (issue 11, item 3; failure tests of item 8).

Every test starts its own nats-server (free port, temporary store) and uses its own
stream and subject prefix, so parallel test workers never share one. A "device" here is
either a real GT06 TCP client (the simulator's encoder) through the real ingest server,
or a loop that does what a device does with the ingest server's ACK: send a report,
and send it again (re-stamped) until :meth:`NatsBusClient.submit` returns, the moment
the server would ACK it. What was ACKed is then compared with the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ingest_support import register_devices
from nats_support import (
    NatsServer,
    bus_config,
    free_port,
    raised_alerts,
    stored_positions,
    wait_drained,
)

from openatd.domain.clock import SystemClock
from openatd.domain.messages import Alarm, DeviceReport
from openatd.errors import OpenATDError
from openatd.ingest.nats_bus import (
    NatsBusClient,
    NatsBusConfig,
    decode_submission,
    encode_submission,
    partition_of,
)
from openatd.ingest.nats_consumer import NatsBusConsumer
from openatd.ingest.pipeline import PositionPipeline
from openatd.ingest.servers import IngestServer, run
from openatd.ingest.simulator import device_ids, load_fixes, simulate
from openatd.settings import get_settings
from openatd.storage.db import Database

TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "traces"
OPENATD = Path(sys.executable).parent / "openatd"


START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _report(uid: str, i: int) -> DeviceReport:
    """Fix *i* of device *uid*: one a second, a few metres apart; every 20th from the 10th
    carries a strap tamper alarm (one alert each: the message after it has none)."""
    return DeviceReport(
        unique_id=uid,
        fix_time=START + timedelta(seconds=i),
        received=datetime.now(UTC),
        latitude=40.0 + i * 1e-5,
        longitude=-75.0,
        speed_mps=1.0,
        battery_pct=90.0,
        alarms=frozenset({Alarm.STRAP_TAMPER}) if i % 20 == 10 else frozenset(),
    )


async def _device(
    client: NatsBusClient,
    uid: str,
    count: int,
    acked: list[tuple[str, datetime]],
    gap_s: float,
    refused: list[str] | None = None,
) -> None:
    """Send *count* fixes in order, each re-sent (re-stamped) until it is ACKed; every
    refusal (not ACKed) is appended to *refused*."""
    for i in range(count):
        while True:
            report = _report(uid, i)
            try:
                await client.submit(uid, "gt06", [report])
            except OpenATDError as exc:
                if refused is not None:
                    refused.append(str(exc))
                await asyncio.sleep(0.2)
                continue
            assert report.fix_time is not None
            acked.append((uid, report.fix_time))
            break
        await asyncio.sleep(gap_s)


def test_serialisation_round_trip_and_stable_partitions() -> None:
    report = _report("123456789012345", 10)
    report.extras = {"odometer_m": 12.5}
    uid, protocol, reports = decode_submission(
        encode_submission(report.unique_id or "", "gt06", [report])
    )
    assert (uid, protocol, reports) == ("123456789012345", "gt06", [report])
    # crc32, not hash(): the same in every process and on every machine
    assert partition_of("123456789012345", 16) == 2
    assert {partition_of(u, 4) for u in device_ids(40)} == {0, 1, 2, 3}


def test_a_burst_larger_than_one_message_is_split_in_order(db_url: str, nats_url: str) -> None:
    """2,500 stored-up fixes in one submit (~1 MB of JSON, NATS's default payload limit) go
    out as several messages of one subject and are stored in order."""
    db = Database(db_url)
    db.migrate()
    uid = device_ids(1)[0]
    register_devices(db, [uid])
    config = bus_config(nats_url)
    settings = get_settings(database_url=db_url, env="development", tick_interval_s=3600)

    async def main() -> None:
        pipeline = PositionPipeline(db, settings, SystemClock())
        await pipeline.start(ticks=False)
        consumer = NatsBusConsumer(pipeline, config)
        await consumer.start()
        client = NatsBusClient(config)
        await client.connect()
        try:
            await client.submit(uid, "gt06", [_report(uid, i) for i in range(2500)])
            await wait_drained(config)
            assert consumer.committed == 5  # 5 messages of 500
        finally:
            await client.close()
            await consumer.stop()
            await pipeline.stop()

    run(main())
    stored = stored_positions(db)
    assert len(stored) == len(set(stored)) == 2500
    db.dispose()


def test_no_pipeline_answering_means_no_ack_until_one_does(db_url: str, nats_url: str) -> None:
    """The ingest server asks the pipeline whether a device is registered; while none
    answers the device gets no ACK (and the connection survives), then it does."""
    from ingest_support import Client

    from openatd.ingest.simulator import Gt06Encoder

    db = Database(db_url)
    db.migrate()
    uid = device_ids(1)[0]
    register_devices(db, [uid])
    config = bus_config(nats_url)
    settings = get_settings(database_url=db_url, env="development", tick_interval_s=3600)

    async def main() -> None:
        client = NatsBusClient(config, known_timeout_s=0.3)
        await client.connect()
        server = IngestServer.from_settings(
            get_settings(protocols="gt06:0", protocol_host="127.0.0.1"), client
        )
        port = (await server.start())["gt06"].tcp_port
        pipeline = PositionPipeline(db, settings, SystemClock())
        consumer = NatsBusConsumer(pipeline, config)
        try:
            device = await Client.connect(port)
            login = Gt06Encoder(uid).login()
            await device.send(login)
            assert await device.read_nothing(1.0) == b""  # nobody said it is registered
            await pipeline.start(ticks=False)
            await consumer.start()
            await device.send(login)  # the device re-sends its login
            assert len(await device.read_exactly(10)) == 10  # login ACK
            await device.close()
        finally:
            await server.stop()
            await client.close()
            await consumer.stop()
            await pipeline.stop()

    run(main())
    db.dispose()


def test_gt06_devices_through_nats_are_acked_stored_once_in_device_order(
    db_url: str, nats_url: str
) -> None:
    """Real GT06 TCP devices → ingest server → JetStream → consumer → pipeline → database."""
    db = Database(db_url)
    db.migrate()
    ids = device_ids(12)
    register_devices(db, ids)
    config = bus_config(nats_url)
    settings = get_settings(database_url=db_url, env="development", tick_interval_s=3600)
    traces = load_fixes(TRACES, limit=2000)
    seen: dict[str, list[datetime]] = {}

    class Spy(PositionPipeline):
        async def submit_many(self, items):  # type: ignore[no-untyped-def]
            for uid, reports in items:  # the order the consumer hands over, per device
                seen.setdefault(uid, []).extend(r.fix_time for r in reports if r.fix_time)
            return await super().submit_many(items)

    async def main() -> int:
        pipeline = Spy(db, settings, SystemClock())
        await pipeline.start(ticks=False)
        consumer = NatsBusConsumer(pipeline, config)
        await consumer.start()
        client = NatsBusClient(config)
        await client.connect()
        server = IngestServer.from_settings(
            get_settings(protocols="gt06:0", protocol_host="127.0.0.1"), client
        )
        bound = await server.start()
        try:
            report = await simulate(
                "127.0.0.1", bound["gt06"].tcp_port, "gt06", 12, 150.0, 2.0, traces, ids=ids,
                drain_s=20,
            )  # fmt: skip
            await wait_drained(config)
            # every partition read to its end: serve starts the clock rules only now
            await asyncio.wait_for(consumer.caught_up.wait(), 10)
        finally:
            await server.stop()
            await client.close()
            await consumer.stop()
            await pipeline.stop()
        return report.position_acks

    acked = run(main())
    stored = stored_positions(db)
    assert acked == 300  # every position frame ACKed once the stream held it
    assert len(stored) == len(set(stored)) == acked
    for uid, times in seen.items():  # per-device order kept across the broker:
        first = list(dict.fromkeys(times))  # first deliveries in the order sent; a
        assert first == sorted(first), uid  # redelivery (at least once) repeats one
    assert set(seen) == set(ids)
    db.dispose()


def _pipeline_process(db_url: str, config: NatsBusConfig, log: Path) -> subprocess.Popen[bytes]:
    """The real pipeline and bus consumer in a process of its own (``nats_pipeline_main``)."""
    args = [db_url, config.url, config.stream, config.subject_prefix]
    args += [str(config.partitions), config.consumer]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("nats_pipeline_main.py")), *args],
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_kill_9_of_the_pipeline_mid_stream_loses_and_duplicates_nothing(
    db_url: str, nats_url: str, tmp_path: Path
) -> None:
    """The pipeline process killed with SIGKILL while devices send, then restarted:
    every ACKed position stored exactly once, every tamper alert raised exactly once."""
    db = Database(db_url)
    db.migrate()
    ids = device_ids(16)
    register_devices(db, ids)
    config = bus_config(nats_url)
    log = tmp_path / "pipeline.log"
    acked: list[tuple[str, datetime]] = []
    procs: list[subprocess.Popen[bytes]] = []

    async def main() -> None:
        client = NatsBusClient(config, known_timeout_s=1.0)
        await client.connect()
        procs.append(_pipeline_process(db_url, config, log))
        deadline = time.monotonic() + 40
        while True:  # the pipeline answers: it is up and consuming
            try:
                assert await client.is_known(ids[0])
                break
            except OpenATDError:
                assert time.monotonic() < deadline, log.read_text()
        devices = [asyncio.create_task(_device(client, uid, 60, acked, 0.05)) for uid in ids]
        while not await asyncio.to_thread(stored_positions, db):  # the first pipeline is consuming
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        killed_at = len(acked)
        procs.append(_pipeline_process(db_url, config, log))
        await asyncio.wait_for(asyncio.gather(*devices), 90)
        assert killed_at < len(acked)  # devices kept sending (and were ACKed) meanwhile
        await wait_drained(config, 60)
        await client.close()

    try:
        run(main())
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
    stored = stored_positions(db)
    assert len(acked) == 16 * 60
    assert len(stored) == len(set(stored))  # nothing twice
    assert set(stored) == set(acked)  # nothing ACKed lost
    alerts = raised_alerts(db)
    assert len(alerts) == len(set(alerts)) == 16 * 3, alerts  # no alert lost or duplicated
    assert {kind for _, kind, _ in alerts} == {"strap_tamper"}
    db.dispose()


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_nats_restart_during_load_loses_no_acked_position(
    db_url: str, nats_server: NatsServer, how: str
) -> None:
    """nats-server stopped (SIGTERM) or killed (SIGKILL, no flush: a crash of the process)
    and started again while devices send: every ACKed position is stored once (devices
    re-send what was not ACKed), alerts once. A PubAck means the message is in the server's
    file store, which a killed process leaves in the operating system's page cache."""
    db = Database(db_url)
    db.migrate()
    ids = device_ids(12)
    register_devices(db, ids)
    config = bus_config(nats_server.url)
    settings = get_settings(database_url=db_url, env="development", tick_interval_s=3600)
    acked: list[tuple[str, datetime]] = []
    refused: list[str] = []

    async def main() -> None:
        pipeline = PositionPipeline(db, settings, SystemClock())
        await pipeline.start(ticks=False)
        consumer = NatsBusConsumer(pipeline, config)
        await consumer.start()
        client = NatsBusClient(config, publish_timeout_s=1.0)
        await client.connect()
        try:
            devices = [
                asyncio.create_task(_device(client, uid, 60, acked, 0.03, refused)) for uid in ids
            ]
            deadline = time.monotonic() + 30
            while len(acked) < 200:
                assert time.monotonic() < deadline, f"only {len(acked)} ACKed"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(nats_server.stop if how == "sigterm" else nats_server.kill)
            await asyncio.sleep(1.5)  # longer than a publish waits: some devices not ACKed
            await asyncio.to_thread(nats_server.start)
            await asyncio.wait_for(asyncio.gather(*devices), 90)
            await wait_drained(config, 60)
        finally:
            await client.close()
            await consumer.stop()
            await pipeline.stop()

    run(main())
    assert refused  # the restart hit devices while they were sending: not ACKed, re-sent
    stored = stored_positions(db)
    assert len(acked) == 12 * 60
    assert len(stored) == len(set(stored))
    assert set(stored) == set(acked)
    alerts = raised_alerts(db)
    assert len(alerts) == len(set(alerts)) == 12 * 3, alerts
    db.dispose()


def test_serve_with_an_unreachable_bus_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """In process: the console script turns this ConfigurationError into one line and exit 2
    (tested in test_serve_port_in_use)."""
    from openatd.cli.serve import run_server
    from openatd.errors import ConfigurationError

    port = free_port()  # nothing listens there
    settings = get_settings(
        database_url=f"sqlite:///{tmp_path}/x.db", role="pipeline", bus_url=f"nats://127.0.0.1:{port}",
        http_port=free_port(), osmand_port=free_port(),
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match=f"NATS at nats://127.0.0.1:{port} "):
        run(run_server(settings))
    assert not (tmp_path / "x.db").exists()  # refused before the database was touched


def test_a_role_without_a_bus_is_refused(tmp_path: Path) -> None:
    """In process (the console script's one line and exit 2 for a ConfigurationError are
    tested above and in test_serve_port_in_use)."""
    from openatd.cli.serve import run_server
    from openatd.errors import ConfigurationError

    for role in ("ingest", "pipeline"):
        settings = get_settings(database_url=f"sqlite:///{tmp_path}/x.db", role=role)
        with pytest.raises(ConfigurationError, match=f"--role {role} .* needs a bus"):
            run(run_server(settings))


def test_serve_roles_ingest_and_pipeline_over_nats(db_url: str, nats_url: str) -> None:
    """``serve --role pipeline`` and ``serve --role ingest`` (as on two machines) in one loop:
    GT06 devices connect to the ingest one, their positions land in the pipeline's database."""
    from openatd.cli.serve import run_server

    db = Database(db_url)
    db.migrate()
    ids = device_ids(6)
    register_devices(db, ids)
    config = bus_config(nats_url)
    gt06 = free_port()
    bus = {
        "bus_url": config.url,
        "bus_stream": config.stream,
        "bus_subject_prefix": config.subject_prefix,
        "bus_consumer": config.consumer,
        "env": "development",
        "tick_interval_s": 3600,
    }
    pipeline_settings = get_settings(
        database_url=db_url, role="pipeline", http_port=free_port(), osmand_port=free_port(),
        protocols=f"gt06:{gt06}", **bus,
    )  # fmt: skip
    ingest_settings = get_settings(
        database_url="sqlite:////nonexistent/never-opened.db", role="ingest",
        protocols=f"gt06:{gt06}", protocol_host="127.0.0.1", **bus,
    )  # fmt: skip
    traces = load_fixes(TRACES, limit=500)

    async def main() -> int:
        up_p, up_i = asyncio.Event(), asyncio.Event()
        pipeline = asyncio.create_task(run_server(pipeline_settings, ready=up_p))
        await asyncio.wait_for(up_p.wait(), 60)
        ingest = asyncio.create_task(run_server(ingest_settings, ready=up_i))
        await asyncio.wait_for(up_i.wait(), 60)
        try:
            report = await simulate(
                "127.0.0.1", gt06, "gt06", 6, 60.0, 1.0, traces, ids=ids, drain_s=20
            )
            await wait_drained(config)
        finally:
            for task in (ingest, pipeline):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return report.position_acks

    acked = run(main())
    stored = stored_positions(db)
    assert acked == 60
    assert len(stored) == len(set(stored)) == acked
    db.dispose()
