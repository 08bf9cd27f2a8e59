"""``/metrics`` after a real batch through the position pipeline: lag, batch size and
per-stage time, with the right names and labels (issue 11, operations)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import text

from openatd.accounts import create_user
from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import DeviceReport
from openatd.errors import NotFound, OpenATDError
from openatd.ingest.bus import BusClient, LocalBusServer
from openatd.ingest.pipeline import PipelineMetrics, PositionPipeline
from openatd.participants import service
from openatd.safeguards.auth import Role, TokenClaims
from openatd.settings import get_settings
from openatd.storage.db import Database

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)


def _device(db: Database) -> None:
    with db.uow() as uow:
        user = create_user(uow, T0, "cm", "correct horse battery", "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, T0 + timedelta(hours=1))
        p = service.create_participant(
            uow, claims, T0, name="P", timezone="UTC", supervision_level="gps"
        )
        service.create_device(
            uow, claims, T0, unique_id="imei-1", protocol="gt06", participant_id=p.id
        )


def _fix(seconds: int) -> DeviceReport:
    t = T0 + timedelta(seconds=seconds)
    return DeviceReport(
        unique_id="imei-1", fix_time=t, received=t, latitude=41.8781, longitude=-87.6298
    )


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics:\n{text}")


def test_a_batch_shows_lag_batch_size_and_stage_times(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    _device(db)
    clock = SimulatedClock(T0 + timedelta(seconds=10))  # committed 10, 9 and 8 s after arrival
    pipeline = PositionPipeline(db, get_settings(env="development"), clock)
    result = pipeline.process([("imei-1", [_fix(0), _fix(1), _fix(2)])])
    assert result.stored == 3
    text = generate_latest(pipeline.metrics.registry).decode()
    db.dispose()

    assert _sample(text, "openatd_pipeline_batch_reports_count") == 1
    assert _sample(text, "openatd_pipeline_batch_reports_sum") == 3
    assert _sample(text, "openatd_pipeline_lag_seconds_count") == 3
    assert _sample(text, "openatd_pipeline_lag_seconds_sum") == 27.0
    assert _sample(text, 'openatd_pipeline_lag_seconds_bucket{le="5.0"}') == 0
    assert _sample(text, 'openatd_pipeline_lag_seconds_bucket{le="10.0"}') == 3
    assert _sample(text, 'openatd_pipeline_lag_seconds_bucket{le="+Inf"}') == 3
    assert "# TYPE openatd_pipeline_lag_seconds histogram" in text
    for stage in ("rules", "storage", "commit"):
        assert _sample(text, f'openatd_pipeline_stage_seconds_count{{stage="{stage}"}}') == 1
        assert _sample(text, f'openatd_pipeline_stage_seconds_sum{{stage="{stage}"}}') > 0
    assert _sample(text, "openatd_pipeline_queue_submissions") == 0
    assert _sample(text, "openatd_bus_backlog_submissions") == 0
    assert _sample(text, "openatd_positions_stored_total") == 3


def test_the_queue_gauge_counts_waiting_submissions(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    _device(db)
    pipeline = PositionPipeline(db, get_settings(env="development"), SimulatedClock(T0))

    async def main() -> tuple[float, float]:
        await pipeline.start(ticks=False)
        try:
            subs = [
                asyncio.ensure_future(pipeline.submit("imei-1", "gt06", [_fix(i)]))
                for i in range(50)
            ]
            await asyncio.sleep(0)  # the submissions are queued; the writer has not run
            waiting = pipeline.metrics.registry.get_sample_value(
                "openatd_pipeline_queue_submissions"
            )
            await asyncio.gather(*subs)
            after = pipeline.metrics.registry.get_sample_value("openatd_pipeline_queue_submissions")
        finally:
            await pipeline.stop()
        assert waiting is not None and after is not None
        return waiting, after

    waiting, after = asyncio.run(main())
    db.dispose()
    assert waiting > 0
    assert after == 0


class _HeldSink:
    """A sink whose submissions wait until released (the pipeline busy with a long batch)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived = 0

    async def is_known(self, unique_id: str) -> bool:
        return True

    async def submit(self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]) -> None:
        self.arrived += 1
        await self.release.wait()


