"""Ingest benchmark: one run on this machine, figures for bench/README.md.

    .venv/bin/python bench/ingest.py            # full run (several minutes)
    .venv/bin/python bench/ingest.py --quick    # smaller, for a smoke check

Parts (each in its own process, so memory and CPU figures do not mix):

1. ``ceiling``: a bare bulk insert of the position rows the simulated fleet
   sends, into a freshly migrated OpenATD SQLite (WAL) database, with nothing
   else: raw ``sqlite3`` ``executemany`` in transactions of 5,000 rows. For
   reference also the repository's own statement (multi-row ``INSERT ... ON
   CONFLICT DO NOTHING RETURNING`` through SQLAlchemy Core).
2. ``e2e``: end-to-end positions/s through the real servers and the real
   pipeline (gt06 decode → filter → store → rules → alerts, SQLite WAL). The
   simulated devices run in a second process and send faster than the server
   can take; TCP flow control and the ACK-after-storage rule bound the backlog.
   Throughput = reports processed by the pipeline / (end of last batch - start
   of first batch). Reported also as a fraction of the ceiling.
3. ``latency``: ingest-to-alert latency at a fixed 6,300 positions/s from
   6,300 devices (one fix a second each). Every tenth participant
   (``--zone-every``) has a 30 m exclusion circle on a point of its own route and
   a policy with zone dwell 0, so those devices raise alerts during the run.
   Latency = commit of the batch that stored the alert - ``received`` of the fix
   that raised it (stamped when its bytes arrived). The devices' ACK latency
   (send → ACK, i.e. through durable storage) is printed too.
4. ``memory``: RSS of the servers with 5,000 and then 50,000 idle, logged-in
   gt06 connections on loopback (clients in other processes, spread over source
   addresses 127.0.0.2-9). This container caps ``RLIMIT_NOFILE`` at 20,000 per
   process (no CAP_SYS_RESOURCE), so the connections are spread over
   ceil(n / 15,000) server processes sharing the port with ``SO_REUSEPORT``
   (``IngestServer(reuse_port=True)``); the RSS is their sum. Kernel socket
   buffers are not in RSS; /proc/net/sockstat's TCP ``mem`` is printed.
5. ``postgis``: the baseline: PostgreSQL + PostGIS doing batched insert (5,000
   rows a statement) + ``ST_Contains`` of every fix against its participant's
   zone, on 127.0.0.1:5432 (user postgres). Skipped with a message when
   PostgreSQL or PostGIS is not available.
6. ``osmand``: the OsmAnd HTTP intake of a real ``openatd serve`` (a subprocess on a
   fresh SQLite database, its tracker ports off) under ``wrk`` (Debian's package; the
   part is skipped without it): one wrk thread, ``--osmand-connections`` keep-alive
   connections, each request one fix (GET, query parameters, as Traccar Client sends),
   devices in round robin with fix times a second apart. A request is answered once its
   fix is committed, so wrk's latency is request → durable. Figures: requests/s, positions
   stored per second of the run, server CPU per request (``/proc/<pid>/stat``).
7. ``backlog``: after an outage: ``--backlog-devices`` devices reconnect and each writes
   ``--backlog`` buffered fixes (older than its live ones) at once, then they send
   ``--backlog-rate`` live positions/s in total; exclusion zones as in ``latency``, on
   points of the live part. Figures: when the pipeline had processed as many reports as
   the backlog held, and the ingest-to-alert latency of fixes received after the burst.

Prints one JSON line per part and a summary (``--out FILE`` also writes JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import socket
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT.parent / "shared" / "data" / "traces"
PROTOCOL = "gt06"
_IP_BIND_ADDRESS_NO_PORT = 24
WARMUP_S = 5.0


# -- helpers -------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def tcp_mem_pages() -> int:
    with open("/proc/net/sockstat", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1])
    return 0


def raise_nofile(n: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(hard, n)))
    except (ValueError, PermissionError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class CollectorTime:
    """Time this process spends in the cyclic garbage collector, per generation, from
    :data:`gc.callbacks` until :meth:`stop`."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._t0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        g = info["generation"]
        self.collections[g] += 1
        self.seconds[g] += time.perf_counter() - self._t0

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)


def pctl(data: list[float], q: float) -> float | None:
    if not data:
        return None
    s = sorted(data)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def load_traces() -> list[Any]:
    from openatd.ingest.simulator import load_fixes

    return load_fixes(TRACES)


def sqlite_dt(t: datetime) -> str:
    """How SQLAlchemy stores a (naive UTC) DateTime in SQLite."""
    t = t.astimezone(UTC).replace(tzinfo=None)
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def setup_db(
    path: Path | str,
    ids: list[str],
    zones: dict[int, tuple[float, float]] | None,
    protocol: str = PROTOCOL,
) -> str:
    """A migrated OpenATD DB with one participant + device (+ exclusion circle) per id.

    *path*: a SQLite file, or a database URL (an empty PostgreSQL database, say).
    """
    from sqlalchemy import insert

    from openatd.storage import tables as t
    from openatd.storage.db import Database

    url = path if isinstance(path, str) else f"sqlite:///{path}"
    db = Database(url)
    db.migrate()
    now = datetime.now(UTC)
    policy = {"zone_dwell_s": 0} if zones is not None else {}
    with db.uow() as uow:
        s = uow.session
        s.execute(
            insert(t.Participant),
            [
                {
                    "id": i + 1,
                    "name": f"bench {i}",
                    "timezone": "UTC",
                    "supervision_level": "gps",
                    "policy": policy,
                    "active": True,
                    "created_at": now,
                }
                for i in range(len(ids))
            ],
        )
        s.execute(
            insert(t.Device),
            [
                {
                    "id": i + 1,
                    "unique_id": uid,
                    "protocol": protocol,
                    "participant_id": i + 1,
                    "created_at": now,
                }
                for i, uid in enumerate(ids)
            ],
        )
        if zones:
            s.execute(
                insert(t.Zone),
                [
                    {
                        "participant_id": i + 1,
                        "name": "bench exclusion",
                        "kind": "exclusion",
                        "geometry": None,
                        "circle_lat": lat,
                        "circle_lon": lon,
                        "circle_radius_m": 30.0,
                        "active": True,
                        "created_at": now,
                    }
                    for i, (lat, lon) in zones.items()
                ],
            )
    db.dispose()
    return url


