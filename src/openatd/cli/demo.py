"""``openatd demo``: a demo program that shows alerts from a real GPS trace within a minute.

It creates a throwaway SQLite database (in a temporary folder, deleted on
exit unless ``--keep``), a case manager, one participant with a home zone
that is a curfew and an exclusion zone, a device, a check-in window open for the
demo's lifetime and a face enrolled from a real photo; starts the real server
(API + OsmAnd intake + pipeline); replays a real trace into the intake over
HTTP; and prints the alerts the rules raised, with how to log in and look.

The default trace is ``traces/gpxpy_slovenia/around-visnjan-with-car.gpx``
from the shared test data (Apache-2.0). The trace's recorded data stays in
the temporary database only; nothing from the shared data is kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console

from openatd.accounts import create_user
from openatd.checkins import service as checkins
from openatd.checkins.templates import parse_keys
from openatd.domain.geodesy import distance_m
from openatd.errors import InvalidInput, VerificationUnavailable
from openatd.ingest.replay import replay
from openatd.ingest.traces import TracePoint, read_trace
from openatd.logs import configure_logging
from openatd.participants import service as participants
from openatd.participants.portal import issue_app_code
from openatd.participants.zones import create_zone
from openatd.safeguards.auth import Role, TokenClaims
from openatd.settings import Settings, get_settings
from openatd.storage.db import Database
from openatd.storage.repositories import UnitOfWork

console = Console(soft_wrap=True)
DEFAULT_TRACE = Path("traces") / "gpxpy_slovenia" / "around-visnjan-with-car.gpx"
DEMO_TZ = "Europe/Zagreb"
DEMO_USER = "demo"
DEVICE_ID = "demo-phone-1"
DEMO_FACE = Path("faces") / "lfw" / "Adam_Sandler" / "Adam_Sandler_0001.jpg"
"""The demo participant's enrolment photo in the shared data (LFW, see faces/PROVENANCE.md)."""
DEMO_CONSENT = "demo program: consent recorded for the demonstration"
CHECKIN_WINDOW_MIN = 1440
"""The demo's ad-hoc check-in window, minutes (the longest an ad-hoc request may be open)."""


def register(app: typer.Typer) -> None:
    app.command()(demo)


def find_shared_data() -> Path | None:
    """``$OPENATD_SHARED_DATA``, else ``../shared/data`` from the working folder or the checkout."""
    env = os.environ.get("OPENATD_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [
        Path.cwd().parent / "shared" / "data",
        Path(__file__).resolve().parents[4] / "shared" / "data",
    ]
    return next((c for c in candidates if c.is_dir()), None)


