"""Megastek decoder on the shared captured frames (Traccar's MegastekProtocolDecoderTest inputs)."""

from __future__ import annotations

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
