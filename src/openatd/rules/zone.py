"""Zone rule: inclusion-zone exits and exclusion-zone entries, with accuracy circles and dwell.

Semantics (README of the scenarios, the contract):

- each evaluated fix is classified against the zone as inside / outside / ambiguous with its
  accuracy circle (:meth:`openatd.domain.zones.Zone.classify`); ambiguous fixes neither start,
  confirm nor end a run;
- an *offending* fix is outside an inclusion zone or inside an exclusion zone; a run is the
  offending fixes since the last *good* (opposite) fix. The alert is raised when the run spans at
  least ``policy.zone_dwell_s`` (last fix time - first fix time >= dwell; 0 means one fix) and is
  dated by the run's first fix. One alert per run: the next one needs a good fix first;
- a scheduled zone applies only to fixes whose fix time is in an active window; a run is cut at
  the end of its window and the next window starts afresh;
- the caller feeds only fixes newer than the newest fix already evaluated for the device.

>>> from datetime import datetime, UTC
>>> from openatd.domain.zones import parse_zone
>>> from openatd.rules.filter import AcceptedFix
>>> from openatd.rules.policy import Policy
>>> from zoneinfo import ZoneInfo
>>> home = parse_zone({"id": "home", "kind": "inclusion",
...                    "circle": {"lat": 41.8781, "lon": -87.6298, "radius_m": 100}})
>>> p = ZoneProcessor(home, Policy(zone_dwell_s=120), ZoneInfo("America/Chicago"))
>>> t0 = datetime(2024, 5, 15, 3, 0, tzinfo=UTC)
>>> p.update(AcceptedFix(t0, 41.8805, -87.6298, 10)) is None
True
>>> p.update(AcceptedFix(t0.replace(minute=2), 41.8806, -87.6298, 10)).at.isoformat()
'2024-05-15T03:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from openatd.domain.zones import Relation, Zone, ZoneKind, ZoneTracker
from openatd.rules.alerts import AlertType, RaisedAlert
from openatd.rules.explain import local_span, metres
from openatd.rules.filter import AcceptedFix
from openatd.rules.policy import Policy


@dataclass
class ZoneRun:
    """The current run of offending fixes for one zone (empty when ``first`` is ``None``)."""

    window: tuple[datetime, datetime] | None = None
    first: datetime | None = None
    last: datetime | None = None
    count: int = 0
    min_distance_m: float = 0.0
    max_distance_m: float = 0.0
    accuracies_m: list[float] = field(default_factory=list)
    alerted: bool = False

    def clear(self) -> None:
        """End the run (keeps the window)."""
        if self.first is None:
            return  # no run: already clear (every field is set together with ``first``)
        self.first = self.last = None
        self.count = 0
        self.min_distance_m = self.max_distance_m = 0.0
        self.accuracies_m = []
        self.alerted = False


class ZoneProcessor:
    """The zone rule for one zone of one device (state: the current run)."""

    def __init__(self, zone: Zone, policy: Policy, tz: ZoneInfo) -> None:
        self.zone = zone
        self.policy = policy
        self.tz = tz
        self.run = ZoneRun()
        self.tracker = ZoneTracker(zone)
        self.offending = Relation.OUTSIDE if zone.kind is ZoneKind.INCLUSION else Relation.INSIDE

    @property
    def alert_type(self) -> AlertType:
        """``inclusion_zone_exit`` or ``exclusion_zone_entry``."""
        if self.zone.kind is ZoneKind.INCLUSION:
            return AlertType.INCLUSION_ZONE_EXIT
        return AlertType.EXCLUSION_ZONE_ENTRY

    def update(self, fix: AcceptedFix) -> RaisedAlert | None:
        """Feed one accepted fix (newer than any fed before); returns the alert it completes."""
        run = self.run
        window: tuple[datetime, datetime] | None = None
        if self.zone.schedule is not None:
            if run.window is not None and run.window[0] <= fix.fix_time < run.window[1]:
                window = run.window  # still in the window of the current run
            else:
                window = self.zone.schedule.active_window(fix.fix_time)
            if window is None:
                run.clear()
                run.window = None
                return None
        if window != run.window:
            run.clear()
            run.window = window
        offending = self.offending
        # A fix far from every edge is settled without the per-edge work when it is a good fix
        # (its distance is not needed); an offending or close one is classified in full.
        quick = self.tracker.quick_relation(fix.latitude, fix.longitude, fix.accuracy_m)
        if quick is not None and quick is not offending:
            run.clear()
            return None
        placement = self.tracker.classify(fix.latitude, fix.longitude, fix.accuracy_m)
        if placement.relation is Relation.AMBIGUOUS:
            return None
        if placement.relation is not offending:
            run.clear()
            return None
        d = placement.distance_m
        if run.first is None:
            run.first = fix.fix_time
            run.min_distance_m = run.max_distance_m = d
        run.last = fix.fix_time
        run.count += 1
        run.min_distance_m = min(run.min_distance_m, d)
        run.max_distance_m = max(run.max_distance_m, d)
        if fix.accuracy_m is not None:
            run.accuracies_m.append(float(fix.accuracy_m))
        if run.alerted:
            return None
        if (run.last - run.first).total_seconds() < self.policy.zone_dwell_s:
            return None
        run.alerted = True
        return self._alert()

    def _alert(self) -> RaisedAlert:
        run = self.run
        assert run.first is not None and run.last is not None
        n = run.count
        noun = "position" if n == 1 else "positions"
        verb = "was" if n == 1 else "were"
        where = "outside" if self.zone.kind is ZoneKind.INCLUSION else "inside"
        edge = "beyond" if self.zone.kind is ZoneKind.INCLUSION else "within"
        if n == 1 or round(run.min_distance_m) == round(run.max_distance_m):
            dist = f"{metres(run.max_distance_m)} {edge} its edge"
        else:
            dist = f"{metres(run.min_distance_m)} to {metres(run.max_distance_m)} {edge} its edge"
        if run.accuracies_m:
            acc_lo, acc_hi = min(run.accuracies_m), max(run.accuracies_m)
            acc = "accuracy " + (
                metres(acc_hi)
                if round(acc_lo) == round(acc_hi)
                else f"{metres(acc_lo)} to {metres(acc_hi)}"
            )
            if len(run.accuracies_m) < n:
                acc += f" (not reported for {n - len(run.accuracies_m)} of them)"
        else:
            acc_hi = None
            acc = "the device did not report their accuracy"
        sentence = (
            f"{n} {noun} {local_span(run.first, run.last, self.tz)} {verb} {where} the "
            f"{self.zone.label} zone, {dist}; {acc}"
        )
        if self.zone.schedule is not None:
            sentence += f" (zone active {self.zone.schedule.describe()})"
        details = {
            "fix_count": n,
            "first_fix": run.first.isoformat().replace("+00:00", "Z"),
            "last_fix": run.last.isoformat().replace("+00:00", "Z"),
            "span_s": (run.last - run.first).total_seconds(),
            "min_distance_m": round(run.min_distance_m, 1),
            "max_distance_m": round(run.max_distance_m, 1),
            "max_accuracy_m": None if acc_hi is None else round(acc_hi, 1),
            "dwell_s": self.policy.zone_dwell_s,
        }
        if run.window is not None:
            details["window_start"] = run.window[0].isoformat().replace("+00:00", "Z")
            details["window_end"] = run.window[1].isoformat().replace("+00:00", "Z")
        return RaisedAlert(
            type=self.alert_type,
            zone=self.zone.id,
            at=run.first,
            explanation=sentence + ".",
            details=details,
        )
