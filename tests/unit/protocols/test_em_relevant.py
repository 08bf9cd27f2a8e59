"""Monitoring-relevant device messages (strap removal, tamper, low battery, SOS, power cut,
battery level and voltage) map to OpenATD's alarms and battery fields, for every protocol
in the registry.

Source: ``../shared/data/protocols/em_relevant_samples.json`` (Traccar test inputs whose
test asserts such an attribute). Only what the sample asserts is checked, through the
shared ``check`` fixture (Traccar keys and units converted to ours).
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from openatd.protocols import registry
from shared_paths import shared_root

DEVICE_SETTINGS: dict[str, dict[str, Any]] = {
    # Traccar's test configured these device models before decoding (per-device "model"
    # attribute); the vendor fields of those frames are defined for that model only.
    "Gt06ProtocolDecoderTest.java:575": {"model": "LW4G-4B"},
    "Gt06ProtocolDecoderTest.java:591": {"model": "R11"},
    "Gt06ProtocolDecoderTest.java:607": {"model": "XT40"},
    "Gt06ProtocolDecoderTest.java:644": {"model": "VL103"},
    "Jt808ProtocolDecoderTest.java:385": {"model": "MV710G"},
    "Jt808ProtocolDecoderTest.java:391": {"model": "AL300"},
    "Jt808ProtocolDecoderTest.java:397": {"model": "JC371"},
    "Jt808ProtocolDecoderTest.java:401": {"model": "JC371"},
    "Jt808ProtocolDecoderTest.java:405": {"model": "JC371"},
    "Jt808ProtocolDecoderTest.java:415": {"model": "C5L"},
}


def _samples() -> list[Any]:
    path = shared_root() / "data" / "protocols" / "em_relevant_samples.json"
    if not path.exists():
        raise FileNotFoundError(f"shared test data missing: {path}")
    samples = json.loads(path.read_text(encoding="utf-8"))["samples"]
    # The file also holds messages of 21 protocols OpenATD does not speak (t800x, gotop,
    # topin, ...; 26 messages) and OsmAnd's HTTP requests (tested in test_osmand.py).
    # They are left out here on purpose: only registry protocols are in scope.
    supported = [s for s in samples if s["protocol"] in registry.PROTOCOL_NAMES]
    params = []
    seen: dict[str, int] = {}
    for s in supported:
        ref = f"{s['protocol']}:{s['test']}"
        seen[ref] = seen.get(ref, 0) + 1
        params.append(pytest.param(s, id=ref if seen[ref] == 1 else f"{ref}#{seen[ref]}"))
    return params


def _session(sample: dict[str, Any]) -> Any:
    name = sample["protocol"]
    try:
        importlib.import_module(f"openatd.protocols.{name}")
    except ModuleNotFoundError:
        pytest.xfail(f"protocol module openatd.protocols.{name} is not written yet")
    return registry.session_class(name)(**DEVICE_SETTINGS.get(sample["test"], {}))


def _raw(sample: dict[str, Any]) -> bytes:
    if sample["encoding"] == "hex":
        return bytes.fromhex(sample["raw"])
    return str(sample["raw"]).encode("latin-1")


@pytest.mark.parametrize("em_sample", _samples())
def test_alarm_and_battery_mapping(em_sample: dict[str, Any], check: Any) -> None:
    result = _session(em_sample).receive_datagram(_raw(em_sample))
    assert result.error is None, result.error
    assert result.decoded is not None
    reports = list(result.decoded.messages)
    assert reports, "the message decodes to nothing"
    expect = em_sample["expect"]
    fixes = [r for r in reports if r.has_fix]
    if expect.get("plausible_fix") or "lat" in expect:
        assert fixes, f"expected a position, got {reports}"
        check.plausible(fixes[0])
    # Traccar asserts on the first position; a status message without a fix (battery
    # level report, power-on notice) is checked on the report it decodes to.
    report = fixes[0] if fixes else reports[0]
    for key, value in expect["attributes"].items():
        check.attribute(report, key, value)


def test_in_scope_samples_cover_every_alarm_kind() -> None:
    """The filter above keeps the strap, battery and SOS messages (a guard against a
    filter that silently drops everything)."""
    kept = [p.values[0] for p in _samples()]
    alarms = {a for s in kept for a in str(s["expect"]["attributes"].get("alarm", "")).split(",")}
    assert {"removing", "tampering", "lowBattery", "sos"} <= alarms
    assert len(kept) == 59
