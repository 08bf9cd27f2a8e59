"""Per-position CPU of the ingest hot path, stage by stage, in one process (issue 11).

    .venv/bin/python bench/hotpath.py                 # the tree on the import path
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/hotpath.py   # another tree (a baseline)

The end-to-end bench (``bench/ingest.py``) needs two cores to itself to give steady
figures; on a shared machine its throughput moves by ±30 % between runs. This bench
measures **CPU time** (``time.process_time``) of the real code, one stage at a time, which
load on other cores disturbs far less, so a change and its baseline can be compared in the
same minute:

* ``servers``: the real ``IngestServer`` link code (``_Link.accept`` and its drain task:
  GT06 decode, stamping ``received``, coalescing, submit to a sink that stores nothing,
  ACK bytes written to a no-op transport), fed the GT06 frames of ``--devices`` simulated
  devices (the simulator's own encoder, real traces) in per-device reads, as a socket
  would deliver them.
* ``pipeline``: ``PositionPipeline.process`` on the reports those frames decode to, in
  batches of about 5,000 reports (one submission per device, as the servers coalesce
  them), on a freshly migrated SQLite database in WAL mode: filter, rules, bulk insert of
  positions, ``last_seen_at``, alerts. ``--zone-every 10`` gives every tenth participant a
  30 m exclusion circle on its route (dwell 0), as the latency part of bench/ingest.py.
  ``--pg URL`` runs the same on a fresh PostgreSQL database instead.

Each stage is run ``--repeat`` times (fresh database each time); the median and the
spread (min–max) of µs per position are printed, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import load_traces, setup_db


def fleet_frames(devices: int, per_device: int) -> tuple[list[str], list[list[bytes]], Any]:
    from openatd.ingest.simulator import Gt06Encoder, device_fixes, device_ids

    ids = device_ids(devices)
    traces = load_traces()
    end = datetime.now(UTC).replace(microsecond=0)
    frames = []
    fixes = []
    for i, uid in enumerate(ids):
        enc = Gt06Encoder(uid)
        fx = device_fixes(traces, i, per_device, end)
        fixes.append(fx)
        frames.append([enc.login()] + [enc.positions([f])[0] for f in fx])
    return ids, frames, fixes


class _NullSink:
    def __init__(self) -> None:
        self.reports = 0

    async def is_known(self, unique_id: str) -> bool:
        return True

    async def submit(self, unique_id: str, protocol: str, reports: Any) -> None:
        self.reports += len(reports)


async def _servers(frames: list[list[bytes]], chunk: int) -> tuple[float, int]:
    from prometheus_client import CollectorRegistry

    from openatd.ingest.servers import IngestServer, ListenerSpec, _Link
    from openatd.protocols.gt06 import Gt06Session

    sink = _NullSink()
    server = IngestServer(sink, [ListenerSpec("gt06", 0, udp=False)], registry=CollectorRegistry())
    sent = [0]

    def send(data: bytes) -> None:
        sent[0] += len(data)

    links = [
        _Link(server, "gt06", Gt06Session(), ("127.0.0.1", i), send) for i in range(len(frames))
    ]
    # login first, then positions in reads of *chunk* frames per device, round robin
    cpu0 = time.process_time()
    for link, fr in zip(links, frames, strict=True):
        link.accept(link.session.receive_data(fr[0]))
    await asyncio.sleep(0)
    longest = max(len(f) for f in frames)
    for k in range(1, longest, chunk):
        for link, fr in zip(links, frames, strict=True):
            data = b"".join(fr[k : k + chunk])
            if data:
                link.accept(link.session.receive_data(data))
        for _ in range(3):
            await asyncio.sleep(0)
    while any(link.worker is not None for link in links):
        await asyncio.sleep(0)
    cpu = time.process_time() - cpu0
    return cpu, sink.reports


def stage_servers(frames: list[list[bytes]], chunk: int) -> float:
    from openatd.ingest.servers import run

    cpu, n = run(_servers(frames, chunk))
    expected = sum(len(f) - 1 for f in frames)
    assert n == expected, (n, expected)
    return cpu / n * 1e6


def reports_of(ids: list[str], fixes: list[list[Any]]) -> list[list[tuple[str, list[Any]]]]:
    """Batches of ~5,000 reports: one (device, [reports]) submission per device per round."""
    from openatd.domain.messages import DeviceReport, ReportKind

    received = datetime.now(UTC).replace(microsecond=0)
    per_device = len(fixes[0])
    rounds_per_batch = max(1, 5000 // len(ids))
    batches = []
    for k in range(0, per_device, rounds_per_batch):
        batch = []
        for uid, fx in zip(ids, fixes, strict=True):
            batch.append(
                (
                    uid,
                    [
                        DeviceReport(
                            kind=ReportKind.POSITION,
                            unique_id=uid,
                            fix_time=f.time,
                            received=received,
                            latitude=f.latitude,
                            longitude=f.longitude,
                            valid=True,
                            satellites=9,
                            speed_mps=f.speed_mps,
                            course_deg=f.course_deg,
                            altitude_m=f.altitude_m,
                            extras={"mcc": 460, "mnc": 0, "lac": 10365, "cell_id": 8049},
                        )
                        for f in fx[k : k + rounds_per_batch]
                    ],
                )
            )
        batches.append(batch)
    return batches


def stage_pipeline(
    url: str, batches: list[list[tuple[str, list[Any]]]]
) -> tuple[float, int, int, int]:
    from openatd.domain.clock import SystemClock
    from openatd.ingest.pipeline import PositionPipeline
    from openatd.settings import get_settings
    from openatd.storage.db import Database

    settings = get_settings(database_url=url, env="development")
    db = Database(url)
    pipeline = PositionPipeline(db, settings, SystemClock())
    pipeline.build_engines()
    try:  # as `openatd serve` does (openatd.runtime; absent before 428ad77)
        from openatd.runtime import freeze_startup_heap, tune_collector

        tune_collector()
        freeze_startup_heap()
    except ImportError:
        pass
    stored = dropped = alerts = n = 0
    cpu0 = time.process_time()
    for batch in batches:
        r = pipeline.process(batch)
        stored += r.stored
        dropped += r.dropped
        alerts += len(r.alerts)
        n += sum(len(x) for _, x in batch)
    cpu = time.process_time() - cpu0
    db.dispose()
    return cpu / n * 1e6, stored, dropped, alerts


def fresh_pg(base: str, name: str) -> str:
    import psycopg

    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def setup_pg(url: str, ids: list[str], zones: dict[int, tuple[float, float]] | None) -> str:
    """The bench's fleet in a fresh PostgreSQL database (same rows as ``setup_db``)."""
    import ingest

    from openatd.storage.db import Database

    real = Database.__init__

    pg = url.replace("postgresql://", "postgresql+psycopg://", 1)

    def init(self: Any, _url: str, *a: Any, **k: Any) -> None:
        real(self, pg, *a, **k)

    Database.__init__ = init  # type: ignore[method-assign]
    try:
        ingest.setup_db(Path("/nonexistent"), ids, zones)
    finally:
        Database.__init__ = real  # type: ignore[method-assign]
    with Database(pg).uow() as uow:
        from sqlalchemy import text

        for table in ("participants", "devices", "zones"):
            uow.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    return pg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--per-device", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=2, help="frames per device per read")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--zone-every", type=int, default=0)
    ap.add_argument("--stages", default="servers,pipeline")
    ap.add_argument("--pg", default=None, help="run the pipeline stage on PostgreSQL instead")
    a = ap.parse_args()
    import openatd

    print(f"openatd from {Path(openatd.__file__).parent}; load {os.getloadavg()}")
    ids, frames, fixes = fleet_frames(a.devices, a.per_device)
    n = a.devices * a.per_device
    if "servers" in a.stages:
        runs = [stage_servers(frames, a.chunk) for _ in range(a.repeat)]
        print(
            f"servers  {statistics.median(runs):6.1f} µs/position CPU "
            f"(min {min(runs):.1f}, max {max(runs):.1f}; {n} positions x {a.repeat})"
        )
    if "pipeline" in a.stages:
        zones = None
        if a.zone_every:
            zones = {
                i: (fx[len(fx) // 2].latitude, fx[len(fx) // 2].longitude)
                for i, fx in enumerate(fixes)
                if i % a.zone_every == 0
            }
            zones = {i + 1: v for i, v in zones.items()}
        runs, outcome = [], None
        for r in range(a.repeat):
            batches = reports_of(ids, fixes)
            with tempfile.TemporaryDirectory(prefix="openatd-hot-") as tmp:
                if a.pg:
                    url = setup_pg(fresh_pg(a.pg, "openatd_hotpath"), ids, zones)
                else:
                    url = setup_db(Path(tmp) / f"hot{r}.db", ids, zones)
                us, stored, dropped, alerts = stage_pipeline(url, batches)
            runs.append(us)
            outcome = (stored, dropped, alerts)
        where = "PostgreSQL" if a.pg else "SQLite"
        print(
            f"pipeline {statistics.median(runs):6.1f} µs/position CPU on {where} "
            f"(min {min(runs):.1f}, max {max(runs):.1f}; stored/dropped/alerts {outcome})"
        )


if __name__ == "__main__":
    main()
