"""The README's reminders tour, run as written against a live server and a real SMTP server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from live import start_live_server
from notify_helpers import SmtpServer, wait_for

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_reminders_tour_runs_as_written(db_url: str, smtp: SmtpServer) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Reminders tour\n")
    match = re.compile(r"```bash\n(.*?)```", re.S).search(text, start)
    assert match is not None
    live = start_live_server(
        db_url,
        tick_interval_s=0.5,
        outbox_interval_s=0.5,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
    )
    try:
        script = match.group(1).replace("http://127.0.0.1:8000", live.api)
        env = {**os.environ, "OPENATD_DATABASE_URL": db_url}
        env.pop("VIRTUAL_ENV", None)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        live.stop()
    out: Any = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "is not a valid number" in out or "E.164" in out
    assert "does not exist in America/Chicago" in out
    assert '"status":"sent"' in out
    assert "SUMMARY:Status hearing" in out
    mail = wait_for(lambda: smtp.sink.to("r.two@example.org"), timeout=5)
    assert mail[0]["Subject"].startswith("Reminder: Status hearing")
    assert "2650 S California Ave, Chicago" in mail[0].get_content()
