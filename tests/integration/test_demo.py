"""``openatd demo --exit``, the README's first command, as a newcomer runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from live import free_port


@pytest.mark.slow
def test_demo_raises_alerts_and_prints_what_to_open(shared_data: Any, tmp_path: Path) -> None:
    http, osmand = free_port(), free_port()
    openatd = Path(sys.executable).with_name("openatd")
    done = subprocess.run(
        [str(openatd), "demo", "--exit", "--http-port", str(http), "--osmand-port", str(osmand)],
        cwd=tmp_path,  # the shared data is found without a working folder beside it
        env={"OPENATD_SHARED_DATA": str(shared_data.data), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "sent 104, accepted by the intake 104, refused 0" in out
    assert "#1 inclusion_zone_exit (compliance · home (curfew))" in out
    assert "#2 exclusion_zone_entry (compliance · protected address)" in out
    api = f"http://127.0.0.1:{http}"
    login = re.search(rf"staff pages\s+{api}/ui/\s+log in as demo / (\S+)", out)
    assert login, out
    assert re.search(
        rf"audit log\s+{api}/ui/audit\s+log in as auditor / {re.escape(login[1])}", out
    )
    assert re.search(rf"API docs\s+{api}/docs", out)
    code = re.search(rf"participant app\s+{api}/me/\s+participant 1 signs in with code (\S+)", out)
    assert code and re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4})+", code[1]), out
    assert "demo database deleted" in out
