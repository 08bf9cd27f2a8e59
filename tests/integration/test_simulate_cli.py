"""``openatd simulate`` says why nothing went through, and exits non-zero when nothing did.

Against a real server: a port with no listener, a listener whose devices are not
registered, and ``--register-for`` registering them through the API first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from live import free_port, start_live_server
from typer.testing import CliRunner

from openatd.accounts import create_user
from openatd.cli.main import app
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
TRACE = ("traces", "gpxpy_slovenia", "around-visnjan-with-car.gpx")


def simulate(shared_data: Any, port: int, *extra: str) -> Any:
    args = ["simulate", "--devices", "2", "--rate", "10", "--duration", "0.5", "--port", str(port)]
    return CliRunner().invoke(app, [*args, "--trace", str(shared_data.path(*TRACE)), *extra])


def test_no_listener_names_the_refused_port(shared_data: Any) -> None:
    port = free_port()  # nothing listens there
    result = simulate(shared_data, port)
    assert result.exit_code == 1
    assert "0/2 connected" in result.stdout
    assert f"connection refused on port {port}" in result.stderr
    assert "openatd serve --protocols gt06" in result.stderr


@pytest.fixture
def gt06_server(db_url: str) -> Any:
    port = free_port()
    server = start_live_server(db_url, protocols=f"gt06:{port}", protocol_host="127.0.0.1")
    db = Database(db_url)
    with db.uow() as uow:
        create_user(uow, datetime.now(UTC), "alice", PASSWORD, "case_manager")
    db.dispose()
    try:
        yield server, port
    finally:
        server.stop()


def test_unregistered_devices_are_named_and_the_exit_is_nonzero(
    shared_data: Any, gt06_server: Any
) -> None:
    _, port = gt06_server
    result = simulate(shared_data, port, "--first-id", "70")
    assert result.exit_code == 1
    assert "2/2 connected, 0 logged in" in result.stdout
    assert "did not acknowledge the login of any of the 2 connected devices" in result.stderr
    assert "are devices 860000000000070..860000000000071 registered?" in result.stderr
    assert "--register-for" in result.stderr


def test_register_for_registers_through_the_api_then_acks(
    shared_data: Any, gt06_server: Any
) -> None:
    server, port = gt06_server
    r = httpx.post(f"{server.api}/api/auth/token", data={"username": "alice", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = httpx.post(
        f"{server.api}/api/participants",
        headers=headers,
        json={"name": "Sim", "timezone": "UTC", "supervision_level": "gps"},
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    login = ["--api", server.api, "--user", "alice", "--password", PASSWORD]
    result = simulate(shared_data, port, "--first-id", "80", "--register-for", str(pid), *login)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"registered 2 new device(s) for participant {pid} (0 already registered)" in (
        result.stdout
    )
    assert "2/2 connected, 2 logged in" in result.stdout
    assert result.stderr == ""
    devices = httpx.get(f"{server.api}/api/devices", headers=headers).json()
    assert sorted(d["unique_id"] for d in devices) == ["860000000000080", "860000000000081"]

    again = simulate(shared_data, port, "--first-id", "80", "--register-for", str(pid), *login)
    assert "registered 0 new device(s)" in again.stdout  # kept, not duplicated

    wrong = ["--api", server.api, "--user", "alice", "--password", "not the password"]
    refused = simulate(shared_data, port, "--register-for", str(pid), *wrong)
    assert refused.exit_code == 2
    assert "refused the login of 'alice': HTTP 401" in refused.stderr
