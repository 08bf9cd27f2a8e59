"""GT06 (Concox) decoder on the shared captured frames, framing cases and alarm samples."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from crc import Calculator, Crc16

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
    # 78 78 0a 12 00 01 0d 0a: the length byte (0x0a) promises a 15-byte frame, so on its own it
    # is an incomplete frame (a 0D0A inside a frame never ends it); once the next frame arrives
    # the stop bytes are not at byte 15, the length lied, and it is cut at its own 0D0A.
    session = Gt06Session()
    assert session.receive_data(bytes.fromhex("78780a1200010d0a")) == []
    result, ok = session.receive_data(bytes.fromhex("78780a13c40604000201298f5b0d0a"))
    assert result.error is not None
    assert result.error.raw_hex == "78780a1200010d0a"
    # the session carries on with the next frame
    assert ok.error is None
    assert ok.decoded is not None and ok.decoded.messages[0].battery_pct == 100.0
    assert session.buffered == 0


# A 0x22 GPS+LBS position (GT06N §5.2.1 layout, as the VL03 send it) whose fix time
# 2026-11-29 19:13:10 is 1a 0b 1d 13 0d 0a: the time itself holds the stop bytes 0D 0A.
_BODY_0D0A = bytes.fromhex(
    "22"  # protocol number: GPS + LBS
    "1a0b1d130d0a"  # date/time YY MM DD hh mm ss
    "cf"  # GPS length 12, 15 satellites
    "04ce1e5c"  # latitude 80617052 / 1800000 = 44.787251 deg
    "00d07ad2"  # longitude 13662930 / 1800000 = 7.590517 deg
    "1e"  # speed 30 km/h
    "1554"  # course/status: GPS fixed, north, east, course 340
    "00cc00dfff0006b1"  # MCC 204, MNC 0, LAC 0xdfff, cell id 0x0006b1
    "01"  # ACC on
    "00"  # upload mode
    "00"  # GPS re-upload: real time
    "0104"  # serial 0x0104
)
POSITION_0D0A = (
    b"\x78\x78"
    + bytes([len(_BODY_0D0A) + 2])
    + _BODY_0D0A
    + Calculator(Crc16.X25.value)
    .checksum(bytes([len(_BODY_0D0A) + 2]) + _BODY_0D0A)
    .to_bytes(2, "big")
    + b"\r\n"
)


def test_split_frame_with_0d0a_inside_its_fix_time_is_cut_by_its_length() -> None:
    # Regression (bench, 2 bogus decode errors per 300,000 frames): a frame split across reads
    # right after the 13 0D 0A of its fix time was cut there and decoded as garbage.
    assert POSITION_0D0A.find(b"\r\n") == 8  # the stop bytes inside the time
    login = bytes.fromhex("78780d0103534190360660610003c3df0d0a")
    stream = login + POSITION_0D0A + POSITION_0D0A
    for cut in range(1, len(stream)):
        session = Gt06Session()
        results = session.receive_data(stream[:cut]) + session.receive_data(stream[cut:])
        assert [r.error for r in results] == [None, None, None], cut
        assert [r.frame for r in results] == [login, POSITION_0D0A, POSITION_0D0A], cut
        assert session.buffered == 0
    decoded = results[1].decoded
    assert decoded is not None
    [report] = decoded.messages
    assert report.fix_time == datetime(2026, 11, 29, 19, 13, 10, tzinfo=UTC)
    assert report.latitude == pytest.approx(80617052 / 1_800_000)
    assert report.longitude == pytest.approx(13662930 / 1_800_000)
    assert report.speed_mps == pytest.approx(30 / 3.6)
    assert report.course_deg == 340.0
    assert report.extras["cell"] == {"mcc": 204, "mnc": 0, "lac": 0xDFFF, "cid": 0x0006B1}
    assert report.extras["ignition"] is True
    assert report.unique_id == "353419036066061"
    assert decoded.reply == reply(0x22, 0x0104)


def test_frame_cases_split_right_when_fed_byte_by_byte(frame_case: dict[str, Any]) -> None:
    # Traccar's framing cases (including the Wi-Fi 0x69 / 0x17 frames whose length byte is an
    # access-point count) cut the same frame when the bytes trickle in one at a time.
    session = Gt06Session()
    results = []
    for byte in bytes.fromhex(frame_case["input"]["raw"]):
        results += session.receive_data(bytes([byte]))
    assert results, "no frame cut"
    assert results[0].frame.hex() == frame_case["expected_frame"]["raw"].lower()


def test_wrong_stop_bytes_without_0d0a_discard_up_to_the_next_start_marker() -> None:
    # 78 78 05 12 ...: a 10-byte frame by its length, but no 0D0A at its end nor anywhere before
    # the next start marker: the bytes are discarded (reported) and the next frame decodes.
    junk = bytes.fromhex("787805120001020304050607")
    good = bytes.fromhex("78780a13c40604000201298f5b0d0a")
    session = Gt06Session()
    bad, ok = session.receive_data(b"\x01\x02" + junk + good)
    assert bad.error is not None and bad.error.raw_hex == junk.hex()
    assert "stop bytes" in bad.error.reason
    assert ok.error is None and ok.frame == good


def test_corrupt_long_length_does_not_hold_the_stream() -> None:
    # 79 79 ff ff: a 65,541-byte frame by its length, past the 4 KiB maximum: refused at
    # once (issue 14: lengths are checked before anything is buffered), and the whole
    # frame that follows decodes.
    corrupt = bytes.fromhex("7979ffff1200010d0a")
    good = bytes.fromhex("78780a13c40604000201298f5b0d0a")
    session = Gt06Session()
    (bad,) = session.receive_data(corrupt)
    assert bad.error is not None and "frame length 65541" in bad.error.reason
    (ok,) = session.receive_data(good)
    assert ok.error is None and ok.frame == good
    assert session.buffered == 0


def test_hostile_incomplete_frame_costs_little_per_read() -> None:
    # a 4,086-byte frame by its length, then 0D 0A 78 78 over and over (no complete frame):
    # each read looks at a bounded number of places, and the frame keeps waiting
    session = Gt06Session()
    buffer = bytearray(bytes.fromhex("79790ff012") + b"\r\n\x78\x78" * 1_000)
    started = time.perf_counter()
    for _ in range(20):
        assert session.next_frame(buffer) is None
    assert time.perf_counter() - started < 0.05
    assert len(buffer) == 5 + 4_000


def test_next_frame_leaves_a_partial_frame_alone() -> None:
    session = Gt06Session()
    buffer = bytearray(POSITION_0D0A[:-1])
    assert session.next_frame(buffer) is None
    assert bytes(buffer) == POSITION_0D0A[:-1]
    buffer += POSITION_0D0A[-1:] + POSITION_0D0A[:3]
    assert session.next_frame(buffer) == POSITION_0D0A
    assert bytes(buffer) == POSITION_0D0A[:3]


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


STRAP_ALARM = bytes.fromhex(
    "7878251613020c12141ac5027951430c2a16f60014000900000000001a00007c550300020002f1e70d0a"
)
"""A captured 0x16 alarm frame: strap removed, battery 85 %, fix of 2019-02-12 18:20:26."""


@pytest.mark.parametrize(
    ("at", "value"), [(5, 0x0D), (6, 0x00), (7, 0x19)], ids=["month-13", "day-0", "hour-25"]
)
def test_impossible_date_keeps_alarm_and_battery_and_is_acked(at: int, value: int) -> None:
    """Issue 14 item 7: the date is refused, the rest is delivered as a status report."""
    good = Gt06Session(unique_id="353419036066061").receive_data(STRAP_ALARM)[0]
    assert good.decoded is not None and good.decoded.messages[0].has_fix
    broken = STRAP_ALARM[:at] + bytes([value]) + STRAP_ALARM[at + 1 :]
    (result,) = Gt06Session(unique_id="353419036066061").receive_data(broken)
    assert result.error is None, result.error
    assert result.decoded is not None
    (report,) = result.decoded.messages
    assert report.kind is ReportKind.HEARTBEAT and not report.has_fix
    assert report.latitude is None and report.fix_time is None
    assert Alarm.STRAP_TAMPER in report.alarms
    assert report.battery_pct == 85.0
    assert report.extras["invalid_fields"] == "fix_time"
    assert result.decoded.reply == good.decoded.reply  # ACKed as the protocol requires
