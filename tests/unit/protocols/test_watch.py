"""Watch (3G wrist tracker) decoder on the shared frames, framing cases and alarm samples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from openatd.domain.messages import KMH_MPS, Alarm, ReportKind
from openatd.protocols.watch import WatchSession

PROTOCOL = "watch"
XFAIL = {
    "WatchProtocolDecoderTest.java:185": (
        "asserts audio='mock.amr', the file name Traccar's test harness gives a stored media "
        "file; decoders here do no I/O and report extras['audio_bytes'] instead"
    ),
}


def test_sample(sample: dict[str, Any], check: Any) -> None:
    decoded = WatchSession().decode_frame(check.frame(sample))
    check.matches(list(decoded.messages), sample["expect"])


def test_alarm_sample(alarm_sample: dict[str, Any], check: Any) -> None:
    decoded = WatchSession().decode_frame(check.frame(alarm_sample))
    check.matches(list(decoded.messages), alarm_sample["expect"])


def test_frame_case(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    frame = WatchSession().next_frame(buffer)
    assert frame is not None
    assert frame.hex() == frame_case["expected_frame"]["raw"].lower()


def test_link_keepalive_reply_and_battery() -> None:
    session = WatchSession()
    [result] = session.receive_data(b"[3G*4700186508*000B*LK,0,10,100]")
    assert result.decoded is not None
    assert result.decoded.reply == b"[3G*4700186508*0002*LK]"
    [report] = result.decoded.messages
    assert report.kind is ReportKind.HEARTBEAT
    assert report.battery_pct == 100.0
    assert session.unique_id == "4700186508"


def test_indexed_alarm_reply_keeps_index_and_maps_removal() -> None:
    frame = (
        b"[ZJ*689466020014198*0003*0060*AL,221121,085515,V,00.000000,N,000.000000,E,"
        b"0,0,0,0,0,44,0,0,00100000,1,255,460,0,16399,234887445,0]"
    )
    decoded = WatchSession().decode_frame(frame)
    assert decoded.reply == b"[ZJ*689466020014198*0003*0002*AL]"
    [report] = decoded.messages
    assert report.alarms == {Alarm.STRAP_TAMPER}
    assert report.strap == "open"
    assert report.battery_pct == 44.0


def test_position_values() -> None:
    frame = (
        b"[SG*8800000015*0087*UD,220414,134652,A,22.571707,N,113.8613968,E,36.0,90.0,100,7,60,"
        b"90,1000,50,0000,4,1,460,0,9360,4082,131,9360,4092,148,9360,4091,143,9360,4153,141]"
    )
    [report] = WatchSession().decode_frame(frame).messages
    assert report.fix_time == datetime(2014, 4, 22, 13, 46, 52, tzinfo=UTC)
    assert report.speed_mps == pytest.approx(36.0 * KMH_MPS)  # km/h on the wire
    assert report.satellites == 7
    assert report.battery_pct == 90.0
    assert report.extras["cells"][0] == {
        "mcc": 460,
        "mnc": 0,
        "lac": 9360,
        "cid": 4082,
        "rssi": 131,
    }
    assert not report.alarms


def test_sos_bit() -> None:
    frame = b"[SG*1*0050*AL,220414,134652,A,22.571707,N,113.8613968,E,0,0,0,7,60,90,0,0,00010000,0]"
    [report] = WatchSession().decode_frame(frame).messages
    assert report.alarms == {Alarm.SOS}
    assert report.strap is None


def test_broken_copies_never_raise(sample: dict[str, Any], check: Any) -> None:
    check.survives(WatchSession, check.frame(sample))
