"""GPS103 (Coban) decoder on the shared captured sentences; replies, time zones, alarms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from openatd.domain.messages import KNOT_MPS, Alarm, ReportKind
from openatd.protocols.gps103 import Gps103Session

PROTOCOL = "gps103"


def test_sample(sample: dict[str, Any], check: Any) -> None:
    decoded = Gps103Session().decode_frame(check.frame(sample))
    check.matches(list(decoded.messages), sample["expect"])


def test_login_load_heartbeat_on_and_stream_split() -> None:
    session = Gps103Session()
    stream = (
        b"##,imei:359586015829802,A;359586015829802;"
        b"imei:359586015829802,tracker,151027025958,,F,235957.000,A,2429.5156,N,"
        b"04424.5828,E,0.01,27.91,,0,0,,,;"
    )
    results = session.receive_data(stream[:20]) + session.receive_data(stream[20:])
    assert [r.error for r in results] == [None, None, None]
    replies = [r.decoded.reply if r.decoded else None for r in results]
    assert replies == [b"LOAD", b"ON", None]
    assert session.unique_id == "359586015829802"
    assert results[0].decoded is not None and results[0].decoded.messages == ()


def test_local_time_is_corrected_to_utc() -> None:
    # local 2015-10-27 02:59 against UTC 23:59:57: the device is 3 h ahead.
    frame = (
        b"imei:359710049092324,tracker,151027025958,,F,235957.000,A,2429.5156,N,"
        b"04424.5828,E,0.01,27.91,,0,0,,,"
    )
    [report] = Gps103Session().decode_frame(frame).messages
    assert report.fix_time == datetime(2015, 10, 26, 23, 59, 57, tzinfo=UTC)
    assert report.speed_mps == pytest.approx(0.01 * KNOT_MPS)
    assert report.latitude == pytest.approx(24.49193, abs=1e-5)


def test_help_me_is_sos_and_acknowledged() -> None:
    frame = (
        b"imei:100000000000000,help me,1004171910,,F,010203.000,A,0102.0003,N,00102.0003,E,1.02,"
    )
    decoded = Gps103Session().decode_frame(frame)
    assert decoded.reply == b"**,imei:100000000000000,E;"
    [report] = decoded.messages
    assert report.alarms == {Alarm.SOS}


def test_power_cut_without_gps_is_a_heartbeat_with_cell() -> None:
    frame = b"imei:864895030279986,ac alarm,180404174252,,L,,,296a,,51f7,,,"
    [report] = Gps103Session().decode_frame(frame).messages
    assert report.kind is ReportKind.HEARTBEAT
    assert report.alarms == {Alarm.POWER_CUT}
    assert report.extras["cell"] == {"lac": 0x296A, "cid": 0x51F7}


def test_low_battery_keyword() -> None:
    frame = b"imei:1,low battery,1004171910,,F,010203.000,A,0102.0003,N,00102.0003,E,0,"
    [report] = Gps103Session().decode_frame(frame).messages
    assert report.alarms == {Alarm.LOW_BATTERY}
    assert report.battery_pct is None


def test_broken_copies_never_raise(sample: dict[str, Any], check: Any) -> None:
    check.survives(Gps103Session, check.frame(sample))