def sim_child(
    port: int,
    devices: int,
    rate: float,
    duration: float,
    ids: list[str],
    drain_s: float,
    queue: Any,
    backlog: int = 0,
) -> None:
    """Child process: the simulated fleet (its own event loop, its own core)."""
    from openatd.ingest.servers import run
    from openatd.ingest.simulator import simulate

    raise_nofile(devices + 1000)
    traces = load_traces()
    report = run(
        simulate(
            "127.0.0.1",
            port,
            PROTOCOL,
            devices,
            rate,
            duration,
            traces,
            ids=ids,
            drain_s=drain_s,
            source_ips=8 if devices > 20000 else 1,
            backlog=backlog,
        )
    )
    queue.put(
        {
            "connected": report.connected,
            "logged_in": report.logged_in,
            "positions_sent": report.positions_sent,
            "backlog_sent": report.backlog_sent,
            "send_s": report.duration_s,
            "send_rate": report.rate,
            "acks": report.position_acks,
            "ack_p50": report.percentile(50),
            "ack_p99": report.percentile(99),
            "ack_max": report.percentile(100),
        }
    )


def _get_from(queue: Any, proc: Any) -> Any:
    """The child's result, or an error if it died without one (never hang)."""
    import queue as queue_mod

    while True:
        try:
            return queue.get(timeout=1.0)
        except queue_mod.Empty:
            if not proc.is_alive():
                try:
                    return queue.get(timeout=1.0)
                except queue_mod.Empty:
                    raise RuntimeError(f"child process died (exit {proc.exitcode})") from None


# -- 1. ceiling ------------------------------------------------------------------------------


def position_rows(ids: list[str], per_device: int) -> list[tuple[Any, ...]]:
    """The rows the fleet's fixes become (same columns and values as the pipeline stores)."""
    from openatd.ingest.simulator import device_fixes

    traces = load_traces()
    end = datetime.now(UTC).replace(microsecond=0)
    received = sqlite_dt(end)
    rows = []
    for i in range(len(ids)):
        for f in device_fixes(traces, i, per_device, end):
            rows.append(
                (
                    i + 1,
                    i + 1,
                    sqlite_dt(f.time),
                    received,
                    f.latitude,
                    f.longitude,
                    1,
                    None,
                    f.speed_mps,
                    f.course_deg,
                    f.altitude_m,
                    None,
                    '{"satellites": 9}',
                    0,
                )
            )
    return rows


COLUMNS = (
    "device_id, participant_id, fix_time, server_time, latitude, longitude, valid, accuracy_m, "
    "speed_mps, course_deg, altitude_m, battery_pct, attributes, in_review"
)


def part_ceiling(workdir: Path, devices: int, per_device: int) -> dict[str, Any]:
    from openatd.ingest.simulator import device_ids

    ids = device_ids(devices)
    rows = position_rows(ids, per_device)
    out: dict[str, Any] = {"rows": len(rows)}

    url = setup_db(workdir / "ceiling.db", ids, None)
    con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO positions ({COLUMNS}) VALUES ({', '.join('?' * 14)})"
    t0 = time.perf_counter()
    for k in range(0, len(rows), 5000):
        con.execute("BEGIN")
        con.executemany(sql, rows[k : k + 5000])
        con.execute("COMMIT")
    dt = time.perf_counter() - t0
    con.close()
    out["raw_sqlite3_rows_per_s"] = len(rows) / dt

    # The repository's statement through SQLAlchemy Core, same rows, fresh DB.
    from openatd.storage.db import Database

    url2 = setup_db(workdir / "ceiling_repo.db", ids, None)
    db = Database(url2)
    names = [c.strip() for c in COLUMNS.split(",")]
    dict_rows = []
    for r in rows:
        d = dict(zip(names, r, strict=True))
        d["fix_time"] = datetime.fromisoformat(d["fix_time"]).replace(tzinfo=UTC)
        d["server_time"] = datetime.fromisoformat(d["server_time"]).replace(tzinfo=UTC)
        d["valid"] = True
        d["in_review"] = False
        d["attributes"] = {"satellites": 9}
        dict_rows.append(d)
    t0 = time.perf_counter()
    for k in range(0, len(dict_rows), 5000):
        with db.uow() as uow:
            uow.positions.insert_many(dict_rows[k : k + 5000])
    dt = time.perf_counter() - t0
    db.dispose()
    out["repository_insert_many_rows_per_s"] = len(rows) / dt
    return out


# -- 2./3. end to end through servers + pipeline ---------------------------------------------


