"""HTTP position intake in the OsmAnd protocol (Traccar's port 5055, path ``/``).

Phone tracker apps and devices configured for a Traccar server work
unchanged: GET or POST with query parameters, a form body, or the JSON body
of Traccar Client / background-geolocation. Answers:

- ``200`` once the positions are durably stored;
- ``400`` with the reason for a malformed request (nothing stored);
- ``404`` for a device id that is not registered (counted, nothing stored);
- ``503`` when storage failed (the app will retry).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from openatd.api.container import Container
from openatd.domain.messages import DeviceReport
from openatd.errors import NotFound, OpenATDError, ProtocolDecodeError
from openatd.protocols.osmand import decode_osmand

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
"""Largest accepted request body in bytes (a batch sync of a few thousand fixes)."""


def create_intake_app(container: Container) -> FastAPI:
    """The OsmAnd intake application (no docs: devices, not people, call it)."""
    app = FastAPI(title="OpenATD OsmAnd intake", docs_url=None, redoc_url=None, openapi_url=None)

    async def intake(request: Request) -> PlainTextResponse:
        pipeline = container.pipeline
        if pipeline is None:
            return PlainTextResponse("intake not running", status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            reports = decode_osmand(
                request.method,
                request.url.query,
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
            by_device.setdefault(r.unique_id, []).append(replace(r, received=now))
        try:
            for unique_id, items in by_device.items():
                await pipeline.submit(unique_id, "osmand", items)
        except NotFound as exc:
            log.info("osmand: %s", exc)
            return PlainTextResponse(str(exc), status_code=404)
        except OpenATDError as exc:
            return PlainTextResponse(f"not stored: {exc}", status_code=503)
        return PlainTextResponse("OK")

    app.add_api_route("/", intake, methods=["GET", "POST"])
    return app
