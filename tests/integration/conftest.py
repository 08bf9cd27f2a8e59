"""Real databases and a real running server for integration tests.

``db_url`` runs each test on SQLite (a fresh WAL file) and, when
``OPENATD_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it), on PostgreSQL in a
fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("OPENATD_TEST_POSTGRES_URL")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'openatd.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set OPENATD_TEST_POSTGRES_URL (.ci/run does)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A real ``openatd serve`` in a thread: API and OsmAnd intake on loopback ports."""

    api: str
    intake: str
    database_url: str
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[None]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=20)


def start_live_server(database_url: str, **overrides: object) -> LiveServer:
    from openatd.cli.serve import run_server
    from openatd.settings import get_settings

    http_port, osmand_port = free_port(), free_port()
    settings = get_settings(
        database_url=database_url,
        http_port=http_port,
        osmand_port=osmand_port,
        env="test",
        **overrides,
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Task[None]] = {}
    errors: list[BaseException] = []

    async def main() -> None:
        ev = asyncio.Event()
        task = asyncio.create_task(run_server(settings, ready=ev))
        holder["task"] = task
        waiter = asyncio.create_task(ev.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        ready.set()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            errors.append(exc)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(30) or errors or holder["task"].done():
        raise RuntimeError(f"server did not start: {errors}")
    return LiveServer(
        api=f"http://127.0.0.1:{http_port}",
        intake=f"http://127.0.0.1:{osmand_port}",
        database_url=database_url,
        thread=thread,
        loop=loop,
        task=holder["task"],
    )


@pytest.fixture
def live_server(db_url: str) -> Iterator[LiveServer]:
    """A running server on a fresh database of each backend."""
    server = start_live_server(db_url, tick_interval_s=0.2)
    try:
        yield server
    finally:
        server.stop()
