"""Real databases and a real running server for integration tests.

``db_url`` runs each test on SQLite (a fresh WAL file) and, when
``OPENATD_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it), on PostgreSQL in a
fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from live import LiveServer, start_live_server

PG_URL = os.environ.get("OPENATD_TEST_POSTGRES_URL")

__all__ = ["LiveServer", "start_live_server"]

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    # The schema name is also the application name, so teardown can end every connection
    # that a stopped server's threads still hold before dropping the schema.
    return f"{base}{sep}options=-csearch_path%3D{schema}&application_name={schema}"


def _drop_schema(admin: sa.Engine, schema: str) -> None:
    """Drop a test schema after ending the connections still using it.

    A live server's worker threads can hold an idle transaction for a moment after the
    server stops; DROP SCHEMA ... CASCADE then waits on it or deadlocks against it.
    """
    for attempt in range(5):
        try:
            with admin.begin() as c:
                c.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": schema},
                )
                c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            return
        except sa.exc.OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


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
        _drop_schema(admin, schema)
        admin.dispose()


@pytest.fixture
def live_server(db_url: str) -> Iterator[LiveServer]:
    """A running server on a fresh database of each backend."""
    server = start_live_server(db_url, tick_interval_s=0.2)
    try:
        yield server
    finally:
        server.stop()