class CountingSink:
    """No storage at all: what the servers alone (decode, order, ACK) can carry."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, int]] = []

    async def is_known(self, unique_id: str) -> bool:
        return True

    async def submit(self, unique_id: str, protocol: str, reports: Any) -> None:
        self.batches.append((time.time(), len(reports)))


async def _servers_only(ids: list[str], rate: float, duration: float) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from openatd.ingest.servers import IngestServer, ListenerSpec

    sink = CountingSink()
    server = IngestServer(
        sink,
        [ListenerSpec(PROTOCOL, 0, udp=False)],
        registry=CollectorRegistry(),
        idle_timeout_s=3600,
    )
    bound = await server.start()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=sim_child,
        args=(bound[PROTOCOL].tcp_port, len(ids), rate, duration, ids, 60.0, queue),
    )
    cpu0 = time.process_time()
    proc.start()
    sim = await asyncio.to_thread(_get_from, queue, proc)
    await asyncio.to_thread(proc.join)
    cpu = time.process_time() - cpu0
    await server.stop()
    n = sum(b[1] for b in sink.batches)
    window = sink.batches[-1][0] - sink.batches[0][0] if len(sink.batches) > 1 else 0.0
    return {
        "sim": sim,
        "reports": n,
        "submits": len(sink.batches),
        "window_s": window,
        "positions_per_s": n / window if window else 0.0,
        "server_cpu_s": cpu,
        "server_cpu_us_per_position": cpu / n * 1e6 if n else None,
    }


def part_servers(devices: int, rate: float, duration: float) -> dict[str, Any]:
    from openatd.ingest.servers import run
    from openatd.ingest.simulator import device_ids

    return run(_servers_only(device_ids(devices), rate, duration))


def fresh_pg_database(dsn: str, name: str) -> str:
    """Drop and create database *name* on the server of *dsn*; its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return "postgresql+psycopg://" + dsn.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name


async def _through_pipeline(
    url: str,
    ids: list[str],
    rate: float,
    duration: float,
    drain_s: float,
    workers: int = 0,
    bus_url: str | None = None,
    backlog: int = 0,
) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from openatd.domain.clock import SystemClock
    from openatd.ingest.pipeline import PositionPipeline
    from openatd.ingest.servers import IngestServer, ListenerSpec
    from openatd.settings import get_settings
    from openatd.storage.db import Database

    settings = get_settings(database_url=url, env="development")
    db = Database(url)
    experiment = os.environ.get("OPENATD_BENCH_EXPERIMENT", "")
    if experiment == "no-touch":
        # Not the product: how fast the pipeline would be without its one UPDATE of
        # devices.last_seen_at per device per batch (the profile's top item).
        from openatd.storage.repositories import DeviceRepository

        DeviceRepository.touch = lambda self, device_id, at: None  # type: ignore[method-assign]
    pipeline = PositionPipeline(db, settings, SystemClock())
    batches: list[tuple[float, float, int, int, int, int]] = []
    alert_latencies: list[tuple[float, float]] = []  # (received, latency)
    original = pipeline.process

    def process(items: Any) -> Any:
        t0 = time.time()
        result = original(items)
        t1 = time.time()  # committed: positions and alerts are durable
        n = sum(len(r) for _, r in items)
        batches.append((t0, t1, n, result.stored, result.dropped, len(result.alerts)))
        if result.alerts:
            received: dict[tuple[int, datetime], datetime] = {}
            for uid, reports in items:
                entry = pipeline._devices.get(uid)
                if entry is None:
                    continue
                for r in reports:
                    if r.fix_time is not None and r.received is not None:
                        received[(entry.device_id, r.fix_time)] = r.received
            for device_id, alert in result.alerts:
                rec = received.get((device_id, alert.at))
                if rec is not None:
                    alert_latencies.append((rec.timestamp(), t1 - rec.timestamp()))
        return result

    pipeline.process = process  # type: ignore[method-assign]
    if os.environ.get("OPENATD_BENCH_DEFAULT_GC") != "1":
        from openatd.runtime import tune_collector

        tune_collector()  # as `openatd serve` does
    await pipeline.start(ticks=False)
    if os.environ.get("OPENATD_BENCH_DEFAULT_GC") != "1":
        from openatd.runtime import freeze_startup_heap

        freeze_startup_heap()  # as `openatd serve` does once the rule engines are built
    gc_time = CollectorTime()
    server: Any = None
    trackers: Any = None
    consumer: Any = None
    if workers:
        # The product's `serve --workers N` layout: N ingest processes (decode, ACK) share
        # the port and hand reports to this process's pipeline over the local bus, or with
        # a bus URL publish to NATS JetStream, which this process consumes
        # (`serve --role ingest` + `serve --role pipeline`).
        from openatd.ingest.bus import IngestWorkers, worker_config

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        bus: dict[str, Any] = {}
        if bus_url:
            bus = {"bus_url": bus_url, "bus_stream": f"BENCH{os.getpid()}",
                   "bus_subject_prefix": f"bench{os.getpid()}"}  # fmt: skip
        wsettings = get_settings(
            database_url=url,
            env="development",
            protocols=f"{PROTOCOL}:{port}",
            protocol_host="127.0.0.1",
            idle_timeout_s=3600,
            **bus,
        )
        if bus_url:
            from openatd.ingest.nats_bus import NatsBusConfig
            from openatd.ingest.nats_consumer import NatsBusConsumer

            consumer = NatsBusConsumer(pipeline, NatsBusConfig.from_settings(wsettings))
            await consumer.start()
        trackers = IngestWorkers(None if bus_url else pipeline, worker_config(wsettings), workers)
        await trackers.start()
    else:
        server = IngestServer(
            pipeline,
            [ListenerSpec(PROTOCOL, 0, udp=False)],
            registry=CollectorRegistry(),
            idle_timeout_s=3600,
        )
        bound = await server.start()
        port = bound[PROTOCOL].tcp_port
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=sim_child, args=(port, len(ids), rate, duration, ids, drain_s, queue, backlog)
    )
    pids = trackers.pids if trackers is not None else []
    child_cpu0 = sum(_proc_cpu_s(pid) for pid in pids)
    cpu0 = time.process_time()
    proc.start()
    sim = await asyncio.to_thread(_get_from, queue, proc)
    await asyncio.to_thread(proc.join)
    if consumer is not None:  # ACKed = in the stream: wait until the pipeline has it all
        deadline = time.monotonic() + 600
        while await consumer.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    pipeline_cpu = time.process_time() - cpu0
    gc_time.stop()
    ingest_cpu = sum(_proc_cpu_s(pid) for pid in pids) - child_cpu0
    cpu = pipeline_cpu + ingest_cpu
    if trackers is not None:
        await trackers.stop()
    else:
        await server.stop()
    if consumer is not None:
        js = consumer._js
        if js is not None:
            with contextlib.suppress(Exception):
                await js.delete_stream(consumer.config.stream)
        await consumer.stop()
    await pipeline.stop()
    db.dispose()
    processed = sum(b[2] for b in batches)
    lat_all = [lat for _, lat in alert_latencies]
    first = batches[0][0] if batches else 0.0
    lat_steady = [lat for rec, lat in alert_latencies if rec >= first + WARMUP_S]
    # A backlog (buffered fixes, written at once after login): when had the pipeline
    # processed as many reports as the backlog held (its fixes come first per device)?
    backlog_total = backlog * len(ids)
    drained_at = None
    done = 0
    for b in batches:
        done += b[2]
        if backlog_total and done >= backlog_total:
            drained_at = b[1] - first
            break
    lat_after_burst = [lat for rec, lat in alert_latencies if rec >= first + 1.0]
    window = (batches[-1][1] - batches[0][0]) if batches else 0.0
    return {
        "experiment": experiment or None,
        "sim": sim,
        "reports_processed": processed,
        "stored": sum(b[3] for b in batches),
        "dropped_by_filter": sum(b[4] for b in batches),
        "alerts": sum(b[5] for b in batches),
        "batches": len(batches),
        "mean_batch": processed / len(batches) if batches else 0,
        "window_s": window,
        "positions_per_s": processed / window if window else 0.0,
        "ingest_processes": workers,
        "bus": "nats" if consumer is not None else ("local" if workers else None),
        "database": url.split(":", 1)[0].split("+")[0],
        "server_cpu_s": cpu,
        "pipeline_process_cpu_s": pipeline_cpu,
        "pipeline_gc_thresholds": gc.get_threshold(),
        "pipeline_gc_collections": gc_time.collections,
        "pipeline_gc_s": gc_time.seconds,
        "ingest_processes_cpu_s": ingest_cpu if workers else None,
        "server_cpu_us_per_position": cpu / processed * 1e6 if processed else None,
        "decode_errors": (
            server.metrics.value("openatd_ingest_decode_errors_total", PROTOCOL)
            if server is not None
            else None
        ),
        "alert_latency_p50": pctl(lat_all, 50),
        "alert_latency_p90": pctl(lat_all, 90),
        "alert_latency_p99": pctl(lat_all, 99),
        "alert_latency_max": pctl(lat_all, 100),
        "alert_latency_n": len(lat_all),
        # after the first WARMUP_S of load: the rule engines of every device are built
        "steady_alert_latency_p50": pctl(lat_steady, 50),
        "steady_alert_latency_p99": pctl(lat_steady, 99),
        "steady_alert_latency_max": pctl(lat_steady, 100),
        "steady_alert_latency_n": len(lat_steady),
        "backlog_reports": backlog_total,
        "backlog_drained_s": drained_at,
        "live_alert_latency_p50": pctl(lat_after_burst, 50),
        "live_alert_latency_p99": pctl(lat_after_burst, 99),
        "live_alert_latency_n": len(lat_after_burst),
        "loadavg_after": os.getloadavg(),
    }


