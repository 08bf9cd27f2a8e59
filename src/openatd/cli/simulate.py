"""``openatd simulate``: simulated trackers replaying real GPS traces into an ingest server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openatd.errors import InvalidInput
from openatd.ingest.servers import run
from openatd.ingest.simulator import ENCODERS, device_ids, load_fixes, simulate

_DEFAULT_TRACES = Path("../shared/data/traces")


def simulate_command(
    devices: Annotated[int, typer.Option("--devices", "-n", help="Simulated devices.")] = 100,
    protocol: Annotated[
        str, typer.Option("--protocol", "-p", help=f"One of: {', '.join(ENCODERS)}.")
    ] = "gt06",
    rate: Annotated[
        float, typer.Option("--rate", "-r", help="Positions per second, total.")
    ] = 100.0,
    host: Annotated[str, typer.Option(help="Ingest server address.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Ingest server port (default: the protocol's).")
    ] = None,
    duration: Annotated[float, typer.Option(help="Seconds of sending.")] = 10.0,
    trace: Annotated[
        Path, typer.Option("--trace", help="Trace file or folder (.plt, .csv, .gpx).")
    ] = _DEFAULT_TRACES,
    first_id: Annotated[
        int, typer.Option(help="Devices are 86 + 13 digits, numbered from this.")
    ] = 0,
    source_ips: Annotated[
        int, typer.Option(help="Spread connections over 127.0.0.1..127.0.0.N (many devices).")
    ] = 1,
) -> None:
    """Connect N simulated devices over real sockets and replay real traces at R positions/s.

    The devices' ids are ``86`` followed by 13 digits (``--first-id`` onwards);
    register them first, or the server (rightly) neither stores nor acknowledges
    their data. Prints the achieved rate and the ACK latency percentiles.
    """
    from openatd.protocols.registry import session_class

    if protocol not in ENCODERS:
        raise typer.BadParameter(f"simulator speaks {', '.join(ENCODERS)}", param_hint="--protocol")
    try:
        traces = load_fixes(trace)
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint="--trace") from exc
    if port is None:
        try:
            port = session_class(protocol).default_port
        except (InvalidInput, ModuleNotFoundError) as exc:
            raise typer.BadParameter(f"give --port: {exc}", param_hint="--port") from exc
    report = run(
        simulate(
            host,
            port,
            protocol,
            devices,
            rate,
            duration,
            traces,
            ids=device_ids(devices, first_id),
            source_ips=source_ips,
        )
    )
    typer.echo(report.summary())
    if report.connected == 0:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``openatd`` app."""
    app.command("simulate")(simulate_command)
