"""TK103 decoder on the shared captured frames and framing cases; replies and alarms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from openatd.domain.messages import KMH_MPS, Alarm, ReportKind
from openatd.protocols.tk103 import Tk103Session

PROTOCOL = "tk103"
XFAIL = {
    "Tk103ProtocolDecoderTest.java:108": (
        "BO01 dated 06-18-30 (yymmdd, month 18): Traccar's lenient calendar rolls it into "
        "2007-06-30, a made-up fix time; here the SOS is delivered (and ACKed) as a status "
        "report without a fix, invalid_fields=fix_time (issue 14 item 7)"
    ),
}


def test_sample(sample: dict[str, Any], check: Any) -> None:
    decoded = Tk103Session().decode_frame(check.frame(sample))
    check.matches(list(decoded.messages), sample["expect"])


def test_frame_case(frame_case: dict[str, Any]) -> None:
    buffer = bytearray.fromhex(frame_case["input"]["raw"])
    frame = Tk103Session().next_frame(buffer)
    assert frame is not None
    assert frame.hex() == frame_case["expected_frame"]["raw"].lower()


def test_handshake_gets_ap01_and_no_message() -> None:
    decoded = Tk103Session().decode_frame(b"(027044702512BP00027044702512HSO01A4)")
    assert decoded.reply == b"(027044702512AP01HSO)"
    assert decoded.messages == ()


def test_login_gets_ap05_and_position() -> None:
    frame = (
        b"(035988863964BP05000035988863964110524A4241.7977N02318.7561E"
        b"000.0123536356.5100000000L000946BB)"
    )
    decoded = Tk103Session().decode_frame(frame)
    assert decoded.reply == b"(035988863964AP05)"
    [report] = decoded.messages
    assert report.fix_time == datetime(2011, 5, 24, 12, 35, 36, tzinfo=UTC)
    assert report.latitude == pytest.approx(42 + 41.7977 / 60)
    assert report.longitude == pytest.approx(23 + 18.7561 / 60)
    assert report.course_deg == pytest.approx(356.51)
    assert report.extras["odometer"] == 0x946BB


def test_comma_form_values_and_kmh() -> None:
    frame = b"(352606090042050,BP05,240414,A,4527.3513N,00909.9758E,4.80,112825,155.49)"
    [report] = Tk103Session().decode_frame(frame).messages
    assert report.unique_id == "352606090042050"
    assert report.fix_time == datetime(2014, 4, 24, 11, 28, 25, tzinfo=UTC)
    assert report.speed_mps == pytest.approx(4.80 * KMH_MPS)
    assert report.course_deg == pytest.approx(155.49)


def test_strap_removal_and_tamper_types() -> None:
    removed = b"(013632651491,ZC17,040613,A,2234.0297N,11405.9101E,000.0,040137,178.48)"
    tamper = b"(013632651491,ZC26,040613,A,2234.0297N,11405.9101E,000.0,040137,178.48)"
    [a] = Tk103Session().decode_frame(removed).messages
    [b] = Tk103Session().decode_frame(tamper).messages
    assert a.alarms == {Alarm.STRAP_TAMPER}
    assert b.alarms == {Alarm.STRAP_TAMPER}


def test_sos_alarm_is_acknowledged() -> None:
    frame = b"(013666666666BO012110925A1234.5678N01234.5678W000.0025948118.7200000000L000024DE)"
    decoded = Tk103Session().decode_frame(frame)
    assert decoded.reply == b"(013666666666AS012)"
    [report] = decoded.messages
    assert report.alarms == {Alarm.SOS}


def test_zc20_battery_percent_and_volts() -> None:
    [report] = (
        Tk103Session().decode_frame(b"(013632651491,ZC20,180716,144222,6,392,65535,255)").messages
    )
    assert report.kind is ReportKind.HEARTBEAT
    assert report.battery_pct == 100.0
    assert report.battery_v == pytest.approx(3.92)
    assert "power" not in report.extras


def test_free_text_keeps_parenthesis() -> None:
    session = Tk103Session()
    [result] = session.receive_data(b"(864555555555555,ZC03,191117,234207,$Notice: a) b$)")
    assert result.decoded is not None
    [report] = result.decoded.messages
    assert report.extras["result"] == "Notice: a) b"


def test_broken_copies_never_raise(sample: dict[str, Any], check: Any) -> None:
    check.survives(Tk103Session, check.frame(sample))


# Issue 14 item 7: a frame whose date or time is impossible keeps its sound parts.
STRAP = "Tk103ProtocolDecoderTest.java:65"
"""A comma-form strap-removal report (ZC17): date ddmmyy at 22, time hhmmss at 59."""
SOS = "Tk103ProtocolDecoderTest.java:151"
"""A fixed-width SOS alarm (BO01, ACKed AS012): date yymmdd at 18, time hhmmss at 51."""
BATTERY = "Tk103ProtocolDecoderTest.java:102"
"""A ZC20 battery report: level 6 (100 %), 3.92 V, device time 18.07.16 14:42:22."""
IMPOSSIBLE = {
    "day-0": ("day", "00"), "month-13": ("month", "13"), "month-0": ("month", "00"),
    "feb-30": ("feb30", ""), "hour-24": ("hour", "24"), "hour-25": ("hour", "25"),
    "minute-60": ("minute", "60"),
}  # fmt: skip


def _broken(frame: bytes, date_at: int, time_at: int, ddmmyy: bool, case: str) -> bytes:
    text = frame.decode()
    what, digits = IMPOSSIBLE[case]
    day_at, month_at = (date_at, date_at + 2) if ddmmyy else (date_at + 4, date_at + 2)
    edits = {
        "day": [(day_at, digits)],
        "month": [(month_at, digits)],
        "feb30": [(day_at, "30"), (month_at, "02")],
        "hour": [(time_at, digits)],
        "minute": [(time_at + 2, digits)],
    }[what]
    for at, new in edits:
        assert text[at : at + 2].isdigit()
        text = text[:at] + new + text[at + 2 :]
    return text.encode()


@pytest.mark.parametrize("case", IMPOSSIBLE)
@pytest.mark.parametrize(
    ("frame", "date_at", "time_at", "ddmmyy", "alarm"),
    [(STRAP, 22, 59, True, Alarm.STRAP_TAMPER), (SOS, 18, 51, False, Alarm.SOS)],
    ids=["comma-strap", "fixed-sos"],
)
def test_impossible_time_keeps_the_alarm_and_the_reply(
    frame: str,
    date_at: int,
    time_at: int,
    ddmmyy: bool,
    alarm: Alarm,
    case: str,
    check: Any,
    captured: Any,
) -> None:
    raw = captured(frame)
    good = Tk103Session().decode_frame(raw)
    assert good.messages[0].has_fix
    result = Tk103Session().receive_datagram(_broken(raw, date_at, time_at, ddmmyy, case))
    assert result.error is None, result.error
    assert result.decoded is not None
    [report] = result.decoded.messages
    check.kept_status(report, good.messages[0])
    assert report.alarms == {alarm}
    assert result.decoded.reply == good.reply


def test_battery_report_with_an_impossible_time_keeps_the_battery(captured: Any) -> None:
    frame = captured(BATTERY).replace(b",144222,", b",254222,")  # hour 25
    [report] = Tk103Session().decode_frame(frame).messages
    assert report.battery_pct == 100.0 and report.battery_v == 3.92
    assert "device_time" not in report.extras
    assert report.extras["invalid_fields"] == "device_time"
