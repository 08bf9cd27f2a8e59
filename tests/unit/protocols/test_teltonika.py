"""Teltonika decoder on the shared captured packets, framing cases; ACK and UDP semantics."""

from __future__ import annotations

from typing import Any

import pytest

from openatd.domain.messages import ReportKind
from openatd.protocols.teltonika import TeltonikaSession

PROTOCOL = "teltonika"


def _session(test_ref: str) -> TeltonikaSession:
    # Traccar's test sets model FMB130 at line 150 of TeltonikaProtocolDecoderTest.java
    # and turns on the 16-byte IO group at line 155, for the rest of testDecode (<166).
    line = int(test_ref.split(":")[1])
    in_decode = line < 166
    return TeltonikaSession(
        model="FMB130" if in_decode and line > 150 else None,
        extended_io=in_decode and line > 155,
    )


def test_sample(sample: dict[str, Any], check: Any) -> None:
    session = _session(sample["test"])
    decoded = session.decode_frame(check.frame(sample))
    check.matches(list(decoded.messages), sample["expect"])


def test_frame_case(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    frame = TeltonikaSession().next_frame(buffer)
    assert frame is not None
    assert frame.hex() == frame_case["expected_frame"]["raw"].lower()


def _sample(shared_data: Any, line: int) -> bytes:
    import json

    samples = json.loads(shared_data.path("protocols", "teltonika.json").read_text())["samples"]
    [raw] = [s["raw"] for s in samples if s["test"].endswith(f":{line}")]
    return bytes.fromhex(raw)


def test_login_then_records_ack_with_record_count(shared_data: Any) -> None:
    session = TeltonikaSession()
    login = _sample(shared_data, 15)
    packet = _sample(shared_data, 96)  # Codec 8, 14 records
    results = session.receive_data(login + packet[:100]) + session.receive_data(packet[100:])
    assert [r.error for r in results] == [None, None]
    first, second = (r.decoded for r in results)
    assert first is not None and first.reply == b"\x01"
    assert session.unique_id == "123456789012345"
    assert second is not None
    assert second.reply == (14).to_bytes(4, "big")
    assert len(second.messages) == 14
    assert all(m.unique_id == "123456789012345" for m in second.messages)
    assert all(m.kind is ReportKind.POSITION for m in second.messages)


def test_codec8_record_values(shared_data: Any) -> None:
    # Codec 8, one record: time 0x016818d50058 ms = 2019-01-04T12:27:19Z,
    # lon 0x09c28d9f = 16.3745183, lat 0x1cb3757a = 48.1523066, alt 190 m, angle 198,
    # 15 satellites, speed 83 km/h.
    [report] = TeltonikaSession().decode_frame(_sample(shared_data, 72)).messages
    assert report.fix_time is not None
    assert report.fix_time.isoformat() == "2019-01-04T12:27:19+00:00"
    assert report.longitude == pytest.approx(16.3745183)
    assert report.latitude == pytest.approx(48.1523066)
    assert report.altitude_m == 190.0
    assert report.course_deg == 198.0
    assert report.satellites == 15
    assert report.valid is True
    assert report.speed_mps == pytest.approx(83 / 3.6)


def test_fmb_eye_sensor_needs_fmb_model(shared_data: Any) -> None:
    packet = _sample(shared_data, 152)
    [generic] = TeltonikaSession().decode_frame(packet).messages
    assert "eyeTemp1" not in generic.extras
    [fmb] = TeltonikaSession(model="FMB130").decode_frame(packet).messages
    assert fmb.extras["eyeTemp1"] == pytest.approx(-11.87)


def test_command_response_gets_no_ack(shared_data: Any) -> None:
    decoded = TeltonikaSession().decode_frame(_sample(shared_data, 66))
    assert decoded.reply is None
    [report] = decoded.messages
    assert report.kind is ReportKind.HEARTBEAT
    assert str(report.extras["result"]).startswith("UUUUww06.4;")


def test_udp_datagram_ack_echoes_packet_ids() -> None:
    # UDP example layout from Teltonika's Codec 8 page: length, packet id 0xcafe,
    # type 0x01, AVL packet id 0x22, IMEI, one Codec 8 record.
    datagram = bytes.fromhex(
        "0049cafe0122000f333537343534303732373133393735"
        "08010000015d3766f6a800003eef961ec6215e0063006d09003100070401000200f001c8"
        "000242381c18003201c7000000e10001"
    )
    session = TeltonikaSession()
    result = session.receive_datagram(datagram)
    assert result.error is None and result.decoded is not None
    assert result.decoded.reply == bytes.fromhex("0005cafe012201")
    assert result.decoded.unique_id == "357454072713975"
    [report] = result.decoded.messages
    assert report.unique_id == "357454072713975"
    assert report.has_fix


def test_unknown_codec_is_a_decode_error() -> None:
    frame = bytes.fromhex("00000000000000050901000000000000")
    result = TeltonikaSession().receive_datagram(frame)
    assert result.error is not None and "codec" in result.error.reason


def test_broken_copies_never_raise(sample: dict[str, Any], check: Any) -> None:
    check.survives(TeltonikaSession, check.frame(sample))


def test_record_with_an_impossible_time_keeps_its_io_as_status(shared_data: Any) -> None:
    """Issue 14 item 7: one record's time is beyond year 9999; the packet is still decoded,
    that record as a status report (its IO kept, no position), the others as positions,
    and the packet is ACKed with the full record count."""
    from openatd.domain.messages import ReportKind
    from openatd.protocols._common import crc16_arc

    packet = bytearray(_sample(shared_data, 96))  # Codec 8, 14 records
    good = TeltonikaSession(unique_id="1").decode_frame(bytes(packet))
    packet[10:18] = b"\xff" * 8  # the first record's timestamp
    body = bytes(packet[8:-4])
    packet[-4:] = crc16_arc(body).to_bytes(4, "big")
    decoded = TeltonikaSession(unique_id="1").decode_frame(bytes(packet))
    assert decoded.reply == good.reply
    assert len(decoded.messages) == len(good.messages) == 14
    first = decoded.messages[0]
    assert first.kind is ReportKind.HEARTBEAT and first.fix_time is None
    assert first.latitude is None and first.extras["invalid_fields"] == "fix_time"
    io = {k: v for k, v in good.messages[0].extras.items() if k != "invalid_fields"}
    assert {k: first.extras[k] for k in io} == io  # the IO elements are all there
    assert all(m.has_fix for m in decoded.messages[1:])
