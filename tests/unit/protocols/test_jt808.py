"""JT/T 808 decoder on the shared captured frames (Traccar's Jt808ProtocolDecoderTest inputs)."""

from __future__ import annotations

from typing import Any

import pytest

from openatd.domain.messages import KMH_MPS, Alarm, ReportKind
from openatd.protocols.jt808 import SESSION, Jt808Session

PROTOCOL = "jt808"

MODELS = {
    # Traccar's test sets these device models (decoder.setModelOverride) for the frames
    # after it; their vendor fields are only defined for those models.
    "Jt808ProtocolDecoderTest.java:385": "MV710G",
    "Jt808ProtocolDecoderTest.java:391": "AL300",
    "Jt808ProtocolDecoderTest.java:397": "JC371",
    "Jt808ProtocolDecoderTest.java:401": "JC371",
    "Jt808ProtocolDecoderTest.java:405": "JC371",
    "Jt808ProtocolDecoderTest.java:415": "C5L",
    "Jt808ProtocolDecoderTest.java:425": "GL100",
    "Jt808ProtocolDecoderTest.java:429": "GL100",
}


NO_FIX = {
    # Messages without a location (Traccar stamps the last known one on them): driver
    # identity 0x0702, command result 0x0701, passthrough driver id 0x0900/0x40, text
    # report 0x6006, an ASCII "(...)" command result, and 0x0210 with battery level only.
    "Jt808ProtocolDecoderTest.java:41",
    "Jt808ProtocolDecoderTest.java:81",
    "Jt808ProtocolDecoderTest.java:89",
    "Jt808ProtocolDecoderTest.java:104",
    "Jt808ProtocolDecoderTest.java:263",
    "Jt808ProtocolDecoderTest.java:368",
}


def session_for(sample: dict[str, Any]) -> Jt808Session:
    return SESSION(model=MODELS.get(sample["test"]))


def _raw(sample: dict[str, Any]) -> bytes:
    if sample["encoding"] == "hex":
        return bytes.fromhex(sample["raw"])
    return str(sample["raw"]).encode("latin-1")


def _decode(session: Jt808Session, raw: bytes) -> Any:
    result = session.receive_datagram(raw)
    assert result.error is None, result.error
    assert result.decoded is not None
    return result.decoded


def test_sample(sample: dict[str, Any], check: Any) -> None:
    reports = list(_decode(session_for(sample), _raw(sample)).messages)
    expect = sample["expect"]
    if sample["test"] in NO_FIX:
        assert reports and not any(r.has_fix for r in reports)
        for key, value in expect.get("attributes", {}).items():
            check.attribute(reports[0], key, value)
        return
    check.matches(reports, expect)


