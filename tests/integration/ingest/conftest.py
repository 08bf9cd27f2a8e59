"""Fixtures of the bus tests: a throwaway nats-server (see ``nats_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nats_support import NATS_URL, NatsServer, nats_binary


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A throwaway nats-server with JetStream, stopped (by PID) at teardown."""
    binary = nats_binary()
    if binary is None:
        pytest.skip("no nats-server binary (apt-get install nats-server; .ci/run does)")
    server = NatsServer(binary, tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A NATS URL: a throwaway server, else OPENATD_TEST_NATS_URL."""
    binary = nats_binary()
    if binary is None:
        if NATS_URL:
            yield NATS_URL
            return
        pytest.skip("no nats-server binary and no OPENATD_TEST_NATS_URL")
    server = NatsServer(binary, tmp_path / "nats")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
