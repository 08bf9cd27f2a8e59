"""OsmAnd / Traccar Client HTTP positions (default port 5055), decoded without I/O.

Two request shapes reach the HTTP intake, as the OsmAnd live-tracking and
Traccar Client documents describe them:

1. **Query string** (GET, or POST with the parameters in the URL or a
   ``application/x-www-form-urlencoded`` body)::

       /?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=27.0&batt=87

   ``id`` / ``deviceid`` device id; ``lat`` + ``lon`` or ``location=lat,lon``
   (degrees WGS84); ``timestamp`` as Unix seconds, Unix milliseconds or ISO 8601;
   ``speed`` in **knots** (the form's documented unit, converted here once to
   m/s); ``bearing`` / ``heading`` degrees; ``altitude`` metres; ``accuracy``
   (or ``hacc``) metres; ``hdop``; ``batt`` battery in percent; ``valid``
   (true/false/1/0).
   Every other parameter (``cell``, ``wifi``, ``ignition``, ``rpm`` ...) goes into
   ``extras`` under its own name, numbers and booleans typed, a repeated
   parameter as a list.

2. **JSON body** (``Content-Type: application/json``; Traccar Client 9+ and the
   transistorsoft background-geolocation plugin): ``{"location": {...} | [...],
   "device_id": "..."}`` with ``location.timestamp`` ISO 8601,
   ``location.coords.{latitude, longitude, accuracy, speed, heading, altitude}``
   where **speed is m/s**, ``location.battery.level`` a fraction 0..1 (``-1`` =
   unknown, giving no ``battery_pct``), ``location.battery.is_charging``,
   ``location.is_moving``, ``odometer`` (m), ``event``, ``activity.type`` and
   ``location.extras`` (copied into ``extras`` under their own keys). A list of
   locations (a batch sync) gives one report per location. Negative ``speed``,
   ``heading`` and ``accuracy`` mean "unknown" and are dropped.

A request with coordinates decodes to a :attr:`ReportKind.POSITION`; one with a
device id but no coordinates (cell / Wi-Fi only) to a :attr:`ReportKind.HEARTBEAT`
carrying them in ``extras``. Without a ``timestamp`` the report has
``fix_time=None`` and the intake stamps server time.

A request without a device id cannot be attributed to anyone: it raises
:class:`~openatd.errors.ProtocolDecodeError` (the intake answers 400, as Traccar
does), so it decodes to nothing.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from openatd.domain.messages import KNOT_MPS, DeviceReport, ReportKind
from openatd.errors import ProtocolDecodeError

PROTOCOL = "osmand"
DEFAULT_PORT = 5055

_MS_THRESHOLD = 100_000_000_000
"""A numeric timestamp above this is Unix milliseconds (1e11 s would be year 5138)."""

_QUERY_KNOWN = frozenset(
    {
        "id", "deviceid", "lat", "lon", "location", "timestamp", "speed", "bearing",
        "heading", "altitude", "accuracy", "hacc", "hdop", "batt", "valid",
    }
)  # fmt: skip


def decode_osmand(
    method: str, query: str, body: bytes, content_type: str | None
) -> list[DeviceReport]:
    """Decode one OsmAnd / Traccar Client HTTP request into reports (internal units).

    Args:
        method: the HTTP method (``GET`` / ``POST``).
        query: the URL's query string without ``?``, still percent-encoded.
        body: the request body (may be empty).
        content_type: the ``Content-Type`` header, if any.

    Returns:
        One report per location the request carries (in order), at least one.

    Raises:
        ProtocolDecodeError: no device id, or a field that is not a number / a
            time where one is required, or a body that is not valid JSON.
    """
    raw = f"{method} ?{query}".encode() + (b"\n" + body if body else b"")
    try:
        ctype = (content_type or "").split(";")[0].strip().lower()
        stripped = body.strip()
        if ctype == "application/json" or (stripped[:1] in (b"{", b"[") and not query):
            return _decode_json(json.loads(body.decode("utf-8")), raw)
        params = parse_qsl(query, keep_blank_values=True)
        if body and ctype == "application/x-www-form-urlencoded":
            params += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        return [_decode_query(params, raw)]
    except ProtocolDecodeError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise ProtocolDecodeError(PROTOCOL, f"malformed request: {exc}", raw) from exc


def _decode_query(params: list[tuple[str, str]], raw: bytes) -> DeviceReport:
    values: dict[str, str] = {}
    extras: dict[str, Any] = {}
    for key, value in params:
        if key in _QUERY_KNOWN:
            values[key] = value
            continue
        typed = _typed(value)
        if key in extras:
            previous = extras[key]
            extras[key] = [*previous, typed] if isinstance(previous, list) else [previous, typed]
        else:
            extras[key] = typed
    unique_id = values.get("id") or values.get("deviceid")
    if not unique_id:
        raise ProtocolDecodeError(PROTOCOL, "no device id (id / deviceid parameter)", raw)

    latitude: float | None = None
    longitude: float | None = None
    if "location" in values:
        lat_text, lon_text = values["location"].split(",")
        latitude, longitude = float(lat_text), float(lon_text)
    if "lat" in values and "lon" in values:
        latitude, longitude = float(values["lat"]), float(values["lon"])

    fix_time = _parse_time(values["timestamp"]) if values.get("timestamp") else None
    speed_mps = _opt_float(values.get("speed"))
    course = _opt_float(values.get("heading") or values.get("bearing"))
    battery = _opt_float(values.get("batt"))
    has_fix = latitude is not None and longitude is not None
    return DeviceReport(
        kind=ReportKind.POSITION if has_fix else ReportKind.HEARTBEAT,
        unique_id=unique_id,
        fix_time=fix_time,
        latitude=latitude,
        longitude=longitude,
        valid=_parse_bool(values.get("valid", "true")),
        accuracy_m=_opt_float(values.get("accuracy") or values.get("hacc")),
        hdop=_opt_float(values.get("hdop")),
        speed_mps=None if speed_mps is None else speed_mps * KNOT_MPS,
        course_deg=course,
        altitude_m=_opt_float(values.get("altitude")),
        battery_pct=battery,
        extras=extras,
    )


def _decode_json(document: Any, raw: bytes) -> list[DeviceReport]:
    if isinstance(document, list):
        root: dict[str, Any] = {}
        locations: list[Any] = document
    else:
        root = document
        location = root.get("location", root)
        locations = location if isinstance(location, list) else [location]
    reports = [_decode_json_location(root, loc, raw) for loc in locations]
    if not reports:
        raise ProtocolDecodeError(PROTOCOL, "JSON body carries no location", raw)
    return reports


def _decode_json_location(root: dict[str, Any], loc: dict[str, Any], raw: bytes) -> DeviceReport:
    unique_id = root.get("device_id") or loc.get("device_id")
    if unique_id is None or str(unique_id) == "":
        raise ProtocolDecodeError(PROTOCOL, "no device id (device_id field)", raw)
    coords: dict[str, Any] = loc.get("coords") or {}
    latitude = _json_float(coords.get("latitude"))
    longitude = _json_float(coords.get("longitude"))
    timestamp = loc.get("timestamp")
    fix_time = _parse_time(str(timestamp)) if timestamp not in (None, "") else None

    battery: dict[str, Any] = loc.get("battery") or {}
    level = _json_float(battery.get("level"))
    extras: dict[str, Any] = {}
    for key, source in (
        ("motion", loc.get("is_moving")),
        ("odometer", loc.get("odometer")),
        ("event", loc.get("event")),
        ("activity", (loc.get("activity") or {}).get("type")),
        ("charge", battery.get("is_charging")),
        ("uuid", loc.get("uuid")),
        ("mock", loc.get("mock")),
    ):
        if source is not None:
            extras[key] = source
    user_extras = loc.get("extras") or {}
    if isinstance(user_extras, dict):
        extras.update(user_extras)

    has_fix = latitude is not None and longitude is not None
    return DeviceReport(
        kind=ReportKind.POSITION if has_fix else ReportKind.HEARTBEAT,
        unique_id=str(unique_id),
        fix_time=fix_time,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=_known(coords.get("accuracy")),
        speed_mps=_known(coords.get("speed")),
        course_deg=_known(coords.get("heading")),
        altitude_m=_json_float(coords.get("altitude")),
        battery_pct=None if level is None or level < 0 else round(level * 100.0, 2),
        extras=extras,
    )


def _parse_time(text: str) -> datetime:
    """Unix seconds, Unix milliseconds or ISO 8601 (no offset means UTC)."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if not math.isfinite(number):
        raise ValueError(f"timestamp {text!r} is not finite")
    if number > _MS_THRESHOLD:
        number /= 1000.0
    return datetime.fromtimestamp(number, tz=UTC)


def _typed(value: str) -> Any:
    """A query value as bool / int / float when it reads as one, else the string."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def _parse_bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


def _opt_float(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _json_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _known(value: Any) -> float | None:
    """A JSON number where negative means unknown (speed, heading, accuracy)."""
    number = _json_float(value)
    return None if number is None or number < 0 else number
