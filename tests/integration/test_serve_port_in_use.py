"""A port in use ends `openatd serve` or `openatd demo` with one line naming it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from live import free_port

OPENATD = Path(sys.executable).parent / "openatd"


@pytest.mark.parametrize("taken", ["http", "osmand"])
def test_serve_names_the_port_in_use_and_exits_2(tmp_path: Path, taken: str) -> None:
    http, osmand = free_port(), free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", http if taken == "http" else osmand))
        squatter.listen()
        done = subprocess.run(
            [str(OPENATD), "serve", "--http-port", str(http), "--osmand-port", str(osmand)],
            cwd=tmp_path,
            env={"OPENATD_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    port, option = (http, "--http-port") if taken == "http" else (osmand, "--osmand-port")
    assert f"openatd: configuration error: port {port} (" in done.stderr
    assert "is in use by another program" in done.stderr
    assert option in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_tracker_port_in_use_is_named_too(tmp_path: Path) -> None:
    http, osmand, gt06 = free_port(), free_port(), free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", gt06))
        squatter.listen()
        done = subprocess.run(
            [str(OPENATD), "serve", "--http-port", str(http), "--osmand-port", str(osmand)],
            cwd=tmp_path,
            env={
                "OPENATD_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                "OPENATD_PROTOCOLS": f"gt06:{gt06}",
                "PATH": "/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {gt06} (gt06 listener) on 127.0.0.1 is in use" in done.stderr
    assert "--protocols gt06:PORT" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_demo_names_the_port_in_use(tmp_path: Path, shared_data: Any) -> None:
    http, osmand = free_port(), free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", http))
        squatter.listen()
        done = subprocess.run(
            [
                str(OPENATD),
                "demo",
                "--exit",
                "--http-port",
                str(http),
                "--osmand-port",
                str(osmand),
            ],
            cwd=tmp_path,
            env={"OPENATD_SHARED_DATA": str(shared_data.data), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {http} (staff API) on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
