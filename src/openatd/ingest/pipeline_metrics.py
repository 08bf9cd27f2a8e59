"""Prometheus metrics of the position pipeline (and of the bus feeding it).

Lives here: :class:`PipelineMetrics`, one registry per pipeline, exposed at ``/metrics``
by ``openatd serve``. The ingest servers' metrics are in :mod:`openatd.ingest.metrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from openatd.ingest.metrics import SECONDS_BUCKETS, BulkHistogram

LAG_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
)  # fmt: skip
"""Bucket bounds of ``openatd_pipeline_lag_seconds`` (seconds)."""
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
"""Bucket bounds of ``openatd_pipeline_batch_reports`` (reports)."""
STAGES = ("rules", "storage", "commit")
"""The ``stage`` label values of ``openatd_pipeline_stage_seconds``."""


class PipelineMetrics:
    """Counters of the pipeline, on their own registry (exposed at ``/metrics``).

    Besides the counters, what an operator watches for lag and load:

    - ``openatd_pipeline_lag_seconds`` (histogram): per report, seconds from its arrival
      (``received``, stamped by the intake or listener) to the commit of its batch;
    - ``openatd_pipeline_batch_reports`` (histogram): reports per batch (one transaction);
    - ``openatd_pipeline_stage_seconds{stage}`` (histogram): per batch, time in each stage:
      ``rules`` (position filter and rules, rule engines built on demand), ``storage``
      (positions, events, alerts and rule state written), ``commit``;
    - ``openatd_pipeline_queue_submissions`` (gauge): submissions waiting for the writer;
    - ``openatd_bus_backlog_submissions`` (gauge): submissions received over the local bus
      from the ingest processes (``--workers N``) and not yet answered; 0 without the bus;
    - ``openatd_bus_worker_info{worker,workers}`` (gauge, 1) and
      ``openatd_bus_partition_consumed{partition}`` (gauge, 1 per partition): with the NATS
      bus, which worker K of N this process is and which partitions it consumes.

    The decode stage is ``openatd_ingest_decode_seconds{protocol}`` (:mod:`.metrics`).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.reports = Counter("openatd_reports", "Device reports received", ["kind"], registry=r)
        self.stored = Counter("openatd_positions_stored", "Positions stored", registry=r)
        self.dropped = Counter(
            "openatd_positions_dropped", "Fixes the filter refused", ["reason"], registry=r
        )
        self.unknown = Counter(
            "openatd_unknown_device_reports", "Reports from unregistered devices", registry=r
        )
        self.alerts = Counter("openatd_alerts_raised", "Alerts raised", ["type"], registry=r)
        self.batch_seconds = Histogram(
            "openatd_batch_seconds", "Time to process one batch", registry=r
        )
        self.failures = Counter(
            "openatd_batch_failures", "Batches that failed to store", registry=r
        )
        self.refused = Counter(
            "openatd_reports_refused",
            "Reports not collected: no active device assignment, case closed, or a supervision "
            "level without location tracking (least surveillance)",
            ["reason"],
            registry=r,
        )
        self.suppressed = Counter(
            "openatd_alerts_suppressed",
            "Missing-data alerts not raised because monitoring was degraded",
            registry=r,
        )
        self.lag = BulkHistogram(
            "openatd_pipeline_lag_seconds",
            "Seconds from a report's arrival (received) to the commit of its batch",
            LAG_BUCKETS,
            r,
        )
        self.batch_reports = Histogram(
            "openatd_pipeline_batch_reports",
            "Reports per pipeline batch (one transaction)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.stage_seconds = BulkHistogram(
            "openatd_pipeline_stage_seconds",
            "Time per batch in each pipeline stage (rules, storage, commit)",
            SECONDS_BUCKETS,
            r,
            ["stage"],
        )
        self.queued = Gauge(
            "openatd_pipeline_queue_submissions",
            "Submissions waiting for the pipeline's writer",
            registry=r,
        )
        self.bus_backlog = Gauge(
            "openatd_bus_backlog_submissions",
            "Submissions from ingest processes received over the bus and not yet answered",
            registry=r,
        )
        self.bus_worker = Gauge(
            "openatd_bus_worker_info",
            "With the NATS bus: this pipeline process is worker K of N (value 1)",
            ["worker", "workers"],
            registry=r,
        )
        self.bus_partitions = Gauge(
            "openatd_bus_partition_consumed",
            "With the NATS bus: 1 for each partition this pipeline process consumes",
            ["partition"],
            registry=r,
        )
