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


# Issue 14 item 7: a report whose date or time is impossible keeps its sound parts.
STRAP_ALARM = "WatchProtocolDecoderTest.java:41"
"""A ZJ alarm (with an index): watch taken off (status bit 20), 22.11.21 08:55:15."""
SOS_ALARM = "WatchProtocolDecoderTest.java:150"
"""An SG alarm: low battery (status bit 0), battery 90 %, 22.04.14 13:46:52."""
IMPOSSIBLE = {
    "day-0": (0, 0, "00"), "month-13": (0, 2, "13"), "feb-30": (0, 0, "3002"),
    "hour-24": (1, 0, "24"), "hour-25": (1, 0, "25"), "minute-60": (1, 2, "60"),
}  # fmt: skip
"""Field after the type (0 ddmmyy, 1 hhmmss), offset in it, impossible digits."""


def _broken(frame: bytes, case: str) -> bytes:
    head, _, tail = frame.decode("latin-1").partition("AL,")
    fields = tail.split(",")
    n, at, digits = IMPOSSIBLE[case]
    assert fields[n][at : at + len(digits)].isdigit()
    fields[n] = fields[n][:at] + digits + fields[n][at + len(digits) :]
    return (head + "AL," + ",".join(fields)).encode("latin-1")


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize("ref", [STRAP_ALARM, SOS_ALARM], ids=["strap-off", "low-battery"])
def test_alarm_with_an_impossible_time_keeps_status_strap_and_ack(
    ref: str, case: str, check: Any, captured: Any
) -> None:
    frame = captured(ref)
    [good] = WatchSession().receive_data(frame)
    assert good.decoded is not None and good.decoded.messages[0].has_fix
    [result] = WatchSession().receive_data(_broken(frame, case))
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.decoded.messages[0])
    assert result.decoded.reply == good.decoded.reply is not None  # the AL answer
    if ref == STRAP_ALARM:
        assert report.alarms == {Alarm.STRAP_TAMPER} and report.strap == "open"
    else:
        assert report.alarms == {Alarm.LOW_BATTERY} and report.battery_pct == 90.0


def test_zeroed_time_is_no_fix_without_a_bad_field(captured: Any) -> None:
    frame = captured(STRAP_ALARM).replace(b"221121,085515", b"000000,000000")
    [report] = WatchSession().decode_frame(frame).messages
    assert report.kind is ReportKind.HEARTBEAT and not report.has_fix
    assert "invalid_fields" not in report.extras
    assert report.alarms == {Alarm.STRAP_TAMPER}
