"""The route crawl (issue 7 item 5): every personal-data read leaves exactly one audit entry.

The route table drives it: every route of the app (API and staff pages) must declare what it
does with personal data (``openatd.api.access``), and every ``GET`` route is called with every
role (anonymous, two case managers, supervisor, auditor, administrator, a participant's phone).
A successful personal-data read must leave exactly one entry, by the caller, naming what the
route declares it reads and attributed to every participant whose data the response carried; a
refused read and a route without personal data leave none. A new route that declares nothing
fails here with the line to add.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from free_ports import free_port
from openatd.accounts import create_user
from openatd.alerts.notices import notify_new_alerts
from openatd.api.access import RouteEntry, declared, iter_routes
from openatd.api.app import create_app
from openatd.api.container import Container
from openatd.api.routes.obligations import policy_of
from openatd.checkins import service as checkins
from openatd.checkins import visits
from openatd.domain.clock import SimulatedClock
from openatd.obligations import feed
from openatd.obligations import service as obligation_service
from openatd.participants import service as participants
from openatd.participants import zones
from openatd.safeguards.auth import (
    ParticipantClaims,
    TokenClaims,
    issue_participant_token,
)
from openatd.settings import get_settings
from openatd.storage.db import Database

T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
STAFF = {
    "cm": "case_manager",
    "cm_other": "case_manager",
    "sup": "supervisor",
    "aud": "auditor",
    "adm": "admin",
}
ROLES = ["anonymous", *STAFF, "participant"]

DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""Framework routes that serve the API description, not data."""

QUERY = {
    "start": (T0 - timedelta(days=1)).isoformat(),
    "end": T0.isoformat(),
    "reason": "route crawl: checking the audit trail",
    "format": "geojson",
}
"""Values for query parameters that reads need (positions: a window and a reason)."""

SECRET_URL_ACTORS = {"/api/calendar/{token}.ics": "calendar_feed"}
"""Routes authorised by a secret in their address (a phone calendar subscribing has no login):
whoever calls, the read is recorded as that secret's."""

HOW_TO = (
    "add openapi_extra=personal_read('<what>') if it returns personal data (and record the "
    "read with openatd.safeguards.reads.record_read), PERSONAL_WRITE if it changes personal "
    "data, or NO_PERSONAL_DATA (all from openatd.api.access)"
)


@dataclass
class World:
    client: httpx.Client
    app: FastAPI
    container: Container
    staff_tokens: dict[str, str]
    participant_token: str
    paths: dict[str, int | str]
    mine: int
    other: int


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    settings = get_settings(database_url=db_url, env="development", token_ttl_s=86400)
    db = Database(db_url)
    db.migrate()
    container = Container(settings=settings, db=db, clock=SimulatedClock(T0))
    app = create_app(container=container, manage_pipeline=False)
    with db.uow() as uow:
        users = {name: create_user(uow, T0, name, PASSWORD, role) for name, role in STAFF.items()}
        claims = {
            name: TokenClaims(u.id, u.username, _role(u.role), T0 + timedelta(days=1))
            for name, u in users.items()
        }
    with db.uow() as uow:
        cm = claims["cm"]
        mine = participants.create_participant(
            uow, cm, T0, name="P. Mine", timezone="America/Chicago", supervision_level="app"
        ).id
        other = participants.create_participant(
            uow, claims["sup"], T0, name="P. Other", timezone="UTC", supervision_level="gps"
        ).id
        zone = zones.create_zone(
            uow,
            cm,
            T0,
            mine,
            name="home",
            kind="inclusion",
            geometry=None,
            circle={"lat": 41.88, "lon": -87.63, "radius_m": 200},
            schedule=None,
        ).id
        participants.create_device(
            uow, cm, T0, unique_id="359710040000001", protocol="gt06", participant_id=mine
        )
        participants.create_device(
            uow,
            claims["sup"],
            T0,
            unique_id="359710040000002",
            protocol="gt06",
            participant_id=other,
        )
        schedule = checkins.create_schedule(
            uow, cm, T0, mine, kind="adhoc", within_minutes=60, reason="crawl check-in request"
        ).id
        alert = uow.alerts.add(
            participant_id=mine,
            type="zone_exit",
            category="behavioural",
            at=T0,
            raised_at=T0,
            explanation="left home during curfew",
        ).id
        uow.alerts.add(
            participant_id=other,
            type="low_battery",
            category="technical",
            at=T0,
            raised_at=T0,
            explanation="battery at 5%",
        )
        checkin = uow.checkins.add(
            participant_id=mine,
            schedule_id=schedule,
            window_start=T0,
            window_end=T0 + timedelta(hours=1),
            server_time=T0,
            latitude=41.88,
            longitude=-87.63,
            accuracy_m=12.0,
            outcome="needs_review",
            review_status="open",
            review_kind="mismatch",
            selfie=b"\xff\xd8\xff\xe0 crawl selfie",
        ).id
        obligation = obligation_service.create_obligation(
            uow,
            cm,
            T0,
            mine,
            policy_of(settings),
            kind="court_hearing",
            title="Hearing",
            start=T0 + timedelta(days=10),
            location="50 W Washington St",
        ).id
        visit = visits.schedule_visit(
            uow, cm, T0, mine, kind="home", scheduled_for=(T0 + timedelta(days=2)).isoformat()
        ).id
        feed_token = feed.issue(uow, cm, T0, mine)
    with db.uow() as uow:
        # Participants are told of their alerts by a background task; here, before the crawl,
        # so that a read is only a read (the catch-up on reading alerts then has nothing to do).
        notify_new_alerts(uow, T0, settings.response_window_h * 3600.0, None)
    with db.uow() as uow:
        version = uow.participants.get(mine).app_token_version or 0
    tokens = {}
    from openatd.safeguards.auth import issue_token

    for name, c in claims.items():
        tokens[name] = issue_token(c, settings.secret_key)
    ptoken = issue_participant_token(
        ParticipantClaims(mine, version, T0 + timedelta(days=1)), settings.secret_key
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.02)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        yield World(
            client,
            app,
            container,
            tokens,
            ptoken,
            {
                "participant_id": mine,
                "alert_id": alert,
                "zone_id": zone,
                "schedule_id": schedule,
                "checkin_id": checkin,
                "obligation_id": obligation,
                "visit_id": visit,
                "token": feed_token,
                "name": "app.css",
            },
            mine,
            other,
        )
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=20)
        db.dispose()


