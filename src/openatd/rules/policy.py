"""The rules' tunable thresholds for one participant (a supervisor sets them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from openatd.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds of the rules, in seconds, percent and metres per second.

    Attributes:
        zone_dwell_s: how long (fix time of the last minus the first offending fix) a run of
            outside (inclusion) / inside (exclusion) fixes must last before it raises an alert;
            0 means one fix is enough.
        offline_after_s: silence after which ``device_offline`` fires, and how long messages
            without a valid fix must go on before ``no_gps_fix`` fires.
        low_battery_pct: ``low_battery`` fires at or below this level; re-armed above it + 5.
        max_speed_mps: a fix implying a higher speed from the newest accepted fix is a jump.
        max_age_s: a fix dated more than this before its arrival is refused (misdated).
        max_future_s: a fix dated more than this after its arrival is refused (clock ahead).
    """

    zone_dwell_s: float = 120
    offline_after_s: float = 1800
    low_battery_pct: float = 15
    max_speed_mps: float = 70
    max_age_s: float = 604800
    max_future_s: float = 300

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"policy {f.name} must be a number, got {value!r}")
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite or value < 0:
                raise InvalidInput(f"policy {f.name} must be a finite number >= 0, got {value!r}")
        if self.offline_after_s <= 0:
            raise InvalidInput("policy offline_after_s must be positive")
        if self.max_speed_mps <= 0:
            raise InvalidInput("policy max_speed_mps must be positive")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Policy:
        """A policy from a JSON object; absent keys take the defaults.

        Raises:
            InvalidInput: an unknown key or a value that is not a finite number >= 0.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidInput("policy must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"unknown policy setting(s): {', '.join(unknown)}")
        return cls(**dict(data))