def test_frame(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    assert SESSION().next_frame(buffer) == bytes.fromhex(frame_case["expected_frame"]["raw"])


def _xor(data: bytes) -> int:
    value = 0
    for b in data:
        value ^= b
    return value


def _frame(msg_id: int, terminal: str, serial: int, body: bytes) -> bytes:
    """An unescaped frame as the splitter hands it over (JT/T 808 section 4)."""
    content = (
        msg_id.to_bytes(2, "big")
        + len(body).to_bytes(2, "big")
        + bytes.fromhex(terminal)
        + serial.to_bytes(2, "big")
        + body
    )
    return b"\x7e" + content + bytes([_xor(content)]) + b"\x7e"


def _unescape(frame: bytes) -> bytes:
    inner = frame[1:-1]
    assert b"\x7e" not in inner
    return inner.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def _location_body(alarm: int, status: int, speed_tenths_kmh: int, time_bcd: str) -> bytes:
    """0x0200 body: alarm, status, lat 22.5 N, lon 114.0 E, altitude 12 m, speed, course 90."""
    return (
        alarm.to_bytes(4, "big")
        + status.to_bytes(4, "big")
        + (22_500_000).to_bytes(4, "big")
        + (114_000_000).to_bytes(4, "big")
        + (12).to_bytes(2, "big")
        + speed_tenths_kmh.to_bytes(2, "big")
        + (90).to_bytes(2, "big")
        + bytes.fromhex(time_bcd)
        + bytes.fromhex("3101" + "09")  # satellites item: 9
    )


def test_register_gets_0x8100_with_auth_code() -> None:
    frame = bytes.fromhex(
        "7e010000190940278494700012000000000000000000000000000000000000094027849470000a7e"
    )
    decoded = _decode(SESSION(), frame)
    assert decoded.unique_id == "94027849470"  # BCD phone number 094027849470
    content = _unescape(decoded.reply)
    assert content[:2] == b"\x81\x00"
    assert content[4:10] == bytes.fromhex("094027849470")
    body = content[12:-1]
    assert body == b"\x00\x12\x00" + b"094027849470"  # reply serial, success, auth code
    assert int.from_bytes(content[2:4], "big") == len(body)
    assert content[-1] == _xor(content[:-1])


def test_heartbeat_gets_general_response() -> None:
    decoded = _decode(SESSION(), bytes.fromhex("7e0002000004304832546500b7ca7e"))
    content = _unescape(decoded.reply)
    assert content[:4] == bytes.fromhex("80010005")
    assert content[12:-1] == bytes.fromhex("00b7" + "0002" + "00")
    assert content[-1] == _xor(content[:-1])
    assert decoded.messages == ()


def test_reply_is_escaped() -> None:
    # serial 0x7e7d: the 0x8001 body repeats it, so the reply must escape both bytes
    decoded = _decode(SESSION(), _frame(0x0002, "043048325465", 0x7E7D, b""))
    assert decoded.reply.startswith(b"\x7e") and decoded.reply.endswith(b"\x7e")
    assert b"\x7d\x02\x7d\x01" in decoded.reply
    content = _unescape(decoded.reply)
    assert content[12:14] == b"\x7e\x7d"


def test_location_time_is_beijing_and_speed_is_tenths_of_kmh() -> None:
    body = _location_body(0, 0b10, 500, "250101080000")
    decoded = _decode(SESSION(), _frame(0x0200, "013912345678", 1, body))
    [report] = decoded.messages
    assert report.kind is ReportKind.POSITION
    assert report.fix_time.isoformat() == "2025-01-01T00:00:00+00:00"
    assert report.speed_mps == pytest.approx(50 * KMH_MPS, abs=0.03)
    assert (report.latitude, report.longitude) == (22.5, 114.0)
    assert report.valid and report.satellites == 9 and report.altitude_m == 12.0
    assert report.unique_id == "13912345678"
    assert _unescape(decoded.reply)[:2] == b"\x80\x01"


@pytest.mark.parametrize(
    ("bit", "alarm"),
    [(0, Alarm.SOS), (7, Alarm.LOW_BATTERY), (8, Alarm.POWER_CUT), (16, Alarm.STRAP_TAMPER)],
)
def test_alarm_flag_bits(bit: int, alarm: Alarm) -> None:
    body = _location_body(1 << bit, 0b1110, 0, "250101080000")
    [report] = _decode(SESSION(), _frame(0x0200, "013912345678", 1, body)).messages
    assert report.alarms == frozenset({alarm})
    assert report.latitude == -22.5 and report.longitude == -114.0  # status bits 2, 3


def test_stream_unescapes_and_keeps_the_rest() -> None:
    session = SESSION()
    frame = _frame(0x0002, "043048325465", 0x7E7D, b"")
    inner = frame[1:-1].replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
    results = session.receive_data(b"garbage\x7e" + inner + b"\x7e" + b"\x7e\x00\x02")
    assert len(results) == 1 and results[0].error is None
    assert results[0].frame == frame
    assert session.buffered == 3


def test_truncated_location_is_an_error() -> None:
    frame = _frame(0x0200, "013912345678", 1, b"\x00\x00\x00\x00\x00\x00")
    result = SESSION().receive_datagram(frame)
    assert result.error is not None and result.error.protocol == "jt808"


def test_text_response_is_utf16_result() -> None:
    body = b"\x00\x05" + "OK 已设置".encode("utf-16-be")
    [report] = _decode(SESSION(), _frame(0x1300, "013912345678", 2, body)).messages
    assert report.kind is ReportKind.HEARTBEAT
    assert report.extras["result"] == "OK 已设置"


# Issue 14 item 7: a location whose BCD time is impossible keeps its sound parts.
STRAP_LOCATION = "Jt808ProtocolDecoderTest.java:159"
"""0x0200 location: vendor tamper bit (strap), battery 90 %, 2023-06-15."""
STRAP_LOCATION_2 = "Jt808ProtocolDecoderTest.java:244"
"""0x0200 location: vendor tamper bit (strap), battery 64 %, 2021-01-18."""
BATCH = "Jt808ProtocolDecoderTest.java:14"
"""0x0704 batch upload: low battery and power cut alarms."""
ELOCK = "Jt808ProtocolDecoderTest.java:138"
"""0x5501 e-lock location: time BCD ddmmyyhhmmss (UTC) first in the body, battery 78 %."""
BATTERY_TIME = "Jt808ProtocolDecoderTest.java:368"
"""0x0210 with battery level 79 % and the device time (no fix)."""
IMPOSSIBLE = {
    "day-0": (2, 0x00), "month-13": (1, 0x13), "feb-30": (1, 0x02, 0x30), "hour-24": (3, 0x24),
    "hour-25": (3, 0x25), "minute-60": (4, 0x60),
}  # fmt: skip
"""Byte of the BCD ``YY MM DD hh mm ss`` time and the impossible BCD values written there."""


def _unescaped(frame: bytes) -> bytearray:
    inner = frame[1:-1].replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
    return bytearray(inner)


def _framed(inner: bytearray) -> bytes:
    content = bytes(inner[:-1])
    checksum = 0
    for b in content:
        checksum ^= b
    body = (content + bytes([checksum])).replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
    return b"\x7e" + body + b"\x7e"


def _body_start(inner: bytearray) -> int:
    """Offset of the message body: id, attributes, [version], terminal, serial, [packet]."""
    msg_id, attributes = int.from_bytes(inner[0:2], "big"), int.from_bytes(inner[2:4], "big")
    start = 4 + (1 + 10 if attributes & 0x4000 else 6) + (1 if msg_id == 0x5501 else 2)
    return start + (4 if attributes & 0x2000 else 0)


def _with_time(frame: bytes, time_at: int, case: str) -> bytes:
    inner = _unescaped(frame)
    at = _body_start(inner) + time_at
    where, *values = IMPOSSIBLE[case]
    for n, value in enumerate(values):
        inner[at + where + n] = value
    return _framed(inner)


def _frames(session: Jt808Session, frame: bytes) -> Any:
    [result] = session.receive_data(frame)
    assert result.error is None, result.error
    assert result.decoded is not None
    return result.decoded


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize("ref", [STRAP_LOCATION, STRAP_LOCATION_2], ids=["strap-90", "strap-64"])
def test_location_with_an_impossible_time_keeps_strap_battery_and_ack(
    ref: str, case: str, check: Any, captured: Any
) -> None:
    frame = captured(ref)
    good = _frames(SESSION(), frame)
    assert good.messages[0].has_fix
    # body: alarm 4, status 4, latitude 4, longitude 4, altitude 2, speed 2, course 2, time 6
    broken = _frames(SESSION(), _with_time(frame, 22, case))
    [report] = broken.messages
    check.kept_status(report, good.messages[0])
    assert report.alarms == {Alarm.STRAP_TAMPER}
    assert report.battery_pct == good.messages[0].battery_pct is not None
    assert broken.reply == good.reply is not None  # the general response 0x8001


@pytest.mark.parametrize("case", IMPOSSIBLE)
def test_batch_record_with_an_impossible_time_keeps_its_alarms(
    case: str, check: Any, captured: Any
) -> None:
    frame = captured(BATCH)
    good = _frames(SESSION(), frame)
    # body: count 2, type 1, then records (length u16 + location body); time at 22 in it
    broken = _frames(SESSION(), _with_time(frame, 3 + 2 + 22, case))
    assert len(broken.messages) == len(good.messages)
    check.kept_status(broken.messages[0], good.messages[0])
    assert broken.messages[0].alarms == {Alarm.LOW_BATTERY, Alarm.POWER_CUT}
    assert broken.messages[1:] == good.messages[1:]
    assert broken.reply == good.reply is not None


@pytest.mark.parametrize("case", IMPOSSIBLE)
def test_elock_location_with_an_impossible_time_keeps_its_battery(
    case: str, check: Any, captured: Any
) -> None:
    frame = captured(ELOCK)
    good = _frames(SESSION(), frame)
    inner = _unescaped(frame)
    at = _body_start(inner)
    where, *values = IMPOSSIBLE[case]
    ddmmyy = {1: 1, 2: 0}.get(where, where)  # the date is day, month, year here
    if case == "feb-30":
        values, ddmmyy = [0x30, 0x02], 0
    for n, value in enumerate(values):
        inner[at + ddmmyy + n] = value
    broken = _frames(SESSION(), _framed(inner))
    [report] = broken.messages
    check.kept_status(report, good.messages[0])
    assert report.battery_pct == 78.0
    assert broken.reply == good.reply


def test_battery_report_with_an_impossible_device_time_keeps_the_battery(captured: Any) -> None:
    frame = captured(BATTERY_TIME)
    inner = _unescaped(frame)
    inner[_body_start(inner) + 1 + 1] = 0x13  # month 13
    [report] = _frames(SESSION(), _framed(inner)).messages
    assert report.battery_pct == 79.0
    assert "deviceTime" not in report.extras
    assert report.extras["invalid_fields"] == "deviceTime"


def test_zeroed_time_is_no_fix_without_a_bad_field(captured: Any) -> None:
    frame = captured(STRAP_LOCATION)
    inner = _unescaped(frame)
    at = _body_start(inner) + 22
    inner[at : at + 6] = bytes(6)
    [report] = _frames(SESSION(), _framed(inner)).messages
    assert not report.has_fix and report.kind is ReportKind.HEARTBEAT
    assert "invalid_fields" not in report.extras
    assert report.alarms == {Alarm.STRAP_TAMPER}
