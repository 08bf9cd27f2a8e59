"""The pipeline side of the NATS JetStream position bus: partitions consumed in order.

Lives here: :class:`NatsBusConsumer`, which takes this pipeline worker's partitions over,
commits each fetched batch through the :class:`~openatd.ingest.pipeline.PositionPipeline`
before acking it, answers ``known`` and passes rule changes between workers. The design
(subjects, delivery, order, several workers) is in :mod:`openatd.ingest.nats_bus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from openatd.domain.messages import DeviceReport
from openatd.errors import InvalidInput, NotFound, OpenATDError
from openatd.ingest.nats_bus import (
    NatsBusClient,
    NatsBusConfig,
    decode_submission,
    open_stream,
)
from openatd.ingest.pipeline import PositionPipeline
from openatd.tasks import stop_tasks

log = logging.getLogger(__name__)


class NatsBusConsumer:
    """The pipeline process's end: answers ``known`` and consumes its partitions in order.

    Worker ``config.worker`` of ``config.workers`` consumes the partitions of
    ``config.share`` (every partition with one worker); with several workers it also sets
    the pipeline's ``share``, ``forward`` (a bus client, for reports of devices other
    workers own) and ``announce`` (rule changes told to the other workers).

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
        self.partitions = config.share.partitions_owned
        """The partitions this worker consumes."""
        self._forward: NatsBusClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token = uuid.uuid4().hex
        """Marks this process's invalidation notices (NATS echoes them back to it)."""
        self._notices: set[asyncio.Task[None]] = set()
        """Invalidation notices being published (held so that none is collected midway)."""

    @property
    def connected(self) -> bool:
        """True while the connection to NATS is up (for ``/health``)."""
        return self._nc is not None and self._nc.is_connected

    async def start(self) -> None:
        """Connect, create the stream if missing, take this worker's partitions over, serve
        ``known`` (and with several workers, hear and tell rule changes).

        Raises:
            ConfigurationError: NATS unreachable or without JetStream.
        """
        share = self.config.share
        # Engines the pipeline may already hold for other workers' devices stay unused: it
        # neither ticks them nor gets their messages.
        self.pipeline.share = share
        nc, js = await open_stream(self.config, f"openatd-pipeline-{share.label}", 10.0)
        self._nc, self._js = nc, js
        # reconnected_cb is set at connect time; watch the client's reconnect counter instead.
        await nc.subscribe(self.config.known_subject, queue="openatd-pipeline", cb=self._known)
        if share.workers > 1:
            self._loop = asyncio.get_running_loop()
            await nc.subscribe(self.config.invalidate_subject, cb=self._invalidated)
            forward = NatsBusClient(self.config)
            try:
                await forward.connect()
            except BaseException:
                await nc.close()
                self._nc = self._js = None
                raise
            self._forward = forward
            self.pipeline.forward = forward
            self.pipeline.announce = self._announce
        metrics = self.pipeline.metrics
        metrics.bus_worker.labels(str(share.worker), str(share.workers)).set(1)
        for p in self.partitions:
            metrics.bus_partitions.labels(str(p)).set(1)
        self._behind = set(self.partitions)
        for p in self.partitions:
            await self._take_over(p)
        for p in self.partitions:
            self._tasks.append(asyncio.create_task(self._consume(p), name=f"openatd-bus-{p}"))
        log.info(
            "worker %s consuming partitions %s of %d of stream %s at %s",
            share.label,
            ",".join(map(str, self.partitions)),
            self.config.partitions,
            self.config.stream,
            self.config.url,
        )

    async def stop(self) -> None:
        """Stop consuming (what is fetched and not committed is redelivered later)."""
        await stop_tasks(self._tasks, what="partition consumer")
        self._tasks.clear()
        if self._forward is not None:
            self.pipeline.forward = None
            self.pipeline.announce = None
            await self._forward.close()
            self._forward = None
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

    def _announce(self, participant_id: int | None) -> None:
        """Tell the other workers that *participant_id*'s rules changed (any thread)."""
        loop, nc = self._loop, self._nc
        if loop is None or nc is None:
            return
        data = orjson.dumps({"participant": participant_id, "from": self._token})

        async def publish() -> None:
            try:
                await nc.publish(self.config.invalidate_subject, data)
            except Exception as exc:  # the others keep their engines until they restart
                log.error("could not tell the other workers of a rule change: %r", exc)

        def schedule() -> None:
            task = loop.create_task(publish())
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)

        with contextlib.suppress(RuntimeError):  # the loop has closed: we are stopping
            loop.call_soon_threadsafe(schedule)

    async def _invalidated(self, msg: Msg) -> None:
        try:
            body = orjson.loads(msg.data)
            participant = body["participant"]
            if body.get("from") == self._token:
                return  # our own notice, echoed
            if participant is not None and not isinstance(participant, int):
                raise ValueError(f"participant {participant!r}")
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            log.error("invalidation notice not understood: %s", exc)
            return
        self.pipeline.invalidate(participant, announce=False)

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
