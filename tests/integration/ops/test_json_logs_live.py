"""``OPENATD_LOG_FORMAT=json`` on a real ``openatd serve``: every line it writes is JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from free_ports import free_port

pytestmark = pytest.mark.slow  # a live server in a subprocess


def test_serve_writes_only_json_lines(tmp_path: Path) -> None:
    http_port = free_port()
    env = {
        **os.environ,
        "OPENATD_DATABASE_URL": f"sqlite:///{tmp_path / 'openatd.db'}",
        "OPENATD_HTTP_HOST": "127.0.0.1",
        "OPENATD_HTTP_PORT": str(http_port),
        "OPENATD_OSMAND_PORT": str(free_port()),
        "OPENATD_ENV": "development",
        "OPENATD_LOG_FORMAT": "json",
    }
    env.pop("OPENATD_PROTOCOLS", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from openatd.cli.main import main; main()", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["message"].startswith("OpenATD on sqlite: API http://") for r in records)
