"""Suntech decoder on the shared captured frames (Traccar's SuntechProtocolDecoderTest inputs)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from openatd.domain.messages import KMH_MPS, Alarm
from openatd.protocols.suntech import SESSION

PROTOCOL = "suntech"

NO_FIX = {
    # Command results: Traccar stamps the last known location on them; they carry none.
    "SuntechProtocolDecoderTest.java:39": "RES command result",
    "SuntechProtocolDecoderTest.java:210": "ST300CMD;Res command result",
    "SuntechProtocolDecoderTest.java:214": "ST300CMD;Res command result",
}

EXPECT_OVERRIDES: dict[str, dict[str, Any]] = {
    # Traccar's test is @Disabled and asserts gSensor "" (a placeholder): the frame is
    # part 1/1 of a crash report; we check the part counters and the raw samples instead.
    "SuntechProtocolDecoderTest.java:248": {"crashPart": 1, "crashParts": 1},
    # "...;4.2;1;0.00;;;;00000000000000;0;28EE56B911160234:+13.7;:;:" - Traccar, configured
    # for 3 ADC values and no RPM, reads the driver-id slot one field early and so calls
    # the first temperature sensor temp2. By the ST600 layout (ADC x3, RPM, driver id,
    # registered, three "<sensor id>:<value>" fields) the 13.7 degC sensor is the first.
    "SuntechProtocolDecoderTest.java:268": {"temp1": 13.7, "temp2": None},
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
    ref = sample["test"]
    if ref in NO_FIX or ref in EXPECT_OVERRIDES:
        assert reports and not (ref in NO_FIX and any(r.has_fix for r in reports))
        attributes = EXPECT_OVERRIDES.get(ref, sample["expect"].get("attributes", {}))
        for key, value in attributes.items():
            check.attribute(reports[0], key, value)
        return
    check.matches(reports, sample["expect"])


def test_frame(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    assert SESSION().next_frame(buffer) == bytes.fromhex(frame_case["expected_frame"]["raw"])


ST300 = (
    b"ST300STT;109002029;08;1080;20190220;13:00:55;85405;+04.645710;-074.078525;007.760;"
    b"005.19;10;1;6520802;13.86;100100;4;1716;0000039863;4.1;1;0.00;0000;0000;0;0"
)


def test_st300_units() -> None:
    [report] = _decode(ST300).messages
    assert report.unique_id == "109002029"
    assert report.speed_mps == pytest.approx(7.760 * KMH_MPS)
    assert report.course_deg == pytest.approx(5.19)
    assert report.satellites == 10
    assert report.extras["power"] == pytest.approx(13.86)  # external power, volts
    assert report.battery_v == pytest.approx(4.1)  # backup battery, volts
    assert report.battery_pct is None
    assert report.extras["ignition"] is True
    assert report.extras["hours"] == 39863 * 60_000


def test_emergency_and_alert_codes() -> None:
    emg = (
        b"SA200EMG;317652;042;20120718;15:35:41;16d41;-15.618740;-056.083252;000.034;"
        b"000.00;8;1;41548;12.17;110000;1"
    )
    [report] = _decode(emg).messages
    assert report.alarms == frozenset({Alarm.SOS})
    alt = emg.replace(b"SA200EMG", b"SA200ALT")[:-1] + b"41"
    [report] = _decode(alt).messages
    assert report.alarms == frozenset({Alarm.POWER_CUT})


def test_stream_keeps_crlf_inside_serial_data() -> None:
    uex = (
        b"ST300UEX;511248287;45;311;20220701;18:42:08;14c943;-22.975257;-043.373065;000.000;"
        b"000.00;0;0;0;12.14;100010;19;RFID:008FB2BEBA39\r\n;3E;000135;4.1;1;00000000000000;0\r"
    )
    session = SESSION()
    results = session.receive_data(uex + b"SA200ALV;317652\r")
    assert [r.error for r in results] == [None, None]
    assert results[0].decoded is not None
    assert results[0].decoded.messages[0].extras["serial"] == "RFID:008FB2BEBA39"
    assert results[0].decoded.reply is None
    assert session.buffered == 0


def test_a_read_ending_between_the_cr_and_lf_of_serial_data_does_not_end_the_report() -> None:
    uex = (
        b"ST300UEX;511248287;45;311;20220701;18:42:08;14c943;-22.975257;-043.373065;000.000;"
        b"000.00;0;0;0;12.14;100010;19;RFID:008FB2BEBA39\r\n;3E;000135;4.1;1;00000000000000;0\r"
    )
    whole = SESSION().receive_data(uex)  # its last CR, the last byte read, ends it at once
    session = SESSION()
    cut = uex.index(b"\r\n") + 1
    first = session.receive_data(uex[:cut])
    rest = session.receive_data(uex[cut:])
    assert first == []  # the CR could be the serial data's: wait for the next byte
    assert [r.frame for r in rest] == [r.frame for r in whole] == [uex[:-1]]
    assert rest[0].decoded is not None
    assert rest[0].decoded.messages[0].extras["serial"] == "RFID:008FB2BEBA39"


def test_malformed_frame_is_an_error() -> None:
    result = SESSION().receive_datagram(b"ST300STT;109002029;08;1080;2019XX20;13:00:55")
    assert result.error is not None
    assert result.error.protocol == "suntech"


def test_travel_report_carries_driver_id() -> None:
    [report] = _decode(b"ST300HTE;205174410;14;712;20110101;00:00:07;1200;0012345678").messages
    assert not report.has_fix
    assert report.unique_id == "205174410"
    assert report.extras["driverUniqueId"] == "0012345678"


# Issue 14 item 7: a report whose date or time is impossible keeps its sound parts.
TEXT_REPORTS = {
    "st910-emergency": ("SuntechProtocolDecoderTest.java:232", {Alarm.SOS}),
    "sa200-emergency": ("SuntechProtocolDecoderTest.java:192", {Alarm.SOS}),
    "universal-alert": ("SuntechProtocolDecoderTest.java:28", set()),
}
"""Text reports (ST910 Emergency, SA200EMG, universal ALT) and their alarms."""
IMPOSSIBLE = {
    "day-0": (6, "00"), "month-13": (4, "13"), "feb-30": (4, "0230"), "hour-24": (9, "24"),
    "hour-25": (9, "25"), "minute-60": (12, "60"),
}  # fmt: skip
"""Offset in ``YYYYMMDD;HH:MM:SS`` and the impossible digits written there."""


def _broken_text(frame: bytes, case: str) -> bytes:
    text = frame.decode("latin-1")
    stamp = re.search(r"\d{8};\d\d:\d\d:\d\d", text)
    assert stamp is not None
    at, digits = IMPOSSIBLE[case]
    at += stamp.start()
    return (text[:at] + digits + text[at + len(digits) :]).encode("latin-1")


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize("name", TEXT_REPORTS)
def test_text_report_with_an_impossible_time_keeps_its_status(
    name: str, case: str, check: Any, captured: Any
) -> None:
    ref, alarms = TEXT_REPORTS[name]
    frame = captured(ref)
    good = SESSION().receive_datagram(frame)
    assert good.decoded is not None and good.decoded.messages[0].has_fix
    result = SESSION().receive_datagram(_broken_text(frame, case))
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.decoded.messages[0])
    assert report.alarms == alarms
    assert result.decoded.reply == good.decoded.reply


BINARY_REPORTS = {
    # universal binary 0x81: date/time bytes at 16..21 (yy mm dd hh mm ss)
    "universal-binary": ("SuntechProtocolDecoderTest.java:89", 16),
    # zip report 0x02: date/time bytes at 12..17
    "zip": ("SuntechProtocolDecoderTest.java:15", 12),
}
BINARY_IMPOSSIBLE = {
    "day-0": (2, b"\x00"), "month-13": (1, b"\x0d"), "feb-30": (1, b"\x02\x1e"),
    "hour-24": (3, b"\x18"), "minute-60": (4, b"\x3c"),
}  # fmt: skip


@pytest.mark.parametrize("case", BINARY_IMPOSSIBLE)
@pytest.mark.parametrize("name", BINARY_REPORTS)
def test_binary_report_with_an_impossible_time_keeps_its_status(
    name: str, case: str, check: Any, captured: Any
) -> None:
    ref, start = BINARY_REPORTS[name]
    frame = captured(ref)
    good = SESSION().receive_datagram(frame)
    assert good.decoded is not None and good.decoded.messages[0].has_fix
    offset, value = BINARY_IMPOSSIBLE[case]
    at = start + offset
    result = SESSION().receive_datagram(frame[:at] + value + frame[at + len(value) :])
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.decoded.messages[0])
    assert report.unique_id == good.decoded.messages[0].unique_id
