"""The README's API tour, run as written (one bash block) against a live server.

Only the two addresses change (the live server's ports instead of 8000 and 5055);
every other line runs as a newcomer pastes it, from the repository's folder, with
the project's ``.venv`` activated by the block itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_block(heading: str) -> str:
    """The first ```bash block after *heading* in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n")
    match = re.compile(r"```bash\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"README: no bash block under {heading!r}"
    return match.group(1)


def json_lines(out: str) -> list[Any]:
    values = []
    for line in out.splitlines():
        try:
            values.append(json.loads(line))
        except ValueError:
            continue
    return values


@pytest.mark.slow
def test_api_tour_runs_as_written(live_server: Any) -> None:
    if not (ROOT / ".venv" / "bin" / "activate").exists():
        pytest.fail("the README's first command makes .venv; run it (or bash .ci/run) first")
    script = readme_block("API tour")
    script = script.replace("http://127.0.0.1:8000", live_server.api)
    script = script.replace("http://127.0.0.1:5055", live_server.intake)
    env = {**os.environ, "OPENATD_DATABASE_URL": live_server.database_url}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, out + err
    assert "no token" not in err and "command not found" not in err, err
    lines = out.splitlines()
    # every curl answer stands on its own line: no answer runs into the next one
    assert not any(re.search(r"[}\]][{\[]", line) for line in lines), out
    values = json_lines(out)
    participants = [v for v in values if isinstance(v, dict) and v.get("name") == "P. One"]
    assert participants and participants[0]["id"] == 1
    refusal = next(
        v for v in values if isinstance(v, dict) and "zone 'bad'" in str(v.get("detail"))
    )
    assert "self-intersection near lon -87.62" in refusal["detail"]  # where it crosses
    open_alerts = next(
        v for v in values if isinstance(v, list) and v and isinstance(v[0], dict) and "type" in v[0]
    )
    # Inside the curfew's hours (22:00-06:00 Chicago, weekday nights) the fixes are also
    # outside the home zone, so the curfew raises its own alert beside the exclusion one.
    types = [a["type"] for a in open_alerts]
    assert "exclusion_zone_entry" in types, types
    assert set(types) <= {"exclusion_zone_entry", "inclusion_zone_exit"}, types
    resolved = next(v for v in values if isinstance(v, dict) and v.get("resolution"))
    assert resolved["resolution"] == "no_violation" and resolved["status"] == "resolved"
    no_reason = next(v for v in values if isinstance(v, dict) and "reason" in str(v.get("detail")))
    assert "at least 10 characters" in str(no_reason["detail"])
    track = next(v for v in values if isinstance(v, dict) and "positions" in v)
    assert track["reason"] == "reviewing alert 1"
    assert [p["latitude"] for p in track["positions"]] == [41.885] * 4
    assert any(isinstance(v, dict) and v.get("ok") is True for v in values), out
    assert lines[-1].startswith("audit log OK:"), out
