"""Hostile tracker input against a real ``openatd serve`` process (issue 14, item 6).

The server runs as its own process with every protocol listener, on SQLite. From
unregistered connections the test sends each input that froze or swelled the server
in the trial of c4492cc (a meitrack negative length, a GL200 ``GTERI`` count of 10^30,
a GL200 binary record of length 0 over UDP, a teltonika length of 0x7fffffff followed
by an endless stream, endless unfinished frames of every protocol). Throughout,
``/health`` must answer within 1 s, the server's RSS must stay bounded, and a
registered GT06 device on its own connection must keep getting its ACKs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingest_support import load_samples, session_script
from live import free_port

from openatd.protocols.registry import PROTOCOL_NAMES
from openatd.storage.db import Database

pytestmark = pytest.mark.slow  # a browser or a live server per test; -m 'not slow' skips

TWENTY_YEARS_S = 20 * 365 * 86400
MIB = 1024 * 1024

_GL200_ZERO_RECORD = bytes.fromhex(
    "2b000038000865134050947226820300030000006a3ed6f101895000521629fa8b28f402ac1a8e6a3ed6"
    "f100001600000010f505010ff824"
)
_GL200_ERI = (
    b"+RESP:GTERI,4F0D06,865585041396684,,00000002,12665,10,1,1,0.0,342,38.6,49.846792,"
    b"40.426182,20260220064016,0400,0010,0F6E,08D7,00,0.0,,,,100,110000,,"
    b"999999999999999999999999999999,20260220064016,91C9$"
)
UNFINISHED: dict[str, bytes] = {
    "gt06": b"\x79\x79\x0f\xf0\x94",
    "teltonika": b"\x00\x00\x00\x00\x7f\xff\xff\xff\x08\x01",
    "h02": b"*HQ,865205030330012,V1,",
    "tk103": b"(027028641389BR00",
    "gps103": b"imei:359710049095095,tracker,",
    "gl200": b"+RESP:GTFRI,",
    "watch": b"[SG*8800000015*0002*LK",
    "jt808": b"\x7e\x02\x00\x00",
    "megastek": b"9999$MGV002,",
    "meitrack": b"$$A9999,",
    "suntech": b"ST300STT;",
}


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _blast(port: int, head: bytes, total: int) -> int:
    """Send *head* then filler up to *total* bytes; returns bytes sent before the server
    closed the connection (it should, long before *total*)."""
    sent = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(head)
            sent = len(head)
            chunk = b"A" * 65536
            while sent < total:
                s.sendall(chunk)
                sent += len(chunk)
    except OSError:
        pass  # reset / broken pipe: the server closed it
    return sent


def test_hostile_input_never_stops_the_server(tmp_path: Path, shared_data: Any) -> None:
    script = session_script("gt06", load_samples(shared_data.path("protocols", "gt06.json")))
    login = script[0]
    device = login.device
    assert device and login.decoded.reply
    acked = [f for f in script[1:] if f.reports and f.decoded.reply][:3]
    assert acked, "no captured GT06 report frame with an ACK"

    db_url = f"sqlite:///{tmp_path / 'openatd.db'}"
    db = Database(db_url)
    db.migrate()
    now = datetime.now(UTC)
    with db.uow() as uow:
        p = uow.participants.add(
            name="P", timezone="UTC", supervision_level="gps", policy={}, active=True,
            created_at=now,
        )  # fmt: skip
        uow.devices.add(unique_id=device, protocol="gt06", participant_id=p.id, created_at=now)
    db.dispose()

    ports = {name: free_port() for name in PROTOCOL_NAMES}
    http_port = free_port()
    env = {
        **os.environ,
        "OPENATD_DATABASE_URL": db_url,
        "OPENATD_HTTP_HOST": "127.0.0.1",
        "OPENATD_HTTP_PORT": str(http_port),
        "OPENATD_OSMAND_PORT": str(free_port()),
        "OPENATD_PROTOCOLS": ",".join(f"{n}:{p}" for n, p in ports.items()),
        "OPENATD_MAX_AGE_S": str(TWENTY_YEARS_S),
        "OPENATD_ENV": "development",
    }
    env.pop("OPENATD_PROTOCOL_HOST", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from openatd.cli.main import main; main()", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    health = f"http://127.0.0.1:{http_port}/health"
    latencies: list[float] = []
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(health, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        text = log_path.read_text()
        assert "trackers on 127.0.0.1 (the HTTP host)" in text, text[-2000:]

        def poll_health() -> None:
            with httpx.Client() as client:
                while not stop.is_set():
                    t = time.monotonic()
                    try:
                        ok = client.get(health, timeout=5).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    latencies.append(time.monotonic() - t if ok else 99.0)
                    time.sleep(0.1)

        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()
        rss_before = _rss_bytes(proc.pid)

        device_conn = socket.create_connection(("127.0.0.1", ports["gt06"]), timeout=5)
        device_conn.sendall(login.wire)
        assert _read(device_conn, len(login.decoded.reply)) == login.decoded.reply

        def device_still_acked() -> None:
            for frame in acked:
                device_conn.sendall(frame.wire)
                assert frame.decoded.reply is not None
                assert _read(device_conn, len(frame.decoded.reply)) == frame.decoded.reply

        while not latencies:  # the prober is running before the attack starts
            time.sleep(0.05)
        rounds = 0
        sent = 0
        attack_until = time.monotonic() + 8.0
        while time.monotonic() < attack_until:
            rounds += 1
            # the trial's inputs, each from an unregistered connection
            for _ in range(3):
                _send_once(ports["meitrack"], b"$$z-127,860910605,AAC,1*D3")
                _send_once(ports["gl200"], _GL200_ERI)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for _ in range(3):
                    udp.sendto(_GL200_ZERO_RECORD, ("127.0.0.1", ports["gl200"]))
                    udp.sendto(b"$$z-127,860910605,AAC,1*D3", ("127.0.0.1", ports["meitrack"]))
            device_still_acked()
            sent = _blast(ports["teltonika"], UNFINISHED["teltonika"], 64 * MIB)
            assert sent < 64 * MIB, "an unregistered connection was allowed 64 MiB"
            device_still_acked()
            # endless unfinished frames of every protocol, several connections at once
            blasters = [
                threading.Thread(target=_blast, args=(ports[name], head, 8 * MIB))
                for name, head in UNFINISHED.items()
                for _ in range(2)
            ]
            for t in blasters:
                t.start()
            device_still_acked()
            for t in blasters:
                t.join(timeout=30)
            device_still_acked()
        time.sleep(0.5)
        rss_after = _rss_bytes(proc.pid)
        stop.set()
        poller.join(timeout=10)

        assert proc.poll() is None, "the server died"
        print(
            f"{rounds} rounds; /health: {len(latencies)} probes, max "
            f"{max(latencies) * 1000:.0f} ms; "
            f"RSS {rss_before / MIB:.0f} -> {rss_after / MIB:.0f} MiB; teltonika blast cut "
            f"after {sent} bytes"
        )
        assert len(latencies) >= 20 and max(latencies) < 1.0, f"/health: {latencies}"
        assert rss_after - rss_before < 100 * MIB, (rss_before, rss_after)
        metrics = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=5).text
        assert 'openatd_ingest_closed_early_total{protocol="teltonika",reason=' in metrics
        assert 'openatd_ingest_decode_errors_total{protocol="meitrack"}' in metrics
        device_conn.close()
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _send_once(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)


def _read(conn: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = conn.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got
