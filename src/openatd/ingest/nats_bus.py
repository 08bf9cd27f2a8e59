"""The position bus over NATS JetStream: ingest and pipeline on different machines (issue 11).

Imported only when ``OPENATD_BUS_URL`` is set (``nats-py`` is not needed otherwise). The
same port as the local bus (:mod:`openatd.ingest.bus`): :class:`NatsBusClient` is the
:class:`~openatd.ingest.sink.ReportSink` of an ingest process;
:class:`~openatd.ingest.nats_consumer.NatsBusConsumer` (the pipeline side, its own module)
feeds the pipeline process's :class:`~openatd.ingest.pipeline.PositionPipeline`.

Subjects and stream:

* a submission (one device's reports of one frame) is published to
  ``<prefix>.positions.<partition>``, partition = ``crc32(unique id) mod
  OPENATD_BUS_PARTITIONS`` (:func:`partition_of`; stable across processes and machines,
  unlike ``hash()``), on the stream ``OPENATD_BUS_STREAM`` (file storage, work-queue
  retention: a message is removed once the pipeline acks it; ``OPENATD_BUS_REPLICAS``
  replicas), which either side creates if it is missing;
* ``<prefix>.known`` is a plain NATS request/reply served by the pipeline processes (a
  queue group: any worker answers): "is this unique id a registered device?" (``b"1"`` /
  ``b"0"``);
* ``<prefix>.invalidate`` (plain publish, every worker hears it): a participant's zones,
  devices or policy changed through one worker's API; each worker rebuilds the rule
  engines it holds for that participant from the saved rule state.

**Device ACK (the choice, decided here): when JetStream has stored the message.**
``submit`` returns once the stream's PubAck has come back; only then does the ingest
server write the device's ACK. The position is then durable *in the stream* and will be
committed by the pipeline whenever it runs: a killed (``kill -9``) or stopped pipeline
loses nothing that was ACKed, and ingest does not wait for the database. What the
stream's "stored" is worth is NATS's: with ``OPENATD_BUS_REPLICAS=3`` (a three-server
cluster) a PubAck means a quorum holds it; with one server, it means that server has it in
its file store, which survives a restart of the server (tested) but a power loss only
as far as its file system's write-back (nats-server 2.10+ can ``sync_interval: always``).
The alternative, a reply after the database commit, would make every device wait for
the pipeline across machines and was not chosen. A failed publish (NATS down,
restarting, no stream) raises: the device is not ACKed and sends again.

**Order and delivery.** One durable pull consumer per partition (``<OPENATD_BUS_CONSUMER>-<p>``,
explicit ack). Each partition's loop fetches a batch, hands it to the pipeline in stream
order (:meth:`PositionPipeline.submit_many`), waits for the commit and only then acks;
it retries a failed commit (no ack; ``in_progress`` keeps JetStream from redelivering)
before fetching more, so a device's messages are committed in the order it sent them.
Delivery is at least once: a crash between commit and ack redelivers, and the pipeline
absorbs it (positions unique by device and fix time, re-sent messages recognised by their
fingerprint in the saved rule state, so no alert is raised twice). One pipeline process
consumes a partition at a time: at start, and after a reconnection to NATS, it recreates
its partitions' consumers, so whatever a killed predecessor (or a lost connection) had
fetched without acking is delivered again first, in stream order, instead of after
``ack_wait``.

**Several pipeline workers (``--bus-worker K/N``, ``OPENATD_BUS_WORKER``).** Worker K of N
consumes exactly the partitions p with ``p % N == K`` (:class:`~.ownership.WorkerShare`)
and owns their devices: it builds their rule engines (restored from the rule state saved
with each device's last batch, whichever worker committed it), and its clock ticks
(offline, no fix) cover only them, so no alert is raised by two workers. A report for a
device another worker owns that reaches this process some other way (its OsmAnd intake) is
published to the bus, where its owner commits it. Every worker must run with the same N
and the same ``OPENATD_BUS_PARTITIONS``, and each K in 0..N-1 exactly once: two processes
with the same K take the same consumers from each other (each start recreates them) and
break per-device order. The assignment is **static, by choice**: a dead worker's
partitions are not taken over by the others; their messages wait in the stream (nothing is
lost, devices are still ACKed by ingest) until the worker is restarted (systemd
``Restart=always``, a Kubernetes Deployment/StatefulSet per K), and are then committed in
order before its clock rules start. Changing N or the partitions: stop every worker, then
start them all with the new values; each rebuilds its devices' rule state from the
database. Jobs that must run once across workers (retention, reminders and notifications,
check-in sweeps, audit checkpoints, position partitions) run on worker 0 only. Several
workers need PostgreSQL (refused on SQLite).

**Serialisation.** JSON (orjson) of the report's fields, times in ISO 8601 with offset,
alarms as sorted values, versioned (``{"v": 1, ...}``). Not pickle: a message crosses
machines through a broker, and unpickling what anyone able to publish on the subject sent
would run their code. JSON is readable with ``nats sub`` while debugging and safe to
decode; the cost is a few µs per report. Non-finite floats become ``null`` (the pipeline
stores them as unknown anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from openatd.domain.messages import Alarm, DeviceReport, ReportKind
from openatd.errors import ConfigurationError, InvalidInput, OpenATDError
from openatd.ingest.ownership import WorkerShare, partition_of

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_FIELDS = frozenset(f.name for f in fields(DeviceReport))


__all__ = [
    "NatsBusClient",
    "NatsBusConfig",
    "decode_submission",
    "encode_submission",
    "partition_of",
]


@dataclass(frozen=True, slots=True)
class NatsBusConfig:
    """Where the bus is (the ``bus_*`` settings; see :class:`~openatd.settings.Settings`).

    Attributes:
        url: NATS server URL(s), comma-separated.
        stream: JetStream stream name.
        subject_prefix: subjects are ``<prefix>.positions.<p>`` and ``<prefix>.known``.
        partitions: how many partitions (subjects, consumers).
        replicas: stream replicas when the stream is created.
        consumer: durable consumer name prefix.
        ack_wait_s: seconds before JetStream redelivers an un-acked message.
        fetch_max: most messages one partition's consumer takes per fetch.
        worker: this pipeline process is worker *worker* of *workers* (``--bus-worker``).
        workers: how many pipeline workers split the partitions.

    Raises:
        ConfigurationError: not ``0 <= worker < workers <= partitions``.
    """

    url: str
    stream: str = "OPENATD_POSITIONS"
    subject_prefix: str = "openatd"
    partitions: int = 16
    replicas: int = 1
    consumer: str = "openatd-pipeline"
    ack_wait_s: float = 30.0
    fetch_max: int = 256
    worker: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        WorkerShare(self.worker, self.workers, self.partitions)  # raises when out of range

    @classmethod
    def from_settings(cls, settings: Any) -> NatsBusConfig:
        """From a :class:`~openatd.settings.Settings` (its ``bus_*`` fields)."""
        s = settings
        return cls(
            url=str(s.bus_url),
            stream=str(s.bus_stream),
            subject_prefix=str(s.bus_subject_prefix),
            partitions=int(s.bus_partitions),
            replicas=int(s.bus_replicas),
            consumer=str(s.bus_consumer),
            ack_wait_s=float(s.bus_ack_wait_s),
            worker=s.worker_share.worker,
            workers=s.worker_share.workers,
        )

    @property
    def share(self) -> WorkerShare:
        """The partitions (and devices) this pipeline worker owns."""
        return WorkerShare(self.worker, self.workers, self.partitions)

    def subject(self, partition: int) -> str:
        """The subject of *partition*."""
        return f"{self.subject_prefix}.positions.{partition}"

    @property
    def known_subject(self) -> str:
        """The request subject of "is this device registered?"."""
        return f"{self.subject_prefix}.known"

    @property
    def invalidate_subject(self) -> str:
        """Where workers tell each other that a participant's rules changed."""
        return f"{self.subject_prefix}.invalidate"


