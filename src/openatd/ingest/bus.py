"""The position bus between ingest processes and the pipeline: every core used (issue 11).

One Python process cannot decode, attribute, ACK *and* run the rules and the storage of
tens of thousands of positions a second (one GIL). ``openatd serve --workers N`` therefore
runs N **ingest processes** that share every listener port (``SO_REUSEPORT``: the kernel
spreads connections, a TCP connection and a UDP peer stay on one process) and decode,
attribute and ACK; they hand reports to the **pipeline process** (rules and storage, one
SQLite writer) over this bus.

The port is :class:`~openatd.ingest.sink.ReportSink` itself: an ingest process's
:class:`BusClient` is the sink its :class:`~openatd.ingest.servers.IngestServer` submits
to, and the pipeline process's :class:`LocalBusServer` submits what arrives to the real
:class:`~openatd.ingest.pipeline.PositionPipeline`. The guarantees are the pipeline's:

* **durability before ACK**: ``submit`` returns in the ingest process only when the
  pipeline process has committed the batch holding those reports; only then does the
  server write the device's ACK. A failure (storage, a lost bus connection, a pipeline
  restart) raises, so the device is not ACKed and sends again;
* **per-device order**: a connection's frames are submitted one after the other (the
  link awaits each submit), and one bus connection delivers in order;
* **at-least-once with idempotent storage**: a re-sent fix is stored once, by (device,
  fix time) (the filter's memory, then the unique constraint).

Local implementation, decided here: a Unix domain socket in a private (0700) directory,
messages framed by a 4-byte length, bodies pickled (both ends are our own processes,
started by ``openatd serve``; nothing else can connect). Submissions are coalesced: one
message carries every submission a worker has waiting, one reply message carries the
outcomes, so the per-report overhead is a few µs of pickling.

Between machines the same interface runs over NATS JetStream when ``OPENATD_BUS_URL`` is
set: :mod:`openatd.ingest.nats_bus` (imported only then). There the device is ACKed once
the *stream* has stored its message (JetStream's PubAck, with replicas when so
configured), not once the database has; the pipeline process commits and then acks the
message, so a killed pipeline loses nothing that was ACKed (see that module's docstring
for the subjects, the per-partition consumers and the serialisation). With a bus URL the
ingest processes of ``--workers N`` publish to NATS directly; there is no local bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import struct
from collections.abc import Sequence
from typing import Any

from prometheus_client import Gauge

from openatd.domain.messages import DeviceReport
from openatd.errors import NotFound, OpenATDError
from openatd.ingest.sink import QueueingSink, ReportSink
from openatd.tasks import stop_tasks

log = logging.getLogger(__name__)

_LEN = struct.Struct("!I")
MAX_MESSAGE = 256 * 1024 * 1024
"""Largest bus message, bytes (a sanity bound; a batch of 5,000 reports is ~1.5 MB)."""

# requests:  (req_id, "known", unique_id) | (req_id, "submit", (unique_id, protocol, reports))
#            | (req_id, "ping", None)  (health check: answered "pong" without the sink)
# replies:   (req_id, "ok", value) | (req_id, "not_found", message) | (req_id, "error", message)


async def _read(reader: asyncio.StreamReader) -> list[tuple[int, str, Any]]:
    head = await reader.readexactly(_LEN.size)
    (size,) = _LEN.unpack(head)
    if size > MAX_MESSAGE:
        raise OpenATDError(f"bus message of {size} bytes refused")
    body = await reader.readexactly(size)
    items: list[tuple[int, str, Any]] = pickle.loads(body)
    return items


def _frame(items: list[tuple[int, str, Any]]) -> bytes:
    body = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(body)) + body


class LocalBusServer:
    """The pipeline process's end: accepts ingest processes on a Unix socket.

    Args:
        sink: where submissions go (the :class:`PositionPipeline`).
        path: the socket's path (its directory should be private to the service user).
        backlog: a gauge kept at the number of submissions received and not yet answered
            (``openatd_bus_backlog_submissions``), or None.
    """

    def __init__(self, sink: ReportSink, path: str, backlog: Gauge | None = None) -> None:
        self.sink = sink
        self.path = path
        self.backlog = backlog
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on :attr:`path` (mode 0600)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        """Stop accepting; drop open connections (their waiting submits fail: no ACK)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        out: asyncio.Queue[tuple[int, str, Any] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send(writer, out))
        pending: set[asyncio.Task[None]] = set()
        queueing = self.sink if isinstance(self.sink, QueueingSink) else None
        try:
            while True:
                try:
                    items = await _read(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                for req_id, op, arg in items:
                    if op == "submit" and queueing is not None:
                        fut = queueing.submit_nowait(*arg)
                        if fut is not None:  # the hot path: no task of its own
                            self._reply_when_done(req_id, fut, out)
                            continue
                    t = asyncio.create_task(self._handle(req_id, op, arg, out))
                    pending.add(t)
                    t.add_done_callback(pending.discard)
        finally:
            for t in pending:
                t.cancel()
            await out.put(None)
            with contextlib.suppress(Exception):
                await sender
            writer.close()
            self._tasks.discard(task)

    def _reply_when_done(
        self,
        req_id: int,
        fut: asyncio.Future[None],
        out: asyncio.Queue[tuple[int, str, Any] | None],
    ) -> None:
        """Answer submission *req_id* once its queued *fut* is done, as :meth:`_handle`
        would (a lost connection changes nothing: the reports are stored, unACKed)."""
        if self.backlog is not None:
            self.backlog.inc()

        def done(f: asyncio.Future[None]) -> None:
            if self.backlog is not None:
                self.backlog.dec()
            exc = BaseException("cancelled") if f.cancelled() else f.exception()
            if exc is None:
                out.put_nowait((req_id, "ok", None))
            elif isinstance(exc, NotFound):
                out.put_nowait((req_id, "not_found", str(exc)))
            else:
                out.put_nowait((req_id, "error", f"{type(exc).__name__}: {exc}"))

        fut.add_done_callback(done)

    async def _handle(
        self, req_id: int, op: str, arg: Any, out: asyncio.Queue[tuple[int, str, Any] | None]
    ) -> None:
        try:
            if op == "known":
                value: Any = await self.sink.is_known(arg)
            elif op == "submit":
                unique_id, protocol, reports = arg
                if self.backlog is not None:
                    self.backlog.inc()
                try:
                    await self.sink.submit(unique_id, protocol, reports)
                finally:
                    if self.backlog is not None:
                        self.backlog.dec()
                value = None
            elif op == "ping":
                value = "pong"
            else:
                raise OpenATDError(f"unknown bus operation {op!r}")
        except NotFound as exc:
            await out.put((req_id, "not_found", str(exc)))
        except Exception as exc:
            await out.put((req_id, "error", f"{type(exc).__name__}: {exc}"))
        else:
            await out.put((req_id, "ok", value))

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, out: asyncio.Queue[tuple[int, str, Any] | None]
    ) -> None:
        while True:
            item = await out.get()
            if item is None:
                return
            batch = [item]
            while not out.empty():
                nxt = out.get_nowait()
                if nxt is None:
                    writer.write(_frame(batch))
                    await writer.drain()
                    return
                batch.append(nxt)
            writer.write(_frame(batch))
            await writer.drain()


