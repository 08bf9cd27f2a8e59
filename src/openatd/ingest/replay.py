"""Replay a recorded GPS trace to a running OpenATD server, as a phone would (OsmAnd protocol).

Each :class:`~openatd.ingest.traces.TracePoint` becomes one HTTP request to the
OsmAnd intake (default ``http://127.0.0.1:5055/``) with its fields in the query
string, the way the OsmAnd / Traccar Client apps send them (Traccar
``OsmAndProtocolDecoder``):

=========  =====================================================================
id         the device's unique id
lat, lon   degrees WGS84
timestamp  unix seconds; unix milliseconds when the time is not a whole second (see below)
speed      KNOTS (the OsmAnd unit; 1 kn = 1852 m / 3600 s)
bearing    degrees from true north
altitude   metres
accuracy   metres
hdop       unitless
batt       percent
valid      ``true`` / ``false``
=========  =====================================================================

A field the trace does not record is left out. Pacing and timestamps:

* ``speedup`` finite and > 0: point *i* is sent ``(t_i - t_0) / speedup`` seconds
  after the start, and with ``rebase_to_now`` its timestamp is
  ``start + (t_i - t_0) / speedup``: the trace starts now and keeps its spacing
  divided by the speedup, so the server never sees a fix from the future.
* ``speedup`` 0 or ``inf``: as fast as possible; with ``rebase_to_now`` the
  timestamps keep the trace's *original* spacing and the trace *ends* now
  (``t_i' = start - (t_last - t_i)``), since dividing the spacing by infinity
  would send every fix with the same time.
* ``rebase_to_now=False``: the recorded times are sent unchanged.

Rebased times start at the current whole second. With ``timestamp_format="auto"``
a time that is a whole second goes as unix seconds and any other as unix
milliseconds (both read by Traccar and by OpenATD's intake: a number above 1e11
is milliseconds), because at a speedup several fixes fall in one second and the
server stores only one fix per device and fix time.

Speeds, courses and accuracies are sent as recorded: a speedup compresses time,
not the reported motion (the distance between consecutive fixes divided by
their rebased time difference is ``speedup`` times the real speed).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

import httpx

from openatd.domain.clock import Clock, SystemClock
from openatd.errors import InvalidInput, OpenATDError
from openatd.ingest.traces import TracePoint

__all__ = [
    "KNOTS_PER_MPS",
    "Refusal",
    "ReplayConnectionError",
    "ReplayStats",
    "TimestampFormat",
    "osmand_params",
    "replay",
]

TimestampFormat = Literal["auto", "unix", "unix_ms", "iso"]

KNOTS_PER_MPS = 3600.0 / 1852.0  # 1 knot = 1852 m per hour (international nautical mile)
_KEEP_REFUSALS = 5


class ReplayConnectionError(OpenATDError):
    """The OsmAnd intake could not be reached (refused connection, timeout) after retries."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """One request the server answered with a non-2xx status.

    Attributes:
        index: 0-based position of the point in the replay.
        status: the HTTP status code.
        body: the start of the response body (at most 200 characters).
    """

    index: int
    status: int
    body: str


@dataclass
class ReplayStats:
    """What a replay did.

    Attributes:
        sent: requests that got an HTTP answer.
        accepted: of those, answered 2xx.
        refused: non-2xx answers by status code, e.g. ``{404: 3}``.
        refusals: the first few refusals, for the report.
        retries: connection attempts repeated after a transport error.
        elapsed_s: wall-clock duration of the replay, seconds.
        first_timestamp, last_timestamp: fix times sent (UTC), ``None`` if nothing sent.
    """

    sent: int = 0
    accepted: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)
    retries: int = 0
    elapsed_s: float = 0.0
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None

    @property
    def refused_total(self) -> int:
        """Number of refused requests, all status codes together."""
        return sum(self.refused.values())


def osmand_params(
    point: TracePoint,
    device_id: str,
    timestamp: datetime,
    *,
    timestamp_format: TimestampFormat = "auto",
) -> dict[str, str]:
    """The OsmAnd query parameters for one point sent with fix time *timestamp*.

    >>> from datetime import datetime, UTC
    >>> p = TracePoint(datetime(2020, 1, 1, tzinfo=UTC), 45.5, 13.25, speed_mps=1852 / 3600)
    >>> osmand_params(p, "dev1", datetime(2026, 1, 1, tzinfo=UTC))["speed"]
    '1.000'
    """
    ms = round(timestamp.timestamp() * 1000)
    if timestamp_format == "auto":
        timestamp_format = "unix" if ms % 1000 == 0 else "unix_ms"
    if timestamp_format == "unix":
        ts = str(ms // 1000)  # whole seconds, as the OsmAnd app sends
    elif timestamp_format == "unix_ms":
        ts = str(ms)
    else:
        ts = timestamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    params = {
        "id": device_id,
        "lat": repr(point.latitude),
        "lon": repr(point.longitude),
        "timestamp": ts,
    }
    optional: dict[str, tuple[float | int | None, str]] = {
        "speed": (
            point.speed_mps * KNOTS_PER_MPS if point.speed_mps is not None else None,
            "{:.3f}",
        ),
        "bearing": (point.course_deg, "{:.1f}"),
        "altitude": (point.altitude_m, "{:.1f}"),
        "accuracy": (point.accuracy_m, "{:.1f}"),
        "hdop": (point.hdop, "{:.2f}"),
        "batt": (point.battery_pct, "{:.0f}"),
    }
    for name, (value, fmt) in optional.items():
        if value is not None:
            params[name] = fmt.format(value)
    if point.valid is not None:
        params["valid"] = "true" if point.valid else "false"
    return params


def replay(
    points: Iterable[TracePoint],
    device_id: str,
    url: str,
    speedup: float,
    *,
    rebase_to_now: bool = True,
    client: httpx.Client | None = None,
    method: Literal["GET", "POST"] = "POST",
    timestamp_format: TimestampFormat = "auto",
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    attempts: int = 4,
    retry_delay_s: float = 0.5,
    on_sent: Callable[[int, TracePoint, int], None] | None = None,
) -> ReplayStats:
    """Send *points* to the OsmAnd intake at *url* as device *device_id*, paced by *speedup*.

    Args:
        points: the trace, in the order to send (usually file order).
        device_id: the ``id`` parameter; the server refuses unknown ids (4xx).
        url: the intake, e.g. ``http://127.0.0.1:5055/``.
        speedup: real-time divisor; ``0`` or ``inf`` sends as fast as possible.
        rebase_to_now: shift fix times so the replay happens now (see module doc).
        client: an ``httpx.Client`` to use (not closed); one is made otherwise.
        method: ``POST`` (query string, empty body, as the OsmAnd app) or ``GET``.
        timestamp_format: ``auto`` (seconds when whole, else milliseconds), ``unix``
            (seconds, truncated), ``unix_ms`` or ``iso`` (8601, UTC, milliseconds).
        clock: "now" for rebasing (default the system clock).
        sleep, monotonic: pacing functions (tests may inject their own).
        attempts: tries per point on a transport error before giving up.
        retry_delay_s: wait before the first retry; doubles each time.
        on_sent: called with (index, point, HTTP status) after each answer.

    Returns:
        :class:`ReplayStats`. A non-2xx answer is counted, not raised.

    Raises:
        InvalidInput: bad *url*, *speedup* or *device_id*.
        ReplayConnectionError: the server did not answer after *attempts* tries.
    """
    _check_url(url)
    if math.isnan(speedup) or speedup < 0:
        raise InvalidInput(f"speedup must be >= 0 (0 or inf: as fast as possible), got {speedup}")
    if not device_id:
        raise InvalidInput("a device id is required")
    if attempts < 1:
        raise InvalidInput(f"attempts must be >= 1, got {attempts}")
    paced = 0 < speedup < math.inf
    seq: Iterable[TracePoint] = points
    t_last: datetime | None = None
    if rebase_to_now and not paced:
        seq = list(points)
        t_last = max((p.time for p in seq), default=None)

    stats = ReplayStats()
    own_client = client is None
    http = client or httpx.Client(timeout=10.0)
    start_wall = monotonic()
    start_now = (clock or SystemClock()).now().replace(microsecond=0)
    t0: datetime | None = None
    try:
        for index, point in enumerate(seq):
            if t0 is None:
                t0 = point.time
            offset_s = (point.time - t0).total_seconds()
            if paced:
                wait = offset_s / speedup - (monotonic() - start_wall)
                if wait > 0:
                    sleep(wait)
            if not rebase_to_now:
                fix_time = point.time
            elif paced:
                fix_time = start_now + timedelta(seconds=offset_s / speedup)
            else:
                assert t_last is not None
                fix_time = start_now - (t_last - point.time)
            params = osmand_params(point, device_id, fix_time, timestamp_format=timestamp_format)
            response = _send(http, method, url, params, stats, attempts, retry_delay_s, sleep)
            stats.sent += 1
            if stats.first_timestamp is None:
                stats.first_timestamp = fix_time
            stats.last_timestamp = fix_time
            if 200 <= response.status_code < 300:
                stats.accepted += 1
            else:
                stats.refused[response.status_code] += 1
                if len(stats.refusals) < _KEEP_REFUSALS:
                    stats.refusals.append(Refusal(index, response.status_code, response.text[:200]))
            if on_sent is not None:
                on_sent(index, point, response.status_code)
    finally:
        stats.elapsed_s = monotonic() - start_wall
        if own_client:
            http.close()
    return stats


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"the intake URL must be http(s)://host[:port]/..., got {url!r}")


def _send(
    http: httpx.Client,
    method: str,
    url: str,
    params: dict[str, str],
    stats: ReplayStats,
    attempts: int,
    retry_delay_s: float,
    sleep: Callable[[float], None],
) -> httpx.Response:
    delay = retry_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return http.request(method, url, params=params)
        except httpx.TransportError as exc:
            if attempt == attempts:
                raise ReplayConnectionError(
                    f"no answer from the OsmAnd intake at {url} after {attempts} attempts "
                    f"({type(exc).__name__}: {exc}); is `openatd serve` running?"
                ) from exc
            stats.retries += 1
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