def part_e2e(
    workdir: Path,
    devices: int,
    rate: float,
    duration: float,
    workers: int = 0,
    bus_url: str | None = None,
    pg: str | None = None,
) -> dict[str, Any]:
    from openatd.ingest.servers import run
    from openatd.ingest.simulator import device_ids

    ids = device_ids(devices)
    target: Path | str = workdir / "e2e.db"
    if pg:
        target = fresh_pg_database(pg, "openatd_bench_e2e")
    url = setup_db(target, ids, None)
    return run(
        _through_pipeline(url, ids, rate, duration, drain_s=120.0, workers=workers, bus_url=bus_url)
    )


def part_latency(
    workdir: Path, devices: int, rate: float, duration: float, zone_every: int, workers: int = 0
) -> dict[str, Any]:
    from openatd.ingest.servers import run
    from openatd.ingest.simulator import device_fixes, device_ids

    ids = device_ids(devices, 100000)
    traces = load_traces()
    per_device = math.ceil(rate * duration / devices)
    end = datetime.now(UTC)
    zones = {}
    for i in range(0, devices, zone_every):
        fixes = device_fixes(traces, i, per_device, end)
        # a point of its own route, in the last two thirds of the run (after the warm-up)
        k = per_device // 3 + (i * 31) % max(1, per_device - per_device // 3 - 1)
        zones[i] = (fixes[k].latitude, fixes[k].longitude)
    url = setup_db(workdir / "latency.db", ids, zones)
    raise_nofile(devices * 2 + 1000)
    return run(_through_pipeline(url, ids, rate, duration, drain_s=30.0, workers=workers))


