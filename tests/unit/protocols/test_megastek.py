"""Megastek decoder on the shared captured frames (Traccar's MegastekProtocolDecoderTest inputs)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from openatd.domain.messages import KNOT_MPS, Alarm, ReportKind
from openatd.protocols.megastek import SESSION

PROTOCOL = "megastek"


def _decode(raw: bytes) -> Any:
    result = SESSION().receive_datagram(raw)
    assert result.error is None, result.error
    assert result.decoded is not None
    return result.decoded


def test_sample(sample: dict[str, Any], check: Any) -> None:
    reports = list(_decode(str(sample["raw"]).encode("latin-1")).messages)
    check.matches(reports, sample["expect"])


def test_frame(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    assert SESSION().next_frame(buffer) == bytes.fromhex(frame_case["expected_frame"]["raw"])


def test_alarm_sample(alarm_sample: dict[str, Any], check: Any) -> None:
    check.matches(list(_decode(str(alarm_sample["raw"]).encode()).messages), alarm_sample["expect"])


MGV = (
    b"$MGV002,860719020193193,DeviceName,R,240214,104742,A,2238.20471,N,11401.97967,E,00,03,"
    b"00,1.20,0.462,356.23,137.9,1.5,460,07,262C,0F54,25,0000,0000,0,0,0,28.5,28.3,,10,100,Timer;!"
)


def test_mgv_fields_in_internal_units() -> None:
    [report] = _decode(MGV).messages
    assert report.unique_id == "860719020193193"
    assert report.satellites == 3
    assert report.hdop == pytest.approx(1.2)
    assert report.speed_mps == pytest.approx(0.462 * KNOT_MPS)
    assert report.altitude_m == pytest.approx(137.9)
    assert report.battery_pct == 100.0
    assert report.battery_v is None
    assert report.extras["odometer"] == pytest.approx(1500.0)
    assert report.extras["temp1"] == pytest.approx(28.5)
    assert report.extras["charge"] is True


@pytest.mark.parametrize(
    ("alert", "alarm"),
    [(b"SOS", Alarm.SOS), (b"Low Battery", Alarm.LOW_BATTERY), (b"PSD", Alarm.POWER_CUT)],
)
def test_alert_texts_are_alarms(alert: bytes, alarm: Alarm) -> None:
    [report] = _decode(MGV.replace(b"Timer", alert)).messages
    assert report.alarms == frozenset({alarm})


def test_stream_length_prefixed_and_delimited() -> None:
    session = SESSION()
    prefixed = b"%04d" % len(MGV) + MGV  # "0174$MGV002,...": 174 bytes follow the digits
    results = session.receive_data(prefixed + b"\r\n" + MGV[:30])
    assert len(results) == 1 and results[0].error is None
    assert results[0].decoded is not None and results[0].decoded.reply is None
    more = session.receive_data(MGV[30:-1] + b"\r\n")
    assert more and more[0].decoded is not None
    assert more[0].decoded.messages[0].kind is ReportKind.POSITION


def test_malformed_frame_is_an_error() -> None:
    result = SESSION().receive_datagram(b"$MGV002,not-an-imei,,R")
    assert result.error is not None
    assert result.error.protocol == "megastek"


# Issue 14 item 7: a report whose date or time is impossible keeps its sound parts.
PARTIAL_MGV = "MegastekProtocolDecoderTest.java:87"
"""A $MGV002 report: charging, battery 100 %, temperatures, 24.02.14 10:47:42."""
PARTIAL_PW_ON = "MegastekProtocolDecoderTest.java:52"
"""A stored $MGV002 'PW ON' alert, battery 93 %, 29.08.16 20:06:27."""
PARTIAL_STX = "MegastekProtocolDecoderTest.java:113"
"""An STX 'Help' (SOS) report, battery 100 %, 01.01.09 00:13:39."""
IMPOSSIBLE = {
    "day-0": ("date", 0, "00"), "month-13": ("date", 2, "13"), "feb-30": ("date", 0, "3002"),
    "hour-24": ("time", 0, "24"), "hour-25": ("time", 0, "25"), "minute-60": ("time", 2, "60"),
}  # fmt: skip


def _broken(frame: bytes, case: str) -> bytes:
    text = frame.decode("latin-1")
    stx = text.startswith("STX")
    if stx:  # $GPRMC,hhmmss.sss,...,ddmmyy,
        stamp = re.search(r"\$GPRMC,(\d{6})\.\d+,.*?,(\d{6}),", text)
    else:  # ,R|S,ddmmyy,hhmmss,
        stamp = re.search(r",[RS],(\d{6}),(\d{6}),", text)
    assert stamp is not None
    which, at, digits = IMPOSSIBLE[case]
    group = (1 if which == "time" else 2) if stx else (1 if which == "date" else 2)
    at += stamp.start(group)
    return (text[:at] + digits + text[at + len(digits) :]).encode("latin-1")


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize(
    "ref", [PARTIAL_MGV, PARTIAL_PW_ON, PARTIAL_STX], ids=["mgv", "mgv-pw-on", "stx"]
)
def test_impossible_time_keeps_the_alert_and_battery(
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
    assert report.battery_pct in (100.0, 93.0)
    if ref == PARTIAL_STX:
        assert report.alarms == {Alarm.SOS} and report.unique_id == "013227009737796"
    assert result.decoded.reply == good.decoded.reply
