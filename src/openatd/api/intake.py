"""HTTP position intake in the OsmAnd protocol (Traccar's port 5055, path ``/``).

Phone tracker apps and devices configured for a Traccar server work
unchanged: GET or POST with query parameters, a form body, or the JSON body
of Traccar Client / background-geolocation. Answers:

- ``200`` once the request is durably stored. Fixes that the position filter will not take as
  positions (``invalid_fix``, ``out_of_range``, ``null_island``, ``future``, ``too_old``, judged
  statelessly here with the server's default thresholds) are still answered ``200`` (a device
  told anything else would re-send them forever; Traccar answers 200 too), but the answer says
  so: body ``OK; 1 of 2 fixes not a position: out_of_range`` and a header
  ``X-OpenATD-Dropped: out_of_range`` (distinct reasons, comma-separated). Duplicates and jumps
  depend on the device's stored history and are not reported here;
- ``400`` with the reason for a malformed request (nothing stored);
- ``413`` for a body over :data:`MAX_BODY` bytes: refused by its ``Content-Length`` before
  reading, or as soon as a chunked body passes the cap (never buffered whole);
- ``404`` for a device id that is not registered (counted, nothing stored);
- ``503`` when storage failed (the app will retry).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from openatd.api.container import Container
from openatd.domain.messages import DeviceReport, ReportKind
from openatd.errors import NotFound, OpenATDError, ProtocolDecodeError
from openatd.protocols.osmand import decode_osmand
from openatd.rules.filter import PositionFilterStage
from openatd.rules.policy import Policy

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
"""Largest accepted request body in bytes (a batch sync of a few thousand fixes)."""

DROPPED_HEADER = "X-OpenATD-Dropped"
"""Response header naming why fixes of a 200 answer are not positions (comma-separated)."""


class BodyTooLarge(Exception):
    """The request body passed :data:`MAX_BODY` (answered 413)."""


async def read_capped_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, read chunk by chunk and abandoned as soon as it passes *limit* bytes.

    A ``Content-Length`` over *limit* is refused before anything is read.

    Raises:
        BodyTooLarge: the declared or the received length is over *limit*.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def not_positions(reports: Sequence[DeviceReport], policy: Policy) -> Counter[str]:
    """How many position reports the position filter refuses, by reason, judged statelessly.

    Only the checks that need no history: ``invalid_fix``, ``out_of_range``, ``null_island``,
    ``future`` and ``too_old`` (a report without a fix time is dated at its arrival, as the
    pipeline does). Heartbeats are not counted. Every report must have ``received`` set.
    """
    stage = PositionFilterStage(policy)
    dropped: Counter[str] = Counter()
    for r in reports:
        if r.kind is not ReportKind.POSITION:
            continue
        reason = stage.check(r if r.fix_time else replace(r, fix_time=r.received))
        if reason is not None:
            dropped[reason.value] += 1
    return dropped


def create_intake_app(container: Container) -> Starlette:
    """The OsmAnd intake application (no docs: devices, not people, call it).

    A bare Starlette app, not FastAPI: on this one route FastAPI's routing, dependency
    solving and middleware cost more server CPU than the decoding and storing of the fix
    (a profile under ``wrk``: 47 % of the event loop's time; bench/README.md, issue 11).
    ``GET`` and ``POST`` only (``HEAD`` and the rest: 405, nothing stored).
    """
    settings = container.settings
    policy = Policy(max_age_s=settings.max_age_s, max_future_s=settings.max_future_s)

    async def intake(request: Request) -> PlainTextResponse:
        if request.method not in ("GET", "POST"):
            return PlainTextResponse(
                "method not allowed", status_code=405, headers={"Allow": "GET, POST"}
            )
        pipeline = container.pipeline
        if pipeline is None:
            return PlainTextResponse("intake not running", status_code=503)
        try:
            body = await read_capped_body(request)
        except BodyTooLarge:
            pipeline.metrics.reports.labels("malformed").inc()
            return PlainTextResponse(
                f"request body too large (at most {MAX_BODY} bytes)", status_code=413
            )
        try:
            reports = decode_osmand(
                request.method,
                request.scope["query_string"].decode("latin-1"),
                body,
                request.headers.get("content-type"),
            )
        except ProtocolDecodeError as exc:
            pipeline.metrics.reports.labels("malformed").inc()
            log.info("osmand: malformed request: %s", exc)
            return PlainTextResponse(exc.reason, status_code=400)
        if not reports:
            return PlainTextResponse("no position in request", status_code=400)
        now = container.clock.now()
        by_device: dict[str, list[DeviceReport]] = {}
        for r in reports:
            if not r.unique_id:
                return PlainTextResponse("missing device id", status_code=400)
            r.received = now  # freshly decoded from this request: stamped in place
            by_device.setdefault(r.unique_id, []).append(r)
        try:
            for unique_id, items in by_device.items():
                await pipeline.submit(unique_id, "osmand", items)
        except NotFound as exc:
            log.info("osmand: %s", exc)
            return PlainTextResponse(str(exc), status_code=404)
        except OpenATDError as exc:
            return PlainTextResponse(f"not stored: {exc}", status_code=503)
        dropped = not_positions([r for items in by_device.values() for r in items], policy)
        if not dropped:
            return PlainTextResponse("OK")
        positions = sum(1 for r in reports if r.kind is ReportKind.POSITION)
        reasons = ", ".join(sorted(dropped))
        return PlainTextResponse(
            f"OK; {sum(dropped.values())} of {positions} fixes not a position: {reasons}",
            headers={DROPPED_HEADER: reasons},
        )

    # The common methods reach intake(), which answers all but GET and POST with one 405
    # (Starlette answers the rarer ones itself, also 405).
    methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
    return Starlette(routes=[Route("/", intake, methods=methods)])
