"""What a device says: the typed message every decoder produces.

A :class:`DeviceReport` is one message from one device, in OpenATD's internal
units, whatever protocol carried it. Decoders (``openatd.protocols``) build
them from bytes without a clock; the ingest layer stamps ``received`` (server
time) before the position pipeline sees them.

Units: degrees WGS84 for latitude/longitude, metres for ``accuracy_m`` and
``altitude_m``, metres per second for ``speed_mps``, degrees clockwise from
true north for ``course_deg``, percent (0-100) for ``battery_pct``, volts for
``battery_v``. Times are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

KNOT_MPS = 1852.0 / 3600.0
"""One knot in m/s (international nautical mile, 1852 m, per hour)."""
KMH_MPS = 1000.0 / 3600.0
"""One km/h in m/s."""
MPH_MPS = 1609.344 / 3600.0
"""One statute mile per hour in m/s."""


class Alarm(StrEnum):
    """Device alarms, in OpenATD's event vocabulary.

    Protocol decoders map their own codes onto these (Traccar's ``removing`` and
    ``tampering`` both become :attr:`STRAP_TAMPER`). Anything else a device
    reports goes into ``extras``.
    """

    STRAP_TAMPER = "strap_tamper"
    LOW_BATTERY = "low_battery"
    POWER_CUT = "power_cut"
    POWER_OFF = "power_off"
    SOS = "sos"
    VIBRATION = "vibration"
    MOVEMENT = "movement"
    OVERSPEED = "overspeed"
    FALL_DOWN = "fall_down"
    GEOFENCE_ENTER = "geofence_enter"
    GEOFENCE_EXIT = "geofence_exit"


class ReportKind(StrEnum):
    """What a message is, for the pipeline."""

    POSITION = "position"
    """Carries a fix (which may still be flagged invalid by the device)."""
    HEARTBEAT = "heartbeat"
    """A message with no fix: keep-alive, status, alarm without location."""
    LOGIN = "login"
    """Session identification only (IMEI login); not stored as a message."""


@dataclass(slots=True)
class DeviceReport:
    """One decoded device message in internal units.

    A slotted, *mutable* dataclass on purpose: building a frozen dataclass costs an
    ``object.__setattr__`` per field, and stamping ``received`` with
    ``dataclasses.replace`` a second full build, which together were a fifth of the
    ingest servers' CPU per GT06 position (issue 11, py-spy). The one writer after
    the decoder is the ingest layer, which sets ``received`` (and ``unique_id`` from
    the session) in place on the reports it has just decoded; everything downstream
    treats a report as read-only. Reports compare by value and are not hashable.

    Attributes:
        kind: position, heartbeat or login.
        unique_id: the device's IMEI / unique id when the message carries it,
            else ``None`` (the session knows it from the login).
        fix_time: the device's fix time (UTC) for a position; for a heartbeat
            the device's own timestamp if it gave one.
        received: server time (UTC) the message arrived; ``None`` out of a decoder.
        latitude, longitude: degrees WGS84, ``None`` without a fix.
        valid: the device's own fix-valid flag.
        accuracy_m: radius of the fix's uncertainty circle in metres, if known.
        hdop: horizontal dilution of precision, if the device gives it.
        satellites: satellites in use.
        speed_mps, course_deg, altitude_m: motion, in m/s, degrees, metres.
        battery_pct: battery level in percent; never a voltage.
        battery_v: battery voltage in volts, where the device gives volts.
        strap: ``"open"`` / ``"closed"`` where the device reports strap state.
        alarms: device alarms mapped to :class:`Alarm`.
        extras: the protocol's other fields under typed keys (JSON-serialisable).
    """

    kind: ReportKind = ReportKind.POSITION
    unique_id: str | None = None
    fix_time: datetime | None = None
    received: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    valid: bool = True
    accuracy_m: float | None = None
    hdop: float | None = None
    satellites: int | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None
    battery_v: float | None = None
    strap: str | None = None
    alarms: frozenset[Alarm] = frozenset()
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_fix(self) -> bool:
        """True when the message carries coordinates (valid or not)."""
        return (
            self.kind is ReportKind.POSITION
            and self.latitude is not None
            and self.longitude is not None
            and self.fix_time is not None
        )

    def to_json(self) -> dict[str, Any]:
        """The message as the JSON object ``openatd decode`` prints (ISO 8601 UTC times).

        Fields without a key of their own (``hdop``, ``battery_v``, ``strap``)
        go into ``extras`` when set.
        """
        extras = dict(self.extras)
        for key, value in (
            ("hdop", self.hdop),
            ("battery_v", self.battery_v),
            ("strap", self.strap),
        ):
            if value is not None:
                extras.setdefault(key, value)
        return {
            "kind": self.kind.value,
            "unique_id": self.unique_id,
            "fix_time": _iso(self.fix_time),
            "valid": self.valid,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "speed_mps": self.speed_mps,
            "course_deg": self.course_deg,
            "altitude_m": self.altitude_m,
            "accuracy_m": self.accuracy_m,
            "satellites": self.satellites,
            "battery_pct": self.battery_pct,
            "alarms": sorted(a.value for a in self.alarms),
            "extras": extras,
        }


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.isoformat().replace("+00:00", "Z")
