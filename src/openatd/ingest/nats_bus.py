"""The position bus over NATS JetStream: ingest and pipeline on different machines (issue 11).

Imported only when ``OPENATD_BUS_URL`` is set (``nats-py`` is not needed otherwise). The
same port as the local bus (:mod:`openatd.ingest.bus`): :class:`NatsBusClient` is the
:class:`~openatd.ingest.sink.ReportSink` of an ingest process; :class:`NatsBusConsumer`
feeds the pipeline process's :class:`~openatd.ingest.pipeline.PositionPipeline`.

Subjects and stream:

* a submission (one device's reports of one frame) is published to
  ``<prefix>.positions.<partition>``, partition = ``crc32(unique id) mod
  OPENATD_BUS_PARTITIONS`` (:func:`partition_of`; stable across processes and machines,
  unlike ``hash()``), on the stream ``OPENATD_BUS_STREAM`` (file storage, work-queue
  retention: a message is removed once the pipeline acks it; ``OPENATD_BUS_REPLICAS``
  replicas), which either side creates if it is missing;
* ``<prefix>.known`` is a plain NATS request/reply served by the pipeline process: "is
  this unique id a registered device?" (``b"1"`` / ``b"0"``).

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
consumes at a time: at start, and after a reconnection to NATS, it recreates its
consumers, so whatever a killed predecessor (or a lost connection) had fetched without
acking is delivered again first, in stream order, instead of after ``ack_wait``.

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
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from openatd.domain.messages import Alarm, DeviceReport, ReportKind
from openatd.errors import ConfigurationError, InvalidInput, NotFound, OpenATDError
from openatd.ingest.pipeline import PositionPipeline
from openatd.tasks import stop_tasks

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_FIELDS = frozenset(f.name for f in fields(DeviceReport))


def partition_of(unique_id: str, partitions: int) -> int:
    """The bus partition of a device: ``crc32(unique_id as UTF-8) mod partitions``.

    Stable across processes, machines and Python versions.

    >>> partition_of("123456789012345", 16)
    2
    """
    return zlib.crc32(unique_id.encode()) % partitions


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
    """

    url: str
    stream: str = "OPENATD_POSITIONS"
    subject_prefix: str = "openatd"
    partitions: int = 16
    replicas: int = 1
    consumer: str = "openatd-pipeline"
    ack_wait_s: float = 30.0
    fetch_max: int = 256

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
        )

    def subject(self, partition: int) -> str:
        """The subject of *partition*."""
        return f"{self.subject_prefix}.positions.{partition}"

    @property
    def known_subject(self) -> str:
        """The request subject of "is this device registered?"."""
        return f"{self.subject_prefix}.known"


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
        nc = await connect(self.config, "openatd-ingest")
        js = nc.jetstream(timeout=self.publish_timeout_s)
        try:
            await ensure_stream(js, self.config)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js

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


# -- pipeline side -------------------------------------------------------------------------


