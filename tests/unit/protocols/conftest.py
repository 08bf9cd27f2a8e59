"""Shared machinery for the protocol decoder tests (after Traccar's ProtocolTest).

A test module sets ``PROTOCOL = "gt06"`` (and optionally ``XFAIL = {"<test ref>":
"precise reason"}``, keyed by a sample's ``test`` field; it marks strict xfails on
``test_sample`` / ``test_alarm_sample`` only) and asks for one of these arguments,
which are parametrised at collection time from ``../shared/data``:

- ``sample``: each entry of ``protocols/<PROTOCOL>.json``;
- ``frame_case``: each case of ``protocols/frames/<PROTOCOL>.json``;
- ``alarm_sample``: each entry of ``protocols/em_relevant_samples.json`` for PROTOCOL.

The ``check`` fixture gives :class:`ExpectChecker`: the sanity rule every decoded
position must pass (:func:`openatd.protocols._common.plausibility_problems`) and
the comparison of decoded reports with a sample's ``expect`` block, converting
Traccar's keys and units to ours (knots -> m/s, ``batteryLevel`` -> battery_pct,
``battery`` volts -> battery_v, ``alarm`` -> :class:`Alarm`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from openatd.domain.messages import KNOT_MPS, Alarm, DeviceReport, ReportKind
from openatd.protocols._common import FIX_FIELDS, plausibility_problems
from openatd.protocols.base import ProtocolSession

TRACCAR_ALARMS: dict[str, Alarm] = {
    "removing": Alarm.STRAP_TAMPER,
    "tampering": Alarm.STRAP_TAMPER,
    "lowBattery": Alarm.LOW_BATTERY,
    "powerCut": Alarm.POWER_CUT,
    "powerOff": Alarm.POWER_OFF,
    "sos": Alarm.SOS,
    "vibration": Alarm.VIBRATION,
    "movement": Alarm.MOVEMENT,
    "overspeed": Alarm.OVERSPEED,
    "fallDown": Alarm.FALL_DOWN,
    "geofenceEnter": Alarm.GEOFENCE_ENTER,
    "geofenceExit": Alarm.GEOFENCE_EXIT,
}
"""Traccar alarm names -> ours. Names not listed must appear as ``extras["alarm"]``."""

EXPECTATION_TESTS = frozenset({"test_sample", "test_alarm_sample"})
FIX_KEYS = ("plausible_fix", "time_utc", "valid", "lat", "lon")
SPEED_TOLERANCE_MPS = 0.03
COORD_TOLERANCE_DEG = 0.00001


def _shared_root(config: pytest.Config) -> Path:
    """``shared_root()`` of the suite's root conftest (this module is also named ``conftest``)."""
    for plugin in config.pluginmanager.get_plugins():
        finder = getattr(plugin, "shared_root", None)
        if callable(finder):
            root: Path = finder()
            return root
    raise RuntimeError("tests/conftest.py with shared_root() is not loaded")