# -- serialisation -------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, dict):
        return value
    if hasattr(value, "items"):  # a Mapping that is not a dict (extras)
        return dict(value.items())
    raise TypeError(f"not serialisable on the bus: {type(value).__name__}")


def encode_submission(unique_id: str, protocol: str, reports: Sequence[DeviceReport]) -> bytes:
    """One submission as the bytes of one bus message (JSON, see the module docstring)."""
    body = {"v": FORMAT_VERSION, "d": unique_id, "p": protocol, "r": list(reports)}
    return orjson.dumps(body, default=_default)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"naive time {value!r}")
    return t


def decode_submission(data: bytes) -> tuple[str, str, list[DeviceReport]]:
    """The ``(unique_id, protocol, reports)`` of one bus message.

    Raises:
        InvalidInput: not a message of this format (what, in one line).
    """
    try:
        body = orjson.loads(data)
        if body.get("v") != FORMAT_VERSION:
            raise ValueError(f"format version {body.get('v')!r}, expected {FORMAT_VERSION}")
        reports = []
        for item in body["r"]:
            unknown = item.keys() - _FIELDS
            if unknown:
                raise ValueError(f"unknown report fields {sorted(unknown)}")
            kw = dict(item)
            kw["kind"] = ReportKind(kw.get("kind", "position"))
            kw["fix_time"] = _time(kw.get("fix_time"))
            kw["received"] = _time(kw.get("received"))
            kw["alarms"] = frozenset(Alarm(a) for a in kw.get("alarms", ()))
            reports.append(DeviceReport(**kw))
        unique_id, protocol = body["d"], body["p"]
        if not isinstance(unique_id, str) or not isinstance(protocol, str):
            raise ValueError("device and protocol must be strings")
    except (ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(f"bus message not understood: {exc}") from None
    return unique_id, protocol, reports


# -- connection ----------------------------------------------------------------------------


async def connect(
    config: NatsBusConfig, name: str, timeout_s: float = 5.0, *, quiet: bool = False
) -> NatsClient:
    """Connect to NATS (reconnecting for ever afterwards); *quiet*: log no disconnection.

    Raises:
        ConfigurationError: no server at ``config.url`` answered within *timeout_s*.
    """

    connected = False  # until then, refused attempts end in one ConfigurationError

    async def on_error(exc: Exception) -> None:
        if connected:
            log.warning("NATS: %s", str(exc) or type(exc).__name__)

    async def on_disconnect() -> None:
        if not quiet:
            log.warning("NATS: disconnected from %s", config.url)

    async def on_reconnect() -> None:
        log.warning("NATS: reconnected")

    servers = [u.strip() for u in config.url.split(",") if u.strip()]
    try:
        nc = await asyncio.wait_for(
            nats.connect(
                servers=servers,
                name=name,
                connect_timeout=min(timeout_s, 2.0),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            ),
            timeout_s,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        why = str(exc) or f"no answer in {timeout_s:g} s"
        raise ConfigurationError(
            f"NATS at {config.url} (OPENATD_BUS_URL / --bus) is unreachable ({why}): "
            "start nats-server -js there, or unset the bus"
        ) from None
    connected = True
    return nc


async def open_stream(
    config: NatsBusConfig, name: str, timeout_s: float
) -> tuple[NatsClient, JetStreamContext]:
    """Connect as *name*, and create the stream if it is missing (:func:`ensure_stream`);
    JetStream requests wait *timeout_s* seconds. The connection is closed if the stream
    cannot be had.

    Raises:
        ConfigurationError: NATS unreachable or without JetStream.
    """
    nc = await connect(config, name)
    js = nc.jetstream(timeout=timeout_s)
    try:
        await ensure_stream(js, config)
    except BaseException:
        await nc.close()
        raise
    return nc, js


async def ensure_stream(js: JetStreamContext, config: NatsBusConfig) -> None:
    """Create the stream if it is missing (an existing one is left as it is).

    Raises:
        ConfigurationError: JetStream is not enabled on the server, or refused the stream.
    """
    subjects = [f"{config.subject_prefix}.positions.*"]
    try:
        info = await js.stream_info(config.stream)
    except nats.js.errors.NotFoundError:
        info = None
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError) as exc:
        raise ConfigurationError(
            f"NATS at {config.url} has no JetStream ({type(exc).__name__}): run nats-server -js"
        ) from None
    if info is not None:
        if info.config.num_replicas != config.replicas:
            log.warning(
                "stream %s has %s replicas, OPENATD_BUS_REPLICAS says %d: left as it is",
                config.stream,
                info.config.num_replicas,
                config.replicas,
            )
        return
    try:
        await js.add_stream(
            StreamConfig(
                name=config.stream,
                subjects=subjects,
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                num_replicas=config.replicas,
            )
        )
    except nats.js.errors.BadRequestError as exc:
        # Two processes creating it at once: the other one won.
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.stream_info(config.stream)
            return
        raise ConfigurationError(f"JetStream refused stream {config.stream}: {exc}") from None
    except nats.js.errors.APIError as exc:
        raise ConfigurationError(f"JetStream refused stream {config.stream}: {exc}") from None
    log.info("created stream %s (%s, %d replicas)", config.stream, subjects, config.replicas)


# -- ingest side ---------------------------------------------------------------------------


class NatsBusClient:
    """An ingest process's :class:`~openatd.ingest.sink.ReportSink` publishing to JetStream.

    Call :meth:`connect` first (it also creates the stream if missing). ``submit`` returns
    once the stream has stored the message (see the module docstring, "Device ACK").

    Args:
        config: the bus.
        publish_timeout_s: how long a publish waits for the stream's PubAck.
        known_timeout_s: how long "is this device registered?" waits for the pipeline.
        max_reports: most reports per message (a submission of more, e.g. a coalesced
            burst of a device's stored-up frames, goes out as several messages in order;
            500 reports are ~200 kB, under NATS's default 1 MB payload limit).
    """

    def __init__(
        self,
        config: NatsBusConfig,
        *,
        publish_timeout_s: float = 5.0,
        known_timeout_s: float = 5.0,
        max_reports: int = 500,
    ) -> None:
        self.config = config
        self.max_reports = max_reports
        self.publish_timeout_s = publish_timeout_s
        self.known_timeout_s = known_timeout_s
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None

    async def connect(self) -> None:
        """Connect and make sure the stream exists.

        Raises:
            ConfigurationError: NATS unreachable or without JetStream.
        """
        if self._nc is not None:
            return
        self._nc, self._js = await open_stream(
            self.config, "openatd-ingest", self.publish_timeout_s
        )

    async def close(self) -> None:
        """Flush and close the connection."""
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.drain(), 5.0)
            self._nc = self._js = None

    async def is_known(self, unique_id: str) -> bool:
        """Asked of the pipeline process over ``<prefix>.known``.

        Raises:
            OpenATDError: no pipeline process answered (the device is not ACKed).
        """
        if self._nc is None:
            raise OpenATDError("NATS bus not connected")
        try:
            reply = await self._nc.request(
                self.config.known_subject, unique_id.encode(), timeout=self.known_timeout_s
            )
        except (nats.errors.Error, TimeoutError) as exc:
            raise OpenATDError(
                f"no pipeline answered on {self.config.known_subject}: {type(exc).__name__}"
            ) from None
        return reply.data == b"1"

    async def submit(self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]) -> None:
        """Publish *reports* to the device's partition; return once the stream has them.

        Raises:
            OpenATDError: NATS did not store the message (unreachable, restarting, no
                stream, timeout): the caller does not ACK the device.
        """
        if self._js is None:
            raise OpenATDError("NATS bus not connected")
        subject = self.config.subject(partition_of(unique_id, self.config.partitions))
        try:
            # In order, one after the other: if a later part fails the device is not ACKed
            # and re-sends everything; the parts already stored are absorbed as re-sends.
            for start in range(0, max(len(reports), 1), self.max_reports):
                data = encode_submission(
                    unique_id, protocol, reports[start : start + self.max_reports]
                )
                await self._js.publish(
                    subject, data, timeout=self.publish_timeout_s, stream=self.config.stream
                )
        except (nats.errors.Error, TimeoutError) as exc:
            raise OpenATDError(
                f"NATS did not store the message on {subject}: {exc or type(exc).__name__}"
            ) from None
