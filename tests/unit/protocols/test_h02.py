"""H02 decoder on the shared captured frames and framing cases; heartbeat echo and status alarms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from openatd.domain.messages import KNOT_MPS, Alarm, ReportKind
from openatd.protocols.h02 import H02Session

PROTOCOL = "h02"


def test_sample(sample: dict[str, Any], check: Any) -> None:
    decoded = H02Session().decode_frame(check.frame(sample))
    check.matches(list(decoded.messages), sample["expect"])


def test_alarm_sample(alarm_sample: dict[str, Any], check: Any) -> None:
    decoded = H02Session().decode_frame(check.frame(alarm_sample))
    check.matches(list(decoded.messages), alarm_sample["expect"])


def test_frame_case(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    frame = H02Session().next_frame(buffer)
    assert frame is not None
    assert frame.hex() == frame_case["expected_frame"]["raw"].lower()


def test_heartbeat_is_echoed_and_carries_battery_percent() -> None:
    decoded = H02Session().decode_frame(b"*HQ,135790246811220,HTBT,100#")
    assert decoded.reply == b"*HQ,135790246811220,HTBT#"
    [report] = decoded.messages
    assert report.kind is ReportKind.HEARTBEAT
    assert report.battery_pct == 100.0
    assert decoded.unique_id == "135790246811220"


def test_text_position_units_and_status() -> None:
    frame = b"*HQ,4210051415,V1,164549,A,0956.3869,N,08406.7068,W,012.50,090,221215,FFFFFBFF#"
    [report] = H02Session().decode_frame(frame).messages
    assert report.fix_time == datetime(2015, 12, 22, 16, 45, 49, tzinfo=UTC)
    assert report.latitude == pytest.approx(9.939782, abs=1e-6)
    assert report.longitude == pytest.approx(-84.111780, abs=1e-6)
    assert report.speed_mps == pytest.approx(12.5 * KNOT_MPS)  # knots on the wire
    assert report.course_deg == 90.0
    assert report.extras["status"] == 0xFFFFFBFF
    assert report.extras["ignition"] is False
    assert not report.alarms


def test_status_bits_are_active_low_alarms() -> None:
    sos = b"*HQ,1,V1,164549,A,0956.3869,N,08406.7068,W,0,0,221215,FFFBFBFF#"  # bit 18 clear
    cut = b"*HQ,1,V1,164549,A,0956.3869,N,08406.7068,W,0,0,221215,FFF7FBFF#"  # bit 19 clear
    [a] = H02Session().decode_frame(sos).messages
    [b] = H02Session().decode_frame(cut).messages
    assert a.alarms == {Alarm.SOS}
    assert b.alarms == {Alarm.POWER_CUT}


def test_binary_frame_values() -> None:
    frame = bytes.fromhex(
        "24410600082621532131081504419390060740418306000000fffffbfdff0015060000002c02dc0c000000001f"
    )
    session = H02Session()
    [result] = session.receive_data(frame)
    assert result.decoded is not None
    [report] = result.decoded.messages
    assert report.unique_id == "4106000826"
    assert report.fix_time == datetime(2015, 8, 31, 21, 53, 21, tzinfo=UTC)
    assert report.latitude == pytest.approx(4.69898, abs=1e-5)
    assert report.longitude == pytest.approx(-74.06971, abs=1e-5)
    assert report.valid is True
    assert report.battery_pct == 100.0  # battery code 6


def test_unparseable_text_is_nothing_not_error() -> None:
    decoded = H02Session().decode_frame(b"*HQ,4109198974,#")
    assert decoded.messages == ()


def test_broken_copies_never_raise(sample: dict[str, Any], check: Any) -> None:
    check.survives(H02Session, check.frame(sample))


def test_position_without_date_is_left_for_the_intake_to_date() -> None:
    frame = b"*HQ,353505220873067,V1,,V,4605.75732,N,01430.73863,E,0.00,0,,FFFFFFEF,125,194#"
    [report] = H02Session().decode_frame(frame).messages
    assert report.kind is ReportKind.POSITION
    assert report.fix_time is None
    assert report.latitude == pytest.approx(46 + 5.75732 / 60)
    assert report.valid is False


def test_position_without_coordinates_is_nothing() -> None:
    frame = b"*HQ,353505510948929,V1,,V,,N,,E,0.00,0,,FFFFF7FF,f0,a,11a0,c0c6#"
    assert H02Session().decode_frame(frame).messages == ()


# Issue 14 item 7: a frame whose date or time is impossible keeps its sound parts.
ALARM_V1 = "H02ProtocolDecoderTest.java:109"
"""A V1 position whose status EFE7F9FF has bit 19 clear (power cut), 20:18:12 of 15.03.17."""
BINARY = "H02ProtocolDecoderTest.java:250"
"""A 45-byte binary position of 4106000826: battery code 6 (100 %), 21:53:21 of 31.08.15."""
NBR = "H02ProtocolDecoderTest.java:167"
"""A cell report (no fix): device time 11:23:15 of 01.12.15."""
ZERO_DATE = "H02ProtocolDecoderTest.java:184"
"""A V1 sentence dated 000000 at 000000 with zero coordinates."""
IMPOSSIBLE_TIMES = {
    "day-0": ("00", 0), "month-13": ("13", 1), "feb-30": ("3002", 0), "hour-24": ("24", 3),
    "hour-25": ("25", 3), "minute-60": ("60", 4),
}  # fmt: skip
"""Impossible digits and where they go: 0 day, 1 month (in ddmmyy), 3 hour, 4 minute (hhmmss)."""


def _broken_text(frame: bytes, date: str, time: str, case: str) -> bytes:
    text = frame.decode()
    assert f",{date}," in text and f",{time}," in text
    digits, where = IMPOSSIBLE_TIMES[case]
    if where < 3:
        new = date[: 2 * where] + digits + date[2 * where + len(digits) :]
        return text.replace(f",{date},", f",{new},").encode()
    at = 2 * (where - 3)
    new = time[:at] + digits + time[at + 2 :]
    return text.replace(f",{time},", f",{new},", 1).encode()


@pytest.mark.parametrize("case", IMPOSSIBLE_TIMES)
def test_text_position_with_an_impossible_time_keeps_its_status(
    case: str, check: Any, captured: Any
) -> None:
    frame = captured(ALARM_V1)
    good = H02Session().decode_frame(frame)
    assert good.messages[0].has_fix and good.messages[0].alarms == {Alarm.POWER_CUT}
    result = H02Session().receive_datagram(_broken_text(frame, "150317", "201812", case))
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.messages[0])
    assert report.alarms == {Alarm.POWER_CUT} and report.extras["status"] == 0xEFE7F9FF
    assert report.unique_id == "4210209006"
    assert result.decoded.reply == good.reply


@pytest.mark.parametrize("case", IMPOSSIBLE_TIMES)
def test_binary_position_with_an_impossible_time_keeps_its_status(
    case: str, check: Any, captured: Any
) -> None:
    frame = captured(BINARY).hex()
    good = H02Session().decode_frame(bytes.fromhex(frame))
    assert good.messages[0].has_fix
    digits, where = IMPOSSIBLE_TIMES[case]
    # '$' (2 hex), id (10), then hhmmss ddmmyy as BCD nibbles
    at = 12 + 6 + 2 * where if where < 3 else 12 + 2 * (where - 3)
    broken = bytes.fromhex(frame[:at] + digits + frame[at + len(digits) :])
    result = H02Session().receive_datagram(broken)
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.messages[0])
    assert report.battery_pct == 100.0 and report.unique_id == "4106000826"
    assert result.decoded.reply == good.reply


@pytest.mark.parametrize("case", IMPOSSIBLE_TIMES)
def test_cell_report_with_an_impossible_time_keeps_its_cells(case: str, captured: Any) -> None:
    frame = captured(NBR)
    good = H02Session().decode_frame(frame).messages[0]
    assert good.extras["device_time"] == "2015-12-01T11:23:15+00:00"
    [report] = H02Session().decode_frame(_broken_text(frame, "011215", "112315", case)).messages
    assert report.kind is ReportKind.HEARTBEAT
    assert "device_time" not in report.extras
    assert report.extras["invalid_fields"] == "device_time"
    assert report.extras["cells"] == good.extras["cells"]
    assert report.extras["status"] == good.extras["status"]


def test_zero_date_is_no_fix_not_a_bad_field(captured: Any) -> None:
    assert H02Session().decode_frame(captured(ZERO_DATE)).messages == ()
