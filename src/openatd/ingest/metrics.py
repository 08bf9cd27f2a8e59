"""Prometheus metrics of the tracker ingest servers.

Every metric is created on a :class:`~prometheus_client.CollectorRegistry` handed
in by the caller (``openatd serve`` passes the registry its ``/metrics`` page
exposes; tests pass a fresh one), never on the process-global registry, so two
servers in one process (tests) do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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

    def value(self, name: str, protocol: str) -> float:
        """Current value of sample *name* (e.g. ``"openatd_ingest_decode_errors_total"``).

        Returns 0.0 when the sample has not been created yet.
        """
        v = self.registry.get_sample_value(name, {"protocol": protocol})
        return 0.0 if v is None else float(v)
