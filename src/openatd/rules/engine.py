"""The per-device rules engine: position filter, then every rule, in one explicit order.

One :class:`DeviceRulesEngine` per device holds that device's rule state. The caller (ingest, a
replay, a scenario) feeds messages with :meth:`DeviceRulesEngine.on_report` in processing order
— by ``received``, and a batch sharing one ``received`` instant by fix time
(:func:`processing_order`) — and lets time pass with :meth:`DeviceRulesEngine.on_tick`, at least at
:meth:`DeviceRulesEngine.next_deadline`. The engine does no I/O and reads no clock; it can be
rebuilt after a restart by replaying the device's recent stored messages through a fresh engine
(:meth:`DeviceRulesEngine.warm_up`) and discarding the alerts, which were stored the first time.

Per message, in order:

1. time-driven alerts due by its arrival (``device_offline``), so results never depend on how
   often the caller ticks;
2. the position filter (:mod:`openatd.rules.filter`);
3. ``no_gps_fix`` bookkeeping;
4. low battery and strap tamper (every message, processing order);
5. zone rules, only for an accepted fix newer than the newest fix already evaluated.

Re-sent messages are idempotent (issue 14, item 8): devices resend what they think was
not acknowledged, often after newer messages, and a broker delivers at least once. A
message with a device time that the engine has already handled (same fix time and the
same content: position, battery, strap, alarms, extras) does not re-enter the filter,
battery, tamper or zone rules, whatever arrived in between; it only tells the
connectivity rule that the device is talking (as a message without a new fix). The
engine remembers the last :data:`SEEN_MESSAGES` such fingerprints per device (8 bytes
each; saved with the rule state, so a restart or another worker remembers them too);
messages without a device time are never treated as repeats.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from openatd.domain.messages import DeviceReport, ReportKind
from openatd.domain.schedules import load_tz
from openatd.domain.zones import Zone
from openatd.errors import InvalidInput
from openatd.rules.alerts import RaisedAlert
from openatd.rules.connectivity import ConnectivityProcessor
from openatd.rules.device import LowBatteryProcessor, StrapTamperProcessor, message_time
from openatd.rules.filter import DropReason, PositionFilterStage
from openatd.rules.policy import Policy
from openatd.rules.zone import ZoneProcessor


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the engine made of one message.

    Attributes:
        position_accepted: the message carried a fix that passed the filter (store it as a
            position).
        drop_reason: the filter's reason (a :class:`~openatd.rules.filter.DropReason` value) for a
            message that carried a fix or claimed to; ``None`` for accepted fixes and heartbeats.
        evaluated_for_zones: the fix drove the zone rules (it was newer than every fix before).
        alerts: alerts raised while handling the message, in the order raised.
        repeat: the message was already handled (a re-send): it changed no rule state, and
            its alarms must not be recorded again.
    """

    position_accepted: bool
    drop_reason: str | None
    evaluated_for_zones: bool
    alerts: list[RaisedAlert] = field(default_factory=list)
    repeat: bool = False


SEEN_MESSAGES = 64
"""Fingerprints of handled messages remembered per device (a ring; 8 bytes each)."""


_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, default=repr)
"""``json.dumps(…, sort_keys=True, default=repr)`` without building an encoder per call
(the same text: fingerprints are saved, so it must never change)."""


def message_fingerprint(report: DeviceReport) -> int | None:
    """A 64-bit fingerprint of what *report* says (everything but ``received``), or ``None``
    when it has no device time (``fix_time``) and so cannot be told from a new message."""
    if report.fix_time is None:
        return None
    # Canonical text, the same in every process (a restarted or another worker compares it
    # with saved fingerprints): alarms sorted, extras as sorted-key JSON. repr() of a
    # frozenset would follow string hashing, which differs per process.
    text = _CANONICAL_JSON.encode(
        [
            report.kind.value,
            report.unique_id,
            report.fix_time.isoformat(),
            report.latitude,
            report.longitude,
            report.valid,
            report.accuracy_m,
            report.hdop,
            report.satellites,
            report.speed_mps,
            report.course_deg,
            report.altitude_m,
            report.battery_pct,
            report.battery_v,
            report.strap,
            sorted(a.value for a in report.alarms),
            report.extras,
        ]
    )
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


def processing_order(reports: Iterable[DeviceReport]) -> list[DeviceReport]:
    """*reports* in processing order: by ``received``, then (a batch) by fix time.

    A report without ``fix_time`` sorts by its ``received`` within its batch; the sort is stable.

    Raises:
        ValueError: a report has no ``received``.
    """
    items = list(reports)
    for r in items:
        if r.received is None:
            raise ValueError("processing_order needs received (server time) on every report")

    def key(r: DeviceReport) -> tuple[datetime, datetime]:
        assert r.received is not None
        return r.received, r.fix_time if r.fix_time is not None else r.received

    return sorted(items, key=key)


