"""``openatd serve``: the staff API, the OsmAnd intake and the tracker listeners in one process."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from typing import Annotated, Any

import typer
from rich.console import Console

from openatd.logs import configure_logging
from openatd.runtime import freeze_startup_heap, tune_collector
from openatd.safeguards import downtime
from openatd.settings import get_settings

console = Console(stderr=True, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL [env OPENATD_DATABASE_URL]")
    ] = None,
    http_port: Annotated[
        int | None, typer.Option(help="staff API port [env OPENATD_HTTP_PORT, 8000]")
    ] = None,
    osmand_port: Annotated[
        int | None, typer.Option(help="OsmAnd intake port [env OPENATD_OSMAND_PORT, 5055]")
    ] = None,
    host: Annotated[str | None, typer.Option(help="bind address [env OPENATD_HTTP_HOST]")] = None,
    protocols: Annotated[
        str | None,
        typer.Option(
            help="tracker protocols to listen for, e.g. gt06,teltonika [env OPENATD_PROTOCOLS]"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="ingest processes sharing the tracker ports; 0 = one per CPU, 1 = in this "
            "process [env OPENATD_INGEST_WORKERS, 1]",
            min=0,
        ),
    ] = None,
    bus: Annotated[
        str | None,
        typer.Option(
            help="NATS JetStream URL for the position bus, e.g. nats://127.0.0.1:4222; "
            "unset: no broker [env OPENATD_BUS_URL]"
        ),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            help="all; ingest (tracker listeners publishing to the bus, no database); "
            "pipeline (API, intake, rules and storage consuming the bus) [env OPENATD_ROLE, all]"
        ),
    ] = None,
    bus_worker: Annotated[
        str | None,
        typer.Option(
            help="K/N: this pipeline process is worker K of N and consumes the bus partitions "
            "p with p % N == K; every worker uses the same N (at most OPENATD_BUS_PARTITIONS); "
            "N > 1 needs PostgreSQL [env OPENATD_BUS_WORKER, 0/1]"
        ),
    ] = None,
) -> None:
    """Run OpenATD: migrations applied, API (docs at /docs) and OsmAnd intake."""
    overrides: dict[str, object] = {}
    for key, value in (
        ("database_url", database_url),
        ("http_port", http_port),
        ("osmand_port", osmand_port),
        ("http_host", host),
        ("protocols", protocols),
        ("ingest_workers", workers),
        ("bus_url", bus),
        ("role", role),
        ("bus_worker", bus_worker),
    ):
        if value is not None:
            overrides[key] = value
    settings = get_settings(**overrides)
    configure_logging(settings.log_format)
    tune_collector()
    asyncio.run(run_server(settings, freeze_heap=True))


async def run_server(
    settings: object, *, ready: asyncio.Event | None = None, freeze_heap: bool = False
) -> None:
    """Serve until cancelled (Ctrl-C). *ready* is set once every listener is bound.
    *freeze_heap*: move the start-up heap out of the collector's reach once it is built
    (:func:`~openatd.runtime.freeze_startup_heap`; for a process that serves and nothing
    else, as ``openatd serve`` is)."""
    from openatd.settings import Settings

    assert isinstance(settings, Settings)
    if settings.role != "all" and not settings.bus_url:
        from openatd.errors import ConfigurationError

        raise ConfigurationError(
            f"--role {settings.role} (OPENATD_ROLE) needs a bus: set --bus (OPENATD_BUS_URL)"
        )
    if settings.role == "ingest":
        await run_ingest(settings, ready=ready)
        return

    import uvicorn

    from openatd.api.app import create_app
    from openatd.api.container import build_container
    from openatd.api.intake import create_intake_app

    check_ports_free(settings, trackers=settings.role == "all")
    consumer: Any = None
    if settings.bus_url:
        from openatd.ingest.nats_bus import NatsBusConfig, connect

        # Fail early, in one line, before migrations: is NATS there at all?
        probe = await connect(NatsBusConfig.from_settings(settings), "openatd-probe", quiet=True)
        await probe.close()
    container = build_container(settings)
    assert container.pipeline is not None
    for attempt in (1, 2):  # 2: another worker inserted the first alive row at the same moment
        try:
            with container.uow() as uow:
                down = downtime.record_start(uow, container.clock.now())
            break
        except Exception:
            if attempt == 2:
                raise
    if down is not None:
        logging.getLogger("openatd").warning(
            "server was down from %s to %s: recorded as incident %d",
            down.started_at.isoformat(),
            down.ended_at.isoformat() if down.ended_at else "?",
            down.id,
        )
    # With a bus the clock rules wait until the backlog in the broker is read: positions
    # still in the stream must not look like devices gone offline.
    await container.pipeline.start(ticks=not settings.bus_url)
    if settings.bus_url:
        from openatd.ingest.nats_bus import NatsBusConfig
        from openatd.ingest.nats_consumer import NatsBusConsumer

        consumer = NatsBusConsumer(container.pipeline, NatsBusConfig.from_settings(settings))
        try:
            await consumer.start()
        except BaseException:
            await container.pipeline.stop()
            container.db.dispose()
            raise
        container.bus_consumer = consumer  # /health says which partitions
        share = settings.worker_share
        _announce(
            settings,
            f"position bus: NATS JetStream {settings.bus_url} ({settings.bus_stream}), "
            f"worker {share.label}, partitions {','.join(map(str, consumer.partitions))}"
            + ("" if share.is_lead else " (jobs that run once across workers: on worker 0)"),
        )

        pipeline = container.pipeline

        async def ticks_after_backlog() -> None:
            await consumer.caught_up.wait()
            pipeline.start_ticks()

        ticks_task = asyncio.create_task(ticks_after_backlog())
    from openatd.ingest.watchdog import LoopWatchdog

    api = create_app(container=container, manage_pipeline=False)  # builds its routes: ~1 s
    intake = create_intake_app(container)
    if freeze_heap:  # the rule engines and the apps are built: the heap it keeps for life
        freeze_startup_heap()
    watchdog = LoopWatchdog(container.pipeline.metrics.registry, settings.loop_stall_s)
    watchdog.start()  # after building the apps, whose one-off start-up cost is no stall
    # JSON lines: uvicorn's loggers keep no handlers of their own and reach the root's.
    uvicorn_logs: dict[str, Any] = {"log_config": None} if settings.log_format == "json" else {}
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                api,
                host=settings.http_host,
                port=settings.http_port,
                log_level="info",
                **uvicorn_logs,
            )
        ),
        uvicorn.Server(
            uvicorn.Config(
                intake,
                host=settings.http_host,
                port=settings.osmand_port,
                log_level="warning",
                **uvicorn_logs,
            )
        ),
    ]
    trackers: Any = None
    if settings.enabled_protocols and settings.role == "all":
        trackers = await start_trackers(settings, container.pipeline, container.clock)
        from openatd.ingest.bus import IngestWorkers

        if isinstance(trackers, IngestWorkers):
            container.ingest_workers = trackers  # /health pings the bus
    _announce(
        settings,
        f"[bold]OpenATD[/] on {container.db.dialect}: API http://{settings.http_host}:"
        f"{settings.http_port}/docs · OsmAnd intake http://{settings.http_host}:"
        f"{settings.osmand_port}/",
    )
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    # Every worker writes the alive instant (the service is up while one is); retention
    # runs once across workers, on worker 0 (see openatd.ingest.nats_bus).
    housekeeping = [asyncio.create_task(_alive_loop(container))]
    if settings.worker_share.is_lead:
        housekeeping.append(asyncio.create_task(_retention_loop(container)))
    if consumer is not None:
        housekeeping.append(ticks_task)
    try:
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.05)
        if ready is not None:
            ready.set()
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for s in servers:
            s.should_exit = True
        await asyncio.wait(tasks, timeout=10)
        for task in housekeeping:
            task.cancel()
        if trackers is not None:
            await trackers.stop()
        if consumer is not None:
            await consumer.stop()
        await container.pipeline.stop()
        watchdog.stop()
        container.db.dispose()


def _announce(settings: object, text: str) -> None:
    """A start-up line: on the console, or as a log record when logs are JSON lines (so
    that every line a log shipper reads is JSON)."""
    from openatd.settings import Settings

    assert isinstance(settings, Settings)
    if settings.log_format == "json":
        logging.getLogger("openatd.serve").info(text.replace("[bold]", "").replace("[/]", ""))
    else:
        console.print(text)


async def start_trackers(settings: object, pipeline: Any, clock: Any) -> Any:
    """Start the tracker listeners: in this process, or ``ingest_workers`` processes.

    They submit to *pipeline* (``None`` with ``--role ingest``), or with ``bus_url`` set
    publish to NATS. Returns what to ``stop()`` at the end.

    Raises:
        ConfigurationError: NATS unreachable (with a bus URL).
        OpenATDError: an ingest process did not start.
    """
    from openatd.ingest.bus import IngestWorkers, worker_config
    from openatd.ingest.servers import IngestServer, listeners_from_settings
    from openatd.protocols.registry import session_class
    from openatd.settings import Settings

    assert isinstance(settings, Settings)
    workers = settings.ingest_workers or (os.cpu_count() or 1)
    shared = all(spec.port != 0 for spec in listeners_from_settings(settings))
    trackers: Any
    if workers > 1 and shared:
        trackers = IngestWorkers(
            pipeline,
            worker_config(settings),
            workers,
            backlog=pipeline.metrics.bus_backlog if pipeline is not None else None,
        )
        await trackers.start()
        specs = listeners_from_settings(settings)
        port_of = {s.protocol: s.port or session_class(s.protocol).default_port for s in specs}
        ports = ", ".join(f"{name} tcp {port}" for name, port in port_of.items())
        how = f"{workers} ingest processes"
    else:
        sink: Any = pipeline
        if settings.bus_url:
            from openatd.ingest.nats_bus import NatsBusClient, NatsBusConfig

            sink = NatsBusClient(NatsBusConfig.from_settings(settings))
            await sink.connect()
        trackers = _WithSink(
            IngestServer.from_settings(
                settings,
                sink,
                clock,
                registry=pipeline.metrics.registry if pipeline is not None else None,
            ),
            sink if sink is not pipeline else None,
        )
        bound = await trackers.server.start()
        ports = ", ".join(f"{b.protocol} tcp {b.tcp_port}" for b in bound.values())
        how = "in the server process"
    if settings.bus_url:
        how += f", publishing to NATS {settings.bus_url}"
    _announce(
        settings,
        f"trackers on {settings.tracker_host} "
        f"({'OPENATD_PROTOCOL_HOST' if settings.protocol_host else 'the HTTP host'}), "
        f"{how}: {ports}",
    )
    return trackers


class _WithSink:
    """An in-process tracker server and the bus client it owns (closed after it stops)."""

    def __init__(self, server: Any, client: Any) -> None:
        self.server = server
        self.client = client

    async def stop(self) -> None:
        await self.server.stop()
        if self.client is not None:
            await self.client.close()


async def run_ingest(settings: object, *, ready: asyncio.Event | None = None) -> None:
    """``--role ingest``: tracker listeners publishing to the bus; no database, no API.

    Runs until cancelled (Ctrl-C, SIGTERM).

    Raises:
        ConfigurationError: no tracker protocols configured, a port in use, NATS unreachable.
    """
    import signal

    from openatd.domain.clock import SystemClock
    from openatd.errors import ConfigurationError
    from openatd.settings import Settings

    assert isinstance(settings, Settings)
    if not settings.enabled_protocols:
        raise ConfigurationError(
            "--role ingest runs only tracker listeners: set --protocols (OPENATD_PROTOCOLS)"
        )
    check_ports_free(settings, http=False)
    trackers = await start_trackers(settings, None, SystemClock())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await trackers.stop()


def check_ports_free(settings: object, *, http: bool = True, trackers: bool = True) -> None:
    """Refuse to start, with one line saying which port and option, when a port is taken.

    Probes the staff API and OsmAnd intake ports (TCP, on ``settings.http_host``)
    and the tracker listeners' TCP ports (on ``settings.tracker_host``) by binding
    them as uvicorn will (``SO_REUSEADDR``) and releasing them at once; port 0 (any
    free port) is not probed. Without this a port in use ends in a hundred lines of
    traceback, or with the tracker workers, a server left running without its
    tracker listener. *http* false skips the API and intake ports (``--role ingest``),
    *trackers* false the tracker ports (``--role pipeline``).

    Raises:
        ConfigurationError: a port is in use, not ours to bind (below 1024), the
            host is not an address of this machine, or ``OPENATD_PROTOCOLS`` is malformed.
    """
    from openatd.errors import ConfigurationError
    from openatd.settings import Settings

    assert isinstance(settings, Settings)
    wanted = [
        (settings.http_host, settings.http_port, "staff API", "--http-port (OPENATD_HTTP_PORT)"),
        (
            settings.http_host,
            settings.osmand_port,
            "OsmAnd intake",
            "--osmand-port (OPENATD_OSMAND_PORT)",
        ),
    ]
    if not http:
        wanted.clear()
    if settings.enabled_protocols and trackers:
        from openatd.errors import InvalidInput
        from openatd.ingest.servers import listeners_from_settings
        from openatd.protocols.registry import session_class

        try:
            specs = listeners_from_settings(settings)
            for spec in specs:
                port = session_class(spec.protocol).default_port if spec.port is None else spec.port
                option = f"--protocols {spec.protocol}:PORT (OPENATD_PROTOCOLS)"
                wanted.append((settings.tracker_host, port, f"{spec.protocol} listener", option))
        except InvalidInput as exc:
            raise ConfigurationError(f"OPENATD_PROTOCOLS / --protocols: {exc}") from None
    for host, port, what, option in wanted:
        if port == 0:
            continue
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = "is in use by another program (another openatd serve or demo?)"
            elif exc.errno == errno.EACCES:
                why = "needs privileges to bind"
            else:
                why = f"cannot be bound: {exc.strerror or exc}"
            raise ConfigurationError(
                f"port {port} ({what}) on {host} {why}: stop what uses it, "
                f"or choose another with {option}"
            ) from None


RETENTION_EVERY_S = 3600.0


async def _alive_loop(container: object) -> None:
    """Write the server's ``alive`` instant every tick (see ``safeguards.downtime``)."""
    from openatd.api.container import Container

    assert isinstance(container, Container)
    while True:
        await asyncio.sleep(min(container.settings.tick_interval_s, 30.0))

        def beat() -> None:
            with container.uow() as uow:
                downtime.heartbeat(uow, container.clock.now())

        try:
            await asyncio.to_thread(beat)
        except Exception:
            logging.getLogger("openatd").exception("could not record the alive instant")


async def _retention_loop(container: object) -> None:
    """Enforce every kind's retention period (``OPENATD_*_RETENTION_DAYS``) once at start-up,
    then every hour."""
    from openatd.api.container import Container
    from openatd.safeguards.retention import RetentionPolicy, purge

    assert isinstance(container, Container)
    log = logging.getLogger("openatd.retention")
    while True:
        try:

            def run() -> None:
                with container.uow() as uow:
                    report = purge(
                        uow,
                        container.clock.now(),
                        policy=RetentionPolicy.from_settings(container.settings),
                    )
                log.info(
                    "retention: %s",
                    ", ".join(f"{k.kind} {k.deleted} deleted, {k.held} held" for k in report.kinds),
                )

            await asyncio.to_thread(run)
        except Exception:
            log.exception("retention run failed")
        await asyncio.sleep(RETENTION_EVERY_S)
