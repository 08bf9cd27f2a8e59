"""Queclink @Track decoder on the shared captured frames (Traccar's Gl200 decoder test inputs)."""

from __future__ import annotations

from typing import Any

import pytest

from openatd.domain.messages import KMH_MPS, Alarm, ReportKind
from openatd.protocols.gl200 import SESSION

PROTOCOL = "gl200"

NO_FIX_TYPES = {"GTINF", "GTGSM", "GTVER", "GTPNA", "GTPFA", "GTDTT", "GTWIF", "GTRTO", "GTJDC"}
"""Messages without a GPS block (@Track: device information, cell/Wi-Fi lists, version,
power on/off notices, data transfer, command acknowledgements). Traccar stamps the last
known location on them; ours are reports without a fix that carry the attributes."""

XFAIL: dict[str, str] = {
    "Gl200TextProtocolDecoderTest.java:70": (
        "GTCAN CAN-bus report: its vehicle fields (AdBlue level among them) are not decoded"
    ),
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
    expect = sample["expect"]
    if str(sample.get("message_type", "")).split(":")[-1] in NO_FIX_TYPES:
        assert reports and not any(r.has_fix for r in reports)
        if expect.get("attributes_present"):
            assert reports[0].extras
        for key, value in expect.get("attributes", {}).items():
            check.attribute(reports[0], key, value)
        return
    check.matches(reports, expect)


def test_frame(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    assert SESSION().next_frame(buffer) == bytes.fromhex(frame_case["expected_frame"]["raw"])


FRI = (
    b"+RESP:GTFRI,DE0114,865284042140479,,0,0,1,1,36.0,90,28.0,-118.268093,33.975430,"
    b"20200901105954,0311,0480,3500,00D07F02,18,0,,93,0,,,20200901110000,0355$"
)


def test_fri_fields_in_internal_units() -> None:
    [report] = _decode(FRI).messages
    assert report.unique_id == "865284042140479"
    assert report.fix_time.isoformat() == "2020-09-01T10:59:54+00:00"
    assert (report.latitude, report.longitude) == (33.97543, -118.268093)
    assert report.speed_mps == pytest.approx(36.0 * KMH_MPS)
    assert report.course_deg == 90.0
    assert report.altitude_m == 28.0
    assert report.valid and report.hdop == 1.0
    assert report.battery_pct == 93.0 and report.battery_v is None


def test_no_gps_accuracy_means_invalid_fix() -> None:
    [report] = _decode(FRI.replace(b",0,0,1,1,36.0,", b",0,0,1,0,36.0,")).messages
    assert report.valid is False


def test_several_blocks_are_several_positions(shared_data: Any) -> None:
    import json

    samples = json.loads(shared_data.path("protocols", "gl200.json").read_text())["samples"]
    [sample] = [s for s in samples if s["raw"].startswith("+RESP:GTFRI,1A0900,860599000306845")]
    reports = _decode(_raw(sample)).messages
    assert len(reports) == 4
    assert [r.fix_time for r in reports] == sorted(r.fix_time for r in reports)


@pytest.mark.parametrize(
    ("kind", "alarm"),
    [(b"GTSOS", Alarm.SOS), (b"GTPFA", Alarm.POWER_OFF), (b"GTMPF", Alarm.POWER_CUT)],
)
def test_report_types_are_alarms(kind: bytes, alarm: Alarm) -> None:
    [report] = _decode(FRI.replace(b"GTFRI", kind)).messages
    assert report.alarms == frozenset({alarm})


def test_heartbeat_gets_sack() -> None:
    session = SESSION()
    results = session.receive_data(
        b"+ACK:GTHBD,1A0800,860599000773978,GL300,20161006072548,0C98$" + FRI[:20]
    )
    assert len(results) == 1 and results[0].decoded is not None
    assert results[0].decoded.reply == b"+SACK:GTHBD,1A0800,0C98$"
    assert results[0].decoded.messages == ()
    assert session.unique_id == "860599000773978"
    [more] = session.receive_data(FRI[20:])
    assert more.decoded is not None and more.decoded.reply is None
    assert more.decoded.messages[0].kind is ReportKind.POSITION


def test_sack_for_every_report_when_the_device_asks_for_it() -> None:
    decoded = SESSION(sack_all=True).receive_datagram(FRI).decoded
    assert decoded is not None and decoded.reply == b"+SACK:0355$"
    assert _decode(FRI).reply is None


def test_malformed_frame_is_an_error() -> None:
    result = SESSION().receive_datagram(b"+RESP:GTFRI,DE0114,not-an-imei,,0,0$")
    assert result.error is not None and result.error.protocol == "gl200"


def _binary_event_samples(shared_data: Any) -> list[bytes]:
    import json

    samples = json.loads(shared_data.path("protocols", "gl200.json").read_text())["samples"]
    return [
        bytes.fromhex(s["raw"])
        for s in samples
        if s["encoding"] == "hex" and bytes.fromhex(s["raw"])[:4] in (b"+EVT", b"+RSP")
    ]


@pytest.mark.parametrize("time_bytes", [b"\x00" * 7, b"\x07\xea\x0d\x20\x19\x3c\x3c"])
def test_binary_block_without_a_usable_time_keeps_its_status(
    shared_data: Any, time_bytes: bytes
) -> None:
    """Issue 14 item 7: a binary report whose GPS time is zeroed (no fix) or impossible
    (month 13) is delivered as a status report (battery, alarms, cell) without a position,
    instead of failing the whole frame."""
    checked = 0
    for raw in _binary_event_samples(shared_data):
        good = SESSION().receive_datagram(raw)
        if good.decoded is None or not good.decoded.messages:
            continue
        first = good.decoded.messages[0]
        if first.fix_time is None:
            continue
        t = first.fix_time
        encoded = t.year.to_bytes(2, "big") + bytes([t.month, t.day, t.hour, t.minute, t.second])
        at = raw.find(encoded)
        if at < 0:
            continue
        broken = raw[:at] + time_bytes + raw[at + 7 :]
        result = SESSION().receive_datagram(broken)
        assert result.error is None, result.error
        assert result.decoded is not None
        report = result.decoded.messages[0]
        assert not report.has_fix and report.kind is ReportKind.HEARTBEAT
        assert report.battery_pct == first.battery_pct and report.alarms == first.alarms
        assert ("invalid_fields" in report.extras) is any(time_bytes)
        checked += 1
    assert checked >= 2
