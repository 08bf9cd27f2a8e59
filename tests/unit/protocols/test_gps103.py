"""GPS103 (Coban) decoder on the shared captured sentences; replies, time zones, alarms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from openatd.domain.messages import KNOT_MPS, Alarm, ReportKind
from openatd.protocols.gps103 import Gps103Session

PROTOCOL = "gps103"


def test_sample(sample: dict[str, Any], check: Any) -> None:
    decoded = Gps103Session().decode_frame(check.frame(sample))
    check.matches(list(decoded.messages), sample["expect"])


def test_login_load_heartbeat_on_and_stream_split() -> None:
    session = Gps103Session()
    stream = (
        b"##,imei:359586015829802,A;359586015829802;"
        b"imei:359586015829802,tracker,151027025958,,F,235957.000,A,2429.5156,N,"
        b"04424.5828,E,0.01,27.91,,0,0,,,;"
    )
    results = session.receive_data(stream[:20]) + session.receive_data(stream[20:])
    assert [r.error for r in results] == [None, None, None]
    replies = [r.decoded.reply if r.decoded else None for r in results]
    assert replies == [b"LOAD", b"ON", None]
    assert session.unique_id == "359586015829802"
    assert results[0].decoded is not None and results[0].decoded.messages == ()


def test_local_time_is_corrected_to_utc() -> None:
    # local 2015-10-27 02:59 against UTC 23:59:57: the device is 3 h ahead.
    frame = (
        b"imei:359710049092324,tracker,151027025958,,F,235957.000,A,2429.5156,N,"
        b"04424.5828,E,0.01,27.91,,0,0,,,"
    )
    [report] = Gps103Session().decode_frame(frame).messages
    assert report.fix_time == datetime(2015, 10, 26, 23, 59, 57, tzinfo=UTC)
    assert report.speed_mps == pytest.approx(0.01 * KNOT_MPS)
    assert report.latitude == pytest.approx(24.49193, abs=1e-5)


def test_help_me_is_sos_and_acknowledged() -> None:
    frame = (
        b"imei:100000000000000,help me,1004171910,,F,010203.000,A,0102.0003,N,00102.0003,E,1.02,"
    )
    decoded = Gps103Session().decode_frame(frame)
    assert decoded.reply == b"**,imei:100000000000000,E;"
    [report] = decoded.messages
    assert report.alarms == {Alarm.SOS}


def test_power_cut_without_gps_is_a_heartbeat_with_cell() -> None:
    frame = b"imei:864895030279986,ac alarm,180404174252,,L,,,296a,,51f7,,,"
    [report] = Gps103Session().decode_frame(frame).messages
    assert report.kind is ReportKind.HEARTBEAT
    assert report.alarms == {Alarm.POWER_CUT}
    assert report.extras["cell"] == {"lac": 0x296A, "cid": 0x51F7}


def test_low_battery_keyword() -> None:
    frame = b"imei:1,low battery,1004171910,,F,010203.000,A,0102.0003,N,00102.0003,E,0,"
    [report] = Gps103Session().decode_frame(frame).messages
    assert report.alarms == {Alarm.LOW_BATTERY}
    assert report.battery_pct is None


def test_broken_copies_never_raise(sample: dict[str, Any], check: Any) -> None:
    check.survives(Gps103Session, check.frame(sample))


# Issue 14 item 7: a report whose date or time is impossible keeps its sound parts.
HELP_ME = "Gps103ProtocolDecoderTest.java:195"
"""An SOS report (answered ``**,imei:...,E;``): local 10-04-17 19:10, UTC 01:02:03."""
ACC_OFF = "Gps103ProtocolDecoderTest.java:269"
"""A report with ignition, door, fuel and temperature: local 15-06-19 15:22:21."""
ALTERNATIVE = "Gps103ProtocolDecoderTest.java:47"
"""A '*'-ended report (decimal degrees, rssi, charge): 24.10.18 21:48:12."""
OBD = "Gps103ProtocolDecoderTest.java:53"
"""An OBD report (engine data, no fix): device time 18-09-05 20:02:18."""
IMPOSSIBLE = {
    "day-0": ("local", 4, "00"), "month-13": ("local", 2, "13"), "feb-30": ("local", 2, "0230"),
    "hour-24": ("local", 6, "24"), "hour-25": ("local", 6, "25"), "minute-60": ("local", 8, "60"),
    "utc-hour-25": ("utc", 0, "25"), "utc-minute-60": ("utc", 2, "60"),
}  # fmt: skip
"""Field (local yymmddhhmm[ss] or UTC hhmmss.sss), offset in it, impossible digits."""


def _broken(frame: bytes, case: str) -> bytes:
    fields = frame.decode().split(",")
    which, at, digits = IMPOSSIBLE[case]
    n = 2 if which == "local" else 5
    value = fields[n]
    assert value[at : at + len(digits)].isdigit()
    fields[n] = value[:at] + digits + value[at + len(digits) :]
    return ",".join(fields).encode()


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize("ref", [HELP_ME, ACC_OFF], ids=["help-me", "acc-off"])
def test_impossible_time_keeps_the_alarm_extras_and_reply(
    ref: str, case: str, check: Any, captured: Any
) -> None:
    frame = captured(ref)
    good = Gps103Session().decode_frame(frame)
    assert good.messages[0].has_fix
    result = Gps103Session().receive_datagram(_broken(frame, case))
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.messages[0])
    assert result.decoded.reply == good.reply
    if ref == HELP_ME:
        assert report.alarms == {Alarm.SOS}
        assert result.decoded.reply == b"**,imei:100000000000000,E;"
    else:
        assert report.extras["ignition"] is True and report.extras["door"] is True


def test_alternative_format_with_an_impossible_date_keeps_its_status(
    check: Any, captured: Any
) -> None:
    frame = captured(ALTERNATIVE)
    [good] = Gps103Session().decode_frame(frame).messages
    assert good.has_fix
    [report] = Gps103Session().decode_frame(frame.replace(b",241018,", b",241318,")).messages
    check.kept_status(report, good)
    assert report.extras["rssi"] == 14 and report.extras["charge"] is True


def test_obd_report_with_an_impossible_time_keeps_the_engine_data(captured: Any) -> None:
    frame = captured(OBD).replace(b",180905200218,", b",181305200218,")  # month 13
    [report] = Gps103Session().decode_frame(frame).messages
    assert "device_time" not in report.extras
    assert report.extras["invalid_fields"] == "device_time"
    assert report.extras["rpm"] == 494 and report.extras["dtcs"] == "P0137 P0430"
