"""The OsmAnd intake under hostile input (fuzz findings): a 4xx with the reason, never a 500 or
a stall, bounded memory, and a 200 that says which fixes are not positions."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from openatd.accounts import create_user
from openatd.api.intake import DROPPED_HEADER, MAX_BODY
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
DEVICE = "fuzz-dev-1"


def _register_device(live_server: Any) -> None:
    db = Database(live_server.database_url)
    with db.uow() as uow:
        create_user(uow, datetime.now(UTC), "adam", PASSWORD, "admin")
    db.dispose()
    r = httpx.post(
        f"{live_server.api}/api/auth/token", data={"username": "adam", "password": PASSWORD}
    )
    admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    # Positions are collected only from a device assigned to a participant at the GPS level.
    r = httpx.post(
        f"{live_server.api}/api/participants",
        headers=admin,
        json={"name": "Fuzz", "timezone": "UTC", "supervision_level": "gps"},
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{live_server.api}/api/devices",
        headers=admin,
        json={"unique_id": DEVICE, "participant_id": r.json()["id"]},
    )
    assert r.status_code == 201, r.text


def _positions(url: str) -> list[Any]:
    db = Database(url)
    with db.engine.connect() as conn:
        rows = list(
            conn.execute(
                sa.text(
                    "SELECT latitude, speed_mps, accuracy_m, course_deg, altitude_m, battery_pct,"
                    " attributes FROM positions ORDER BY id"
                )
            )
        )
    db.dispose()
    return rows


def _now_s() -> int:
    return int(datetime.now(UTC).timestamp())


def _raw_exchange(intake: str, head: bytes, chunks: list[bytes], wait_s: float = 10.0) -> bytes:
    """Send *head* then *chunks* on a raw socket (never finishing the body); read the answer."""
    url = urlsplit(intake)
    with socket.create_connection((url.hostname or "", url.port or 80), timeout=wait_s) as s:
        s.sendall(head)
        try:
            for chunk in chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early and closed: read what it said
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            got = s.recv(4096)
            if not got:
                break
            answer += got
        return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def test_hostile_intake_requests_are_400_with_a_reason(live_server: Any) -> None:
    _register_device(live_server)
    intake = live_server.intake
    t = _now_s()
    queries = [
        f"id={DEVICE}&lat=1&lon=2&timestamp=1e300",
        f"id={DEVICE}&lat=1&lon=2&timestamp=9999-12-31T23:59:59-05:00",
        f"id={DEVICE}&lat=1&lon=2&timestamp=0001-01-01T00:00:00%2B05:00",
        f"id={DEVICE}&lat=nan&lon=2&timestamp={t}",
        f"id={DEVICE}&lat=1&lon=inf&timestamp={t}",
        f"id={DEVICE}&lat=1&lon=2&speed=-inf&timestamp={t}",
    ]
    for query in queries:
        r = httpx.get(f"{intake}/?{query}")
        assert r.status_code == 400, (query, r.status_code, r.text)
        assert r.text.startswith("malformed request"), r.text

    big = "1" + "0" * 400

    def location(**fields: Any) -> str:
        loc = {"timestamp": "2024-01-01T00:00:00Z", "coords": {"latitude": 1, "longitude": 2}}
        loc.update(fields)
        return json.dumps({"device_id": DEVICE, "location": loc}).replace('"BIG"', big)

    bodies = [
        location(coords={"latitude": "BIG", "longitude": 2}),
        location(battery={"level": "BIG"}),
        location(timestamp="BIG").replace(big, "1e300"),
        "[" * 100_000 + "]" * 100_000,
    ]
    for body in bodies:
        r = httpx.post(
            f"{intake}/", content=body.encode(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, (body[:80], r.status_code, r.text)
        assert r.text.startswith("malformed request"), r.text
    assert _positions(live_server.database_url) == []
    assert httpx.get(f"{live_server.api}/health").json()["status"] == "ok"


def test_absurd_values_are_not_stored_as_sent(live_server: Any) -> None:
    _register_device(live_server)
    t = _now_s()
    query = (
        f"id={DEVICE}&lat=41.5&lon=-87.5&timestamp={t - 60}&batt=-500&speed=1e300&accuracy=-1"
        "&bearing=999&altitude=1e308"
    )
    r = httpx.get(f"{live_server.intake}/?{query}")
    assert (r.status_code, r.text) == (200, "OK")
    loc = {
        "timestamp": datetime.fromtimestamp(t, UTC).isoformat(),
        "coords": {"latitude": 41.5001, "longitude": -87.5001},
        "battery": {"level": 1e308},
    }
    body = json.dumps({"device_id": DEVICE, "location": loc})
    r = httpx.post(
        f"{live_server.intake}/", content=body, headers={"Content-Type": "application/json"}
    )
    assert (r.status_code, r.text) == (200, "OK")
    first, second = _positions(live_server.database_url)
    assert first[1:6] == (None, None, pytest.approx(279.0), None, None)
    assert second[5] is None


def test_200_says_which_fixes_are_not_positions(live_server: Any) -> None:
    _register_device(live_server)
    intake = live_server.intake
    t = _now_s()
    cases = [
        (f"lat=91&lon=10&timestamp={t}", "out_of_range"),
        (f"lat=0&lon=0&timestamp={t + 1}", "null_island"),
        (f"lat=41&lon=-87&timestamp={t + 2}&valid=false", "invalid_fix"),
        (f"lat=41&lon=-87&timestamp={t + 3600}", "future"),
        (f"lat=41&lon=-87&timestamp={t - 30 * 86400}", "too_old"),
    ]
    for query, reason in cases:
        r = httpx.get(f"{intake}/?id={DEVICE}&{query}")
        assert r.status_code == 200, r.text
        assert r.text == f"OK; 1 of 1 fixes not a position: {reason}"
        assert r.headers[DROPPED_HEADER] == reason
    # A batch: one good fix, one out of range.
    now = datetime.now(UTC)
    batch = [
        {"timestamp": (now - timedelta(seconds=s)).isoformat(), "coords": {"latitude": lat}}
        for s, lat in ((5, 41.0), (10, -95.0))
    ]
    for loc in batch:
        loc["coords"]["longitude"] = -87.0
    body = json.dumps({"device_id": DEVICE, "location": batch})
    r = httpx.post(f"{intake}/", content=body, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.text) == (200, "OK; 1 of 2 fixes not a position: out_of_range")
    good = httpx.get(f"{intake}/?id={DEVICE}&lat=41.001&lon=-87.001&timestamp={_now_s()}")
    assert (good.status_code, good.text) == (200, "OK")
    assert DROPPED_HEADER not in good.headers


def test_oversized_bodies_are_refused_without_reading_them(live_server: Any) -> None:
    url = urlsplit(live_server.intake)
    host = f"{url.hostname}:{url.port}".encode()
    # A declared gigabyte: refused from the header, before one body byte is sent.
    started = time.monotonic()
    answer = _raw_exchange(
        live_server.intake,
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n",
        [],
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request body too large" in answer
    assert time.monotonic() - started < 5
    # A chunked body: refused as soon as it passes the cap, while the sender is still sending.
    chunk = b"a" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer = _raw_exchange(
        live_server.intake,
        b"POST / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        [framed] * (MAX_BODY // len(chunk) + 2),
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Just under the cap is read and judged (here: not JSON).
    r = httpx.post(
        f"{live_server.intake}/",
        content=b"x" * (MAX_BODY - 10),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert httpx.get(f"{live_server.api}/health").json()["status"] == "ok"


def test_only_get_and_post_reach_the_intake(live_server: Any) -> None:
    """HEAD, PUT, DELETE… with a valid fix in the query are 405 (Allow: GET, POST) and store
    nothing; other paths are 404; the same fix by GET is then stored."""
    _register_device(live_server)
    intake = live_server.intake
    query = f"id={DEVICE}&lat=41.1&lon=-87.2&timestamp={_now_s()}"
    for method in ("HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"):
        r = httpx.request(method, f"{intake}/?{query}")
        assert r.status_code == 405, (method, r.status_code)
        assert r.headers["allow"] == "GET, POST"
    assert httpx.get(f"{intake}/elsewhere?{query}").status_code == 404
    assert _positions(live_server.database_url) == []
    r = httpx.get(f"{intake}/?{query}")
    assert (r.status_code, r.text) == (200, "OK")
    assert [p[0] for p in _positions(live_server.database_url)] == [41.1]