class NatsBusConsumer:
    """The pipeline process's end: answers ``known`` and consumes every partition in order.

    Args:
        pipeline: the started :class:`PositionPipeline` (commits, then we ack).
        config: the bus.
        retry_s: pause between attempts to commit a batch that failed.
    """

    def __init__(
        self, pipeline: PositionPipeline, config: NatsBusConfig, *, retry_s: float = 1.0
    ) -> None:
        self.pipeline = pipeline
        self.config = config
        self.retry_s = retry_s
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._generation = 0
        """Bumped at each reconnection: a partition loop then recreates its consumer."""
        self.committed = 0
        """Messages committed and acked since start (for tests and logs)."""
        self.caught_up = asyncio.Event()
        """Set once every partition has been read to (within one fetch of) its end."""
        self._behind: set[int] = set()

    async def start(self) -> None:
        """Connect, create the stream if missing, take every partition over, serve ``known``.

        Raises:
            ConfigurationError: NATS unreachable or without JetStream.
        """
        nc = await connect(self.config, "openatd-pipeline")
        js = nc.jetstream(timeout=10.0)
        try:
            await ensure_stream(js, self.config)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js
        # reconnected_cb is set at connect time; watch the client's reconnect counter instead.
        await nc.subscribe(self.config.known_subject, queue="openatd-pipeline", cb=self._known)
        self._behind = set(range(self.config.partitions))
        for p in range(self.config.partitions):
            await self._take_over(p)
        for p in range(self.config.partitions):
            self._tasks.append(asyncio.create_task(self._consume(p), name=f"openatd-bus-{p}"))
        log.info(
            "consuming %d partitions of stream %s at %s",
            self.config.partitions,
            self.config.stream,
            self.config.url,
        )

    async def stop(self) -> None:
        """Stop consuming (what is fetched and not committed is redelivered later)."""
        await stop_tasks(self._tasks, what="partition consumer")
        self._tasks.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 5.0)
            self._nc = self._js = None

    async def pending(self) -> int:
        """Messages in the stream not yet acked (all partitions); 0 when caught up."""
        assert self._js is not None
        info = await self._js.stream_info(self.config.stream)
        return int(info.state.messages)

    async def _known(self, msg: Msg) -> None:
        try:
            known = await self.pipeline.is_known(msg.data.decode())
        except Exception:
            log.exception("known request failed")
            return  # no reply: the ingest side times out and does not ACK
        with contextlib.suppress(Exception):
            await msg.respond(b"1" if known else b"0")

    def _durable(self, partition: int) -> str:
        return f"{self.config.consumer}-{partition}"

    async def _take_over(self, partition: int) -> Any:
        """(Re)create the partition's durable consumer, so un-acked messages come first."""
        assert self._js is not None
        js = self._js
        durable = self._durable(partition)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(self.config.stream, durable)
        return await js.pull_subscribe(
            self.config.subject(partition),
            durable=durable,
            stream=self.config.stream,
            config=ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.config.ack_wait_s,
                max_ack_pending=self.config.fetch_max,
                filter_subject=self.config.subject(partition),
            ),
        )

    async def _consume(self, partition: int) -> None:
        sub: Any = None
        seen_reconnects = -1
        while True:
            assert self._nc is not None
            try:
                reconnects = self._nc.stats["reconnects"]
                if sub is None or reconnects != seen_reconnects:
                    if sub is not None:
                        with contextlib.suppress(Exception):
                            await sub.unsubscribe()
                    sub = await self._take_over(partition)
                    seen_reconnects = reconnects
                msgs = await sub.fetch(self.config.fetch_max, timeout=1.0)
            except TimeoutError:  # nothing to fetch (nats-py raises its own or asyncio's)
                self._reached_end(partition)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("partition %d: fetch failed: %r", partition, exc)
                sub = None
                await asyncio.sleep(0.5)
                continue
            await self._handle(partition, msgs)
            if msgs and msgs[-1].metadata.num_pending < self.config.fetch_max:
                self._reached_end(partition)

    def _reached_end(self, partition: int) -> None:
        if partition in self._behind:
            self._behind.discard(partition)
            if not self._behind:
                self.caught_up.set()
                log.info("caught up with the backlog of stream %s", self.config.stream)

    async def _handle(self, partition: int, msgs: list[Msg]) -> None:
        items: list[tuple[str, Sequence[DeviceReport]]] = []
        good: list[Msg] = []
        for msg in msgs:
            try:
                unique_id, _protocol, reports = decode_submission(msg.data)
            except InvalidInput as exc:
                log.error("partition %d: message dropped: %s", partition, exc)
                with contextlib.suppress(Exception):
                    await msg.term()
                continue
            items.append((unique_id, reports))
            good.append(msg)
        attempt = 0
        while True:
            try:
                await self.pipeline.submit_many(items)
                break
            except (OpenATDError, NotFound) as exc:
                attempt += 1
                log.error(
                    "partition %d: commit of %d messages failed (attempt %d), retrying: %s",
                    partition,
                    len(items),
                    attempt,
                    exc,
                )
                for msg in good:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()
                await asyncio.sleep(min(self.retry_s * attempt, 10.0))
        for msg in good:
            with contextlib.suppress(Exception):
                await msg.ack()
        self.committed += len(good)