def part_backlog(
    workdir: Path,
    devices: int,
    rate: float,
    duration: float,
    zone_every: int,
    backlog: int,
    workers: int = 0,
) -> dict[str, Any]:
    """After an outage: every device reconnects with *backlog* buffered fixes, then sends
    live at *rate* in total; exclusion zones (as in ``latency``) on points of the live part."""
    from openatd.ingest.servers import run
    from openatd.ingest.simulator import device_fixes, device_ids

    ids = device_ids(devices, 200000)
    traces = load_traces()
    per_device = math.ceil(rate * duration / devices)
    end = datetime.now(UTC)
    zones = {}
    for i in range(0, devices, zone_every):
        fixes = device_fixes(traces, i, backlog + per_device, end)
        k = backlog + per_device // 3 + (i * 31) % max(1, per_device - per_device // 3 - 1)
        zones[i] = (fixes[k].latitude, fixes[k].longitude)
    url = setup_db(workdir / "backlog.db", ids, zones)
    raise_nofile(devices * 2 + 1000)
    return run(
        _through_pipeline(url, ids, rate, duration, drain_s=120.0, workers=workers, backlog=backlog)
    )


# -- 4. memory per connection --------------------------------------------------------------

PER_PROCESS = 15000
"""Connections per process: the container caps RLIMIT_NOFILE at 20,000 (no CAP_SYS_RESOURCE)."""


