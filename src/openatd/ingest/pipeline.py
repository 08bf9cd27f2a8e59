"""The one ordered position pipeline: filter → store → rules → alerts.

Every source of device messages (OsmAnd HTTP intake, tracker TCP/UDP servers,
replays) hands reports to :class:`PositionPipeline` (a
:class:`~openatd.ingest.sink.ReportSink`). One writer task takes submissions
in arrival order, batches them (up to ``batch_max`` reports or
``batch_wait_s``), and in one database transaction per batch:

1. runs each device's reports, in order, through that device's
   :class:`~openatd.rules.engine.DeviceRulesEngine` (position filter, then the
   zone, tamper, battery and fix rules) — rule state is keyed by device;
2. bulk-inserts the accepted positions (a re-sent fix is stored once), the
   device alarms as events and the raised alerts;
3. commits, and only then resolves each submitter's future, so a device is
   ACKed only after its data is durable.

A clock tick (every ``tick_interval_s``) goes through the same writer, so the
offline / no-fix rules never race the message rules.

With several pipeline workers on the NATS bus (``--bus-worker K/N``), a pipeline has a
:class:`~openatd.ingest.ownership.WorkerShare`: it builds rule engines and runs the clock
rules only for the devices it owns (so no clock alert is raised by two workers), and a
report handed to :meth:`PositionPipeline.submit` for a device another worker owns (the
OsmAnd intake of this process) goes to the bus (``forward``), to be committed by its owner.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from openatd.domain.clock import Clock
from openatd.domain.messages import DeviceReport, ReportKind
from openatd.errors import NotFound, OpenATDError
from openatd.ingest.ownership import WorkerShare
from openatd.ingest.pipeline_metrics import PipelineMetrics
from openatd.ingest.sink import ReportSink
from openatd.participants.lifecycle import collection_refusal
from openatd.participants.zones import to_domain
from openatd.rules.alerts import RaisedAlert
from openatd.rules.engine import DeviceRulesEngine, processing_order
from openatd.rules.policy import Policy
from openatd.rules.state import restore, snapshot_json
from openatd.settings import Settings
from openatd.storage import tables as t
from openatd.storage.db import Database
from openatd.storage.position_rows import PositionRow, attributes_json
from openatd.storage.repositories import UnitOfWork
from openatd.storage.rule_states import load_rule_states, save_rule_states
from openatd.tasks import stop_tasks

log = logging.getLogger(__name__)

DEGRADED = "monitoring_degraded"
"""Incident kind opened when storing fails (case B29)."""
MISSING_DATA_ALERTS = frozenset({"device_offline", "no_gps_fix"})
"""Alerts derived from missing data: never raised for a window of degraded monitoring."""


@dataclass
class _DeviceEntry:
    device_id: int
    participant_id: int | None
    engine: DeviceRulesEngine | None = None
    zone_ids: dict[str, int] = field(default_factory=dict)
    """Zone label used by the rules (its name, unique per participant) → zone row id."""
    refusal: str | None = None
    """Why this device's reports are not collected (``participants.lifecycle``), or None."""


@dataclass
class _Submission:
    unique_id: str
    reports: Sequence[DeviceReport]
    future: asyncio.Future[None] | None
    tick_at: datetime | None = None


@dataclass
class BatchResult:
    """What one batch did (for tests and benchmarks)."""

    stored: int = 0
    dropped: int = 0
    refused: int = 0
    """Reports refused by the least-surveillance rule (never stored, not evaluated)."""
    alerts: list[tuple[int, RaisedAlert]] = field(default_factory=list)


