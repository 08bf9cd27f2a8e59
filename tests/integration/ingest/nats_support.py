"""A throwaway nats-server for the bus tests: a free port, a temporary store, stopped at the end.

The real broker, never a mock: Debian's ``nats-server`` (``/usr/sbin/nats-server``) or one
on ``PATH``; ``.ci/run`` installs it. Without a binary, ``OPENATD_TEST_NATS_URL`` names a
running server for the tests that do not restart it; with neither, the tests skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from free_ports import free_port

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
