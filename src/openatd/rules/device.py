"""Device-state rules: strap tamper and low battery. Both run on every message, in order.

- ``strap_tamper``: a message reporting the strap ``"open"``, or carrying a strap/case tamper
  alarm, when the strap was not already known to be open; dated by that message's time. A
  ``"closed"`` report ends "known open". For a device that never reports a strap state (alarms
  only), a message without the alarm ends it, so the next alarm is a new tamper.
- ``low_battery``: ``battery_pct`` at or below ``policy.low_battery_pct``; not raised again until
  a reading strictly above ``low_battery_pct + 5`` (hysteresis). A device low-battery alarm counts
  as a reading at the threshold. No ``battery_pct`` (unknown), or a value outside 0-100, never
  alerts.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from openatd.domain.messages import Alarm, DeviceReport
from openatd.rules.alerts import AlertType, RaisedAlert
from openatd.rules.explain import local_stamp
from openatd.rules.policy import Policy

REARM_MARGIN_PCT = 5.0
"""Percentage points above the threshold the battery must reach before a new alert."""


def message_time(report: DeviceReport, policy: Policy) -> datetime:
    """The message's own time when it is plausible (within the filter's age/future limits of its
    arrival), else its arrival time. Both UTC."""
    assert report.received is not None
    t = report.fix_time
    if t is None:
        return report.received
    lead = (t - report.received).total_seconds()
    if lead > policy.max_future_s or -lead > policy.max_age_s:
        return report.received
    return t


class StrapTamperProcessor:
    """Strap tamper rule for one device. State: whether the strap is known to be open."""

    def __init__(self, tz: ZoneInfo, *, known_open: bool = False) -> None:
        self.tz = tz
        self.known_open = known_open
        self.reports_strap = False

    def update(self, report: DeviceReport, at: datetime) -> RaisedAlert | None:
        """Feed one message (dated *at*, UTC); returns the tamper alert it raises, if any."""
        alarm = Alarm.STRAP_TAMPER in report.alarms
        strap = report.strap.lower() if isinstance(report.strap, str) else None
        if strap in ("open", "closed"):
            self.reports_strap = True
        opened = strap == "open" or alarm
        alert: RaisedAlert | None = None
        if opened and not self.known_open:
            if strap == "open":
                what = "The device reported its strap open"
            else:
                what = "The device sent a strap or case tamper alarm"
            alert = RaisedAlert(
                type=AlertType.STRAP_TAMPER,
                zone=None,
                at=at,
                explanation=f"{what} at {local_stamp(at, self.tz)}.",
                details={"strap": strap, "tamper_alarm": alarm},
            )
        if opened:
            self.known_open = True
        elif strap == "closed" or (strap is None and not self.reports_strap):
            self.known_open = False
        return alert


class LowBatteryProcessor:
    """Low-battery rule for one device. State: armed (may alert) or waiting for a recharge."""

    def __init__(self, policy: Policy, tz: ZoneInfo, *, armed: bool = True) -> None:
        self.policy = policy
        self.tz = tz
        self.armed = armed

    def update(self, report: DeviceReport, at: datetime) -> RaisedAlert | None:
        """Feed one message (dated *at*, UTC); returns the low-battery alert it raises, if any."""
        threshold = self.policy.low_battery_pct
        reading = report.battery_pct
        if reading is not None and not 0.0 <= reading <= 100.0:
            reading = None  # not a percentage (e.g. -1 for "unknown"): never a low-battery alert
        alarm = Alarm.LOW_BATTERY in report.alarms
        if alarm:
            reading = threshold if reading is None else min(reading, threshold)
        if reading is None:
            return None
        if reading > threshold + REARM_MARGIN_PCT:
            self.armed = True
            return None
        if reading > threshold or not self.armed:
            return None
        self.armed = False
        if report.battery_pct is not None and not alarm:
            what = f"The device battery was at {report.battery_pct:g} %"
        else:
            what = "The device reported a low battery"
        return RaisedAlert(
            type=AlertType.LOW_BATTERY,
            zone=None,
            at=at,
            explanation=(
                f"{what} at {local_stamp(at, self.tz)} (alert level {threshold:g} %); "
                "it needs charging."
            ),
            details={
                "battery_pct": report.battery_pct,
                "low_battery_alarm": alarm,
                "threshold_pct": threshold,
            },
        )
