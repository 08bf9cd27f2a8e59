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

**Implausible values** (the same rules for both shapes; a decoder has no clock, so
"too old" / "in the future" is the pipeline's position filter's job, as is a
latitude or longitude out of range, which is kept as sent for the filter to drop
with its reason):

- a number that is not finite (``nan``, ``inf``, ``1e400``, a JSON ``NaN``), a
  number too large for a float (a 400-digit integer), a timestamp outside
  1970-01-01 .. 2199-12-31 UTC (``1e300``, year 9999 with a negative offset), or
  JSON nested deeper than :data:`MAX_JSON_DEPTH`: the request is **malformed**
  (:class:`~openatd.errors.ProtocolDecodeError`, the intake answers 400);
- battery outside 0..100 % (``batt=-500``; a JSON ``level`` outside 0..1 other
  than the documented ``-1`` = unknown): no ``battery_pct``; the value as sent
  is kept in ``extras`` (``batt`` / ``battery_level``) for a person to read;
- negative ``accuracy`` / ``hdop``: unknown (``None``);
- negative ``speed``: unknown; a speed above :data:`MAX_SPEED_MPS` (no tracker
  on a person moves at 1e300 m/s) is unknown too;
- ``bearing`` / ``heading``: negative is unknown, otherwise normalised into
  ``[0, 360)`` (``bearing=999`` reads 279 degrees);
- ``altitude`` beyond ±:data:`MAX_ABS_ALTITUDE_M`: unknown.
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

EARLIEST_FIX = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_FIX = datetime(2200, 1, 1, tzinfo=UTC)
"""Timestamps outside ``[EARLIEST_FIX, LATEST_FIX)`` are malformed, not merely old or future."""

MAX_SPEED_MPS = 1000.0
"""A reported speed above this (3600 km/h) is unknown, not stored."""

MAX_ABS_ALTITUDE_M = 100_000.0
"""A reported altitude beyond ±100 km is unknown, not stored."""

MAX_JSON_DEPTH = 32
"""Deepest accepted nesting of arrays/objects in a JSON body (Traccar Client sends 4)."""

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
        ProtocolDecodeError: no device id, a field that is not a finite number / a
            time where one is required, a timestamp out of range, or a body that is
            not valid JSON or nests too deeply. Nothing else escapes: any
            ``ValueError``, ``TypeError``, ``OverflowError`` or ``RecursionError`` met
            while decoding becomes a :class:`ProtocolDecodeError`.
    """
    raw = f"{method} ?{query}".encode() + (b"\n" + body[:4096] if body else b"")
    try:
        ctype = (content_type or "").split(";")[0].strip().lower()
        stripped = body.strip()
        if ctype == "application/json" or (stripped[:1] in (b"{", b"[") and not query):
            return _decode_json(_load_json(body), raw)
        params = parse_qsl(query, keep_blank_values=True)
        if body and ctype == "application/x-www-form-urlencoded":
            params += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        return [_decode_query(params, raw)]
    except ProtocolDecodeError:
        raise
    except RecursionError as exc:
        raise ProtocolDecodeError(
            PROTOCOL, "malformed request: JSON nested too deeply", raw
        ) from exc
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        OverflowError,
        UnicodeDecodeError,
    ) as exc:
        raise ProtocolDecodeError(PROTOCOL, f"malformed request: {exc}", raw) from exc


def _load_json(body: bytes) -> Any:
    """The JSON document, refusing ``NaN`` / ``Infinity`` / overflowing numbers and deep nests."""
    document = json.loads(
        body.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float
    )
    _check_depth(document)
    return document


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]!r} is not a finite number")
    return number


def _check_depth(document: Any) -> None:
    """Raise ``ValueError`` if arrays/objects nest deeper than :data:`MAX_JSON_DEPTH`."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


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
        latitude, longitude = _finite(lat_text, "location"), _finite(lon_text, "location")
    if "lat" in values and "lon" in values:
        latitude, longitude = _finite(values["lat"], "lat"), _finite(values["lon"], "lon")

    fix_time = _parse_time(values["timestamp"]) if values.get("timestamp") else None
    speed_knots = _opt_float(values.get("speed"), "speed")
    battery = _opt_float(values.get("batt"), "batt")
    battery_pct = _battery_pct(battery)
    if battery is not None and battery_pct is None:
        extras["batt"] = battery
    has_fix = latitude is not None and longitude is not None
    return DeviceReport(
        kind=ReportKind.POSITION if has_fix else ReportKind.HEARTBEAT,
        unique_id=unique_id,
        fix_time=fix_time,
        latitude=latitude,
        longitude=longitude,
        valid=_parse_bool(values.get("valid", "true")),
        accuracy_m=_non_negative(
            _opt_float(values.get("accuracy") or values.get("hacc"), "accuracy")
        ),
        hdop=_non_negative(_opt_float(values.get("hdop"), "hdop")),
        speed_mps=_speed(None if speed_knots is None else speed_knots * KNOT_MPS),
        course_deg=_course(_opt_float(values.get("heading") or values.get("bearing"), "bearing")),
        altitude_m=_altitude(_opt_float(values.get("altitude"), "altitude")),
        battery_pct=battery_pct,
        extras=extras,
    )


