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