def _load(config: pytest.Config, *parts: str) -> dict[str, Any]:
    path = _shared_root(config) / "data" / Path(*parts)
    if not path.exists():
        raise FileNotFoundError(f"shared test data missing: {path}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def sample_bytes(sample: dict[str, Any]) -> bytes:
    """The raw frame of a ``hex`` or ``text`` sample as bytes (text is ISO-8859-1)."""
    if sample["encoding"] == "hex":
        return bytes.fromhex(sample["raw"])
    if sample["encoding"] == "text":
        return str(sample["raw"]).encode("latin-1")
    raise ValueError(f"sample encoding {sample['encoding']!r} is not a frame")


def _params(items: list[dict[str, Any]], xfail: dict[str, str], key: str = "test") -> list[Any]:
    params = []
    seen: dict[str, int] = {}
    for item in items:
        ref = str(item[key])
        seen[ref] = seen.get(ref, 0) + 1
        ident = ref if seen[ref] == 1 else f"{ref}#{seen[ref]}"
        marks = [pytest.mark.xfail(reason=xfail[ref], strict=True)] if ref in xfail else []
        params.append(pytest.param(item, id=ident, marks=marks))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    protocol = getattr(metafunc.module, "PROTOCOL", None)
    if protocol is None:
        return
    # XFAIL names sample expectations that cannot hold here: it marks only the tests
    # that check expectations (test_sample / test_alarm_sample), not e.g. robustness tests.
    expects = metafunc.function.__name__ in EXPECTATION_TESTS
    xfail: dict[str, str] = getattr(metafunc.module, "XFAIL", {}) if expects else {}
    if "sample" in metafunc.fixturenames:
        samples = _load(metafunc.config, "protocols", f"{protocol}.json")["samples"]
        metafunc.parametrize("sample", _params(samples, xfail))
    if "frame_case" in metafunc.fixturenames:
        cases = _load(metafunc.config, "protocols", "frames", f"{protocol}.json")["cases"]
        metafunc.parametrize("frame_case", _params(cases, {}))
    if "alarm_sample" in metafunc.fixturenames:
        shared = _load(metafunc.config, "protocols", "em_relevant_samples.json")["samples"]
        mine = [s for s in shared if s["protocol"] == protocol]
        metafunc.parametrize("alarm_sample", _params(mine, xfail))


class ExpectChecker:
    """Assertions on decoded reports, shared by every protocol's tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    @staticmethod
    def frame(sample: dict[str, Any]) -> bytes:
        """The raw frame of a sample (see :func:`sample_bytes`)."""
        return sample_bytes(sample)

    @staticmethod
    def survives(new_session: Callable[[], ProtocolSession], frame: bytes) -> None:
        """Feed truncated and bit-flipped copies of *frame*: nothing may raise.

        A broken frame must come back as a result carrying a ProtocolDecodeError (or
        decode to something harmless), never as an exception that would take the
        connection down. Mutations are deterministic (seeded).
        """
        rng = random.Random(frame)
        variants = [frame[:n] for n in range(1, len(frame))]
        for _ in range(40):
            mutated = bytearray(frame)
            for _ in range(rng.randint(1, 3)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            variants.append(bytes(mutated))
        for variant in variants:
            new_session().receive_datagram(variant)
            new_session().receive_data(variant)

    def arrived(self, report: DeviceReport) -> DeviceReport:
        """*report* as the ingest layer stores it: an undated position gets server time."""
        undated = report.fix_time is None and report.kind is ReportKind.POSITION
        if undated and report.latitude is not None and report.longitude is not None:
            return dataclasses.replace(report, fix_time=self.now)
        return report

    def plausible(self, report: DeviceReport) -> None:
        """Fail unless *report* passes the shared sanity rule."""
        problems = plausibility_problems(report, self.now)
        assert not problems, f"implausible position {report}: {problems}"

    def matches(self, reports: list[DeviceReport], expect: dict[str, Any]) -> None:
        """Fail unless *reports* (all messages of one frame) satisfy a sample's ``expect``.

        A position the device sent without a time (``fix_time=None``) is dated at
        arrival first, as the ingest layer does.
        """
        reports = [self.arrived(r) for r in reports]
        positions = [r for r in reports if r.has_fix]
        kind = expect["decodes_to"]
        if kind == "nothing":
            assert not positions, f"expected no position, got {positions}"
            return
        if kind == "something":
            assert reports, "expected some message, got none"
            return
        fix_asserted = any(k in expect for k in FIX_KEYS)
        if not fix_asserted:
            # Traccar's status / alarm messages carry the last known location; ours are
            # heartbeats carrying the attributes. Only the attributes are checked.
            assert reports, "expected a message carrying attributes, got none"
            first = positions[0] if positions else reports[0]
            if expect.get("attributes_present"):
                assert _has_attributes(first), f"no attributes in {first}"
            for key, value in expect.get("attributes", {}).items():
                self.attribute(first, key, value)
            return
        assert positions, f"expected a position, got {reports}"
        if kind == "positions":
            assert len(positions) == len(reports), f"a record without a fix in {reports}"
        if expect.get("plausible_fix"):
            for position in positions:
                self.plausible(position)
        first = positions[0]
        if "time_utc" in expect:
            want = datetime.fromisoformat(expect["time_utc"].replace("Z", "+00:00"))
            assert first.fix_time == want, f"fix time {first.fix_time} != {want}"
        if "valid" in expect:
            assert first.valid is expect["valid"]
        if "lat" in expect:
            assert first.latitude is not None
            assert abs(first.latitude - expect["lat"]) <= COORD_TOLERANCE_DEG, first.latitude
        if "lon" in expect:
            assert first.longitude is not None
            assert abs(first.longitude - expect["lon"]) <= COORD_TOLERANCE_DEG, first.longitude
        for key, value in expect.get("attributes", {}).items():
            self.attribute(first, key, value)

    def attribute(self, report: DeviceReport, key: str, value: Any) -> None:
        """Fail unless *report* carries Traccar attribute *key* = *value* in our units."""
        if key == "alarm":
            self._alarm(report, value)
        elif key == "speed":
            assert report.speed_mps is not None
            assert abs(report.speed_mps - value * KNOT_MPS) <= SPEED_TOLERANCE_MPS
        elif key == "batteryLevel":
            if value is None:
                assert report.battery_pct is None
            else:
                assert report.battery_pct == pytest.approx(value)
        elif key == "battery":
            assert report.battery_pct is None or report.battery_pct != value, "volts as percent"
            assert report.battery_v == pytest.approx(value), f"battery_v {report.battery_v}"
        elif key == "sat":
            assert report.satellites == value
        elif key == "hdop":
            assert report.hdop == pytest.approx(value)
        elif key == "altitude":
            assert report.altitude_m == pytest.approx(value)
        elif key == "course":
            assert report.course_deg == pytest.approx(value)
        elif value is None:
            assert key not in report.extras, f"{key} should be absent: {report.extras}"
        else:
            assert key in report.extras, f"{key} missing from extras {dict(report.extras)}"
            got = report.extras[key]
            if isinstance(value, float) and not isinstance(got, bool):
                assert isinstance(got, int | float) and math.isclose(got, value, abs_tol=1e-6)
            else:
                assert got == value, f"extras[{key!r}] = {got!r}, want {value!r}"
            json.dumps(got)

    @staticmethod
    def kept_status(partial: DeviceReport, good: DeviceReport, bad: str = "fix_time") -> None:
        """Fail unless *partial* (decoded from a copy of a frame whose *bad* field was made
        impossible) is *good* (the frame's own report) as a status report: kind heartbeat,
        no fix field set, ``extras["invalid_fields"] == bad``, and every other field
        (identity, battery, strap, alarms, extras) equal to *good*'s (issue 14 item 7)."""
        assert partial.kind is ReportKind.HEARTBEAT, partial
        assert not partial.has_fix
        assert partial.latitude is None and partial.longitude is None
        assert partial.fix_time is None and partial.speed_mps is None
        assert partial.extras.get("invalid_fields") == bad, dict(partial.extras)
        assert "invalid_fields" not in good.extras
        kept = {f.name for f in dataclasses.fields(DeviceReport)} - {*FIX_FIELDS, "kind"}
        for name in sorted(kept - {"extras"}):
            assert getattr(partial, name) == getattr(good, name), name
        extras = {k: v for k, v in partial.extras.items() if k != "invalid_fields"}
        assert extras == dict(good.extras)

    @staticmethod
    def _alarm(report: DeviceReport, value: str | None) -> None:
        if value is None:
            assert not report.alarms and "alarm" not in report.extras
            return
        for name in value.split(","):
            if name in TRACCAR_ALARMS:
                assert TRACCAR_ALARMS[name] in report.alarms, f"{name}: alarms {report.alarms}"
            else:
                extra = report.extras.get("alarm")
                names = extra.split(",") if isinstance(extra, str) else [extra]
                assert name in names, f"{name}: extras alarm {extra!r}"


def _has_attributes(report: DeviceReport) -> bool:
    return bool(
        report.extras
        or report.alarms
        or report.battery_pct is not None
        or report.battery_v is not None
        or report.satellites is not None
    )


@pytest.fixture(scope="module")
def captured(request: pytest.FixtureRequest) -> Callable[[str], bytes]:
    """The raw frame of one sample of the module's ``PROTOCOL``, by its ``test`` reference
    (``"H02ProtocolDecoderTest.java:109"``): tests that alter a real frame start from it."""
    protocol: str = request.module.PROTOCOL
    samples = _load(request.config, "protocols", f"{protocol}.json")["samples"]

    def frame(ref: str) -> bytes:
        [sample] = [s for s in samples if s["test"] == ref][:1]
        return sample_bytes(sample)

    return frame


@pytest.fixture(scope="session")
def check() -> ExpectChecker:
    """Sanity rule + expect comparison, with server time fixed at session start."""
    return ExpectChecker(datetime.now(UTC))
