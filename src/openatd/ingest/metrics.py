"""Prometheus metrics of the tracker ingest servers.

Every metric is created on a :class:`~prometheus_client.CollectorRegistry` handed
in by the caller (``openatd serve`` passes the registry its ``/metrics`` page
exposes; tests pass a fresh one), never on the process-global registry, so two
servers in one process (tests) do not collide.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily, Metric

SECONDS_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
)  # fmt: skip
"""Bucket bounds (seconds) of the timing histograms: 100 µs to an hour."""


class BulkHistogram:
    """A Prometheus histogram, optionally labelled, that takes many observations cheaply.

    ``prometheus_client``'s ``Histogram.observe`` costs a few µs (a lock per call); this one
    costs a bisection and two additions, and :meth:`observe_many` takes a whole batch (the
    lag of each of 5,000 reports) at once. Exposed like any histogram: ``NAME_bucket{le=...}``,
    ``NAME_count``, ``NAME_sum``.

    Args:
        name: the metric name, units in it (``openatd_pipeline_lag_seconds``).
        documentation: the help text.
        buckets: increasing upper bounds; ``+Inf`` is added.
        labelnames: label names; :meth:`labels` picks a child by their values.
        registry: where it is registered.

    Raises:
        ValueError: *buckets* empty or not increasing.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
        labelnames: Sequence[str] = (),
    ) -> None:
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"{name}: buckets must be increasing, got {list(buckets)}")
        self.name = name
        self.documentation = documentation
        self.bounds = bounds
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], _BulkChild] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str) -> _BulkChild:
        """The child of these label values (created on first use).

        Raises:
            ValueError: not one value per label name.
        """
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        child = self._children.get(values)
        if child is None:
            with self._lock:
                child = self._children.setdefault(values, _BulkChild(self.bounds))
        return child

    def observe(self, value: float) -> None:
        """One observation (unlabelled histograms only)."""
        self.labels().observe(value)

    def observe_many(self, values: Iterable[float]) -> None:
        """Many observations at once (unlabelled histograms only)."""
        self.labels().observe_many(values)

    def describe(self) -> list[Metric]:
        """What :meth:`collect` yields, without samples (for the registry's name check)."""
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        """The histogram's samples, cumulative per bucket as Prometheus wants them."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in list(self._children.items()):
            counts, total = child.snapshot()
            cumulative: list[tuple[str, float]] = []
            running = 0
            for bound, n in zip([*self.bounds, math.inf], counts, strict=True):
                running += n
                cumulative.append((_le(bound), float(running)))
            family.add_metric(list(values), cumulative, total)
        yield family


class _BulkChild:
    """One label combination of a :class:`BulkHistogram`: per-bucket counts and the sum."""

    def __init__(self, bounds: list[float]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Count *value* in its bucket (the first bound >= value)."""
        i = bisect.bisect_left(self._bounds, value)
        with self._lock:
            self._counts[i] += 1
            self._sum += value

    def observe_many(self, values: Iterable[float]) -> None:
        """Count every value, taking the lock once."""
        bounds = self._bounds
        counts = [0] * len(self._counts)
        total = 0.0
        for v in values:
            counts[bisect.bisect_left(bounds, v)] += 1
            total += v
        with self._lock:
            for i, n in enumerate(counts):
                if n:
                    self._counts[i] += n
            self._sum += total

    def snapshot(self) -> tuple[list[int], float]:
        """(count per bucket, not cumulative; sum of the values)."""
        with self._lock:
            return list(self._counts), self._sum


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it (``0.25``, ``1.0``, ``+Inf``)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class IngestMetrics:
    """Counters and gauges labelled by ``protocol`` (e.g. ``"gt06"``).

    Attributes:
        connections: open TCP connections (UDP peers are not connections).
        connections_total: TCP connections accepted since start.
        frames: frames decoded without error.
        decode_errors: frames that broke their protocol (``ProtocolDecodeError``).
        reports: device reports handed to the sink and durably stored.
        unknown_device_frames: frames from devices the sink does not know (not stored, not ACKed).
        unidentified_frames: frames decoded before the device said who it is (not stored).
        submit_failures: sink submissions that raised (nothing ACKed).
        idle_closed: TCP connections closed by the idle timeout.
        partial_frames: frames delivered without a field that could not be trusted (an
            impossible date): their sound parts arrive as a status report, no position.
        closed_early: TCP connections closed by a protection, labelled ``reason``:
            ``unidentified_bytes`` / ``unidentified_timeout`` (no registered device
            identified in time), ``buffer_bound`` (unframed bytes past the session bound).
        decode_seconds: seconds to frame and decode one read of a TCP connection or one UDP
            datagram (histogram; the decode stage of the pipeline).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        label = ["protocol"]
        self.connections = Gauge(
            "openatd_ingest_connections",
            "Open tracker TCP connections.",
            label,
            registry=registry,
        )
        self.connections_total = Counter(
            "openatd_ingest_connections_accepted",
            "Tracker TCP connections accepted.",
            label,
            registry=registry,
        )
        self.frames = Counter(
            "openatd_ingest_frames",
            "Tracker frames decoded without error.",
            label,
            registry=registry,
        )
        self.decode_errors = Counter(
            "openatd_ingest_decode_errors",
            "Tracker frames that broke their protocol.",
            label,
            registry=registry,
        )
        self.reports = Counter(
            "openatd_ingest_reports_stored",
            "Device reports durably stored through the sink.",
            label,
            registry=registry,
        )
        self.unknown_device_frames = Counter(
            "openatd_ingest_unknown_device_frames",
            "Frames from unregistered devices (logged, not stored, not acknowledged).",
            label,
            registry=registry,
        )
        self.unidentified_frames = Counter(
            "openatd_ingest_unidentified_frames",
            "Frames received before the device identified itself (not stored).",
            label,
            registry=registry,
        )
        self.submit_failures = Counter(
            "openatd_ingest_submit_failures",
            "Sink submissions that failed; the device was not acknowledged.",
            label,
            registry=registry,
        )
        self.idle_closed = Counter(
            "openatd_ingest_idle_closed",
            "Connections closed after the idle timeout.",
            label,
            registry=registry,
        )

        self.partial_frames = Counter(
            "openatd_ingest_partial_frames",
            "Frames whose untrustworthy fields were dropped and the rest delivered.",
            label,
            registry=registry,
        )
        self.closed_early = Counter(
            "openatd_ingest_closed_early",
            "Tracker connections closed by a protection (see the reason label).",
            ["protocol", "reason"],
            registry=registry,
        )
        self.decode_seconds = BulkHistogram(
            "openatd_ingest_decode_seconds",
            "Time to frame and decode what one read from a tracker connection brought.",
            SECONDS_BUCKETS,
            registry,
            label,
        )

    def value(self, name: str, protocol: str) -> float:
        """Current value of sample *name* (e.g. ``"openatd_ingest_decode_errors_total"``).

        Returns 0.0 when the sample has not been created yet.
        """
        v = self.registry.get_sample_value(name, {"protocol": protocol})
        return 0.0 if v is None else float(v)