def _decode_json(document: Any, raw: bytes) -> list[DeviceReport]:
    if isinstance(document, list):
        root: dict[str, Any] = {}
        locations: list[Any] = document
    elif isinstance(document, dict):
        root = document
        location = root.get("location", root)
        locations = location if isinstance(location, list) else [location]
    else:
        raise ProtocolDecodeError(PROTOCOL, "JSON body is neither an object nor a list", raw)
    reports = [_decode_json_location(root, loc, raw) for loc in locations]
    if not reports:
        raise ProtocolDecodeError(PROTOCOL, "JSON body carries no location", raw)
    return reports


def _decode_json_location(root: dict[str, Any], loc: Any, raw: bytes) -> DeviceReport:
    if not isinstance(loc, dict):
        raise ProtocolDecodeError(PROTOCOL, "a JSON location must be an object", raw)
    unique_id = root.get("device_id") or loc.get("device_id")
    if unique_id is None or isinstance(unique_id, dict | list) or str(unique_id) == "":
        raise ProtocolDecodeError(PROTOCOL, "no device id (device_id field)", raw)
    coords: dict[str, Any] = _object(loc.get("coords"), "coords")
    latitude = _json_float(coords.get("latitude"), "latitude")
    longitude = _json_float(coords.get("longitude"), "longitude")
    timestamp = loc.get("timestamp")
    fix_time = _parse_time(str(timestamp)) if timestamp not in (None, "") else None

    battery: dict[str, Any] = _object(loc.get("battery"), "battery")
    level = _json_float(battery.get("level"), "battery.level")
    battery_pct = None if level is None or level == -1 else _battery_pct(level * 100.0)
    extras: dict[str, Any] = {}
    for key, source in (
        ("motion", loc.get("is_moving")),
        ("odometer", loc.get("odometer")),
        ("event", loc.get("event")),
        ("activity", _object(loc.get("activity"), "activity").get("type")),
        ("charge", battery.get("is_charging")),
        ("uuid", loc.get("uuid")),
        ("mock", loc.get("mock")),
    ):
        if source is not None:
            extras[key] = source
    user_extras = loc.get("extras") or {}
    if isinstance(user_extras, dict):
        extras.update(user_extras)
    if level is not None and level != -1 and battery_pct is None:
        extras["battery_level"] = level

    has_fix = latitude is not None and longitude is not None
    return DeviceReport(
        kind=ReportKind.POSITION if has_fix else ReportKind.HEARTBEAT,
        unique_id=str(unique_id),
        fix_time=fix_time,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=_non_negative(_json_float(coords.get("accuracy"), "accuracy")),
        speed_mps=_speed(_json_float(coords.get("speed"), "speed")),
        course_deg=_course(_json_float(coords.get("heading"), "heading")),
        altitude_m=_altitude(_json_float(coords.get("altitude"), "altitude")),
        battery_pct=battery_pct,
        extras=extras,
    )


def _parse_time(text: str) -> datetime:
    """Unix seconds, Unix milliseconds or ISO 8601 (no offset means UTC), as UTC.

    Raises ``ValueError`` for text that is none of these, a non-finite number or an
    instant outside ``[EARLIEST_FIX, LATEST_FIX)`` (including ones not representable in
    UTC, such as ``9999-12-31T23:59:59-05:00``).
    """
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            instant = parsed.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"timestamp {text[:40]!r} is out of range") from None
    else:
        if not math.isfinite(number):
            raise ValueError(f"timestamp {text[:40]!r} is not finite")
        if number > _MS_THRESHOLD:
            number /= 1000.0
        if not EARLIEST_FIX.timestamp() <= number < LATEST_FIX.timestamp():
            raise ValueError(f"timestamp {text[:40]!r} is out of range")
        instant = datetime.fromtimestamp(number, tz=UTC)
    if not EARLIEST_FIX <= instant < LATEST_FIX:
        raise ValueError(
            f"timestamp {text[:40]!r} is out of range "
            f"({EARLIEST_FIX:%Y-%m-%d} to {LATEST_FIX:%Y-%m-%d} UTC)"
        )
    return instant


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


def _finite(text: str, name: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{name} {text[:40]!r} is not a finite number")
    return number


def _opt_float(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    return _finite(value, name)


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be an object")
    return value


def _json_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} {str(value)[:40]!r} is not a number")
    number = float(value)  # OverflowError for an integer beyond the float range
    if not math.isfinite(number):
        raise ValueError(f"{name} is not a finite number")
    return number


def _battery_pct(value: float | None) -> float | None:
    """A battery level in percent if it is within 0..100, else ``None``."""
    if value is None or not 0.0 <= value <= 100.0:
        return None
    return round(value, 2)


MAX_ACCURACY_M = 100_000.0
"""An accuracy radius beyond 100 km says nothing about where the device is: unknown."""


def _non_negative(value: float | None) -> float | None:
    """Accuracy / HDOP: negative, or beyond :data:`MAX_ACCURACY_M`, means unknown."""
    return None if value is None or value < 0 or value > MAX_ACCURACY_M else value


def _speed(value: float | None) -> float | None:
    """m/s: negative or above :data:`MAX_SPEED_MPS` means unknown."""
    return None if value is None or not 0.0 <= value <= MAX_SPEED_MPS else value


def _course(value: float | None) -> float | None:
    """Degrees: negative means unknown; otherwise normalised into ``[0, 360)``."""
    return None if value is None or value < 0 else value % 360.0


def _altitude(value: float | None) -> float | None:
    """Metres: beyond ±:data:`MAX_ABS_ALTITUDE_M` means unknown."""
    return None if value is None or abs(value) > MAX_ABS_ALTITUDE_M else value