def test_the_bus_backlog_counts_submissions_waiting_for_their_commit(tmp_path: Path) -> None:
    metrics = PipelineMetrics()
    sink = _HeldSink()

    def backlog() -> float:
        value = metrics.registry.get_sample_value("openatd_bus_backlog_submissions")
        assert value is not None
        return value

    async def main() -> tuple[float, float, float]:
        server = LocalBusServer(sink, str(tmp_path / "bus.sock"), metrics.bus_backlog)
        await server.start()
        client = BusClient(server.path)
        try:
            await client.ping()  # answered without the sink
            idle = backlog()
            subs = [
                asyncio.ensure_future(client.submit("imei-1", "gt06", [_fix(i)])) for i in range(7)
            ]
            for _ in range(200):
                if sink.arrived == 7:
                    break
                await asyncio.sleep(0.01)
            held = backlog()
            sink.release.set()
            await asyncio.gather(*subs)
            return idle, held, backlog()
        finally:
            await client.close()
            await server.stop()

    idle, held, after = asyncio.run(main())
    assert (idle, held, after) == (0, 7, 0)


def test_the_bus_hands_known_devices_to_the_pipeline_without_a_task_each(
    db_url: str, tmp_path: Path
) -> None:
    """The local bus server over a real pipeline: a known device's submissions are queued
    on the pipeline at once (``submit_nowait``) and answered when committed; the backlog
    gauge counts them while the writer is busy; an unknown device is refused, a failed
    batch is an error to the ingest process (no ACK), and the bus goes on after both."""
    db = Database(db_url)
    db.migrate()
    _device(db)
    pipeline = PositionPipeline(db, get_settings(env="development"), SimulatedClock(T0))
    busy = threading.Event()
    release = threading.Event()
    original = pipeline.process
    fail = {"next": False}

    def held_process(items: Any) -> Any:
        busy.set()
        release.wait(10)
        if fail["next"]:
            fail["next"] = False
            raise OpenATDError("the disk is full")
        return original(items)

    pipeline.process = held_process  # type: ignore[method-assign]

    def backlog() -> float:
        value = pipeline.metrics.registry.get_sample_value("openatd_bus_backlog_submissions")
        assert value is not None
        return value

    async def main() -> dict[str, Any]:
        await pipeline.start(ticks=False)
        server = LocalBusServer(pipeline, str(tmp_path / "bus.sock"), pipeline.metrics.bus_backlog)
        await server.start()
        client = BusClient(server.path)
        out: dict[str, Any] = {}
        try:
            await client.ping()  # the server has taken the connection
            tasks_before = len(asyncio.all_tasks())
            subs = [
                asyncio.ensure_future(client.submit("imei-1", "gt06", [_fix(i)])) for i in range(7)
            ]
            await asyncio.to_thread(busy.wait, 10)  # the writer holds the first batch
            for _ in range(200):
                if backlog() == 7:
                    break
                await asyncio.sleep(0.01)
            out["held"] = backlog()
            # the 7 client submits, the 7 hand-overs: only the client's futures are tasks
            out["extra_tasks"] = len(asyncio.all_tasks()) - tasks_before - 7
            release.set()
            await asyncio.gather(*subs)
            out["after"] = backlog()
            with pytest.raises(NotFound):
                await client.submit("imei-unknown", "gt06", [_fix(100)])
            fail["next"] = True
            with pytest.raises(OpenATDError, match="the disk is full"):
                await client.submit("imei-1", "gt06", [_fix(200)])
            await client.submit("imei-1", "gt06", [_fix(300)])  # the bus goes on
            out["end"] = backlog()
        finally:
            release.set()
            await client.close()
            await server.stop()
            await pipeline.stop()
        return out

    out = asyncio.run(main())
    with db.uow() as uow:
        stored = uow.session.execute(text("SELECT count(*) FROM positions")).scalar_one()
    db.dispose()
    assert out == {"held": 7, "extra_tasks": 0, "after": 0, "end": 0}
    assert stored == 8  # 7 + the one after the failure; the failed batch stored nothing
