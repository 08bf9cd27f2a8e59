"""Several pipeline workers splitting the partitions of the NATS bus (issue 11, item 3).

Each test starts its own nats-server (as ``test_nats_bus.py`` does). Workers run as real
processes (``nats_pipeline_main.py``) or as ``openatd serve`` in this loop; devices are
real GT06 TCP clients through the real ingest server. Several workers need PostgreSQL:
their end-to-end tests skip on SQLite, where the refusal is what is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from ingest_support import register_devices
from nats_support import (
    bus_config,
    free_port,
    raised_alerts,
    stored_positions,
    wait_drained,
)

from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import Alarm, DeviceReport
from openatd.errors import ConfigurationError
from openatd.ingest.nats_bus import NatsBusClient, NatsBusConfig
from openatd.ingest.nats_consumer import NatsBusConsumer
from openatd.ingest.ownership import WorkerShare, partition_of
from openatd.ingest.pipeline import PositionPipeline
from openatd.ingest.servers import IngestServer, run
from openatd.ingest.simulator import device_ids, load_fixes, simulate
from openatd.settings import get_settings
from openatd.storage.db import Database

MAIN = Path(__file__).with_name("nats_pipeline_main.py")
TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "traces"


def _postgres_only(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("several pipeline workers need PostgreSQL (the SQLite refusal is tested)")


def _worker(
    db_url: str, config: NatsBusConfig, share: str, seen: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Pipeline worker *share* ("K/N") in a process of its own, ticking every 0.2 s,
    offline after 4 s; what it hands to its pipeline is appended to *seen*."""
    args = [db_url, config.url, config.stream, config.subject_prefix, str(config.partitions)]
    args += [config.consumer, share, str(seen), "0.2", "4"]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(MAIN), *args], cwd=log.parent, stdout=out, stderr=subprocess.STDOUT
        )


async def _waiting(config: NatsBusConfig) -> int:
    """Messages in the stream not yet acked."""
    import nats

    nc = await nats.connect(config.url)
    try:
        return int((await nc.jetstream().stream_info(config.stream)).state.messages)
    finally:
        await nc.close()


def _seen(path: Path) -> list[tuple[str, datetime]]:
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines() if line]
    return [(uid, datetime.fromisoformat(t)) for uid, t in rows]