def demo(
    trace: Annotated[
        Path | None, typer.Option(help="GPS trace (GPX, CSV, PLT, NMEA); default a real drive")
    ] = None,
    track: Annotated[str | None, typer.Option(help="track within the trace file")] = None,
    speedup: Annotated[
        float, typer.Option(help="0 = send the whole trace at once, ending now; N = N× real time")
    ] = 0.0,
    http_port: Annotated[int, typer.Option(help="staff API port")] = 8000,
    osmand_port: Annotated[int, typer.Option(help="OsmAnd intake port")] = 5055,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="stop after printing the alerts (no server left running)")
    ] = False,
    keep: Annotated[bool, typer.Option(help="keep the demo database folder")] = False,
) -> None:
    """Set up a demo program, replay a real trace into it and show the alerts it raises."""
    if trace is None:
        shared = find_shared_data()
        if shared is None:
            console.print("[red]no trace:[/] give --trace FILE or set OPENATD_SHARED_DATA")
            raise typer.Exit(2)
        trace = shared / DEFAULT_TRACE
    try:
        points = list(read_trace(trace, track=track))
    except InvalidInput as exc:
        console.print(f"[red]cannot read the trace:[/] {exc}")
        raise typer.Exit(2) from exc
    if len(points) < 10:
        console.print(f"[red]the trace has only {len(points)} points; the demo needs 10 or more")
        raise typer.Exit(2)
    folder = Path(tempfile.mkdtemp(prefix="openatd-demo-"))
    settings = get_settings(
        database_url=f"sqlite:///{folder / 'openatd-demo.db'}",
        http_port=http_port,
        osmand_port=osmand_port,
        env="development",
        tick_interval_s=5.0,
    )
    password = secrets.token_urlsafe(12)
    configure_logging(
        settings.log_format,
        level=logging.WARNING,
        text_format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        pid, app_code = setup_program(settings, points, password, speedup)
        asyncio.run(_run(settings, points, password, (pid, app_code), speedup, exit_after))
    except KeyboardInterrupt:
        console.print("\nstopped.")
    finally:
        if keep:
            console.print(f"demo database kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            console.print(f"demo database deleted ({folder})")


def setup_program(
    settings: Settings, points: list[TracePoint], password: str, speedup: float
) -> tuple[int, str]:
    """Create the demo staff users, participant, zones and device.

    Returns ``(participant id, the participant's one-time app sign-in code)``.

    Zones are placed on the trace: a 120 m home circle around its first fix
    (a curfew, active for the hours the replay covers, in the participant's
    local time) and a 150 m exclusion zone around the fix two-thirds along. The participant
    gets an ad-hoc check-in window open for :data:`CHECKIN_WINDOW_MIN` minutes and, when the
    shared data is there, a face enrolment from :data:`DEMO_FACE`, so that a check-in from
    the participant app (/me/) completes.
    """
    db = Database(settings.database_url)
    db.migrate()
    now = datetime.now(ZoneInfo("UTC"))
    with db.uow() as uow:
        user = create_user(uow, now, DEMO_USER, password, Role.CASE_MANAGER.value)
        create_user(uow, now, "auditor", password, Role.AUDITOR.value)
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, now + timedelta(hours=1))
        p = participants.create_participant(
            uow,
            claims,
            now,
            name="Demo Participant",
            timezone=DEMO_TZ,
            supervision_level="gps",
            policy={"zone_dwell_s": 20, "offline_after_s": 120},
        )
        home = points[0]
        local = now.astimezone(ZoneInfo(DEMO_TZ))
        span = points[-1].time - points[0].time
        start = (local - (span if speedup == 0 else timedelta(0)) - timedelta(hours=1)).replace(
            minute=0, second=0, microsecond=0
        )
        end = start + timedelta(hours=6)
        create_zone(
            uow,
            claims,
            now,
            p.id,
            name="home (curfew)",
            kind="inclusion",
            geometry=None,
            circle={"lat": home.latitude, "lon": home.longitude, "radius_m": 120.0},
            schedule=[
                {
                    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                    "start": start.strftime("%H:%M"),
                    "end": end.strftime("%H:%M"),
                }
            ],
        )
        far = _exclusion_centre(points)
        create_zone(
            uow,
            claims,
            now,
            p.id,
            name="protected address",
            kind="exclusion",
            geometry=None,
            circle={"lat": far.latitude, "lon": far.longitude, "radius_m": 150.0},
            schedule=None,
        )
        participants.create_device(
            uow, claims, now, unique_id=DEVICE_ID, protocol="osmand", participant_id=p.id
        )
        pid = p.id
        checkins.create_schedule(
            uow,
            claims,
            now,
            pid,
            kind="adhoc",
            within_minutes=CHECKIN_WINDOW_MIN,
            reason="demo: check in from the participant app",
        )
        face = _enrol_demo_face(uow, claims, now, settings, pid)
        code, _ = issue_app_code(uow, claims, now, pid)
    db.dispose()
    if face is not None:
        console.print(
            f"the demo participant's face is enrolled from {face} (shared data): a check-in "
            "showing that photo is verified, any other face goes to review"
        )
    return pid, code


def _enrol_demo_face(
    uow: UnitOfWork, claims: TokenClaims, now: datetime, settings: Settings, pid: int
) -> Path | None:
    """Enrol :data:`DEMO_FACE` from the shared data, with consent, as the API route does.

    Returns the photo's path, or ``None`` (with a note printed) when the shared data or the
    face models are missing: the demo then runs without photo check-ins.
    """
    shared = find_shared_data()
    photo = shared / DEMO_FACE if shared is not None else None
    if photo is None or not photo.is_file():
        console.print("no face enrolment: the shared data's faces/ folder was not found")
        return None
    from openatd.checkins.face import OpenCVFaceVerifier

    try:
        checkins.enrol_face(
            uow,
            claims,
            now,
            OpenCVFaceVerifier.from_installed_package(),
            parse_keys(settings.template_key),
            pid,
            [photo.read_bytes()],
            DEMO_CONSENT,
        )
    except (VerificationUnavailable, InvalidInput) as exc:
        console.print(f"no face enrolment: {exc}")
        return None
    return photo


def _exclusion_centre(points: list[TracePoint]) -> TracePoint:
    """The fix two-thirds along the trace, or the first one 400 m or more from home after it."""
    start = points[0]
    for pt in points[(2 * len(points)) // 3 :]:
        if distance_m(start.latitude, start.longitude, pt.latitude, pt.longitude) > 400:
            return pt
    return points[(2 * len(points)) // 3]


async def _run(
    settings: Settings,
    points: list[TracePoint],
    password: str,
    participant: tuple[int, str],
    speedup: float,
    exit_after: bool,
) -> None:
    from openatd.cli.serve import run_server

    ready = asyncio.Event()
    server = asyncio.create_task(run_server(settings, ready=ready))
    await asyncio.wait(
        {server, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED
    )
    if server.done():
        server.result()  # raises the start-up error (e.g. a port in use)
        return
    api = f"http://{settings.http_host}:{settings.http_port}"
    intake = f"http://{settings.http_host}:{settings.osmand_port}/"
    console.print(f"replaying {len(points)} real fixes as device {DEVICE_ID} → {intake}")
    stats = await asyncio.to_thread(replay, points, DEVICE_ID, intake, speedup)
    console.print(
        f"sent {stats.sent}, accepted by the intake {stats.accepted}, "
        f"refused {stats.refused_total} in {stats.elapsed_s:.1f} s"
    )
    await asyncio.sleep(1.0)
    alerts = await asyncio.to_thread(_fetch_alerts, api, password)
    _print_alerts(alerts)
    _print_links(api, password, *participant)
    if exit_after:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        return
    console.print(
        "The device now falls silent: a technical device_offline alert follows in about 2"
        " minutes.\nCtrl-C stops the demo and deletes its database. New alerts appear below."
    )
    seen = {a["id"] for a in alerts}
    while not server.done():
        await asyncio.wait({server}, timeout=5.0)
        if server.done():
            break
        try:
            fresh = await asyncio.to_thread(_fetch_alerts, api, password)
        except httpx.HTTPError:
            continue
        new = [a for a in fresh if a["id"] not in seen]
        if new:
            seen.update(a["id"] for a in new)
            _print_alerts(new, title="new")
    await server


def _print_links(api: str, password: str, participant_id: int, app_code: str) -> None:
    """Everything a newcomer can open now, each with the login it takes."""
    console.print("\n[bold]Open these[/] (the demo's logins work until it stops):")
    rows = [
        (
            "staff pages",
            f"{api}/ui/",
            f"log in as [bold]{DEMO_USER}[/] / [bold]{password}[/]"
            " (case manager: alerts, participants, tracks)",
        ),
        (
            "audit log",
            f"{api}/ui/audit",
            f"log in as [bold]auditor[/] / [bold]{password}[/] (who read what, and why)",
        ),
        ("API docs", f"{api}/docs", "press 'Authorize' and use either login above"),
        (
            "participant app",
            f"{api}/me/",
            f"participant {participant_id} signs in with code "
            f"[bold]{app_code}[/] (one use; best on a phone-sized window)",
        ),
    ]
    for label, url, how in rows:
        console.print(f"  {label:<16} {url:<34} {how}")
    console.print(
        f"  API by hand: GET {api}/api/alerts · POST /api/alerts/{{id}}/resolve\n"
        f"               GET {api}/api/participants/{participant_id}/positions"
        "?start=...&end=...&reason=... (a reason is required; the read is audited)"
    )


def _fetch_alerts(api: str, password: str) -> list[dict[str, object]]:
    with httpx.Client(base_url=api, timeout=10) as client:
        token = client.post(
            "/api/auth/token", data={"username": DEMO_USER, "password": password}
        ).json()["access_token"]
        r = client.get("/api/alerts", headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        alerts: list[dict[str, object]] = r.json()
        return alerts


def _print_alerts(alerts: list[dict[str, object]], title: str = "") -> None:
    console.print(
        f"\n[bold]{len(alerts)} {title + ' ' if title else ''}alert(s)[/] raised by the rules, "
        "each for a person to review (rules never confirm a violation):"
    )
    for a in sorted(alerts, key=lambda a: str(a["at"])):
        zone = f" · {a['zone_name']}" if a.get("zone_name") else ""
        console.print(f"  #{a['id']} [bold]{a['type']}[/] ({a['category']}{zone})")
        console.print(f"      {a['explanation']}")
