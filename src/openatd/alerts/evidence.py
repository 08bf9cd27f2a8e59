"""The evidence packet of an alert, assembled by the system (DESIGN principle 5).

A person who decides an alert sees what the system holds around it, not only what the
rule saw: every fix of the participant in the evidence window with its accuracy, their
check-ins, the device's events, the participant's response(s), any platform incident
overlapping the window and any problem the participant reported, and for device alerts the
device's own fault indicators. The same window is what retention holds while the alert is
open (``openatd.safeguards.retention``), so the packet cannot be purged under a review.

Window: ``[alert.at - EVIDENCE_BEFORE, alert.at + EVIDENCE_AFTER)``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

EVIDENCE_BEFORE = timedelta(hours=12)
EVIDENCE_AFTER = timedelta(hours=12)
HEALTH_DAYS = 7
MAX_FIXES = 2000


def evidence_window(alert: t.Alert) -> tuple[datetime, datetime]:
    """``(start, end)`` of the alert's evidence window (UTC)."""
    return alert.at - EVIDENCE_BEFORE, alert.at + EVIDENCE_AFTER


def _iso(v: datetime | None) -> str | None:
    return None if v is None else v.isoformat()


def device_health(uow: UnitOfWork, device_id: int, at: datetime) -> dict[str, Any]:
    """The device's own fault indicators around *at* (item 6: a tamper alarm can be a fault).

    Returns a JSON-ready dict: ``alarm_counts_7d`` (device alarms by kind in the
    ``HEALTH_DAYS`` days before *at*), ``strap_alarms_7d``, ``fixes_24h``,
    ``invalid_fix_share_24h`` (0..1), ``strap_state_changes_24h`` (open/closed flips),
    ``battery_pct_last`` and ``battery_pct_min_24h`` (percent), ``last_fix_before_s``
    (seconds between the last fix and *at*), ``device_status``, and ``indicators`` (plain
    sentences, one per indicator that points to a fault).
    """
    device = uow.devices.get(device_id)
    end = at + timedelta(minutes=1)
    events = uow.evidence.events(0, at - timedelta(days=HEALTH_DAYS), end, device_id=device_id)
    alarms: Counter[str] = Counter()
    for ev in events:
        if ev.type == "device_alarm":
            for name in (ev.attributes or {}).get("alarms", []):
                alarms[str(name)] += 1
    fixes = uow.evidence.device_positions(device_id, at - timedelta(hours=24), end)
    invalid = sum(1 for p in fixes if not p.valid)
    straps = [
        str((p.attributes or {}).get("strap")).lower()
        for p in fixes
        if (p.attributes or {}).get("strap") is not None
    ]
    flips = sum(1 for a, b in pairwise(straps) if a != b)
    batteries = [p.battery_pct for p in fixes if p.battery_pct is not None]
    before = [p for p in fixes if p.fix_time <= at]
    health: dict[str, Any] = {
        "window_days": HEALTH_DAYS,
        "alarm_counts_7d": dict(sorted(alarms.items())),
        "strap_alarms_7d": alarms.get("strap_tamper", 0),
        "fixes_24h": len(fixes),
        "invalid_fix_share_24h": round(invalid / len(fixes), 3) if fixes else None,
        "strap_state_changes_24h": flips,
        "battery_pct_last": batteries[-1] if batteries else None,
        "battery_pct_min_24h": min(batteries) if batteries else None,
        "last_fix_before_s": (at - before[-1].fix_time).total_seconds() if before else None,
        "device_status": device.status,
    }
    notes: list[str] = []
    if health["battery_pct_min_24h"] is not None and health["battery_pct_min_24h"] < 20:
        notes.append(
            f"its battery fell to {health['battery_pct_min_24h']:g}% in the last 24 hours "
            "(a low battery can make the strap sensor misread)"
        )
    if health["strap_alarms_7d"] >= 3:
        notes.append(
            f"it reported {health['strap_alarms_7d']} strap alarms in {HEALTH_DAYS} days "
            "(a sensor that alarms again and again may be faulty)"
        )
    if flips >= 4:
        notes.append(
            f"its strap state flipped {flips} times in 24 hours (a loose or faulty sensor)"
        )
    share = health["invalid_fix_share_24h"]
    if share is not None and share >= 0.25:
        notes.append(f"{share:.0%} of its fixes in 24 hours were invalid")
    for kind in ("power_cut", "power_off", "low_battery"):
        if alarms.get(kind):
            notes.append(
                f"it reported {kind.replace('_', ' ')} {alarms[kind]} time(s) in {HEALTH_DAYS} days"
            )
    health["indicators"] = notes
    return health