class BusClient:
    """An ingest process's end: a :class:`ReportSink` that submits over the local bus.

    Call :meth:`connect` first. Submissions waiting at the same time go out in one message.
    If the connection is lost every waiting submit raises :class:`OpenATDError` (the device
    is not ACKed) and the next call reconnects.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._outbox: list[tuple[int, str, Any]] = []
        self._flush_scheduled = False
        self._next = 0
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        """Open the bus connection (idempotent)."""
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return
            reader, self._writer = await asyncio.open_unix_connection(self.path)
            self._reader_task = asyncio.create_task(self._read_replies(reader))

    async def close(self) -> None:
        """Close the connection; waiting submits fail."""
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            await stop_tasks([self._reader_task], what="bus reader")
        self._fail_all("bus closed")

    async def is_known(self, unique_id: str) -> bool:
        """Asked of the pipeline process (the server caches the answer per connection)."""
        return bool(await self._call("known", unique_id))

    async def ping(self) -> None:
        """One round trip to the pipeline process's bus server (its sink is not asked).

        Raises:
            OSError: the connection was refused.
            OpenATDError: the connection was lost, or the answer was not ``pong``.
        """
        if await self._call("ping", None) != "pong":
            raise OpenATDError("the bus answered a ping wrongly")

    async def submit(self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]) -> None:
        """Returns once the pipeline process has committed *reports*.

        Raises:
            NotFound: unknown device.
            OpenATDError: storing failed or the bus connection was lost.
        """
        await self._call("submit", (unique_id, protocol, list(reports)))

    async def _call(self, op: str, arg: Any) -> Any:
        await self.connect()
        self._next += 1
        req_id = self._next
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        self._outbox.append((req_id, op, arg))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        self._flush_scheduled = False
        items, self._outbox = self._outbox, []
        if not items:
            return
        if self._writer is None or self._writer.is_closing():
            for req_id, _, _ in items:
                self._fail(req_id, "bus connection lost")
            return
        self._writer.write(_frame(items))

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                for req_id, status, value in await _read(reader):
                    fut = self._waiting.pop(req_id, None)
                    if fut is None or fut.done():
                        continue
                    if status == "ok":
                        fut.set_result(value)
                    elif status == "not_found":
                        fut.set_exception(NotFound(value))
                    else:
                        fut.set_exception(OpenATDError(f"pipeline process: {value}"))
        except (asyncio.IncompleteReadError, ConnectionError, OpenATDError) as exc:
            log.warning("bus connection lost: %s", exc)
        finally:
            if self._writer is not None:
                self._writer.close()
            self._fail_all("bus connection lost")

    def _fail(self, req_id: int, why: str) -> None:
        fut = self._waiting.pop(req_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(OpenATDError(why))

    def _fail_all(self, why: str) -> None:
        for req_id in list(self._waiting):
            self._fail(req_id, why)


def ingest_worker_main(config: dict[str, Any], bus_path: str, index: int, ready: Any) -> None:
    """Entry point of one ingest process (``multiprocessing`` spawn target).

    *config* holds the tracker settings of :func:`worker_config` (listeners, bind host and
    the per-connection limits; no secrets). Listens with ``SO_REUSEPORT``, submits over the
    bus at *bus_path*, sets the *ready* event once every listener is bound, and runs until
    SIGTERM / SIGINT.
    """
    import signal

    from openatd.domain.clock import SystemClock
    from openatd.ingest.servers import IngestServer, listeners_from_settings, run
    from openatd.logs import configure_logging
    from openatd.runtime import tune_collector
    from openatd.settings import Settings

    tune_collector()
    settings = Settings.model_construct(**config)
    configure_logging(
        config.get("log_format", "text"),
        text_format=f"%(asctime)s %(levelname)s ingest[{index}] %(name)s: %(message)s",
        process=f"ingest[{index}]",
    )

    async def main() -> None:
        client: BusClient | Any
        if config.get("bus_url"):
            from openatd.ingest.nats_bus import NatsBusClient, NatsBusConfig

            client = NatsBusClient(NatsBusConfig.from_settings(settings))
        else:
            client = BusClient(bus_path)
        await client.connect()
        server = IngestServer(
            client,
            listeners_from_settings(settings),
            host=settings.tracker_host,
            clock=SystemClock(),
            idle_timeout_s=settings.idle_timeout_s,
            reuse_port=True,
            max_pending_bytes=settings.protocol_max_pending_bytes,
            max_buffer=settings.protocol_max_buffer,
            frame_budget_s=settings.protocol_frame_budget_s,
            unidentified_bytes=settings.protocol_unidentified_bytes,
            unidentified_timeout_s=settings.protocol_unidentified_timeout_s,
        )
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ready.set()
        await stop.wait()
        await server.stop()
        await client.close()

    run(main())


SUPERVISE_EVERY_S = 1.0
"""How often :class:`IngestWorkers` looks for a dead ingest process (seconds)."""
RESTART_BACKOFF_MIN_S = 1.0
RESTART_BACKOFF_MAX_S = 30.0
RESTART_BACKOFF_RESET_S = 60.0
"""A restarted process that has run this long (seconds) is restarted at once next time."""


class IngestWorkers:
    """N ingest processes and the bus that feeds *sink* (what ``serve --workers N`` runs).

    Every listener needs a fixed port (the processes share it). With ``bus_url`` in
    *config* the processes publish to NATS and *sink* may be ``None``. A process that dies
    is replaced (logged, counted in :attr:`restarts`, with a back-off when it keeps dying).
    """

    def __init__(
        self,
        sink: ReportSink | None,
        config: dict[str, Any],
        workers: int,
        *,
        backlog: Gauge | None = None,
    ) -> None:
        self.sink = sink
        self.config = config
        self.workers = workers
        self.backlog = backlog
        self._dir: str | None = None
        self._bus: LocalBusServer | None = None
        self._procs: list[Any] = []
        self._ctx: Any = None
        self._path = ""
        self._watch: asyncio.Task[None] | None = None
        self.restarts = 0
        """How many times a dead ingest process has been replaced since start."""

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the bus and the processes; return once every process has bound its ports.

        Raises:
            OpenATDError: a process did not come up in *timeout_s*.
        """
        import multiprocessing as mp
        import tempfile

        self._dir = tempfile.mkdtemp(prefix="openatd-bus-")  # mode 0700
        path = os.path.join(self._dir, "bus.sock")
        if not self.config.get("bus_url"):  # with NATS the processes publish there
            if self.sink is None:
                raise OpenATDError("ingest processes need a sink or a bus URL")
            self._bus = LocalBusServer(self.sink, path, self.backlog)
            await self._bus.start()
        self._ctx = mp.get_context("spawn")
        self._path = path
        events = []
        for i in range(self.workers):
            proc, ready = self._spawn(i)
            self._procs.append(proc)
            events.append(ready)
        for ev in events:
            if not await asyncio.to_thread(ev.wait, timeout_s):
                await self.stop()
                raise OpenATDError("an ingest process did not start (see its log)")
        log.info("%d ingest processes share the tracker ports", self.workers)
        self._watch = asyncio.create_task(
            self._supervise(timeout_s), name="openatd-ingest-supervisor"
        )

    def _spawn(self, index: int) -> tuple[Any, Any]:
        ready = self._ctx.Event()
        proc = self._ctx.Process(
            target=ingest_worker_main,
            args=(self.config, self._path, index, ready),
            name=f"openatd-ingest-{index}",
            daemon=True,
        )
        proc.start()
        return proc, ready

    async def _supervise(self, timeout_s: float) -> None:
        """Replace an ingest process that died (a crash, the OOM killer, ``kill -9``).

        Checks every :data:`SUPERVISE_EVERY_S`; a process that dies again soon after its
        restart waits twice as long each time (1 s, 2 s, … at most
        :data:`RESTART_BACKOFF_MAX_S`), so a process that cannot start does not spin. Its
        devices reconnect meanwhile to the processes still running (the kernel spreads new
        connections over the sockets that listen).
        """
        delay = [RESTART_BACKOFF_MIN_S] * self.workers
        started = [asyncio.get_running_loop().time()] * self.workers
        while True:
            await asyncio.sleep(SUPERVISE_EVERY_S)
            loop = asyncio.get_running_loop()
            for i, proc in enumerate(self._procs):
                if proc.is_alive():
                    if loop.time() - started[i] > RESTART_BACKOFF_RESET_S:
                        delay[i] = RESTART_BACKOFF_MIN_S
                    continue
                log.error(
                    "ingest process %d (pid %s) exited with code %s; restarting it in %g s",
                    i, proc.pid, proc.exitcode, delay[i],
                )  # fmt: skip
                await asyncio.sleep(delay[i])
                new, ready = self._spawn(i)
                self._procs[i] = new
                started[i] = loop.time()
                delay[i] = min(delay[i] * 2, RESTART_BACKOFF_MAX_S)
                self.restarts += 1
                deadline = loop.time() + timeout_s
                while not ready.is_set() and new.is_alive() and loop.time() < deadline:
                    await asyncio.sleep(0.1)  # polled: a thread blocked here would hold stop()
                if ready.is_set():
                    log.info("ingest process %d restarted (pid %s)", i, new.pid)
                else:
                    log.error("ingest process %d (pid %s) did not start again", i, new.pid)

    @property
    def pids(self) -> list[int]:
        """The ingest processes' ids."""
        return [p.pid for p in self._procs]

    @property
    def bus_path(self) -> str | None:
        """The bus socket's path once started, else None."""
        return self._bus.path if self._bus is not None else None

    def alive(self) -> int:
        """How many of the ingest processes are running."""
        return sum(1 for p in self._procs if p.is_alive())

    async def ping(self, timeout_s: float) -> None:
        """One round trip over the bus (a fresh connection, a ``ping``), as an ingest process
        makes one; for the health check.

        Raises:
            OpenATDError: the bus is not started, refused the connection, or did not answer
                within *timeout_s* seconds.
        """
        path = self.bus_path
        if path is None and self.config.get("bus_url"):
            return  # the processes publish to NATS: no local bus to ping (alive() still counts)
        if path is None:
            raise OpenATDError("the bus is not running")
        client = BusClient(path)
        try:
            async with asyncio.timeout(timeout_s):
                await client.ping()
        except TimeoutError:
            raise OpenATDError(f"the bus did not answer within {timeout_s:g} s") from None
        except OSError as exc:
            raise OpenATDError(f"the bus refused the connection: {exc.strerror or exc}") from None
        finally:
            await client.close()

    async def stop(self) -> None:
        """Stop the supervisor, the processes (SIGTERM, then SIGKILL after 10 s) and the bus."""
        import shutil

        if self._watch is not None:
            await stop_tasks([self._watch], what="ingest supervisor")
            self._watch = None
        for p in self._procs:
            if p.is_alive():
                p.terminate()
        for p in self._procs:
            await asyncio.to_thread(p.join, 10)
            if p.is_alive():
                p.kill()
                await asyncio.to_thread(p.join, 5)
        self._procs.clear()
        if self._bus is not None:
            await self._bus.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def worker_config(settings: Any) -> dict[str, Any]:
    """What an ingest process needs of the settings (no secrets cross the process line)."""
    keys = (
        "protocols",
        "protocol_host",
        "http_host",
        "idle_timeout_s",
        "protocol_max_pending_bytes",
        "protocol_max_buffer",
        "protocol_frame_budget_s",
        "protocol_unidentified_bytes",
        "protocol_unidentified_timeout_s",
        "log_format",
    )
    bus_keys = (
        "bus_url",
        "bus_stream",
        "bus_subject_prefix",
        "bus_partitions",
        "bus_replicas",
        "bus_consumer",
        "bus_ack_wait_s",
    )
    return {key: getattr(settings, key) for key in keys + bus_keys}
