"""A throwaway nats-server for the bus tests: a free port, a temporary store, stopped at the end.

The real broker, never a mock: Debian's ``nats-server`` (``/usr/sbin/nats-server``) or one
on ``PATH``; ``.ci/run`` installs it. Without a binary, ``OPENATD_TEST_NATS_URL`` names a
running server for the tests that do not restart it; with neither, the tests skip. And the
bus tests' helpers: a bus of their own, devices registered, what was stored and raised.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from free_ports import free_port
from openatd.ingest.nats_bus import NatsBusConfig
from openatd.storage.db import Database

NATS_URL = os.environ.get("OPENATD_TEST_NATS_URL")


def nats_binary() -> str | None:
    """Path of a nats-server binary, or None."""
    found = shutil.which("nats-server")
    if found:
        return found
    return "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None


class NatsServer:
    """One nats-server with JetStream on 127.0.0.1:<port>, file store under *store*."""

    def __init__(self, binary: str, store: Path) -> None:
        self.binary = binary
        self.store = store
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start it (same port and store as before) and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port} in {timeout_s} s")

    def kill(self) -> None:
        """Kill it at once (SIGKILL, by its PID): no flush of its store, as in a crash."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        """Stop it gracefully (SIGTERM: JetStream flushes its store), by its PID."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


def bus_config(url: str, partitions: int = 4) -> NatsBusConfig:
    """A bus of its own (stream, subjects, consumers named by a random tag) on *url*."""
    tag = uuid.uuid4().hex[:10]
    return NatsBusConfig(
        url=url,
        stream=f"T_{tag}",
        subject_prefix=f"t{tag}",
        partitions=partitions,
        consumer=f"c{tag}",
        ack_wait_s=5.0,
    )


def stored_positions(db: Database) -> list[tuple[str, datetime]]:
    """Every stored position as ``(unique id, fix time)``."""
    with db.uow() as uow:
        rows = uow.session.execute(
            sa.text(
                "SELECT d.unique_id, p.fix_time FROM positions p JOIN devices d "
                "ON d.id = p.device_id"
            )
        ).all()
    return [(uid, utc(t)) for uid, t in rows]


def raised_alerts(db: Database) -> list[tuple[str, str, datetime]]:
    """Every alert as ``(unique id, type, at)``."""
    with db.uow() as uow:
        rows = uow.session.execute(
            sa.text(
                "SELECT d.unique_id, a.type, a.at FROM alerts a "
                "JOIN devices d ON d.id = a.device_id"
            )
        ).all()
    return [(uid, kind, utc(at)) for uid, kind, at in rows]


def utc(t: datetime | str) -> datetime:
    """A database time as aware UTC (SQLite gives naive times or strings)."""
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


async def wait_drained(config: NatsBusConfig, timeout_s: float = 30.0) -> None:
    """Wait until the stream holds no message (work queue: every one acked)."""
    import nats

    nc = await nats.connect(config.url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (await js.stream_info(config.stream)).state.messages == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the stream was not drained")
    finally:
        await nc.close()
