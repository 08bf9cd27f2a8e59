"""What the rules raise: alerts for a person to look at, never violations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertType(StrEnum):
    """The alert types the device rules raise."""

    INCLUSION_ZONE_EXIT = "inclusion_zone_exit"
    EXCLUSION_ZONE_ENTRY = "exclusion_zone_entry"
    STRAP_TAMPER = "strap_tamper"
    LOW_BATTERY = "low_battery"
    DEVICE_OFFLINE = "device_offline"
    NO_GPS_FIX = "no_gps_fix"

    @property
    def category(self) -> AlertCategory:
        """``compliance`` for zones and tamper, ``technical`` for battery, offline and fix loss."""
        if self in _COMPLIANCE:
            return AlertCategory.COMPLIANCE
        return AlertCategory.TECHNICAL


class AlertCategory(StrEnum):
    """Whether an alert is about the participant's conduct or about the technology."""

    COMPLIANCE = "compliance"
    TECHNICAL = "technical"


_COMPLIANCE = frozenset(
    {AlertType.INCLUSION_ZONE_EXIT, AlertType.EXCLUSION_ZONE_ENTRY, AlertType.STRAP_TAMPER}
)


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """One alert raised by a rule.

    Attributes:
        type: the alert type.
        zone: the zone id for zone alerts, else ``None``.
        at: when the condition began (UTC): the first offending fix's time for a zone run, the
            message time for tamper and battery, the last message's arrival for offline, the first
            fix-less message's arrival for no fix.
        category: compliance or technical (derived from ``type``).
        explanation: one plain-language sentence the participant can read, local times.
        details: JSON-serialisable facts behind the alert (fix count, distances in metres, ...).
    """

    type: AlertType
    zone: str | None
    at: datetime
    explanation: str
    details: dict[str, Any] = field(default_factory=dict)
    category: AlertCategory = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "category", self.type.category)

    def to_json(self) -> dict[str, Any]:
        """The alert as a JSON object (``at`` in ISO 8601 UTC with ``Z``)."""
        return {
            "type": self.type.value,
            "zone": self.zone,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "category": self.category.value,
            "explanation": self.explanation,
            "details": self.details,
        }
