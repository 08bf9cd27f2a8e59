"""The position filter: the stage that decides whether a fix is a position at all.

A fix that fails any check is not a position: it never moves the last known position and never
enters a zone rule. The checks, in order, each with its :class:`DropReason`:

- ``invalid_fix``: the device flags the fix invalid, or the message has no coordinates;
- ``out_of_range``: latitude outside [-90, 90] or longitude outside [-180, 180];
- ``null_island``: exactly (0, 0), the usual "no fix" filler;
- ``future``: fix time more than ``policy.max_future_s`` (300 s) after its arrival;
- ``too_old``: fix time more than ``policy.max_age_s`` before its arrival (misdated, e.g. a GPS
  week rollover);
- ``duplicate``: the same fix time is already stored for this device (a re-sent fix);
- ``jump``: the speed implied from the newest accepted fix (by fix time) is above
  ``policy.max_speed_mps`` (geodesic distance over the fix-time difference).

Modelled on Traccar's ``FilterHandler``; the state is this device's accepted fixes only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from openatd.domain.geodesy import distance_m, distance_upper_bound_m
from openatd.domain.messages import DeviceReport
from openatd.rules.policy import Policy

DUPLICATE_MEMORY = 256
"""How many recent accepted fix times the filter remembers to recognise re-sent fixes.

A device re-sends what it was not ACKed: the frames in flight when a connection dropped,
a few to a few dozen. 256 covers that four times over what a restart restores (the rule
state keeps 64), and bounds the pipeline's memory per device: each remembered time costs
about 70 bytes, so 4,096 made an engine of a device that had sent that many fixes about
300 KiB, 130 GiB for a fleet of 378,000 (bench/README.md, "National scale"). A re-sent
fix older than this is still stored once: the database's unique (device, fix time)
constraint refuses it (``storage/position_rows.py``), and it is not evaluated for zones
again (it is older than the newest fix evaluated)."""


class DropReason(StrEnum):
    """Why the filter refused a fix (a fixed vocabulary, stored with the message)."""

    NULL_ISLAND = "null_island"
    OUT_OF_RANGE = "out_of_range"
    INVALID_FIX = "invalid_fix"
    FUTURE = "future"
    TOO_OLD = "too_old"
    DUPLICATE = "duplicate"
    JUMP = "jump"


@dataclass(frozen=True, slots=True)
class AcceptedFix:
    """An accepted position: fix time (UTC), degrees WGS84, accuracy radius in metres."""

    fix_time: datetime
    latitude: float
    longitude: float
    accuracy_m: float | None = None


class PositionFilterStage:
    """Per-device position filter; :meth:`check` then :meth:`accept`, or :meth:`apply` for both.

    Args:
        policy: thresholds (``max_speed_mps``, ``max_age_s``, ``max_future_s``).
        newest: the newest accepted fix by fix time, when rebuilding state from storage.
        known_fix_times: fix times already stored, when rebuilding state from storage.
    """

    def __init__(
        self,
        policy: Policy,
        newest: AcceptedFix | None = None,
        known_fix_times: list[datetime] | None = None,
    ) -> None:
        self.policy = policy
        self.newest = newest
        self._order: deque[datetime] = deque()
        self._known: set[datetime] = set()
        for t in known_fix_times or []:
            self._remember(t)

    def _remember(self, t: datetime) -> None:
        if t in self._known:
            return
        self._known.add(t)
        self._order.append(t)
        while len(self._order) > DUPLICATE_MEMORY:
            self._known.discard(self._order.popleft())

    def check(self, report: DeviceReport) -> DropReason | None:
        """Why *report*'s fix is not a position, or ``None`` if it is one.

        *report* must have ``received`` set. A message that is not a position at all
        (a heartbeat) gives ``INVALID_FIX`` as well; callers that need to tell them apart look at
        ``report.kind``.

        Raises:
            ValueError: ``report.received`` is ``None``.
        """
        if report.received is None:
            raise ValueError("the position filter needs report.received (server time)")
        if not report.has_fix or not report.valid:
            return DropReason.INVALID_FIX
        assert report.latitude is not None and report.longitude is not None
        assert report.fix_time is not None
        lat, lon = report.latitude, report.longitude
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return DropReason.OUT_OF_RANGE
        if lat == 0.0 and lon == 0.0:
            return DropReason.NULL_ISLAND
        lead = (report.fix_time - report.received).total_seconds()
        if lead > self.policy.max_future_s:
            return DropReason.FUTURE
        if -lead > self.policy.max_age_s:
            return DropReason.TOO_OLD
        if report.fix_time in self._known:
            return DropReason.DUPLICATE
        if self.newest is not None:
            dt = abs((report.fix_time - self.newest.fix_time).total_seconds())
            if dt == 0:
                return DropReason.JUMP
            newest = self.newest
            # A cheap upper bound on the distance settles almost every fix; the geodesic
            # (pyproj, ~10 µs) only when the bound alone would exceed the speed limit.
            limit = self.policy.max_speed_mps
            if distance_upper_bound_m(newest.latitude, newest.longitude, lat, lon) / dt > limit:
                dist = distance_m(newest.latitude, newest.longitude, lat, lon)
                if dist / dt > limit:
                    return DropReason.JUMP
        return None

    def accept(self, report: DeviceReport) -> AcceptedFix:
        """Record *report* (which passed :meth:`check`) as an accepted position."""
        assert report.fix_time is not None
        assert report.latitude is not None and report.longitude is not None
        fix = AcceptedFix(report.fix_time, report.latitude, report.longitude, report.accuracy_m)
        self._remember(fix.fix_time)
        if self.newest is None or fix.fix_time > self.newest.fix_time:
            self.newest = fix
        return fix

    def apply(self, report: DeviceReport) -> tuple[AcceptedFix | None, DropReason | None]:
        """Check and, if it passes, accept: ``(fix, None)`` or ``(None, reason)``."""
        reason = self.check(report)
        if reason is not None:
            return None, reason
        return self.accept(report), None
