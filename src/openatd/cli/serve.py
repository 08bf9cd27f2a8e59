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
    ):
        if value is not None:
            overrides[key] = value
    settings = get_settings(**overrides)
    configure_logging(settings.log_format)
    asyncio.run(run_server(settings))


async def run_server(settings: object, *, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled (Ctrl-C). *ready* is set once every listener is bound."""
    import uvicorn

    from openatd.api.app import create_app
    from openatd.api.container import build_container
    from openatd.api.intake import create_intake_app
    from openatd.settings import Settings

    assert isinstance(settings, Settings)
    check_ports_free(settings)
    container = build_container(settings)
    assert container.pipeline is not None
    with container.uow() as uow:
        down = downtime.record_start(uow, container.clock.now())
    if down is not None:
        logging.getLogger("openatd").warning(
            "server was down from %s to %s: recorded as incident %d",
            down.started_at.isoformat(),
            down.ended_at.isoformat() if down.ended_at else "?",
            down.id,
        )
    await container.pipeline.start()
    from openatd.ingest.watchdog import LoopWatchdog

    api = create_app(container=container, manage_pipeline=False)  # builds its routes: ~1 s
    intake = create_intake_app(container)
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
    if settings.enabled_protocols:
        from openatd.ingest.bus import IngestWorkers, worker_config
        from openatd.ingest.servers import IngestServer, listeners_from_settings
        from openatd.protocols.registry import session_class

        workers = settings.ingest_workers or (os.cpu_count() or 1)
        shared = all(spec.port != 0 for spec in listeners_from_settings(settings))
        if workers > 1 and shared:
            trackers = IngestWorkers(
                container.pipeline,
                worker_config(settings),
                workers,
                backlog=container.pipeline.metrics.bus_backlog,
            )
            await trackers.start()
            container.ingest_workers = trackers  # /health pings the bus
            specs = listeners_from_settings(settings)
            port_of = {s.protocol: s.port or session_class(s.protocol).default_port for s in specs}
            ports = ", ".join(f"{name} tcp {port}" for name, port in port_of.items())
            how = f"{workers} ingest processes"
        else:
            trackers = IngestServer.from_settings(
                settings,
                container.pipeline,
                container.clock,
                registry=container.pipeline.metrics.registry,
            )
            bound = await trackers.start()
            ports = ", ".join(f"{b.protocol} tcp {b.tcp_port}" for b in bound.values())
            how = "in the server process"
        _announce(
            settings,
            f"trackers on {settings.tracker_host} "
            f"({'OPENATD_PROTOCOL_HOST' if settings.protocol_host else 'the HTTP host'}), "
            f"{how}: {ports}",
        )
    _announce(
        settings,
        f"[bold]OpenATD[/] on {container.db.dialect}: API http://{settings.http_host}:"
        f"{settings.http_port}/docs · OsmAnd intake http://{settings.http_host}:"
        f"{settings.osmand_port}/",
    )
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    housekeeping = [
        asyncio.create_task(_retention_loop(container)),
        asyncio.create_task(_alive_loop(container)),
    ]
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


def check_ports_free(settings: object) -> None:
    """Refuse to start, with one line saying which port and option, when a port is taken.

    Probes the staff API and OsmAnd intake ports (TCP, on ``settings.http_host``)
    and the tracker listeners' TCP ports (on ``settings.tracker_host``) by binding
    them as uvicorn will (``SO_REUSEADDR``) and releasing them at once; port 0 (any
    free port) is not probed. Without this a port in use ends in a hundred lines of
    traceback, or with the tracker workers, a server left running without its
    tracker listener.

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
    if settings.enabled_protocols:
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
