"""Fixture of the safeguard tests: the real API served on a loopback port with a simulated
clock (response windows, retention periods), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from safeguard_helpers import PASSWORD, STAFF, T0, Stack

from free_ports import free_port
from openatd.accounts import create_user
from openatd.api.app import create_app
from openatd.api.container import Container
from openatd.domain.clock import SimulatedClock
from openatd.participants import service
from openatd.safeguards.auth import TokenClaims
from openatd.settings import get_settings
from openatd.storage.db import Database


@pytest.fixture
def stack(db_url: str) -> Iterator[Stack]:
    settings = get_settings(database_url=db_url, env="development", token_ttl_s=400 * 86400)
    db = Database(db_url)
    db.migrate()
    clock = SimulatedClock(T0)
    container = Container(settings=settings, db=db, clock=clock)
    users: dict[str, int] = {}
    with db.uow() as uow:
        for name, role in STAFF.items():
            users[name] = create_user(uow, T0, name, PASSWORD, role.value).id
        cm1 = TokenClaims(users["cm1"], "cm1", STAFF["cm1"], T0)
        p = service.create_participant(
            uow, cm1, T0, name="P. One", timezone="America/Chicago", supervision_level="gps"
        )
        d = service.create_device(
            uow, cm1, T0, unique_id="356938035643809", protocol="osmand", participant_id=p.id
        )
        pid, device_id = p.id, d.id
    app = create_app(container=container, manage_pipeline=False)
    port = free_port()
    # No lifespan: the tests run the notice task and retention at instants they choose.
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
        yield Stack(client, container, clock, db_url, users, pid, device_id)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=20)
        db.dispose()
