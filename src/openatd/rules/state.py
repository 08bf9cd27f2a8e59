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

import json
from collections.abc import Callable
from datetime import datetime
from itertools import islice
from typing import Any

import orjson

from openatd.rules.engine import DeviceRulesEngine
from openatd.rules.filter import AcceptedFix

VERSION = 1
"""Format of a snapshot (``"v"``)."""
KNOWN_FIX_TIMES = 64
"""Most recent accepted fix times kept in a snapshot (older re-sends meet the database's
unique constraint instead)."""


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _same(value: datetime | None) -> datetime | None:
    return value


def _p(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _state(engine: DeviceRulesEngine, t: Callable[[datetime | None], Any]) -> dict[str, Any]:
    """The snapshot's content, with each time converted by *t*."""
    f = engine.filter
    newest = f.newest
    c = engine.connectivity
    zones = {}
    for proc in engine.zone_processors:
        run = proc.run
        if run.first is None and run.window is None:
            continue
        zones[str(proc.zone.id)] = {
            "window": None if run.window is None else [t(run.window[0]), t(run.window[1])],
            "first": t(run.first),
            "last": t(run.last),
            "count": run.count,
            "min_m": run.min_distance_m,
            "max_m": run.max_distance_m,
            "acc_m": run.accuracies_m,
            "alerted": run.alerted,
        }
    # the filter's newest KNOWN_FIX_TIMES fix times, oldest first (not its whole memory)
    known = list(islice(reversed(f._order), KNOWN_FIX_TIMES))
    known.reverse()
    return {
        "v": VERSION,
        "newest": None
        if newest is None
        else [t(newest.fix_time), newest.latitude, newest.longitude, newest.accuracy_m],
        "known": known if t is _same else [t(k) for k in known],
        "seen": engine.seen_messages(),
        "evaluated": t(engine.newest_evaluated),
        "zones": zones,
        "strap_open": engine.tamper.known_open,
        "reports_strap": engine.tamper.reports_strap,
        "battery_armed": engine.battery.armed,
        "last_received": t(c.last_received),
        "offline_alerted": c.offline_alerted,
        "no_fix_since": t(c.no_fix_since),
        "no_fix_alerted": c.no_fix_alerted,
    }


def snapshot(engine: DeviceRulesEngine) -> dict[str, Any]:
    """The engine's state as a dict of JSON types (see the module docstring)."""
    return _state(engine, _t)


def snapshot_json(engine: DeviceRulesEngine) -> str:
    """The engine's state as JSON text: the text of :func:`snapshot`'s dict, made faster.

    Taken for every device in every batch, so the times are left to orjson, which writes
    a timezone-aware ``datetime`` as ``isoformat()`` does (``2026-03-08T06:00:00+00:00``,
    microseconds when not zero), in C: formatting them in Python (about 70 a device) was
    most of the snapshot's cost (issue 11, py-spy). Falls back to :func:`json.dumps` of
    :func:`snapshot` for what orjson refuses.
    """
    try:
        return orjson.dumps(_state(engine, _same)).decode()
    except orjson.JSONEncodeError:
        return json.dumps(snapshot(engine), separators=(",", ":"))


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
