"""Loopback ports for the servers tests start, one helper for every test.

``bind(0)`` hands out a port from Linux's ephemeral range (32768-60999), from which the
kernel also picks the local port of every outgoing connection (to PostgreSQL, to NATS);
between the check and the server's own bind, such a connection, or a second ``bind(0)``
of the same test, could take the port ("address already in use" seen in CI). These ports
come from below that range, are free for TCP and UDP when handed out, and are never handed
out twice by one process.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time

_LOW, _HIGH = 20_000, 32_700
_given: set[int] = set()
_lock = threading.Lock()
_rng = random.Random(os.getpid() ^ time.time_ns())


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to (TCP or UDP) and this process has not
    handed out before. Raises RuntimeError if none is found in 1,000 tries."""
    with _lock:
        for _ in range(1000):
            port = _rng.randrange(_LOW, _HIGH)
            if port not in _given and _free(port):
                _given.add(port)
                return port
    raise RuntimeError("no free loopback port below the ephemeral range")