def mem_clients(port: int, first: int, n: int, go: Any, done: Any) -> None:
    """Child: open *n* idle connections, each sending a gt06 login, hold until told."""
    from openatd.ingest.simulator import Gt06Encoder, device_ids

    raise_nofile(n + 1000)
    socks = []
    for i, uid in enumerate(device_ids(n, first)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((f"127.0.0.{2 + (first + i) % 8}", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(Gt06Encoder(uid).login())
        socks.append(s)
    go.set()
    done.wait()
    for s in socks:
        s.close()


class KnownSink:
    async def is_known(self, unique_id: str) -> bool:
        return True

    async def submit(self, unique_id: str, protocol: str, reports: Any) -> None:
        return None


def mem_server(port: int, conn: Any) -> None:
    """Child: one server process sharing *port* (SO_REUSEPORT); answers "measure" / "stop"."""
    from openatd.ingest.servers import run

    raise_nofile(PER_PROCESS + 5000)

    async def main() -> None:
        from prometheus_client import CollectorRegistry

        from openatd.ingest.servers import IngestServer, ListenerSpec

        server = IngestServer(
            KnownSink(),
            [ListenerSpec(PROTOCOL, port, udp=False)],
            registry=CollectorRegistry(),
            idle_timeout_s=3600,
            reuse_port=True,
        )
        await server.start()
        gc.collect()
        conn.send(("ready", rss_bytes(), type(asyncio.get_running_loop()).__module__))
        while True:
            cmd = await asyncio.to_thread(conn.recv)
            if cmd == "stop":
                break
            gc.collect()
            frames = server.metrics.value("openatd_ingest_frames_total", PROTOCOL)
            conn.send((server.connection_count, frames, rss_bytes()))
        await server.stop()

    run(main())


def part_memory(counts: list[int]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out: dict[str, Any] = {"per_process": PER_PROCESS}
    for n in counts:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        k = math.ceil(n / PER_PROCESS)
        pipes, servers = [], []
        for _ in range(k):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=mem_server, args=(port, child))
            proc.start()
            pipes.append(parent)
            servers.append(proc)
        ready = [p.recv() for p in pipes]
        base = sum(r[1] for r in ready)
        base_tcp = tcp_mem_pages()
        t0 = time.perf_counter()
        clients = []
        share = math.ceil(n / k)
        for j in range(k):
            go, done = ctx.Event(), ctx.Event()
            count = min(share, n - j * share)
            proc = ctx.Process(target=mem_clients, args=(port, j * share, count, go, done))
            proc.start()
            clients.append((proc, go, done))
        deadline = time.monotonic() + 600
        stats: list[tuple[int, float, int]] = []
        while time.monotonic() < deadline:
            for p in pipes:
                p.send("measure")
            stats = [p.recv() for p in pipes]
            if sum(s[0] for s in stats) >= n and sum(s[1] for s in stats) >= n:
                break
            if any(not c[0].is_alive() and not c[1].is_set() for c in clients):
                break
            time.sleep(0.5)
        setup_s = time.perf_counter() - t0
        time.sleep(1.0)
        for p in pipes:
            p.send("measure")
        stats = [p.recv() for p in pipes]
        conns = sum(s[0] for s in stats)
        rss = sum(s[2] for s in stats)
        out[str(n)] = {
            "server_processes": k,
            "connections": conns,
            "connections_per_process": [s[0] for s in stats],
            "logins": sum(s[1] for s in stats),
            "rss_before_mb": base / 2**20,
            "rss_after_mb": rss / 2**20,
            "rss_per_connection_bytes": (rss - base) / max(1, conns),
            "kernel_tcp_mem_mb": (tcp_mem_pages() - base_tcp) * 4096 / 2**20,
            "setup_s": setup_s,
            "event_loop": ready[0][2],
        }
        for _, _, done in clients:
            done.set()
        for proc, _, _ in clients:
            proc.join()
        for p in pipes:
            p.send("stop")
        for proc in servers:
            proc.join()
    return out


# -- 5. PostgreSQL + PostGIS baseline ------------------------------------------------------


def part_postgis(devices: int, per_device: int, dsn: str) -> dict[str, Any]:
    import psycopg

    from openatd.ingest.simulator import device_fixes

    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        return {"skipped": f"PostgreSQL not reachable at {dsn}: {exc}"}
    with admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'openatd_bench'"
        ).fetchone()
        if not exists:
            admin.execute("CREATE DATABASE openatd_bench")
    bench_dsn = dsn.rsplit("/", 1)[0] + "/openatd_bench"
    con = psycopg.connect(bench_dsn, autocommit=True)
    try:
        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        con.close()
        return {
            "skipped": f"PostGIS not available ({exc}); apt-get install postgresql-15-postgis-3"
        }
    version = con.execute("SELECT postgis_full_version()").fetchone()[0].split(" ")[0:2]
    con.execute("DROP TABLE IF EXISTS bench_positions, bench_zones")
    con.execute(
        "CREATE TABLE bench_zones (participant_id int PRIMARY KEY, geom geometry(Polygon, 4326))"
    )
    con.execute(
        """CREATE TABLE bench_positions (
            id bigserial PRIMARY KEY, device_id int NOT NULL, participant_id int,
            fix_time timestamptz NOT NULL, server_time timestamptz NOT NULL,
            latitude double precision, longitude double precision, valid boolean,
            speed_mps double precision, course_deg double precision, altitude_m double precision,
            attributes jsonb, geom geometry(Point, 4326),
            UNIQUE (device_id, fix_time))"""
    )
    traces = load_traces()
    end = datetime.now(UTC).replace(microsecond=0)
    fleet = [device_fixes(traces, i, per_device, end) for i in range(devices)]
    # One 30 m circle zone per participant on its own route (as in the latency part).
    with con.transaction(), con.cursor() as cur:
        cur.executemany(
            "INSERT INTO bench_zones VALUES (%s, ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s),"
            " 4326)::geography, 30)::geometry)",
            [
                (i + 1, f[len(f) // 2].longitude, f[len(f) // 2].latitude)
                for i, f in enumerate(fleet)
            ],
        )
    con.execute("CREATE INDEX ON bench_zones USING gist (geom)")
    rows = [
        (
            i + 1,
            i + 1,
            f.time,
            end,
            f.latitude,
            f.longitude,
            f.speed_mps,
            f.course_deg,
            f.altitude_m,
        )
        for k in range(per_device)
        for i, fixes in enumerate(fleet)
        for f in (fixes[k],)
    ]
    sql = """
        WITH ins AS (
          INSERT INTO bench_positions (device_id, participant_id, fix_time, server_time,
              latitude, longitude, valid, speed_mps, course_deg, altitude_m, attributes, geom)
          SELECT d, p, ft, st, la, lo, true, sp, co, al, '{"satellites": 9}'::jsonb,
                 ST_SetSRID(ST_MakePoint(lo, la), 4326)
          FROM unnest(%s::int[], %s::int[], %s::timestamptz[], %s::timestamptz[],
                      %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[])
               AS u(d, p, ft, st, la, lo, sp, co, al)
          ON CONFLICT (device_id, fix_time) DO NOTHING
          RETURNING participant_id, geom)
        SELECT count(*) FILTER (WHERE z.participant_id IS NOT NULL), count(*)
        FROM ins LEFT JOIN bench_zones z
          ON z.participant_id = ins.participant_id AND ST_Contains(z.geom, ins.geom)
    """
    inside = stored = 0
    t0 = time.perf_counter()
    for k in range(0, len(rows), 5000):
        chunk = rows[k : k + 5000]
        cols = [list(c) for c in zip(*chunk, strict=True)]
        with con.transaction():
            got = con.execute(sql, cols).fetchone()
        inside += got[0]
        stored += got[1]
    dt = time.perf_counter() - t0
    con.close()
    return {
        "postgis": " ".join(version),
        "rows": len(rows),
        "stored": stored,
        "inside_zone": inside,
        "positions_per_s": len(rows) / dt,
    }


# -- 6. OsmAnd HTTP intake ----------------------------------------------------------------

OSMAND_LUA = """
-- One wrk thread: OsmAnd GET requests, devices in round robin, one fix a second each
-- (fix times from an hour ago, walking north at ~1.1 m/s), so nothing is a duplicate.
local n = 0
request = function()
  local d = n %% %(devices)d
  local k = math.floor(n / %(devices)d)
  n = n + 1
  local lat = 40.0 + (d %% 100) * 0.01 + k * 0.00001
  local lon = -75.0 + math.floor(d / 100) * 0.01
  return wrk.format("GET", string.format(
    "/?id=86%%013d&lat=%%.6f&lon=%%.6f&timestamp=%%d&speed=1.1&bearing=0&altitude=10"
    .. "&accuracy=5&batt=80", %(first)d + d, lat, lon, %(t0)d + k))
end
"""


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of process *pid* (all its threads), seconds, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk_figures(text: str) -> dict[str, Any]:
    """Requests/s and latency percentiles (s) from ``wrk --latency`` output."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
    out: dict[str, Any] = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            out["requests_per_s"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "75%", "90%", "99%"):
            value = parts[1]
            unit = value.lstrip("0123456789.")
            out[f"latency_p{parts[0][:-1]}"] = float(value[: -len(unit)]) * units[unit]
        elif "requests in" in line:
            out["requests"] = int(parts[0])
        elif line.strip().startswith("Non-2xx"):
            out["non_2xx"] = int(parts[-1])
        elif line.strip().startswith("Socket errors"):
            out["socket_errors"] = line.strip()
    return out


def part_osmand(workdir: Path, devices: int, connections: int, duration: float) -> dict[str, Any]:
    """A real ``openatd serve`` (its OsmAnd port only, SQLite) under wrk keep-alive clients."""
    import shutil
    import subprocess

    from openatd.ingest.simulator import device_ids

    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk not installed (apt-get install wrk)"}
    first = 300000
    ids = device_ids(devices, first)
    url = setup_db(workdir / "osmand.db", ids, None, protocol="osmand")
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    env = dict(
        os.environ,
        OPENATD_DATABASE_URL=url,
        OPENATD_HTTP_PORT=str(ports[0]),
        OPENATD_OSMAND_PORT=str(ports[1]),
        OPENATD_PROTOCOLS="",
        OPENATD_LOG_FORMAT="json",
    )
    exe = Path(sys.executable).with_name("openatd")
    server = subprocess.Popen(
        [str(exe), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports[1]), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                    return {"error": f"server did not start: {err[-2000:]}"}
                time.sleep(0.2)
        script = workdir / "osmand.lua"
        t0 = int(time.time()) - 3600
        script.write_text(OSMAND_LUA % {"devices": devices, "first": first, "t0": t0})
        cpu0 = _proc_cpu_s(server.pid)
        t_start = time.perf_counter()
        done = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{duration:.0f}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                str(script),
                f"http://127.0.0.1:{ports[1]}/",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t_start
        cpu = _proc_cpu_s(server.pid) - cpu0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    stored = con.execute("SELECT count(*) FROM positions").fetchone()[0]
    con.close()
    out: dict[str, Any] = _wrk_figures(done.stdout)
    requests = out.get("requests") or 0
    out.update(
        {
            "devices": devices,
            "connections": connections,
            "wall_s": wall,
            "positions_stored": stored,
            "positions_per_s": stored / wall if wall else 0.0,
            "server_cpu_s": cpu,
            "server_cpu_us_per_request": cpu / requests * 1e6 if requests else None,
            "wrk_rc": done.returncode,
        }
    )
    if done.returncode != 0:
        out["wrk_stderr"] = done.stderr[-500:]
    return out


# -- orchestration -------------------------------------------------------------------------


def _child(name: str, args: tuple[Any, ...], queue: Any) -> None:
    fn = globals()[f"part_{name}"]
    try:
        queue.put((name, fn(*args)))
    except Exception as exc:  # report, do not hang the orchestrator
        import traceback

        traceback.print_exc()
        queue.put((name, {"error": f"{type(exc).__name__}: {exc}"}))


def run_part(name: str, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    t0 = time.perf_counter()
    proc.start()
    try:
        _, result = _get_from(queue, proc)
    except RuntimeError as exc:
        result = {"error": str(exc)}
    proc.join()
    result["part_seconds"] = time.perf_counter() - t0
    print(f"[{name}] {json.dumps(result, default=str)}", flush=True)
    return result


def fmt(v: float | None, scale: float = 1.0, unit: str = "") -> str:
    return "n/a" if v is None else f"{v * scale:,.0f}{unit}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke check")
    ap.add_argument("--parts", default="ceiling,servers,e2e,latency,memory,postgis,osmand")
    ap.add_argument("--e2e-devices", type=int, default=2000)
    ap.add_argument("--e2e-rate", type=float, default=60000.0)
    ap.add_argument("--e2e-duration", type=float, default=5.0)
    ap.add_argument("--latency-rate", type=float, default=6300.0)
    ap.add_argument("--latency-devices", type=int, default=6300)
    ap.add_argument("--latency-duration", type=float, default=30.0)
    ap.add_argument(
        "--zone-every", type=int, default=10, help="an exclusion zone for every n-th participant"
    )
    ap.add_argument("--connections", default="5000,50000")
    ap.add_argument(
        "--ingest-workers",
        type=int,
        default=0,
        help="e2e/latency: decode in N ingest processes over the local bus (serve --workers N);"
        " 0: servers and pipeline in one process",
    )
    ap.add_argument(
        "--bus",
        default=None,
        help="e2e with --ingest-workers: publish to this NATS JetStream (nats://127.0.0.1:4222)"
        " and consume it in the pipeline process, as serve --role ingest / pipeline",
    )
    ap.add_argument(
        "--e2e-on-pg", action="store_true", help="e2e on a fresh PostgreSQL database (--pg)"
    )
    ap.add_argument("--backlog-devices", type=int, default=2000)
    ap.add_argument("--backlog-rate", type=float, default=2000.0, help="live positions/s")
    ap.add_argument("--backlog", type=int, default=60, help="buffered fixes per device")
    ap.add_argument("--osmand-devices", type=int, default=2000)
    ap.add_argument("--osmand-connections", type=int, default=200)
    ap.add_argument("--osmand-duration", type=float, default=20.0)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--out", default=None, help="also write the figures as JSON here")
    ap.add_argument(
        "--experiment",
        choices=["no-touch"],
        help="NOT the product: e2e/latency without the per-device last_seen UPDATE",
    )
    ap.add_argument(
        "--default-gc",
        action="store_true",
        help="NOT the product: e2e/latency/backlog with CPython's default collector "
        "thresholds, not openatd.runtime.COLLECTOR_THRESHOLDS (the before/after of that change)",
    )
    a = ap.parse_args()
    if a.experiment:
        os.environ["OPENATD_BENCH_EXPERIMENT"] = a.experiment
    if a.default_gc:
        os.environ["OPENATD_BENCH_DEFAULT_GC"] = "1"
    if a.quick:
        a.e2e_devices, a.e2e_rate, a.e2e_duration = 200, 20000.0, 3.0
        a.latency_devices, a.latency_rate, a.latency_duration = 630, 630.0, 10.0
        a.connections = "1000"
        a.osmand_devices, a.osmand_connections, a.osmand_duration = 200, 50, 5.0
        a.backlog_devices, a.backlog_rate, a.backlog = 200, 200.0, 20
    parts = a.parts.split(",")
    per_device = math.ceil(a.e2e_rate * a.e2e_duration / a.e2e_devices)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "sqlite": sqlite3.sqlite_version,
            "loadavg_at_start": os.getloadavg(),
        },
        "args": vars(a),
    }
    with tempfile.TemporaryDirectory(prefix="openatd-bench-") as tmp:
        work = Path(tmp)
        if "ceiling" in parts:
            results["ceiling"] = run_part("ceiling", work, a.e2e_devices, per_device)
        if "servers" in parts:
            results["servers"] = run_part("servers", a.e2e_devices, a.e2e_rate, a.e2e_duration)
        if "e2e" in parts:
            results["e2e"] = run_part(
                "e2e",
                work,
                a.e2e_devices,
                a.e2e_rate,
                a.e2e_duration,
                a.ingest_workers,
                a.bus,
                a.pg if a.e2e_on_pg else None,
            )
        if "latency" in parts:
            results["latency"] = run_part(
                "latency",
                work,
                a.latency_devices,
                a.latency_rate,
                a.latency_duration,
                a.zone_every,
                a.ingest_workers,
            )
        if "backlog" in parts:
            results["backlog"] = run_part(
                "backlog",
                work,
                a.backlog_devices,
                a.backlog_rate,
                a.latency_duration,
                a.zone_every,
                a.backlog,
                a.ingest_workers,
            )
        if "memory" in parts:
            results["memory"] = run_part("memory", [int(n) for n in a.connections.split(",")])
        if "postgis" in parts:
            results["postgis"] = run_part("postgis", a.e2e_devices, per_device, a.pg)
        if "osmand" in parts:
            results["osmand"] = run_part(
                "osmand", work, a.osmand_devices, a.osmand_connections, a.osmand_duration
            )
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1, default=str) + "\n")

    print("\n== OpenATD ingest benchmark ==")
    c, e = results.get("ceiling", {}), results.get("e2e", {})
    ceiling = c.get("raw_sqlite3_rows_per_s")
    if ceiling:
        print(
            f"ceiling, bare SQLite WAL bulk insert: {fmt(ceiling)} rows/s "
            f"(repository insert_many: {fmt(c.get('repository_insert_many_rows_per_s'))})"
        )
    if "positions_per_s" in e:
        frac = e["positions_per_s"] / ceiling if ceiling else None
        print(
            f"end to end (gt06 -> {e.get('bus') or 'in-process'} -> pipeline ->"
            f" {e.get('database', 'sqlite')}, {e.get('ingest_processes') or 0} ingest processes):"
            f" {fmt(e['positions_per_s'])} positions/s"
            + (f", {frac:.1%} of the ceiling" if frac else "")
            + f"; server CPU {fmt(e.get('server_cpu_us_per_position'))} µs a position"
            " [targets: >= 30 % of the ceiling; <= 25 µs SQLite, <= 40 µs PostgreSQL]"
        )
    lat = results.get("latency", {})
    if "alert_latency_p99" in lat:
        print(
            f"ingest-to-alert at {a.latency_rate:,.0f}/s: p50 "
            f"{fmt(lat['alert_latency_p50'], 1000, ' ms')}, p99 "
            f"{fmt(lat['alert_latency_p99'], 1000, ' ms')} over {lat['alert_latency_n']} alerts"
            f" [target p99 < 1 s]; after {WARMUP_S:.0f} s warm-up p99 "
            f"{fmt(lat['steady_alert_latency_p99'], 1000, ' ms')} over "
            f"{lat['steady_alert_latency_n']}; device ACK p99 "
            f"{fmt(lat['sim']['ack_p99'], 1000, ' ms')}; pipeline process "
            f"{lat['pipeline_process_cpu_s'] / max(1, lat['reports_processed']) * 1e6:,.0f} µs "
            f"CPU a position, {sum(lat['pipeline_gc_s']):.2f} s in the garbage collector "
            f"({lat['pipeline_gc_collections'][2]} full collections, thresholds "
            f"{tuple(lat['pipeline_gc_thresholds'])})"
        )
    for _n, m in results.get("memory", {}).items():
        if isinstance(m, dict):
            print(
                f"{m['connections']} connections in {m['server_processes']} server process(es):"
                f" RSS +{m['rss_after_mb'] - m['rss_before_mb']:,.0f} MB "
                f"({m['rss_per_connection_bytes']:,.0f} B/connection), total "
                f"{m['rss_after_mb']:,.0f} MB [target 50,000 < 2 GB]"
            )
    pg = results.get("postgis", {})
    if "positions_per_s" in pg:
        print(
            f"PostgreSQL + PostGIS batched insert + ST_Contains: {fmt(pg['positions_per_s'])}"
            f" positions/s"
        )
    elif "skipped" in pg:
        print(f"PostGIS baseline skipped: {pg['skipped']}")
    bl = results.get("backlog", {})
    if "backlog_drained_s" in bl:
        print(
            f"backlog after an outage: {bl['backlog_reports']:,} buffered fixes drained in "
            f"{fmt(bl['backlog_drained_s'], 1, ' s')} with {a.backlog_rate:,.0f}/s live; alerts"
            f" from fixes received after the burst: p50 "
            f"{fmt(bl['live_alert_latency_p50'], 1000, ' ms')}, p99 "
            f"{fmt(bl['live_alert_latency_p99'], 1000, ' ms')} over {bl['live_alert_latency_n']}"
        )
    om = results.get("osmand", {})
    if "requests_per_s" in om:
        print(
            f"OsmAnd intake, {om['connections']} keep-alive connections: "
            f"{fmt(om['requests_per_s'])} requests/s, {fmt(om['positions_per_s'])} positions"
            f" stored/s [target >= 10,000], {fmt(om['server_cpu_us_per_request'])} µs server CPU"
            f" a request, p99 {fmt(om.get('latency_p99'), 1000, ' ms')}"
        )
    elif om:
        print(f"OsmAnd intake: {om.get('skipped') or om.get('error')}")


if __name__ == "__main__":
    main()