def health_sentence(health: dict[str, Any]) -> str:
    """One plain sentence for the explanation: the fault indicators, or that there were none."""
    notes = health.get("indicators") or []
    if notes:
        return "Strap sensors can fail too: " + "; ".join(notes) + "."
    return (
        "Strap sensors can fail too; this device showed no other fault indicator in the "
        f"last {health.get('window_days', HEALTH_DAYS)} days."
    )


def assemble(uow: UnitOfWork, alert: t.Alert, now: datetime) -> dict[str, Any]:
    """The evidence packet of *alert* as JSON-ready data (see the module docstring).

    Sections: ``alert``, ``window``, ``positions`` (fix time, lat/lon WGS84 degrees,
    accuracy metres, valid, battery %, at most ``MAX_FIXES``), ``checkins``,
    ``device_events``, ``participant_responses`` (every response, from the audit log),
    ``incidents`` (platform outages overlapping the window), ``problem_reports`` (events
    of type ``problem_report`` and check-ins a person must review as technical),
    ``device_health`` (device alerts), ``assembled_at``.
    """
    start, end = evidence_window(alert)
    pid = alert.participant_id
    fixes = uow.positions.for_participant(pid, start, end, limit=MAX_FIXES)
    checkins = uow.evidence.checkins(pid, start, end)
    events = uow.evidence.events(pid, start, end)
    responses = [
        {"at": _iso(e.at), "text": e.reason}
        for e in uow.evidence.alert_audit(alert.id)
        if e.action == "alert:respond"
    ]
    incidents = uow.incidents.overlapping(start, end)
    packet: dict[str, Any] = {
        "assembled_at": now.isoformat(),
        "alert": {
            "id": alert.id,
            "type": alert.type,
            "category": alert.category,
            "at": _iso(alert.at),
            "raised_at": _iso(alert.raised_at),
            "explanation": alert.explanation,
            "zone_name": alert.zone_name,
            "details": alert.details,
            "notified_at": _iso(alert.notified_at),
            "response_due_at": _iso(alert.response_due_at),
        },
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "positions": [
            {
                "fix_time": _iso(p.fix_time),
                "latitude": p.latitude,
                "longitude": p.longitude,
                "accuracy_m": p.accuracy_m,
                "valid": p.valid,
                "battery_pct": p.battery_pct,
                "device_id": p.device_id,
            }
            for p in fixes
        ],
        "positions_truncated": len(fixes) >= MAX_FIXES,
        "checkins": [
            {
                "id": c.id,
                "server_time": _iso(c.server_time),
                "outcome": c.outcome,
                "on_time": c.on_time,
                "latitude": c.latitude,
                "longitude": c.longitude,
                "accuracy_m": c.accuracy_m,
                "review_kind": c.review_kind,
                "review_resolution": c.review_resolution,
            }
            for c in checkins
        ],
        "device_events": [
            {
                "time": _iso(e.time),
                "type": e.type,
                "device_id": e.device_id,
                "attributes": e.attributes,
            }
            for e in events
            if e.type != "problem_report"
        ],
        "participant_response": alert.participant_response,
        "participant_responses": responses,
        "incidents": [
            {
                "id": i.id,
                "kind": i.kind,
                "started_at": _iso(i.started_at),
                "ended_at": _iso(i.ended_at),
            }
            for i in incidents
        ],
        "problem_reports": [
            {"time": _iso(e.time), "attributes": e.attributes}
            for e in events
            if e.type == "problem_report"
        ]
        + [
            {"time": _iso(c.server_time), "checkin_id": c.id, "review_kind": c.review_kind}
            for c in checkins
            if c.review_kind == "technical"
        ],
    }
    if alert.device_id is not None:
        packet["device_health"] = device_health(uow, alert.device_id, alert.at)
    return packet


def summary(packet: dict[str, Any]) -> dict[str, int]:
    """Counts per section (for the audit entry)."""
    return {
        key: len(packet[key])
        for key in (
            "positions",
            "checkins",
            "device_events",
            "participant_responses",
            "incidents",
            "problem_reports",
        )
    }
