"""Rule scenarios: load a scenario file, run it through the real engine, compare with ``expect``.

The format and semantics are the scenarios README (``../shared/scenarios/README.md``): one
participant's time zone, policy and zones, one device's messages, the instant ``until`` the clock
runs to, and the expected alerts. :func:`run_scenario` drives a :class:`DeviceRulesEngine` with a
:class:`~openatd.domain.clock.SimulatedClock` that moves to each message's arrival (in processing
order) and then to ``until``, ticking the engine at every deadline it reports on the way, so
time-driven alerts fire at their exact instant whatever the message spacing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import Alarm, DeviceReport, ReportKind
from openatd.domain.schedules import load_tz
from openatd.domain.zones import Zone, parse_zone
from openatd.errors import InvalidInput
from openatd.rules.alerts import AlertType, RaisedAlert
from openatd.rules.engine import DeviceRulesEngine, Outcome, processing_order
from openatd.rules.policy import Policy

SCENARIO_ALARMS: Mapping[str, Alarm] = {
    "removing": Alarm.STRAP_TAMPER,
    "tampering": Alarm.STRAP_TAMPER,
    "low_battery": Alarm.LOW_BATTERY,
    "power_cut": Alarm.POWER_CUT,
    "sos": Alarm.SOS,
}
"""Scenario alarm names (Traccar's vocabulary) to OpenATD alarms."""


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    """One expected alert: type, optional zone, start instant and tolerance in seconds."""

    type: AlertType
    zone: str | None
    at: datetime
    tolerance_s: float = 0.0

    def describe(self) -> str:
        """``"inclusion_zone_exit zone=home at 2024-05-15T22:00:00Z ±30 s"``."""
        zone = f" zone={self.zone}" if self.zone is not None else ""
        return f"{self.type.value}{zone} at {_iso(self.at)} ±{self.tolerance_s:g} s"


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario file."""

    name: str
    tz: ZoneInfo
    policy: Policy
    zones: tuple[Zone, ...]
    reports: tuple[DeviceReport, ...]
    until: datetime
    expected: tuple[ExpectedAlert, ...]
    exactly: bool
    source: str = ""
    warnings: tuple[str, ...] = ()


@dataclass
class ScenarioRun:
    """The result of running a scenario: alerts in the order raised, and each message's outcome."""

    alerts: list[RaisedAlert] = field(default_factory=list)
    outcomes: list[tuple[DeviceReport, Outcome]] = field(default_factory=list)


@dataclass(frozen=True)
class ScenarioCheck:
    """The comparison of a run with ``expect``: ``ok`` and one line per difference."""

    name: str
    ok: bool
    problems: tuple[str, ...]
    alerts: tuple[RaisedAlert, ...]


def parse_time(value: Any, what: str) -> datetime:
    """An ISO 8601 instant with an offset (``Z`` allowed) as aware UTC.

    Raises:
        InvalidInput: not a string, unparseable, or without an offset.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be an ISO 8601 string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what}: cannot read {value!r} as an ISO 8601 instant") from None
    if t.tzinfo is None:
        raise InvalidInput(f"{what}: {value!r} has no UTC offset")
    return t.astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _opt_number(m: Mapping[str, Any], key: str, where: str) -> float | None:
    v = m.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InvalidInput(f"{where}: {key} must be a number, got {v!r}")
    return float(v)


def parse_message(m: Any, index: int) -> DeviceReport:
    """One scenario message as a :class:`DeviceReport` with ``received`` set.

    Raises:
        InvalidInput: a malformed field.
    """
    where = f"message {index + 1}"
    if not isinstance(m, Mapping):
        raise InvalidInput(f"{where} must be an object")
    fix_time = parse_time(m.get("time"), f"{where} time")
    received = parse_time(m["received"], f"{where} received") if "received" in m else fix_time
    kind_raw = m.get("kind", "position")
    if kind_raw not in ("position", "heartbeat"):
        raise InvalidInput(f"{where}: kind must be 'position' or 'heartbeat', got {kind_raw!r}")
    kind = ReportKind.HEARTBEAT if kind_raw == "heartbeat" else ReportKind.POSITION
    valid = m.get("valid", True)
    if not isinstance(valid, bool):
        raise InvalidInput(f"{where}: valid must be true or false, got {valid!r}")
    alarms: set[Alarm] = set()
    alarm = m.get("alarm")
    if alarm is not None:
        if alarm not in SCENARIO_ALARMS:
            raise InvalidInput(
                f"{where}: unknown alarm {alarm!r}; use {', '.join(sorted(SCENARIO_ALARMS))}"
            )
        alarms.add(SCENARIO_ALARMS[alarm])
    strap = m.get("strap")
    if strap is not None and strap not in ("open", "closed"):
        raise InvalidInput(f"{where}: strap must be 'open' or 'closed', got {strap!r}")
    return DeviceReport(
        kind=kind,
        fix_time=fix_time,
        received=received,
        latitude=_opt_number(m, "lat", where),
        longitude=_opt_number(m, "lon", where),
        valid=valid,
        accuracy_m=_opt_number(m, "accuracy_m", where),
        battery_pct=_opt_number(m, "battery_pct", where),
        strap=strap,
        alarms=frozenset(alarms),
    )


def parse_scenario(data: Any, source: str = "") -> Scenario:
    """A :class:`Scenario` from the decoded JSON of a scenario file.

    Raises:
        InvalidInput: any malformed part, naming it.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("a scenario must be a JSON object")
    tz = load_tz(data.get("timezone", ""))
    policy_raw = data.get("policy") or {}
    if not isinstance(policy_raw, Mapping):
        raise InvalidInput("policy must be a JSON object")
    known = {f.name for f in fields(Policy)}
    warnings = [
        f"policy setting {k!r} is not one this engine knows; ignored"
        for k in sorted(set(policy_raw) - known)
    ]
    policy = Policy.from_mapping({k: v for k, v in policy_raw.items() if k in known})
    zones_raw = data.get("zones", [])
    if not isinstance(zones_raw, list):
        raise InvalidInput("zones must be a list")
    zones = tuple(parse_zone(z, tz) for z in zones_raw)
    msgs_raw = data.get("messages", [])
    if not isinstance(msgs_raw, list):
        raise InvalidInput("messages must be a list")
    reports = tuple(parse_message(m, i) for i, m in enumerate(msgs_raw))
    if "until" in data:
        until = parse_time(data["until"], "until")
    elif reports:
        until = max(r.received for r in reports if r.received is not None)
    else:
        raise InvalidInput("a scenario without messages needs 'until'")
    expect = data.get("expect", {})
    if not isinstance(expect, Mapping):
        raise InvalidInput("expect must be an object")
    expected = tuple(_parse_expected(a, i) for i, a in enumerate(expect.get("alerts", []) or []))
    exactly = expect.get("exactly", False)
    if not isinstance(exactly, bool):
        raise InvalidInput("expect.exactly must be true or false")
    name = data.get("name", source)
    return Scenario(
        name=str(name),
        tz=tz,
        policy=policy,
        zones=zones,
        reports=reports,
        until=until,
        expected=expected,
        exactly=exactly,
        source=source,
        warnings=tuple(warnings),
    )


def _parse_expected(a: Any, index: int) -> ExpectedAlert:
    where = f"expect.alerts[{index}]"
    if not isinstance(a, Mapping):
        raise InvalidInput(f"{where} must be an object")
    try:
        typ = AlertType(str(a.get("type")))
    except ValueError:
        raise InvalidInput(f"{where}: unknown alert type {a.get('type')!r}") from None
    zone = a.get("zone")
    if zone is not None and not isinstance(zone, str):
        raise InvalidInput(f"{where}: zone must be a string")
    tol = a.get("tolerance_s", 0)
    if isinstance(tol, bool) or not isinstance(tol, int | float) or tol < 0:
        raise InvalidInput(f"{where}: tolerance_s must be a number >= 0")
    return ExpectedAlert(typ, zone, parse_time(a.get("at"), f"{where} at"), float(tol))


def load_scenario(path: str | Path) -> Scenario:
    """Read and parse a scenario file.

    Raises:
        InvalidInput: unreadable JSON or a malformed scenario (the message names the file).
        OSError: the file cannot be read.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{p}: not valid JSON: {exc}") from None
    try:
        return parse_scenario(data, source=str(p))
    except InvalidInput as exc:
        raise InvalidInput(f"{p}: {exc}") from None


def run_scenario(scenario: Scenario) -> ScenarioRun:
    """Run *scenario* through a fresh :class:`DeviceRulesEngine` with a simulated clock.

    Messages are fed in processing order (:func:`processing_order`); messages arriving after
    ``until`` are not fed. Before each arrival, and finally up to ``until``, the engine is ticked
    at every deadline it reports (:meth:`DeviceRulesEngine.next_deadline`) and at the target.
    """
    engine = DeviceRulesEngine(scenario.zones, scenario.policy, scenario.tz)
    ordered = processing_order(scenario.reports)
    start = ordered[0].received if ordered and ordered[0].received else scenario.until
    clock = SimulatedClock(min(start, scenario.until))
    run = ScenarioRun()

    def advance(target: datetime) -> None:
        while True:
            deadline = engine.next_deadline()
            if deadline is None or deadline > target:
                break
            clock.set(max(deadline, clock.now()))
            run.alerts.extend(engine.on_tick(clock.now()))
        clock.set(max(target, clock.now()))
        run.alerts.extend(engine.on_tick(clock.now()))

    for report in ordered:
        assert report.received is not None
        if report.received > scenario.until:
            break
        advance(report.received)
        outcome = engine.on_report(report)
        run.alerts.extend(outcome.alerts)
        run.outcomes.append((report, outcome))
    advance(scenario.until)
    return run


def compare_alerts(
    expected: Sequence[ExpectedAlert], actual: Sequence[RaisedAlert], exactly: bool
) -> list[str]:
    """Differences between expected and raised alerts, one line each (empty when they agree).

    Each expected alert takes the nearest-in-time unmatched raised alert of the same type (and
    zone, when the expectation names one) within its tolerance. With *exactly*, every raised
    alert must be matched.
    """
    unmatched = list(range(len(actual)))
    problems: list[str] = []
    for exp in sorted(expected, key=lambda e: e.at):
        best: int | None = None
        best_diff = 0.0
        for i in unmatched:
            a = actual[i]
            if a.type is not exp.type or (exp.zone is not None and a.zone != exp.zone):
                continue
            diff = abs((a.at - exp.at).total_seconds())
            if diff <= exp.tolerance_s and (best is None or diff < best_diff):
                best, best_diff = i, diff
        if best is not None:
            unmatched.remove(best)
            continue
        near = [
            actual[i]
            for i in unmatched
            if actual[i].type is exp.type and (exp.zone is None or actual[i].zone == exp.zone)
        ]
        hint = ""
        if near:
            closest = min(near, key=lambda a: abs((a.at - exp.at).total_seconds()))
            off = (closest.at - exp.at).total_seconds()
            hint = f" (nearest raised at {_iso(closest.at)}, {off:+g} s)"
        problems.append(f"missing: {exp.describe()}{hint}")
    if exactly:
        for i in unmatched:
            a = actual[i]
            zone = f" zone={a.zone}" if a.zone is not None else ""
            problems.append(f"unexpected: {a.type.value}{zone} at {_iso(a.at)}")
    return problems


def check_scenario(scenario: Scenario) -> ScenarioCheck:
    """Run *scenario* and compare its alerts with ``expect``."""
    run = run_scenario(scenario)
    problems = compare_alerts(scenario.expected, run.alerts, scenario.exactly)
    return ScenarioCheck(
        name=scenario.name, ok=not problems, problems=tuple(problems), alerts=tuple(run.alerts)
    )
