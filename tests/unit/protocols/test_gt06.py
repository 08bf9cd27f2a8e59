"""GT06 (Concox) decoder on the shared captured frames, framing cases and alarm samples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from openatd.domain.messages import Alarm, ReportKind
from openatd.protocols.gt06 import Gt06Session, reply

PROTOCOL = "gt06"

# Traccar's test switches the configured device model at these lines of
# Gt06ProtocolDecoderTest.java; samples after a switch were captured from that model.
MODEL_SWITCHES = [
    (573, "LW4G-4B"),
    (583, "SEEWORLD"),
    (589, "R11"),
    (595, "NT20"),
    (601, "XT40"),
    (615, "G18"),
    (621, "QH302R"),
    (626, "VL103"),
]

# "nothing" samples this decoder rejects as malformed rather than ignoring.
REJECTED = {
    "Gt06ProtocolDecoderTest.java:14": "a 0x12 position frame with no content at all",
}


def _model(test_ref: str) -> str | None:
    line = int(test_ref.split(":")[1])
    model = None
    for start, name in MODEL_SWITCHES:
        if line > start:
            model = name
    return model


def test_sample(sample: dict[str, Any], check: Any) -> None:
    session = Gt06Session(model=_model(sample["test"]))
    result = session.receive_datagram(check.frame(sample))
    if sample["test"] in REJECTED:
        assert result.error is not None and result.error.protocol == "gt06"
        return
    assert result.error is None, result.error
    assert result.decoded is not None
    check.matches(list(result.decoded.messages), sample["expect"])


def test_frame_case(frame_case: dict[str, Any]) -> None:
    session = Gt06Session()
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    frame = session.next_frame(buffer)
    assert frame is not None
    assert frame.hex() == frame_case["expected_frame"]["raw"].lower()


def test_alarm_sample(alarm_sample: dict[str, Any], check: Any) -> None:
    session = Gt06Session(model=_model(alarm_sample["test"]))
    decoded = session.decode_frame(check.frame(alarm_sample))
    check.matches(list(decoded.messages), alarm_sample["expect"])


def test_login_reply_matches_concox_document_example() -> None:
    # GT06N protocol v1.8 §5.1: login with serial 0x0001 is answered 78 78 05 01 00 01 D9 DC 0D 0A.
    session = Gt06Session()
    [result] = session.receive_data(bytes.fromhex("78780d01012345678901234500018cdd0d0a"))
    assert result.decoded is not None
    assert result.decoded.reply == bytes.fromhex("7878050100 01d9dc0d0a".replace(" ", ""))
    assert result.decoded.messages == ()
    assert session.unique_id == "123456789012345"


def test_session_login_then_position_with_ack_and_split_stream() -> None:
    login = bytes.fromhex("78780d0103534190360660610003c3df0d0a")
    position = bytes.fromhex(
        "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a"
    )
    session = Gt06Session()
    stream = login + position
    results = session.receive_data(stream[:7]) + session.receive_data(stream[7:30])
    results += session.receive_data(stream[30:])
    assert [r.error for r in results] == [None, None]
    assert session.unique_id == "353419036066061"
    decoded = results[1].decoded
    assert decoded is not None
    [report] = decoded.messages
    assert report.kind is ReportKind.POSITION
    assert report.unique_id == "353419036066061"
    assert report.satellites == 5
    assert report.speed_mps == pytest.approx(0.0)
    # serial 0x0003 echoed with protocol number 0x12
    assert decoded.reply == reply(0x12, 3)
    assert decoded.reply is not None and decoded.reply[:6].hex() == "787805120003"


def test_status_heartbeat_battery_level_and_ack() -> None:
    frame = bytes.fromhex("78780a13c40604000201298f5b0d0a")
    decoded = Gt06Session().decode_frame(frame)
    [report] = decoded.messages
    assert report.kind is ReportKind.HEARTBEAT
    assert report.battery_pct == 100.0  # voltage level 6 of 6
    assert report.battery_v is None
    assert report.extras["charge"] is True
    assert decoded.reply is not None and decoded.reply[:6].hex() == "787805130129"


def test_strap_removal_in_status_bits() -> None:
    # 0x16 alarm message, terminal info 0x3c... bits 5-3 = 7 -> removal
    frame = bytes.fromhex(
        "7878251613020c12141ac5027951430c2a16f60014000900000000001a00007c550300020002f1e70d0a"
    )
    [report] = Gt06Session().decode_frame(frame).messages
    assert Alarm.STRAP_TAMPER in report.alarms
    assert report.has_fix


def test_malformed_frame_is_an_error_not_an_exception() -> None:
    session = Gt06Session()
    [result] = session.receive_data(bytes.fromhex("78780a1200010d0a"))
    assert result.error is not None
    assert result.error.raw_hex.startswith("78780a12")
    # the session carries on with the next frame
    [ok] = session.receive_data(bytes.fromhex("78780a13c40604000201298f5b0d0a"))
    assert ok.error is None


def test_broken_copies_never_raise(sample: dict[str, Any], check: Any) -> None:
    check.survives(Gt06Session, check.frame(sample))


def test_where_command_answer_is_a_position() -> None:
    text = (
        b"Current position!Lat:N54.739332,Lon:E25.273270,Course:126.53,Speed:36.0000,"
        b"DateTime:2017-05-26  10:27:47"
    )
    content = b"\x21" + b"\x00\x00\x00\x00" + b"\x01" + text + b"\x00\x0b"
    frame = b"\x79\x79" + (len(content) + 4).to_bytes(2, "big") + content + b"\xbe\xe3\r\n"
    [report] = Gt06Session().decode_frame(frame).messages
    assert report.has_fix
    assert report.latitude == pytest.approx(54.739332)
    assert report.longitude == pytest.approx(25.273270)
    assert report.speed_mps == pytest.approx(10.0)
    assert report.fix_time == datetime(2017, 5, 26, 10, 27, 47, tzinfo=UTC)
