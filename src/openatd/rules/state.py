"""Rule state of one device as plain JSON, so that a restart (or another worker) goes on
where the last committed batch left off (issue 11).

What a :class:`~openatd.rules.engine.DeviceRulesEngine` carries from one message to the
next: the filter's newest accepted fix and its most recent fix times (re-sent fixes), the
fingerprints of the messages it has handled (re-sent messages, issue 14 item 8), the
newest fix evaluated for zones, each zone's current run of offending fixes (dwell in
progress, whether it has alerted) keyed by the zone's label, the strap and battery
hysteresis, and the connectivity timers. :func:`snapshot` writes them into a dict of
JSON types (times as ISO 8601 UTC); :func:`restore` puts them back into a freshly built
engine. A zone that no longer exists (or was renamed) starts with no run; unknown keys are
ignored, so a snapshot from an older version never stops a start.

>>> from datetime import UTC, datetime
>>> from openatd.rules.policy import Policy
>>> from openatd.rules.engine import DeviceRulesEngine
>>> e = DeviceRulesEngine([], Policy(), "UTC")
>>> e.battery.armed = False
>>> fresh = DeviceRulesEngine([], Policy(), "UTC")
>>> restore(fresh, snapshot(e))
>>> fresh.battery.armed
False
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import Any

from openatd.rules.engine import DeviceRulesEngine
from openatd.rules.filter import AcceptedFix

VERSION = 1
"""Format of a snapshot (``"v"``)."""
KNOWN_FIX_TIMES = 64
"""Most recent accepted fix times kept in a snapshot (older re-sends meet the database's
unique constraint instead)."""


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _p(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _recent_fix_times(engine: DeviceRulesEngine) -> list[str]:
    """The filter's newest :data:`KNOWN_FIX_TIMES` fix times, oldest first, as ISO 8601.

    Snapshots are taken at every batch that touches the device, so the text of each time
    is kept in ``engine.snapshot_memo`` (pruned to the times still listed) and only the
    new ones are formatted; the filter's memory (thousands of times) is not copied.
    """
    memo = engine.snapshot_memo
    newest_first = list(islice(reversed(engine.filter._order), KNOWN_FIX_TIMES))
    out = []
    for t in reversed(newest_first):
        text = memo.get(t)
        if text is None:
            text = memo[t] = t.isoformat()
        out.append(text)
    if len(memo) > KNOWN_FIX_TIMES + 16:  # rebuilt once every 16 new times at most
        engine.snapshot_memo = dict(zip(reversed(newest_first), out, strict=True))
    return out


def snapshot(engine: DeviceRulesEngine) -> dict[str, Any]:
    """The engine's state as a dict of JSON types (see the module docstring)."""
    f = engine.filter
    newest = f.newest
    c = engine.connectivity
    zones = {}
    for proc in engine.zone_processors:
        run = proc.run
        if run.first is None and run.window is None:
            continue
        zones[str(proc.zone.id)] = {
            "window": None if run.window is None else [_t(run.window[0]), _t(run.window[1])],
            "first": _t(run.first),
            "last": _t(run.last),
            "count": run.count,
            "min_m": run.min_distance_m,
            "max_m": run.max_distance_m,
            "acc_m": run.accuracies_m,
            "alerted": run.alerted,
        }
    return {
        "v": VERSION,
        "newest": None
        if newest is None
        else [_t(newest.fix_time), newest.latitude, newest.longitude, newest.accuracy_m],
        "known": _recent_fix_times(engine),
        "seen": engine.seen_messages(),
        "evaluated": _t(engine.newest_evaluated),
        "zones": zones,
        "strap_open": engine.tamper.known_open,
        "reports_strap": engine.tamper.reports_strap,
        "battery_armed": engine.battery.armed,
        "last_received": _t(c.last_received),
        "offline_alerted": c.offline_alerted,
        "no_fix_since": _t(c.no_fix_since),
        "no_fix_alerted": c.no_fix_alerted,
    }


def restore(engine: DeviceRulesEngine, state: dict[str, Any]) -> None:
    """Put a :func:`snapshot` back into a freshly built *engine* (same device).

    Raises:
        ValueError: the snapshot is of another format version or malformed.
    """
    if state.get("v") != VERSION:
        raise ValueError(f"rule state of format {state.get('v')!r}, expected {VERSION}")
    f = engine.filter
    if state.get("newest"):
        t, lat, lon, acc = state["newest"]
        at = _p(t)
        assert at is not None
        f.newest = AcceptedFix(at, float(lat), float(lon), acc)
    for t in state.get("known", []):
        at = _p(t)
        if at is not None:
            f._remember(at)
    for fingerprint in state.get("seen", []):
        engine.remember_message(int(fingerprint))
    engine.newest_evaluated = _p(state.get("evaluated"))
    runs = state.get("zones", {})
    for proc in engine.zone_processors:
        saved = runs.get(str(proc.zone.id))
        if saved is None:
            continue
        run = proc.run
        w = saved.get("window")
        window = None if w is None else (_p(w[0]), _p(w[1]))
        run.window = window  # type: ignore[assignment]
        run.first = _p(saved.get("first"))
        run.last = _p(saved.get("last"))
        run.count = int(saved.get("count", 0))
        run.min_distance_m = float(saved.get("min_m", 0.0))
        run.max_distance_m = float(saved.get("max_m", 0.0))
        run.accuracies_m = [float(a) for a in saved.get("acc_m", [])]
        run.alerted = bool(saved.get("alerted", False))
    engine.tamper.known_open = bool(state.get("strap_open", False))
    engine.tamper.reports_strap = bool(state.get("reports_strap", False))
    engine.battery.armed = bool(state.get("battery_armed", True))
    c = engine.connectivity
    c.last_received = _p(state.get("last_received"))
    c.offline_alerted = bool(state.get("offline_alerted", False))
    c.no_fix_since = _p(state.get("no_fix_since"))
    c.no_fix_alerted = bool(state.get("no_fix_alerted", False))
