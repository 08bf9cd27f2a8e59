"""Meitrack decoder on the shared captured frames (Traccar's MeitrackProtocolDecoderTest inputs)."""

from __future__ import annotations

from typing import Any

import pytest

from openatd.domain.messages import KMH_MPS, Alarm, ReportKind
from openatd.protocols.meitrack import SESSION

PROTOCOL = "meitrack"

NO_FIX = {
    # "$$u28,<imei>,D82,0": a command result. Traccar stamps the device's last known
    # location on it; a decoder has none, so it is a heartbeat carrying the result.
    "MeitrackProtocolDecoderTest.java:52": "D82 command result has no location",
}


def _raw(sample: dict[str, Any]) -> bytes:
    if sample["encoding"] == "hex":
        return bytes.fromhex(sample["raw"])
    return str(sample["raw"]).encode("latin-1")


def _decode(raw: bytes) -> Any:
    result = SESSION().receive_datagram(raw)
    assert result.error is None, result.error
    assert result.decoded is not None
    return result.decoded


def test_sample(sample: dict[str, Any], check: Any) -> None:
    reports = list(_decode(_raw(sample)).messages)
    if sample["test"] in NO_FIX:
        assert reports and not any(r.has_fix for r in reports)
        for key, value in sample["expect"].get("attributes", {}).items():
            check.attribute(reports[0], key, value)
        return
    check.matches(reports, sample["expect"])


def test_frame(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    assert SESSION().next_frame(buffer) == bytes.fromhex(frame_case["expected_frame"]["raw"])


AAA = (
    b"$$A141,012896005334567,AAA,35,-33.866543,151.190148,121209081758,A,6,27,0,16,1,48,"
    b"65551,152784,505|2|0B5F|D9D3,0000,0000|0000|0000|0A39|0000,,*5B\r\n"
)


def test_aaa_fields_in_internal_units() -> None:
    [report] = _decode(AAA).messages
    assert report.unique_id == "012896005334567"
    assert report.latitude == pytest.approx(-33.866543)
    assert report.longitude == pytest.approx(151.190148)
    assert report.speed_mps == pytest.approx(0.0)
    assert report.course_deg == 16.0
    assert report.altitude_m == 48.0
    assert report.satellites == 6
    # analog field adc1|adc2|adc3|battery|power, hex 1/100 V: 0x0A39 = 26.17 V
    assert report.battery_v == pytest.approx(26.17)
    assert report.battery_pct is None
    assert report.extras["odometer"] == 65551


def test_battery_adc_by_model() -> None:
    # MT90 (personal tracker): 12-bit ADC at 3.3 V behind a 1:2 divider
    result = SESSION(model="MT90").receive_datagram(AAA)
    assert result.decoded is not None
    [report] = result.decoded.messages
    assert report.battery_v == pytest.approx(0x0A39 * 3.3 * 2 / 4096)
    assert report.battery_pct is None


def test_speed_is_kmh_converted_once() -> None:
    frame = AAA.replace(b",A,6,27,0,16,", b",A,6,27,50,16,")
    [report] = _decode(frame).messages
    assert report.speed_mps == pytest.approx(50 * KMH_MPS, abs=0.03)


def test_sos_event_is_alarm() -> None:
    frame = AAA.replace(b",AAA,35,", b",AAA,1,")
    [report] = _decode(frame).messages
    assert report.alarms == frozenset({Alarm.SOS})


def test_heartbeat_reply_and_stream() -> None:
    session = SESSION()
    heartbeat = b"$$z27,861451040910625,AAC,1*D3\r\n"
    results = session.receive_data(heartbeat + AAA[:40])
    assert len(results) == 1
    assert results[0].decoded is not None
    reply = results[0].decoded.reply
    assert reply == b"@@z27,861451040910625,AAC,1*0B\r\n"
    assert f"{sum(reply[:-4]) & 0xFF:02X}".encode() == reply[-4:-2]
    assert session.unique_id == "861451040910625"
    rest = session.receive_data(AAA[40:])
    assert [r.decoded.messages[0].kind for r in rest if r.decoded] == [ReportKind.POSITION]


def test_ccc_upload_is_acknowledged_with_count(shared_data: Any) -> None:
    import json

    samples = json.loads(shared_data.path("protocols", "meitrack.json").read_text())["samples"]
    [ccc] = [s for s in samples if s["message_type"] == "cmd CCC"]
    decoded = _decode(bytes.fromhex(ccc["raw"]))
    count = len(decoded.messages)
    assert count > 1
    assert decoded.reply.startswith(b"@@G")
    assert decoded.reply.endswith(f",369800013460674,CCC,{count}*".encode() + decoded.reply[-4:])


def test_malformed_frame_is_an_error() -> None:
    result = SESSION().receive_datagram(b"$$A20,79007001520234,AAA,xx*00\r\n")
    assert result.error is not None
    assert result.error.protocol == "meitrack"
    assert result.error.raw_hex.startswith("2424")


# Issue 14 item 7: a report whose time is impossible keeps its sound parts.
AAA_SOS = "MeitrackProtocolDecoderTest.java:112"
"""An AAA report, event 1 (SOS), 20.02.17 14:29:12 (yymmddhhmmss at field 6)."""
AAA_POWER = "MeitrackProtocolDecoderTest.java:65"
"""An AAA report, event 22 (power restored), external power 13.95 V."""
IMPOSSIBLE = {
    "day-0": (4, "00"), "month-13": (2, "13"), "feb-30": (2, "0230"), "hour-24": (6, "24"),
    "hour-25": (6, "25"), "minute-60": (8, "60"),
}  # fmt: skip


def _broken(frame: bytes, case: str) -> bytes:
    fields = frame.decode("latin-1").split(",")
    at, digits = IMPOSSIBLE[case]
    stamp = fields[6]
    assert len(stamp) == 12 and stamp[at : at + len(digits)].isdigit()
    fields[6] = stamp[:at] + digits + stamp[at + len(digits) :]
    return ",".join(fields).encode("latin-1")


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize("ref", [AAA_SOS, AAA_POWER], ids=["sos", "power"])
def test_text_report_with_an_impossible_time_keeps_event_and_power(
    ref: str, case: str, check: Any, captured: Any
) -> None:
    frame = captured(ref)
    good = SESSION().receive_datagram(frame)
    assert good.decoded is not None and good.decoded.messages[0].has_fix
    result = SESSION().receive_datagram(_broken(frame, case))
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.decoded.messages[0])
    if ref == AAA_SOS:
        assert report.alarms == {Alarm.SOS}
    else:
        assert report.extras["power"] == pytest.approx(13.95)
    assert result.decoded.reply == good.decoded.reply


def test_time_that_is_not_twelve_digits_is_a_decode_error(captured: Any) -> None:
    # strptime read "17022014291" (a digit lost) as 14:29:01; which digit is lost is unknown
    frame = captured(AAA_SOS).replace(b",170220142912,", b",17022014291,")
    result = SESSION().receive_datagram(frame)
    assert result.error is not None and "yymmddhhmmss" in result.error.reason