class DeviceRulesEngine:
    """All rules for one device of one participant.

    Args:
        zones: the participant's zones (with their schedules).
        policy: thresholds.
        tz: the participant's IANA time zone (for explanations; schedules carry their own).

    Raises:
        InvalidInput: unknown time zone, or two zones with the same id.
    """

    def __init__(self, zones: Sequence[Zone], policy: Policy, tz: str | ZoneInfo) -> None:
        self.tz = load_tz(tz)
        self.policy = policy
        ids = [z.id for z in zones]
        if len(set(ids)) != len(ids):
            raise InvalidInput("zone ids must be unique for a participant")
        self.zones = tuple(zones)
        self.filter = PositionFilterStage(policy)
        self.zone_processors = [ZoneProcessor(z, policy, self.tz) for z in self.zones]
        self.tamper = StrapTamperProcessor(self.tz)
        self.battery = LowBatteryProcessor(policy, self.tz)
        self.connectivity = ConnectivityProcessor(policy, self.tz)
        self.newest_evaluated: datetime | None = None
        self._seen = array("q")
        self._seen_next = 0

    def _repeat(self, report: DeviceReport) -> bool:
        """Whether *report* was handled before; remembers it if not."""
        fingerprint = message_fingerprint(report)
        if fingerprint is None:
            return False
        if fingerprint in self._seen:
            return True
        self.remember_message(fingerprint)
        return False

    def remember_message(self, fingerprint: int) -> None:
        """Add *fingerprint* (:func:`message_fingerprint`) to the ring of handled messages,
        replacing the oldest once :data:`SEEN_MESSAGES` are held."""
        seen = self._seen
        if len(seen) < SEEN_MESSAGES:
            seen.append(fingerprint)
        else:
            seen[self._seen_next] = fingerprint
            self._seen_next = (self._seen_next + 1) % SEEN_MESSAGES

    def seen_messages(self) -> list[int]:
        """The fingerprints of handled messages, oldest first (for :mod:`openatd.rules.state`:
        a restarted engine that remembers them in this order ends with the same ring)."""
        seen = self._seen.tolist()
        return seen[self._seen_next :] + seen[: self._seen_next]

    def on_report(self, report: DeviceReport) -> Outcome:
        """Handle one message (``received`` set) in processing order; see the module docstring.

        Raises:
            ValueError: ``report.received`` is ``None`` or naive.
        """
        received = report.received
        if received is None or received.tzinfo is None:
            raise ValueError("on_report needs report.received as a timezone-aware UTC datetime")
        alerts = self.connectivity.due(received)
        if self._repeat(report):
            alerts += self.connectivity.on_message(received, False)
            return Outcome(
                position_accepted=False,
                drop_reason=DropReason.DUPLICATE.value
                if report.kind is ReportKind.POSITION
                else None,
                evaluated_for_zones=False,
                alerts=alerts,
                repeat=True,
            )
        fix, reason = self.filter.apply(report)
        alerts += self.connectivity.on_message(received, fix is not None)
        at = message_time(report, self.policy)
        battery_alert = self.battery.update(report, at)
        if battery_alert is not None:
            alerts.append(battery_alert)
        tamper_alert = self.tamper.update(report, at)
        if tamper_alert is not None:
            alerts.append(tamper_alert)
        evaluated = False
        if fix is not None and (
            self.newest_evaluated is None or fix.fix_time > self.newest_evaluated
        ):
            evaluated = True
            self.newest_evaluated = fix.fix_time
            for proc in self.zone_processors:
                zone_alert = proc.update(fix)
                if zone_alert is not None:
                    alerts.append(zone_alert)
        drop: str | None = None
        if reason is not None and (report.kind is ReportKind.POSITION):
            drop = reason.value
        return Outcome(
            position_accepted=fix is not None,
            drop_reason=drop,
            evaluated_for_zones=evaluated,
            alerts=alerts,
        )

    def on_tick(self, now: datetime) -> list[RaisedAlert]:
        """Let time pass up to *now* (timezone-aware UTC); returns the alerts that fire.

        Raises:
            ValueError: *now* is naive.
        """
        if now.tzinfo is None:
            raise ValueError("on_tick needs a timezone-aware datetime")
        return self.connectivity.due(now)

    def next_deadline(self) -> datetime | None:
        """The earliest instant at which :meth:`on_tick` could raise an alert, or ``None``."""
        return self.connectivity.next_deadline()

    def warm_up(self, reports: Iterable[DeviceReport]) -> None:
        """Rebuild state by replaying already-stored messages (processing order); alerts are
        dropped because they were raised and stored the first time."""
        for r in processing_order(reports):
            self.on_report(r)
