"""A real API on a loopback port with chosen settings, for the access-security tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from security_helpers import PASSWORD, T0, Served

from free_ports import free_port
from openatd.api.app import create_app
from openatd.api.container import Container
from openatd.domain.clock import SimulatedClock
from openatd.settings import get_settings
from openatd.storage.db import Database

__all__ = ["PASSWORD", "T0", "Served"]


@pytest.fixture
def serve(db_url: str) -> Iterator[Callable[..., Served]]:
    """``serve(**settings)``: start the API on a fresh database with those settings."""
    started: list[tuple[uvicorn.Server, threading.Thread, httpx.Client, Database]] = []

    def start(**overrides: object) -> Served:
        settings = get_settings(
            database_url=db_url, env="development", token_ttl_s=86400, **overrides
        )
        db = Database(db_url)
        db.migrate()
        clock = SimulatedClock(T0)
        container = Container(settings=settings, db=db, clock=clock)
        app = create_app(container=container, manage_pipeline=False)
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
        started.append((server, thread, client, db))
        return Served(client, container, clock)

    yield start
    for server, thread, client, db in started:
        client.close()
        server.should_exit = True
        thread.join(timeout=20)
        db.dispose()
