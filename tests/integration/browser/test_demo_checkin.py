"""The README's participant step on ``openatd demo``: sign in at /me/ with the printed code on a
phone-sized screen and check in, in Debian's headless Chromium.

``openatd demo`` runs as a newcomer starts it (a subprocess, its own ports, the shared data
found through ``OPENATD_SHARED_DATA``). The camera is Chromium's fake capture device playing a
video made from the demo's enrolment photo (``DEMO_FACE`` in the shared data), so the demo's
own set-up (the open check-in window and the face enrolment) is what makes the check-in verify.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live import free_port
from test_participant_app import PHONE, _wait_text, _y4m

from openatd.cli.demo import DEMO_FACE
from openatd.storage.db import Database

CHROMIUM = os.environ.get("OPENATD_CHROMIUM", "/usr/bin/chromium")
WHERE = {"latitude": 45.2706, "longitude": 13.7229, "accuracy": 15}  # Višnjan, the demo's trace
CODE = re.compile(r"[A-Z0-9]{4}(?:-[A-Z0-9]{4})+")


class DemoRun:
    """``openatd demo --keep`` in a subprocess; its output is collected line by line."""

    def __init__(self, shared: Path, cwd: Path) -> None:
        self.http = free_port()
        self.api = f"http://127.0.0.1:{self.http}"
        openatd = str(Path(sys.executable).with_name("openatd"))
        ports = ["--http-port", str(self.http), "--osmand-port", str(free_port())]
        self.proc = subprocess.Popen(
            [openatd, "demo", "--keep", *ports],
            cwd=cwd,
            env={
                "OPENATD_SHARED_DATA": str(shared),
                "PATH": "/usr/bin:/bin",
                "PYTHONUNBUFFERED": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout_s: float = 180) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not in the demo's output:\n{self.output}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C, as the demo tells the user
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)


@pytest.fixture
def demo_run(shared_data: Any, tmp_path: Path) -> Iterator[DemoRun]:
    run = DemoRun(shared_data.data, tmp_path)
    try:
        yield run
    finally:
        run.stop()


@pytest.mark.slow
def test_demo_participant_checks_in_on_a_phone(
    demo_run: DemoRun, shared_data: Any, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    # The printed participant app line: the /me/ address, the participant's number and code.
    line = demo_run.wait_for(rf"{re.escape(demo_run.api)}/me/[^\n]*").group(0)
    assert re.search(r"face is enrolled from \S+Adam_Sandler_0001\.jpg", demo_run.output)
    pid = re.search(r"participant (\d+)", line)
    code = CODE.search(line)
    assert pid and code, line
    video = _y4m(shared_data.path(*DEMO_FACE.parts), tmp_path / "demo-face.y4m")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        context = browser.new_context(
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            locale="en-GB",
            geolocation=WHERE,
            permissions=["geolocation"],
        )
        page = context.new_page()
        page.goto(f"{demo_run.api}/me/")
        assert page.url.endswith("/me/signin")
        page.fill("#participant_id", pid[1])
        page.fill("input[name=code]", code.group(0))
        page.click("button[type=submit]")
        assert page.url.endswith("/me/"), page.inner_text("main")
        assert "Hello, Demo Participant" in page.inner_text("main")
        # The demo's ad-hoc window is open: the home page offers the check-in.
        page.click("text=Check in now")
        assert page.url.endswith("/me/checkin")
        page.click("#start-camera")
        page.wait_for_selector("#take-photo", state="visible")
        page.wait_for_function("document.getElementById('preview').videoWidth > 0")
        page.click("#take-photo")
        result = _wait_text(page, "#result", "Verified|review|again|not set up", timeout_s=60)
        assert result.strip() == "Verified. Thank you, your check-in is complete."
        page.wait_for_selector("#receipts li[data-status=sent]")
        context.close()
        browser.close()

    demo_run.stop()
    kept = re.search(r"demo database kept in (\S+)", demo_run.output)
    assert kept, demo_run.output
    db = Database(f"sqlite:///{Path(kept[1]) / 'openatd-demo.db'}")
    try:
        with db.uow() as uow:
            (row,) = uow.checkins.for_participant(int(pid[1]))
            assert row.outcome == "verified" and row.on_time
            assert (row.latitude, row.longitude) == (WHERE["latitude"], WHERE["longitude"])
    finally:
        db.dispose()
        shutil.rmtree(kept[1], ignore_errors=True)