def test_two_workers_split_the_partitions_and_a_killed_one_catches_up(
    db_url: str, nats_url: str, tmp_path: Path
) -> None:
    """Workers 0/2 and 1/2 and one ingest server, GT06 devices end to end; worker 1 is
    killed with SIGKILL mid-stream and restarted: its partitions' messages wait in the
    stream meanwhile. Every ACKed position is stored once, each worker handled only its own
    devices, in device order, and each device's offline alert (clock ticks) is raised once."""
    _postgres_only(db_url)
    db = Database(db_url)
    db.migrate()
    ids = device_ids(16)
    register_devices(db, ids)
    config = bus_config(nats_url, partitions=4)
    owner = {uid: partition_of(uid, 4) % 2 for uid in ids}
    assert sorted(set(owner.values())) == [0, 1]  # both workers have devices
    of_one = {uid for uid, k in owner.items() if k == 1}
    seen = [tmp_path / "seen-0.txt", tmp_path / "seen-1.txt"]
    log = tmp_path / "workers.log"
    traces = load_fixes(TRACES, limit=2000)
    procs = [_worker(db_url, config, f"{k}/2", seen[k], log) for k in (0, 1)]
    during_outage: dict[str, int] = {}

    async def main() -> int:
        client = NatsBusClient(config)
        await client.connect()
        server = IngestServer.from_settings(
            get_settings(protocols="gt06:0", protocol_host="127.0.0.1"), client
        )
        port = (await server.start())["gt06"].tcp_port
        try:
            deadline = time.monotonic() + 40
            while True:  # a worker answers "known": consumers are up
                with contextlib.suppress(Exception):
                    if await client.is_known(ids[0]):
                        break
                alive = all(p.poll() is None for p in procs)
                assert alive and time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.2)
            devices = asyncio.create_task(
                simulate("127.0.0.1", port, "gt06", 16, 40.0, 8.0, traces, ids=ids, drain_s=20)
            )
            while not {u for u, _ in _seen(seen[1])}:  # worker 1 is committing
                assert time.monotonic() < deadline and not devices.done(), log.read_text()
                await asyncio.sleep(0.1)
            procs[1].send_signal(signal.SIGKILL)
            procs[1].wait()
            await asyncio.sleep(0.3)  # a commit the killed process had sent has landed
            at_kill = Counter(u for u, _ in await asyncio.to_thread(stored_positions, db))
            await asyncio.sleep(2.5)  # devices keep sending; worker 1's messages wait
            stored = Counter(u for u, _ in await asyncio.to_thread(stored_positions, db))
            during_outage.update({uid: stored[uid] for uid in of_one})
            assert during_outage == {uid: at_kill[uid] for uid in of_one}  # nobody took them
            assert sum(stored.values()) > sum(at_kill.values())  # worker 0 went on
            assert await _waiting(config) > 0  # worker 1's messages, kept by the stream
            procs.append(_worker(db_url, config, "1/2", seen[1], log))
            report = await asyncio.wait_for(devices, 60)
            await wait_drained(config, 60)
            return report.position_acks
        finally:
            await server.stop()
            await client.close()

    try:
        acked = run(main())
        stored = stored_positions(db)
        assert acked == 320  # 40/s for 8 s, every position ACKed once the stream held it
        assert len(stored) == len(set(stored)) == acked  # nothing lost, nothing twice
        for uid in of_one:  # worker 1's devices waited for it: stored after the restart
            assert sum(1 for u, _ in stored if u == uid) > during_outage[uid], uid
        for k in (0, 1):
            handled = _seen(seen[k])
            assert {uid for uid, _ in handled} == {u for u in ids if owner[u] == k}
            by_device: dict[str, list[datetime]] = {}
            for uid, t in handled:
                by_device.setdefault(uid, []).append(t)
            for uid, times in by_device.items():  # device order kept; a redelivery after
                first = list(dict.fromkeys(times))  # the kill repeats, never reorders
                assert first == sorted(first), uid
        # Clock rules: each device goes offline 4 s after its last message; only its
        # owner ticks it (worker 1, restarted, rebuilt its engines from the saved state).
        deadline = time.monotonic() + 30
        while len({uid for uid, kind, _ in raised_alerts(db) if kind == "device_offline"}) < 16:
            assert time.monotonic() < deadline, raised_alerts(db)
            time.sleep(0.2)
        time.sleep(1.0)  # five more ticks of each worker: no second alert
        offline = [(uid, at) for uid, kind, at in raised_alerts(db) if kind == "device_offline"]
        assert sorted(uid for uid, _ in offline) == sorted(ids)  # exactly once each
        last = {uid: max(t for u, t in stored if u == uid) for uid in ids}
        assert all(at >= last[uid] - timedelta(seconds=60) for uid, at in offline)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
        db.dispose()


def _report(uid: str, i: int, start: datetime) -> DeviceReport:
    return DeviceReport(
        unique_id=uid,
        fix_time=start + timedelta(seconds=i),
        received=start + timedelta(seconds=i),
        latitude=40.0 + i * 1e-5,
        longitude=-75.0,
        speed_mps=1.0,
        battery_pct=90.0,
        alarms=frozenset({Alarm.STRAP_TAMPER}) if i == 5 else frozenset(),
    )


