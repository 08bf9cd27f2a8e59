"""Fixtures of the check-in integration tests: the real face verifier, real LFW people, and the
real API served on a loopback port with a simulated server clock (timeliness, outages, DST)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from checkin_helpers import T0, Api, Person, Stack, lfw_people, make_users

from free_ports import free_port
from openatd.api.app import create_app
from openatd.api.container import Container
from openatd.checkins.face import OpenCVFaceVerifier
from openatd.domain.clock import SimulatedClock
from openatd.settings import get_settings
from openatd.storage.db import Database


@pytest.fixture(scope="session")
def verifier() -> OpenCVFaceVerifier:
    return OpenCVFaceVerifier.from_installed_package()


@pytest.fixture(scope="session")
def people(shared_data, verifier) -> list[Person]:  # type: ignore[no-untyped-def]
    return lfw_people(shared_data.path("faces"), verifier, 3)


@pytest.fixture
def stack(db_url: str, verifier: OpenCVFaceVerifier) -> Iterator[Stack]:
    settings = get_settings(database_url=db_url, env="development", token_ttl_s=86400)
    db = Database(db_url)
    db.migrate()
    clock = SimulatedClock(T0)
    container = Container(settings=settings, db=db, clock=clock)
    container.face_verifier = verifier  # type: ignore[attr-defined]
    make_users(db_url, T0)
    app = create_app(container=container, manage_pipeline=False)
    port = free_port()
    # No lifespan: the test drives the missed-check-in sweep itself, at instants it chooses.
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
        yield Stack(Api(client), client, container, clock, db_url)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=20)
        db.dispose()