def _role(name: str) -> Any:
    from openatd.safeguards.auth import Role

    return Role(name)


def _max_id(db: Database) -> int:
    with db.engine.connect() as c:
        return int(c.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit_entries")).scalar())


def _new_entries(db: Database, after: int) -> list[dict[str, Any]]:
    with db.uow() as uow:
        rows = [e for e in uow.audit.list(limit=100) if e.id > after]
        out = []
        for e in rows:
            linked = uow.session.execute(
                sa.text("SELECT participant_id FROM audit_entry_participants WHERE entry_id = :i"),
                {"i": e.id},
            )
            out.append(
                {
                    "id": e.id,
                    "actor": e.actor,
                    "action": e.action,
                    "subject_type": e.subject_type,
                    "details": e.details or {},
                    "participants": {int(p) for (p,) in linked},
                }
            )
        return out


def _participant_ids_in(body: Any, route_path: str) -> set[int]:
    """Every participant id a JSON response carries (``participant_id`` fields, and the
    ``id`` of each participant in a participant list)."""
    found: set[int] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "participant_id" and isinstance(v, int):
                    found.add(v)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(body)
    if route_path == "/api/participants" and isinstance(body, list):
        found.update(p["id"] for p in body)
    return found


def _request(w: World, entry: RouteEntry, role: str) -> Any:
    route = entry.route
    assert isinstance(route, APIRoute)
    path = entry.path
    for name in re.findall(r"{(\w+)}", path):
        assert name in w.paths, (
            f"the crawl has no value for path parameter {name!r} of {path}: add one to "
            "World.paths in tests/integration/security/test_route_audit.py"
        )
        path = path.replace("{" + name + "}", str(w.paths[name]))
    params = {}
    for q in route.dependant.query_params:
        if q.alias in QUERY:
            params[q.alias] = QUERY[q.alias]
        elif q.field_info.is_required():
            raise AssertionError(
                f"the crawl has no value for required query parameter {q.alias!r} of "
                f"{entry.path}: add one to QUERY in this test"
            )
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if role == "participant":
        headers["Authorization"] = f"Bearer {w.participant_token}"
        cookies["openatd_me"] = w.participant_token  # the web app's session (/me/)
    elif role != "anonymous":
        headers["Authorization"] = f"Bearer {w.staff_tokens[role]}"
        cookies["openatd_session"] = w.staff_tokens[role]
    w.client.cookies.clear()
    for k, v in cookies.items():
        w.client.cookies.set(k, v)
    return w.client.get(path, params=params, headers=headers, follow_redirects=False)


def test_every_route_declares_what_it_does_with_personal_data(world: World) -> None:
    missing = []
    for entry in iter_routes(world.app):
        route = entry.route
        if isinstance(route, APIRoute):
            if declared(route.openapi_extra) is None:
                missing.append(f"{','.join(sorted(entry.methods))} {entry.path}")
        elif isinstance(route, Route) and entry.path not in DOCS:
            missing.append(f"{entry.path} (a plain Starlette route: make it an APIRoute)")
        elif isinstance(route, Mount) and "static" not in entry.path:
            missing.append(f"mount {entry.path} (only static assets may be mounted)")
    assert not missing, (
        "these routes do not declare what they do with personal data; for each, "
        + HOW_TO
        + ":\n  "
        + "\n  ".join(missing)
    )


def test_every_personal_data_read_leaves_exactly_one_entry(world: World) -> None:
    db = world.container.db
    readable: dict[str, list[str]] = {}
    failures: list[str] = []
    gets = [
        e
        for e in iter_routes(world.app)
        if isinstance(e.route, APIRoute) and "GET" in e.methods and declared(e.route.openapi_extra)
    ]
    assert len(gets) >= 20, "the crawl found too few routes: is the app wired?"
    for entry in gets:
        route = entry.route
        assert isinstance(route, APIRoute)
        decl = declared(route.openapi_extra)
        assert decl is not None
        for role in ROLES:
            before = _max_id(db)
            r = _request(world, entry, role)
            new = _new_entries(db, before)
            where = f"GET {entry.path} as {role} -> {r.status_code}"
            ok = 200 <= r.status_code < 300
            if decl["access"] != "read" or not ok:
                if new:
                    failures.append(f"{where}: expected no entry, got {[e['action'] for e in new]}")
                continue
            readable.setdefault(entry.path, []).append(role)
            if len(new) != 1:
                failures.append(f"{where}: expected exactly one entry, got {len(new)}: {new}")
                continue
            e = new[0]
            actor = f"participant:{world.mine}" if role == "participant" else f"user:{role}"
            actor = SECRET_URL_ACTORS.get(entry.path, actor)
            if e["actor"] != actor:
                failures.append(f"{where}: entry by {e['actor']}, not {actor}")
            named = {e["subject_type"]} | {
                part["what"] for part in e["details"].get("read", []) if isinstance(part, dict)
            }
            if not set(decl["what"]) <= named:
                failures.append(f"{where}: entry names {named}, route declares {decl['what']}")
            if "{participant_id}" in entry.path and world.mine not in e["participants"]:
                failures.append(f"{where}: entry not attributed to the participant read")
            if role == "participant" and e["participants"] != {world.mine}:
                failures.append(f"{where}: a participant's read attributed to {e['participants']}")
            if r.headers.get("content-type", "").startswith("application/json"):
                carried = _participant_ids_in(r.json(), entry.path)
                if entry.path != "/api/audit" and not carried <= e["participants"]:
                    failures.append(
                        f"{where}: response carries participants {carried}, entry attributes "
                        f"{e['participants']}"
                    )
    assert not failures, "\n".join(failures)
    reads = {
        e.path
        for e in gets
        if isinstance(e.route, APIRoute)
        and (d := declared(e.route.openapi_extra)) is not None
        and d["access"] == "read"
    }
    never = sorted(reads - set(readable))
    assert not never, f"no role could read these (the crawl checked nothing there): {never}"
    # A supervisor's caseload-wide read is attributed to every participant it returned.
    assert set(readable["/api/participants"]) == {"cm", "cm_other", "sup"}


def test_page_view_is_one_entry_and_the_inbox_is_attributed_to_each_participant(
    world: World,
) -> None:
    db = world.container.db
    world.client.cookies.set("openatd_session", world.staff_tokens["sup"])
    before = _max_id(db)
    r = world.client.get(f"/ui/participants/{world.mine}")
    assert r.status_code == 200
    (entry,) = _new_entries(db, before)
    assert [p["what"] for p in entry["details"]["read"]] == [
        "participant",
        "zones",
        "alerts",
        "checkin_schedules",
        "face_enrolment",
        "obligations",
    ]
    assert entry["participants"] == {world.mine}

    before = _max_id(db)
    assert world.client.get("/ui/").status_code == 200
    (entry,) = _new_entries(db, before)
    assert entry["participants"] == {world.mine, world.other}
    assert entry["details"]["participant_ids"] == sorted({world.mine, world.other})

    # Each participant's own view of "who read my data" now includes that inbox view, and
    # the export does not name the other participant.
    r = world.client.get(
        "/api/portal/export", headers={"Authorization": f"Bearer {world.participant_token}"}
    )
    assert r.status_code == 200
    ids = [e["id"] for e in r.json()["audit_entries"]]
    assert entry["id"] in ids
    mine = next(e for e in r.json()["audit_entries"] if e["id"] == entry["id"])
    assert "participant_ids" not in (mine["details"] or {})