def test_a_worker_with_a_new_share_restores_the_state_of_the_devices_it_now_owns(
    db_url: str,
) -> None:
    """One worker (0/1) evaluates every device; then the partitions move: 0/2 and 1/2 start
    (as after a restart with the new N). Each builds engines only for its devices, from the
    state the first one saved: a re-sent message is recognised (no position, no alert
    twice) and each device's offline alert is raised once, by its new owner only."""
    db = Database(db_url)
    db.migrate()
    ids = device_ids(12)
    register_devices(db, ids)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    clock = SimulatedClock(start + timedelta(seconds=30))
    settings = get_settings(database_url="sqlite://", env="development", offline_after_s=600)
    batches = [(uid, [_report(uid, i, start) for i in range(10)]) for uid in ids]

    one = PositionPipeline(db, settings, clock)
    assert one.build_engines() == 12
    first = one.process(batches)
    assert first.stored == 120 and len(first.alerts) == 12  # one tamper alert each

    halves = [PositionPipeline(db, settings, clock, share=WorkerShare(k, 2, 4)) for k in (0, 1)]
    built = [h.build_engines() for h in halves]
    owned = [[u for u in ids if partition_of(u, 4) % 2 == k] for k in (0, 1)]
    assert built == [len(owned[0]), len(owned[1])] and all(built)
    for k, half in enumerate(halves):
        again = half.process([(uid, [_report(uid, 5, start)]) for uid in owned[k]])
        assert (again.stored, again.alerts) == (0, [])  # the last state came with them
        more = half.process([(uid, [_report(uid, 10, start)]) for uid in owned[k]])
        assert more.stored == len(owned[k])  # and the next fix is simply the next one
    late = start + timedelta(seconds=10 + 601)
    ticks = [half.tick(late) for half in halves]
    raised = [(device_id, alert.type.value) for tick in ticks for device_id, alert in tick.alerts]
    assert len(raised) == len(set(raised)) == 12  # one offline alert per device, not two
    assert {kind for _, kind in raised} == {"device_offline"}
    with db.uow() as uow:
        n = uow.session.execute(
            sa.text("SELECT count(*) FROM alerts WHERE type = 'device_offline'")
        ).scalar_one()
    assert n == 12
    db.dispose()


