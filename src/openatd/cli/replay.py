"""``openatd replay``: send a recorded GPS trace to a running server in the OsmAnd protocol."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from openatd.errors import InvalidInput
from openatd.ingest.replay import ReplayConnectionError, ReplayStats, TimestampFormat, replay
from openatd.ingest.traces import GO_TRACK_DEFAULT_TZ, TracePoint, TraceReader, read_trace

DEFAULT_URL = "http://127.0.0.1:5055/"


def register(app: typer.Typer) -> None:
    """Add the ``replay`` command to *app*."""
    app.command("replay")(replay_command)


def replay_command(
    trace: Annotated[
        Path,
        typer.Argument(help="GPS trace: GPX, GeoLife/OziExplorer PLT, NMEA 0183, or CSV."),
    ],
    device: Annotated[
        str, typer.Option("--device", help="Device unique id, as registered on the server.")
    ],
    speedup: Annotated[
        float,
        typer.Option(help="Replay this many times faster than recorded; 0 = as fast as possible."),
    ] = 1.0,
    url: Annotated[str, typer.Option(help="The server's OsmAnd intake.")] = DEFAULT_URL,
    track: Annotated[
        str | None,
        typer.Option(help="Only this track: go_track track_id, or GPX track name/number."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Send at most this many points.")] = None,
    tz: Annotated[
        str, typer.Option(help="Zone of CSV times written without an offset (IANA name).")
    ] = GO_TRACK_DEFAULT_TZ,
    rebase: Annotated[
        bool,
        typer.Option(help="Shift fix times so the trace starts now (spacing / speedup)."),
    ] = True,
    method: Annotated[str, typer.Option(help="HTTP method: POST or GET.")] = "POST",
    timestamp_format: Annotated[
        str, typer.Option("--timestamp", help="auto | unix | unix_ms | iso")
    ] = "auto",
) -> None:
    """Replay a recorded GPS trace to a running OpenATD server, as a phone tracker would.

    Each fix is sent to the OsmAnd intake (speed in knots), paced in real time
    divided by --speedup. Refused fixes (HTTP 4xx, e.g. an unknown device) are
    counted and reported; the exit status is 1 if any fix was refused, 2 if the
    trace cannot be read or the server cannot be reached.
    """
    console = Console()
    method_up = method.upper()
    if method_up not in ("GET", "POST"):
        raise typer.BadParameter("use POST or GET", param_hint="--method")
    if timestamp_format not in ("auto", "unix", "unix_ms", "iso"):
        raise typer.BadParameter("use auto, unix, unix_ms or iso", param_hint="--timestamp")
    fmt: TimestampFormat = timestamp_format  # type: ignore[assignment]
    try:
        reader = read_trace(trace, track=track, tz=tz)
        points: list[TracePoint] = list(itertools.islice(reader, limit))
    except InvalidInput as exc:
        console.print(f"[red]cannot read the trace:[/red] {exc}")
        raise typer.Exit(2) from exc

    pace = "as fast as possible" if speedup == 0 or math.isinf(speedup) else f"x{speedup:g}"
    console.print(
        f"{trace.name}: {len(points)} points ({reader.format.value}"
        + (f", track {track}" if track else "")
        + f") to {url} as device {device!r}, {pace}"
    )
    _print_skips(console, reader)

    progress = Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[refused]} refused"),
        TimeElapsedColumn(),
        console=console,
    )
    refused = 0
    try:
        with progress:
            task = progress.add_task("replay", total=len(points), refused=0)

            def on_sent(_index: int, _point: TracePoint, status: int) -> None:
                nonlocal refused
                if not 200 <= status < 300:
                    refused += 1
                progress.update(task, advance=1, refused=refused)

            stats = replay(
                points,
                device,
                url,
                speedup,
                rebase_to_now=rebase,
                method="GET" if method_up == "GET" else "POST",
                timestamp_format=fmt,
                on_sent=on_sent,
            )
    except ReplayConnectionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except InvalidInput as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc

    _print_summary(console, stats)
    if stats.refused_total:
        raise typer.Exit(1)


def _print_skips(console: Console, reader: TraceReader) -> None:
    if reader.skipped:
        reasons = ", ".join(f"{n} {why}" for why, n in reader.skipped.most_common())
        console.print(f"skipped rows in the file so far: {reasons} (first: {reader.first_skip})")
    if reader.invalid:
        console.print(
            f"{reader.invalid} fixes marked invalid by the device are sent with valid=false"
        )


def _print_summary(console: Console, stats: ReplayStats) -> None:
    console.print(
        f"sent {stats.sent}, accepted {stats.accepted}, refused {stats.refused_total} "
        f"in {stats.elapsed_s:.1f} s"
        + (f", {stats.retries} connection retries" if stats.retries else "")
    )
    if stats.first_timestamp and stats.last_timestamp:
        console.print(
            f"fix times sent: {stats.first_timestamp.isoformat()} .. "
            f"{stats.last_timestamp.isoformat()}"
        )
    for status, count in sorted(stats.refused.items()):
        console.print(f"  HTTP {status}: {count}")
    for r in stats.refusals:
        console.print(f"  point {r.index}: HTTP {r.status} {r.body!r}")
