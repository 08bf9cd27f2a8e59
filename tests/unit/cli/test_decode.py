"""``openatd decode`` on real captured frames (issue 3 part 4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from openatd.cli.main import app

runner = CliRunner()


def _sample(shared_data: Any, protocol: str, test_ref: str) -> bytes:
    samples = json.loads(shared_data.path("protocols", f"{protocol}.json").read_text())
    [sample] = [s for s in samples["samples"] if s["test"] == test_ref]
    if sample["encoding"] == "hex":
        return bytes.fromhex(sample["raw"])
    return str(sample["raw"]).encode("latin-1")


def _run(*args: str, stdin: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    result = runner.invoke(app, ["decode", *args], input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines


def test_jt808_session_register_then_location(shared_data: Any) -> None:
    register = _sample(shared_data, "jt808", "Jt808ProtocolDecoderTest.java:334")
    location = _sample(shared_data, "jt808", "Jt808ProtocolDecoderTest.java:401")
    code, out = _run("jt808", register.hex(), location.hex())
    assert code == 0
    assert [o["frame"] for o in out] == [0, 1]
    assert out[0]["messages"] == [] and out[0]["error"] is None
    assert out[0]["reply_hex"].startswith("7e8100")  # registration response
    [message] = out[1]["messages"]
    assert out[1]["reply_hex"].startswith("7e8001")  # general response
    assert set(message) >= {
        "fix_time", "valid", "latitude", "longitude", "speed_mps", "course_deg",
        "altitude_m", "accuracy_m", "satellites", "battery_pct", "alarms", "extras",
    }  # fmt: skip
    assert message["fix_time"].endswith("Z")
    assert message["latitude"] == pytest.approx(0x01587D01 / 1e6)  # micro-degrees in the frame
    assert message["speed_mps"] == 0.0


def test_text_protocol_frames_from_stdin(shared_data: Any) -> None:
    meitrack = _sample(shared_data, "meitrack", "MeitrackProtocolDecoderTest.java:121")
    lines = [meitrack.hex(), "", "24247a32372c3836313435313034303931303632352c4141432c312a44330d0a"]
    code, out = _run("meitrack", stdin="\n".join(lines) + "\n")
    assert code == 0
    assert len(out) == 2  # the blank line is not a frame
    [position] = out[0]["messages"]
    assert position["fix_time"] == "2015-07-30T18:48:34Z"
    assert position["latitude"] == pytest.approx(40.99637)
    assert position["longitude"] == pytest.approx(-8.575065)
    assert position["alarms"] == []
    assert out[1]["messages"] == []
    assert bytes.fromhex(out[1]["reply_hex"]).startswith(b"@@z27,861451040910625,AAC,1*")


def test_alarm_names_and_battery_percent(shared_data: Any) -> None:
    sos = _sample(shared_data, "gl200", "Gl200TextProtocolDecoderTest.java:23")
    [out] = _run("gl200", sos.hex())[1]
    [message] = out["messages"]
    assert message["alarms"] == ["sos"]
    assert message["unique_id"] == "868487004358800"


def test_malformed_frames_set_error_and_exit_code(shared_data: Any) -> None:
    good = _sample(shared_data, "suntech", "SuntechProtocolDecoderTest.java:112")
    code, out = _run("suntech", good.hex(), "zz-not-hex", b"ST300STT;1;2".hex())
    assert code == 1
    assert out[0]["error"] is None and len(out[0]["messages"]) == 1
    assert out[1]["error"].startswith("invalid hex") and out[1]["messages"] == []
    assert out[2]["error"] is not None and out[2]["messages"] == []


def test_unknown_protocol_is_refused() -> None:
    result = runner.invoke(app, ["decode", "nonesuch", "00"])
    assert result.exit_code == 2
    assert "unknown protocol" in result.output