def test_several_workers_are_refused_on_sqlite_without_a_bus_or_out_of_range(
    tmp_path: Path,
) -> None:
    """One line each, naming the setting; the console script exits 2 with it."""
    sqlite = f"sqlite:///{tmp_path}/x.db"
    bus = "nats://127.0.0.1:4222"
    cases = [
        ({"bus_worker": "1/2", "bus_url": bus, "database_url": sqlite}, "need PostgreSQL"),
        ({"bus_worker": "1/2", "database_url": sqlite}, "set --bus"),
        ({"bus_worker": "2/2"}, r"needs 0 <= K < N"),
        ({"bus_worker": "0/17", "bus_partitions": 16}, "17 workers for 16 partitions"),
        ({"bus_worker": "one of two"}, "expected K/N"),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigurationError, match=message):
            get_settings(env="development", **overrides)
    assert get_settings(bus_worker="1/2", bus_url=bus, role="ingest").worker_share.worker == 1
    exe = Path(sys.executable).parent / "openatd"
    out = subprocess.run(
        [str(exe), "serve", "--bus", bus, "--role", "pipeline", "--bus-worker", "1/2"],
        env={
            "OPENATD_DATABASE_URL": sqlite,
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": ":".join(sys.path),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "need PostgreSQL" in out.stderr, out.stderr
    assert not (tmp_path / "x.db").exists()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_workers_say_their_partitions_and_forward_intake_to_the_owner(
    db_url: str, nats_url: str
) -> None:
    """Two ``serve --role pipeline --bus-worker K/2`` in this loop: /health and /metrics
    name the worker and its partitions; an OsmAnd position posted to worker 1's intake for
    a device worker 0 owns goes through the bus and is committed by worker 0; a rule change
    told to one worker reaches the other's pipeline."""
    _postgres_only(db_url)
    from openatd.cli.serve import run_server

    db = Database(db_url)
    db.migrate()
    ids = device_ids(8)
    register_devices(db, ids)
    config = bus_config(nats_url, partitions=4)
    of_zero = next(u for u in ids if partition_of(u, 4) % 2 == 0)
    ports = [(free_port(), free_port()) for _ in range(2)]
    settings = [
        get_settings(
            database_url=db_url,
            role="pipeline",
            http_port=ports[k][0],
            osmand_port=ports[k][1],
            bus_url=config.url,
            bus_stream=config.stream,
            bus_subject_prefix=config.subject_prefix,
            bus_consumer=config.consumer,
            bus_partitions=4,
            bus_worker=f"{k}/2",
            env="development",
            tick_interval_s=3600,
        )
        for k in (0, 1)
    ]
    now = datetime.now(UTC).replace(microsecond=0)

    async def main() -> None:
        ready = [asyncio.Event(), asyncio.Event()]
        tasks = [asyncio.create_task(run_server(settings[k], ready=ready[k])) for k in (0, 1)]
        try:
            for k in (0, 1):
                await asyncio.wait_for(ready[k].wait(), 60)
            for k, parts in ((0, [0, 2]), (1, [1, 3])):
                status, body = await asyncio.to_thread(
                    _get, f"http://127.0.0.1:{ports[k][0]}/health"
                )
                assert status == 200, body
                check = json.loads(body)["checks"]["nats_bus"]
                assert check == {"status": "ok", "worker": f"{k}/2", "partitions": parts}
                _, metrics = await asyncio.to_thread(
                    _get, f"http://127.0.0.1:{ports[k][0]}/metrics"
                )
                assert f'openatd_bus_worker_info{{worker="{k}",workers="2"}} 1.0' in metrics
                for p in range(4):
                    line = f'openatd_bus_partition_consumed{{partition="{p}"}} 1.0'
                    assert (line in metrics) == (p in parts), (k, p)
            stamp = int(now.timestamp())
            url = (
                f"http://127.0.0.1:{ports[1][1]}/?id={of_zero}&lat=40.1&lon=-75.1&timestamp={stamp}"
            )
            status, body = await asyncio.to_thread(_get, url)
            assert status == 200, body
            await wait_drained(config)
            import nats

            nc = await nats.connect(config.url)
            try:  # through the stream (one message), not worker 1's own pipeline
                info = await nc.jetstream().stream_info(config.stream)
                assert info.state.last_seq == 1
            finally:
                await nc.close()
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    run(main())
    assert stored_positions(db) == [(of_zero, now)]
    db.dispose()


def test_a_rule_change_on_one_worker_reaches_the_others(db_url: str, nats_url: str) -> None:
    """Zones or policy changed through worker 0's API: worker 1 rebuilds that participant's
    engines too (over ``<prefix>.invalidate``), from the saved rule state."""
    _postgres_only(db_url)
    db = Database(db_url)
    db.migrate()
    ids = device_ids(8)
    register_devices(db, ids)
    settings = get_settings(database_url="sqlite://", env="development", tick_interval_s=3600)
    base = bus_config(nats_url, partitions=4)

    async def main() -> None:
        pipelines, consumers = [], []
        for k in (0, 1):
            config = NatsBusConfig(
                url=base.url, stream=base.stream, subject_prefix=base.subject_prefix,
                partitions=4, consumer=base.consumer, worker=k, workers=2,
            )  # fmt: skip
            pipeline = PositionPipeline(db, settings, SimulatedClock(datetime.now(UTC)))
            await pipeline.start(ticks=False)
            consumer = NatsBusConsumer(pipeline, config)
            await consumer.start()
            pipelines.append(pipeline)
            consumers.append(consumer)
        try:
            mine = next(u for u in ids if partition_of(u, 4) % 2 == 1)
            engine = pipelines[1]._devices[mine].engine
            assert engine is not None and pipelines[1].share == WorkerShare(1, 2, 4)
            participant = pipelines[1]._devices[mine].participant_id
            await asyncio.to_thread(pipelines[0].invalidate, participant)
            deadline = time.monotonic() + 10
            while participant not in pipelines[1]._dirty:
                assert time.monotonic() < deadline, "worker 1 was not told"
                await asyncio.sleep(0.05)
        finally:
            for c in consumers:
                await c.stop()
            for p in pipelines:
                await p.stop()

    run(main())
    db.dispose()