class PositionPipeline:
    """The position pipeline of one process; see the module docstring.

    Args:
        db: the database.
        settings: policy defaults and the tick interval.
        clock: "now" for ticks and server times.
        batch_max: most reports per transaction.
        batch_wait_s: how long the writer waits to fill a batch.
        metrics: the counters (default: a fresh registry).
        share: which devices this pipeline owns (default 0/1: every device).

    Attributes:
        forward: where :meth:`submit` sends the reports of a device this pipeline does not
            own (the bus client, set by the NATS consumer when there are several workers);
            ``None``: every device is processed here.
        announce: called with a participant id (``None``: the device directory) after
            :meth:`invalidate`, to tell the other workers (set by the NATS consumer).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        batch_max: int = 5000,
        batch_wait_s: float = 0.002,
        metrics: PipelineMetrics | None = None,
        share: WorkerShare | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.metrics = metrics or PipelineMetrics()
        self.share = share or WorkerShare()
        self.forward: ReportSink | None = None
        self.announce: Callable[[int | None], None] | None = None
        self._devices: dict[str, _DeviceEntry] = {}
        self._by_device_id: dict[int, _DeviceEntry] = {}  # the same entries, by device id
        self._dirty: set[int | None] = set()
        self._dirty_all = False
        self._lock = threading.Lock()
        self._queue: asyncio.Queue[_Submission] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._degraded_since: datetime | None = None
        self.metrics.queued.set_function(self._queue_size)

    def _queue_size(self) -> float:
        queue = self._queue
        return float(queue.qsize()) if queue is not None else 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, ticks: bool = True) -> None:
        """Start the writer (and the tick task); idempotent."""
        if self._tasks:
            return
        self._queue = asyncio.Queue()
        built = await asyncio.to_thread(self.build_engines)
        log.info("rule engines ready for %d devices", built)
        self._tasks.append(asyncio.create_task(self._writer(), name="openatd-writer"))
        if ticks:
            self._tasks.append(asyncio.create_task(self._ticker(), name="openatd-ticker"))

    def start_ticks(self) -> None:
        """Start the tick task if :meth:`start` was called with ``ticks=False`` (a bus
        consumer does once it has caught up, so that a backlog of positions waiting in
        the broker does not look like devices gone offline); idempotent."""
        if self._queue is None:
            raise OpenATDError("pipeline not started")
        if not any(t.get_name() == "openatd-ticker" for t in self._tasks):
            self._tasks.append(asyncio.create_task(self._ticker(), name="openatd-ticker"))

    async def stop(self) -> None:
        """Finish queued work, then stop the tasks."""
        if self._queue is not None and self._tasks:
            await self._queue.join()
        await stop_tasks(self._tasks, what="pipeline task")
        self._tasks.clear()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return bool(self._tasks)

    def writer_problem(self) -> str | None:
        """Why the writer is not taking submissions (it ended: a bug), or None when it runs
        or the pipeline is not started. For the health check."""
        if not self._tasks:
            return None
        writer = self._tasks[0]
        if not writer.done():
            return None
        if writer.cancelled():
            return "the pipeline writer was cancelled"
        exc = writer.exception()
        return f"the pipeline writer stopped: {type(exc).__name__}" if exc else "writer ended"

    # -- ReportSink --------------------------------------------------------------------------

    async def is_known(self, unique_id: str) -> bool:
        """True when *unique_id* is a registered device (directory reloaded on a miss)."""
        if unique_id in self._devices:
            return True
        await asyncio.to_thread(self._lookup, unique_id)
        return unique_id in self._devices

    async def submit(self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]) -> None:
        """Queue *reports* and wait until they are stored (see :class:`ReportSink`); a
        device another worker owns: publish them to the bus (``forward``) and return once
        the bus holds them.

        Raises:
            NotFound: unknown device (nothing stored).
            OpenATDError: the batch could not be stored (or the bus did not take them).
        """
        if not await self.is_known(unique_id):
            self.metrics.unknown.inc(len(reports))
            raise NotFound(f"unknown device {unique_id!r}")
        if self.forward is not None and not self.share.owns(unique_id):
            await self.forward.submit(unique_id, protocol, reports)
            return
        if self._queue is None:
            raise OpenATDError("pipeline not started")
        fut = self.submit_nowait(unique_id, protocol, reports)
        assert fut is not None  # known, owned, started: queued
        await fut

    def submit_nowait(
        self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]
    ) -> asyncio.Future[None] | None:
        """:meth:`submit` without a coroutine: queue *reports* of a device in the directory
        that this worker owns, and return the future that is done once they are stored
        (its exception: :class:`OpenATDError` when storing failed).

        For the local bus server, which hands over thousands of submissions a second: a
        task each was a tenth of the pipeline process's CPU (issue 11, py-spy). Returns
        ``None``, queueing nothing, when that cannot be decided at once (the pipeline is
        not started, the device must be looked up, or another worker owns it): call
        :meth:`submit` then. Must be called on the pipeline's event loop.
        """
        if self._queue is None or unique_id not in self._devices:
            return None
        if self.forward is not None and not self.share.owns(unique_id):
            return None
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Submission(unique_id, reports, fut))
        return fut

    async def submit_many(self, items: Sequence[tuple[str, Sequence[DeviceReport]]]) -> int:
        """Queue several devices' submissions in this order and wait until all are stored.

        What a bus consumer calls with one fetched batch: unlike concurrent :meth:`submit`
        calls, the order of *items* is the order in which the writer sees them (per-device
        order holds). Items of unknown devices are counted and skipped (nothing to store).
        Returns the number of items queued.

        Raises:
            OpenATDError: the pipeline is not started, or a batch holding some of the
                items could not be stored (some others may have been: a retry is
                absorbed by idempotent storage and the rules' message fingerprints).
        """
        if self._queue is None:
            raise OpenATDError("pipeline not started")
        for unique_id in {uid for uid, _ in items if uid not in self._devices}:
            await asyncio.to_thread(self._lookup, unique_id)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for unique_id, reports in items:
            if unique_id not in self._devices:
                self.metrics.unknown.inc(len(reports))
                continue
            fut: asyncio.Future[None] = loop.create_future()
            self._queue.put_nowait(_Submission(unique_id, reports, fut))
            futures.append(fut)
        errors = [
            r for r in await asyncio.gather(*futures, return_exceptions=True) if r is not None
        ]
        if errors:
            raise OpenATDError(f"storing failed: {errors[0]}")
        return len(futures)

    def invalidate(self, participant_id: int | None, *, announce: bool = True) -> None:
        """Rebuild the rule engines of *participant_id* (zones/policy changed) on next use;
        ``None`` reloads the device directory (a device was added). *announce*: tell the
        other workers too (``announce``); false when the news came from one of them.
        Safe to call from any thread."""
        with self._lock:
            if participant_id is None:
                self._dirty_all = True
            self._dirty.add(participant_id)
        if announce and self.announce is not None:
            self.announce(participant_id)

    # -- synchronous core (one writer at a time) ---------------------------------------------

    def process(self, items: Sequence[tuple[str, Sequence[DeviceReport]]]) -> BatchResult:
        """Run submissions through filter → store → rules → alerts in one transaction.

        Reports without ``received`` are stamped with the clock's now. Raises
        whatever storage raises (nothing is stored then).
        """
        self._apply_invalidations()
        now = self.clock.now()
        received: list[datetime] = []
        try:
            result = self._process(items, now, received)
        except Exception as exc:
            # Nothing was stored: forget the rule state these reports built, so that the
            # device's retry is evaluated afresh instead of being dropped as duplicates.
            for unique_id, _ in items:
                entry = self._devices.get(unique_id)
                if entry is not None:
                    entry.engine = None
            self._enter_degraded(now, exc)
            raise
        self._leave_degraded(now)
        m = self.metrics
        m.stored.inc(result.stored)
        m.batch_reports.observe(sum(len(reports) for _, reports in items))
        committed = self.clock.now()
        m.lag.observe_many(max(0.0, (committed - r).total_seconds()) for r in received)
        return result

    def _process(
        self,
        items: Sequence[tuple[str, Sequence[DeviceReport]]],
        now: datetime,
        received_out: list[datetime],
    ) -> BatchResult:
        result = BatchResult()
        position_rows: list[PositionRow] = []
        event_rows: list[dict[str, Any]] = []
        last_seen: dict[int, datetime] = {}
        touched: dict[int, DeviceRulesEngine] = {}
        kinds: collections.Counter[str] = collections.Counter()
        drops: collections.Counter[str] = collections.Counter()
        started = time.perf_counter()
        with self.db.uow() as uow:
            for unique_id, reports in items:
                entry = self._devices.get(unique_id)
                if entry is None:
                    self.metrics.unknown.inc(len(reports))
                    continue
                engine = self._engine(uow, entry)
                if entry.refusal is not None:  # least surveillance: refused, counted, not stored
                    result.refused += len(reports)
                    self.metrics.refused.labels(entry.refusal).inc(len(reports))
                    continue
                touched[entry.device_id] = engine
                for report in _ordered(reports, now):
                    kinds[report.kind.value] += 1
                    received = report.received or now
                    received_out.append(received)
                    last_seen[entry.device_id] = received
                    if report.kind is ReportKind.LOGIN:
                        if report.alarms:
                            event_rows.append(_alarm_event(entry, report, received))
                        continue
                    outcome = engine.on_report(report)
                    if report.alarms and not outcome.repeat:  # a re-send is recorded once
                        event_rows.append(_alarm_event(entry, report, received))
                    if outcome.position_accepted:
                        position_rows.append(_position_row(entry, report, received))
                    elif report.has_fix and outcome.drop_reason is not None:
                        result.dropped += 1
                        drops[str(outcome.drop_reason)] += 1
                    for alert in outcome.alerts:
                        result.alerts.append((entry.device_id, alert))
            ruled = time.perf_counter()
            result.stored = uow.positions.insert_rows(position_rows)
            uow.events.insert_many(event_rows)
            uow.devices.touch_many(last_seen)
            self._store_alerts(uow, result.alerts, now)
            save_rule_states(uow.session, {d: snapshot_json(e) for d, e in touched.items()}, now)
            stored = time.perf_counter()
        committed = time.perf_counter()
        stages = self.metrics.stage_seconds
        stages.labels("rules").observe(ruled - started)
        stages.labels("storage").observe(stored - ruled)
        stages.labels("commit").observe(committed - stored)
        for kind, n in kinds.items():  # counted once per batch, not once per report
            self.metrics.reports.labels(kind).inc(n)
        for reason, n in drops.items():
            self.metrics.dropped.labels(reason).inc(n)
        return result

    def tick(self, now: datetime | None = None) -> BatchResult:
        """Run the clock rules (offline, no fix) for every device this pipeline owns (its
        ``share``); store what they raise."""
        self._apply_invalidations()
        now = now or self.clock.now()
        result = BatchResult()
        changed: dict[int, DeviceRulesEngine] = {}
        owns = self.share.owns
        with self.db.uow() as uow:
            for unique_id, entry in list(self._devices.items()):
                if not owns(unique_id):
                    continue
                engine = entry.engine
                if engine is None and entry.participant_id is not None:
                    # Dropped by a rule change (invalidate): rebuilt from the saved state, so
                    # a device that never sends again still goes offline on time.
                    try:
                        engine = self._engine(uow, entry)
                    except NotFound as exc:
                        log.warning("device %d: no rule engine for ticks: %s", entry.device_id, exc)
                        continue
                if engine is None or entry.refusal is not None:
                    continue
                for alert in engine.on_tick(now):
                    result.alerts.append((entry.device_id, alert))
                    changed[entry.device_id] = engine
            self._store_alerts(uow, result.alerts, now)
            save_rule_states(uow.session, {d: snapshot_json(e) for d, e in changed.items()}, now)
        return result

    # -- internals ---------------------------------------------------------------------------

    def _lookup(self, unique_id: str) -> None:
        """Look one device up by its unique id (an indexed query) and remember it."""
        with self.db.uow() as uow:
            device = uow.devices.by_unique_id(unique_id)
            found = None if device is None else (device.id, device.participant_id)
        if found is not None:
            with self._lock:
                entry = self._devices.setdefault(unique_id, _DeviceEntry(*found))
                self._by_device_id[entry.device_id] = entry

    def _load_directory(self) -> None:
        with self.db.uow() as uow:
            ids = uow.devices.all_ids()
        with self._lock:
            for unique_id, (device_id, participant_id) in ids.items():
                old = self._devices.get(unique_id)
                if old is None or old.participant_id != participant_id:
                    entry = self._devices[unique_id] = _DeviceEntry(device_id, participant_id)
                    self._by_device_id[device_id] = entry

    def _apply_invalidations(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            reload_all, self._dirty_all = self._dirty_all, False
        if reload_all or not self._devices:
            self._load_directory()
        if dirty:
            for entry in self._devices.values():
                if entry.participant_id in dirty:
                    entry.engine = None

    def _engine(self, uow: UnitOfWork, entry: _DeviceEntry) -> DeviceRulesEngine:
        if entry.engine is not None:
            return entry.engine
        saved = load_rule_states(uow.session, [entry.device_id]).get(entry.device_id)
        if entry.participant_id is None:
            return self._make_engine(entry, None, [], saved)
        p = uow.participants.get(entry.participant_id)
        return self._make_engine(entry, p, uow.zones.for_participant(p.id), saved)

    def _make_engine(
        self,
        entry: _DeviceEntry,
        participant: t.Participant | None,
        rows: Sequence[t.Zone],
        saved: dict[str, Any] | None = None,
    ) -> DeviceRulesEngine:
        policy = self._default_policy()
        tz = "UTC"
        zones = []
        entry.zone_ids = {}
        if participant is not None:
            tz = participant.timezone
            policy = replace(policy, **(participant.policy or {}))
            names = [z.name for z in rows]
            for z in rows:
                label = z.name if names.count(z.name) == 1 else f"{z.name} #{z.id}"
                entry.zone_ids[label] = z.id
                zones.append(to_domain(z, tz, label=label))
        refusal = collection_refusal(participant)
        entry.refusal = None if refusal is None else refusal.value
        engine = DeviceRulesEngine(zones, policy, tz)
        if saved is not None:
            try:
                restore(engine, saved)
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("device %d: saved rule state not restored: %s", entry.device_id, exc)
                engine = DeviceRulesEngine(zones, policy, tz)
        entry.engine = engine
        return engine

    def build_engines(self) -> int:
        """Build the rule engine of every registered device this pipeline owns (its
        ``share``) now, with one query per table, from the rule state saved with the
        device's last batch (whichever worker committed it).

        Called at start so that the first fix of each device after a (re)start is not
        delayed by building its engine (zones parsed, projections prepared). Returns the
        number of engines built.
        """
        self._load_directory()
        with self.db.uow() as uow:
            people = {p.id: p for p in uow.participants.list()}
            zones: dict[int, list[t.Zone]] = {}
            for z in uow.zones.all_active():
                zones.setdefault(z.participant_id, []).append(z)
            saved = load_rule_states(uow.session)
        built = 0
        for unique_id, entry in list(self._devices.items()):
            if entry.engine is not None or not self.share.owns(unique_id):
                continue
            pid = entry.participant_id
            person = people.get(pid) if pid is not None else None
            self._make_engine(
                entry,
                person,
                zones.get(pid, []) if pid is not None else [],
                saved.get(entry.device_id),
            )
            built += 1
        return built

    def _default_policy(self) -> Policy:
        s = self.settings
        return Policy(
            zone_dwell_s=s.zone_dwell_s,
            offline_after_s=s.offline_after_s,
            low_battery_pct=s.low_battery_pct,
            max_speed_mps=s.max_speed_mps,
            max_age_s=s.max_age_s,
            max_future_s=s.max_future_s,
        )

    def _enter_degraded(self, now: datetime, exc: BaseException) -> None:
        """Open one "monitoring degraded" incident (if the database still takes it)."""
        first = self._degraded_since is None
        if first:
            self._degraded_since = now
        log.error("monitoring degraded since %s: %s", self._degraded_since, exc)
        try:
            with self.db.uow() as uow:
                if not uow.incidents.open_of_kind(DEGRADED):
                    uow.incidents.add(
                        kind=DEGRADED,
                        started_at=self._degraded_since,
                        details={"error": str(exc)[:500]},
                    )
        except Exception:
            log.exception("could not record the incident either")

    def _leave_degraded(self, now: datetime) -> None:
        """Close the open incident after the first batch that stored again."""
        if self._degraded_since is None:
            return
        try:
            with self.db.uow() as uow:
                for incident in uow.incidents.open_of_kind(DEGRADED):
                    incident.ended_at = now
            self._degraded_since = None
            log.warning("monitoring restored at %s", now)
        except Exception:
            log.exception("could not close the incident")

    def _store_alerts(
        self, uow: UnitOfWork, alerts: list[tuple[int, RaisedAlert]], now: datetime
    ) -> None:
        rows: list[dict[str, Any]] = []
        for device_id, alert in alerts:
            entry = self._by_device_id.get(device_id)
            if entry is None or entry.participant_id is None:
                continue  # a device on nobody: nothing to alert about
            if alert.type.value in MISSING_DATA_ALERTS:
                outages = uow.incidents.overlapping(alert.at, now)
                if outages or self._degraded_since is not None:
                    # B29: no alert from missing data is raised for a window in which
                    # monitoring itself was degraded; the suppression is recorded.
                    uow.events.insert_many(
                        [
                            {
                                "device_id": device_id,
                                "participant_id": entry.participant_id,
                                "type": "alert_suppressed",
                                "time": alert.at,
                                "attributes": {
                                    "alert": alert.type.value,
                                    "incidents": [i.id for i in outages],
                                    "explanation": alert.explanation,
                                },
                            }
                        ]
                    )
                    self.metrics.suppressed.inc()
                    continue
            zone_id = entry.zone_ids.get(alert.zone) if alert.zone else None
            rows.append(
                {
                    "participant_id": entry.participant_id,
                    "device_id": device_id,
                    "type": alert.type.value,
                    "category": alert.category.value,
                    "zone_id": zone_id,
                    "zone_name": alert.zone,
                    "at": alert.at,
                    "raised_at": now,
                    "explanation": alert.explanation,
                    "details": alert.details,
                    "status": "open",
                }
            )
        uow.alerts.add_many(rows)  # one flush for the batch's alerts, not one each
        for row in rows:
            self.metrics.alerts.labels(row["type"]).inc()

    async def _writer(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            item = await queue.get()
            batch = [item]
            if item.tick_at is None:
                count = len(item.reports)
                deadline = time.monotonic() + self.batch_wait_s
                while count < self.batch_max:
                    try:
                        nxt = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        try:
                            nxt = await asyncio.wait_for(queue.get(), remaining)
                        except TimeoutError:
                            break
                    batch.append(nxt)
                    if nxt.tick_at is not None:
                        break  # a tick closes the batch; it runs after the messages before it
                    count += len(nxt.reports)
            await self._run_batch(batch)
            for _ in batch:
                queue.task_done()

    async def _run_batch(self, batch: list[_Submission]) -> None:
        ticks = [b for b in batch if b.tick_at is not None]
        subs = [b for b in batch if b.tick_at is None]
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            if subs:
                await asyncio.to_thread(self.process, [(s.unique_id, s.reports) for s in subs])
            for t in ticks:
                await asyncio.to_thread(self.tick, t.tick_at)
        except Exception as exc:  # storage failure: nobody is ACKed
            self.metrics.failures.inc()
            log.exception("batch of %d submissions failed", len(subs))
            error = exc
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        for s in subs:
            if s.future is not None and not s.future.done():
                if error is None:
                    s.future.set_result(None)
                else:
                    s.future.set_exception(OpenATDError(f"storing failed: {error}"))

    async def _ticker(self) -> None:
        assert self._queue is not None
        while True:
            await asyncio.sleep(self.settings.tick_interval_s)
            await self._queue.put(_Submission("", (), None, tick_at=self.clock.now()))


def _ordered(reports: Sequence[DeviceReport], now: datetime) -> list[DeviceReport]:
    """Stamp missing times and order by arrival, then fix time (scenario README, "Order")."""
    out = []
    for r in reports:
        if r.received is None:
            r = replace(r, received=now)
        if r.fix_time is None and r.kind is ReportKind.POSITION:
            r = replace(r, fix_time=r.received)
        out.append(r)
    return processing_order(out)


def _position_row(entry: _DeviceEntry, r: DeviceReport, received: datetime) -> PositionRow:
    """The ``positions`` row of an accepted fix (attributes serialised here, once)."""
    extras = dict(r.extras) if r.extras else {}
    if r.hdop is not None:
        extras["hdop"] = r.hdop
    if r.satellites is not None:
        extras["satellites"] = r.satellites
    if r.battery_v is not None:
        extras["battery_v"] = r.battery_v
    if r.strap is not None:
        extras["strap"] = r.strap
    assert r.fix_time is not None and r.latitude is not None and r.longitude is not None
    return (
        entry.device_id,
        entry.participant_id,
        r.fix_time,
        received,
        r.latitude,
        r.longitude,
        r.valid,
        _finite(r.accuracy_m),
        _finite(r.speed_mps),
        _finite(r.course_deg),
        _finite(r.altitude_m),
        _finite(r.battery_pct),
        attributes_json(extras),
        False,
    )


def _finite(value: float | None) -> float | None:
    """A measurement as stored: a non-finite number (a decoder's overflow) is unknown."""
    return value if value is not None and math.isfinite(value) else None


def _alarm_event(entry: _DeviceEntry, r: DeviceReport, received: datetime) -> dict[str, Any]:
    return {
        "device_id": entry.device_id,
        "participant_id": entry.participant_id,
        "type": "device_alarm",
        "time": r.fix_time or received,
        "attributes": {"alarms": sorted(a.value for a in r.alarms)},
    }
