"""Each tracker protocol end to end: real TCP → decoder → pipeline → database → alerts.

For every protocol, a captured session (login first where there is one, then
real report frames from ``../shared/data/protocols``) is sent to a running
``openatd serve`` with that protocol's listener. The device gets exactly the
ACK bytes its protocol expects, only after storage; the positions land in the
database; and the alerts the server stores are of the kinds the rules raise
offline for the same reports (strap removal and low-battery alarms among
them).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from ingest_support import (
    available_protocols,
    load_samples,
    register_devices,
    session_script,
    stamped,
)
from live import start_live_server

from free_ports import free_port
from openatd.rules.engine import DeviceRulesEngine
from openatd.rules.policy import Policy
from openatd.storage.db import Database

PROTOCOLS = available_protocols()
TWENTY_YEARS_S = 20 * 365 * 86400
# Protocols whose captured sessions carry a strap-removal alarm: the test must see it alerted.
STRAP_ALARMS = {"gt06", "watch", "tk103"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_protocol_session_end_to_end(protocol: str, db_url: str, shared_data: Any) -> None:
    script = session_script(
        protocol, load_samples(shared_data.path("protocols", f"{protocol}.json"))
    )
    devices = sorted({f.device for f in script if f.device})
    assert devices, f"{protocol}: no captured frame identifies a device"

    # Offline truth: the pure rules on the same reports, per device, in order.
    now = datetime.now(UTC)
    policy = Policy(max_age_s=TWENTY_YEARS_S)
    engines = {d: DeviceRulesEngine([], policy, "UTC") for d in devices}
    expected: Counter[str] = Counter()
    for frame in script:
        for report in stamped(frame, now):
            for alert in engines[frame.device or ""].on_report(report).alerts:
                expected[alert.type.value] += 1
    if protocol in STRAP_ALARMS:
        assert expected["strap_tamper"] >= 1, f"{protocol}: the session should carry a strap alarm"

    db = Database(db_url)
    db.migrate()
    register_devices(db, devices, protocol)
    port = free_port()
    server = start_live_server(
        db_url, protocols=f"{protocol}:{port}", max_age_s=TWENTY_YEARS_S, protocol_host="127.0.0.1"
    )
    try:
        replies = b"".join(f.decoded.reply or b"" for f in script)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            for frame in script:
                s.sendall(frame.wire)
            got = b""
            while len(got) < len(replies):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        assert got == replies  # the ACKs, in order, byte for byte

        positions = sum(1 for f in script for r in f.reports if r.has_fix)
        deadline = time.monotonic() + 15
        while True:
            with db.engine.connect() as c:
                stored = c.execute(sa.text("SELECT count(*) FROM positions")).scalar_one()
                alerts = Counter(r[0] for r in c.execute(sa.text("SELECT type FROM alerts")).all())
            settled = set(alerts) == set(expected) and (stored >= 1 or positions == 0)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # Frames waiting together may be merged into one batch with one arrival time, which the
        # rules then order by fix time (scenario README, "Order"): how many battery alerts a
        # shuffled capture raises can differ, which kinds are raised cannot.
        assert set(alerts) == set(expected)
        if positions:
            assert stored >= 1, f"{protocol}: no position stored out of {positions}"
    finally:
        server.stop()
        db.dispose()
