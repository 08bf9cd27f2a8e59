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
    "st910-emergency": (
        "ST910;Emergency;238569;528;20170403;00:02:09;7574160020;+19.661292;-099.144473;"
        "000.176;000.00;1;228638;1",
        {Alarm.SOS},
    ),
    "sa200-emergency": (
        "SA200EMG;317652;042;20120718;15:35:41;16d41;-15.618740;-056.083252;000.034;000.00;8;"
        "1;41548;12.17;110000;1",
        {Alarm.SOS},
    ),
    "universal-alert": (
        "ALT;0840037569;FFFFFF;84;1.0.6;0;20221228;11:33:05;00004490;724;11;05D3;33;-22.845935;"
        "-46.322000;0.00;0.00;18;0;00000001;00000000;99;;;;08E3800F;4.1;12.37;0;0;0;0;4;;;;",
        set(),
    ),
}
"""Captured reports (date ``YYYYMMDD;HH:MM:SS`` in the 4th-7th field)."""
IMPOSSIBLE = {
    "day-0": (6, "00"), "month-13": (4, "13"), "feb-30": (4, "0230"), "hour-24": (9, "24"),
    "hour-25": (9, "25"), "minute-60": (12, "60"),
}  # fmt: skip
"""Offset in ``YYYYMMDD;HH:MM:SS`` and the impossible digits written there."""


def _broken_text(frame: str, case: str) -> bytes:
    stamp = re.search(r"\d{8};\d\d:\d\d:\d\d", frame)
    assert stamp is not None
    at, digits = IMPOSSIBLE[case]
    at += stamp.start()
    return (frame[:at] + digits + frame[at + len(digits) :]).encode()


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize("name", TEXT_REPORTS)
def test_text_report_with_an_impossible_time_keeps_its_status(
    name: str, case: str, check: Any
) -> None:
    frame, alarms = TEXT_REPORTS[name]
    good = SESSION().receive_datagram(frame.encode())
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
    "universal-binary": (
        "81004e05200013383fffff3401000301130a0512080400000000000000000000000047f9d5846a0681007222"
        "5214010100020300a8002604c1000004b000000470000025a100000000000025c4000000a6",
        16,
    ),
    # zip report 0x02: date/time bytes at 12..17
    "zip": (
        "02003210511340877028813f180c170016041051290c0635652d793653000038001a30e601665e56000000"
        "0100750002712704000103",
        12,
    ),
}
BINARY_IMPOSSIBLE = {
    "day-0": (2, b"\x00"), "month-13": (1, b"\x0d"), "feb-30": (1, b"\x02\x1e"),
    "hour-24": (3, b"\x18"), "minute-60": (4, b"\x3c"),
}  # fmt: skip


@pytest.mark.parametrize("case", BINARY_IMPOSSIBLE)
@pytest.mark.parametrize("name", BINARY_REPORTS)
def test_binary_report_with_an_impossible_time_keeps_its_status(
    name: str, case: str, check: Any
) -> None:
    raw, start = BINARY_REPORTS[name]
    frame = bytes.fromhex(raw)
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
