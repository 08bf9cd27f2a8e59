"""``openatd simulate``: simulated trackers replaying real GPS traces into an ingest server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer

from openatd.errors import InvalidInput
from openatd.ingest.servers import run
from openatd.ingest.simulator import ENCODERS, device_ids, load_fixes, simulate

_DEFAULT_TRACES = Path("../shared/data/traces")


def simulate_command(
    devices: Annotated[
        int, typer.Option("--devices", "-n", help="Simulated devices.", min=1)
    ] = 100,
    protocol: Annotated[
        str, typer.Option("--protocol", "-p", help=f"One of: {', '.join(ENCODERS)}.")
    ] = "gt06",
    rate: Annotated[
        float, typer.Option("--rate", "-r", help="Positions per second, total.", min=0.001)
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
    register_for: Annotated[
        int | None,
        typer.Option(
            "--register-for",
            help="First register the simulated ids as devices of this participant, through "
            "the API (--api, --user, --password); ids already registered are kept.",
        ),
    ] = None,
    api: Annotated[
        str, typer.Option(help="API address for --register-for.")
    ] = "http://127.0.0.1:8000",
    user: Annotated[
        str | None, typer.Option(envvar="OPENATD_API_USER", help="Staff login for --register-for.")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="OPENATD_API_PASSWORD", help="Its password (or the env variable)."),
    ] = None,
) -> None:
    """Connect N simulated devices over real sockets and replay real traces at R positions/s.

    The devices' ids are ``86`` followed by 13 digits (``--first-id`` onwards);
    register them first (``--register-for PARTICIPANT_ID`` does it through the API), or
    the server (rightly) neither stores nor acknowledges their data. Prints the achieved
    rate and the ACK latency percentiles, then why anything fell short; exits 1 when the
    server acknowledged nothing.
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
    ids = device_ids(devices, first_id)
    if register_for is not None:
        if not user or not password:
            raise typer.BadParameter(
                "give --user and --password (or OPENATD_API_USER / OPENATD_API_PASSWORD)",
                param_hint="--register-for",
            )
        added = register_devices(api, user, password, register_for, protocol, ids)
        typer.echo(
            f"registered {added} new device(s) for participant {register_for} "
            f"({len(ids) - added} already registered)"
        )
    report = run(
        simulate(
            host,
            port,
            protocol,
            devices,
            rate,
            duration,
            traces,
            ids=ids,
            source_ips=source_ips,
        )
    )
    typer.echo(report.summary())
    for problem in report.problems():
        typer.secho(problem, err=True, fg=typer.colors.RED)
    if not report.acknowledged:
        raise typer.Exit(1)


def register_devices(
    api: str, user: str, password: str, participant_id: int, protocol: str, ids: list[str]
) -> int:
    """Register *ids* as *protocol* devices of *participant_id* through the staff API.

    Returns how many were new (an id already registered answers 409 and is kept).

    Raises:
        typer.Exit: (code 2) the API cannot be reached, refuses the login, or refuses a
            device for another reason; the message says which and why.
    """
    base = api.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=10.0) as client:
            answer = client.post("/api/auth/token", data={"username": user, "password": password})
            if answer.status_code != 200:
                _fail(f"the API at {base} refused the login of {user!r}: {_detail(answer)}")
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            added = 0
            for unique_id in ids:
                body = {
                    "unique_id": unique_id,
                    "protocol": protocol,
                    "participant_id": participant_id,
                }
                answer = client.post("/api/devices", json=body, headers=headers)
                if answer.status_code == 201:
                    added += 1
                elif answer.status_code != 409:
                    _fail(f"the API refused device {unique_id}: {_detail(answer)}")
            return added
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the API at {base}: {exc}")


def _detail(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = None
    return f"HTTP {answer.status_code}" + (f": {detail}" if detail else "")


def _fail(message: str) -> NoReturn:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``openatd`` app."""
    app.command("simulate")(simulate_command)
