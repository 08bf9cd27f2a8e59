"""The staff API application factory: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse

from openatd import __version__
from openatd.alerts.notices import AlertNoticeTask
from openatd.api import errors
from openatd.api.container import Container, build_container
from openatd.api.limits import BodyLimitMiddleware
from openatd.api.routes import (
    alerts,
    audit,
    auth,
    checkins,
    devices,
    participants,
    portal,
    stats,
    zones,
)
from openatd.checkins.sweeper import CheckInSweeper
from openatd.settings import Settings
from openatd.web import pages


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    manage_pipeline: bool | None = None,
) -> FastAPI:
    """Build the API (OpenAPI docs at ``/docs``).

    Give either *settings* (the database is opened and migrated) or a ready
    *container* (tests, ``openatd serve`` sharing it with the intake). The
    app starts and stops the position pipeline with its lifespan when
    *manage_pipeline* (default: when it built the container itself).
    """
    if manage_pipeline is None:
        manage_pipeline = container is None
    if container is None:
        if settings is None:
            from openatd.settings import get_settings

            settings = get_settings()
        container = build_container(settings)
    owned = container

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        run = manage_pipeline and owned.pipeline is not None
        if run and owned.pipeline is not None:
            await owned.pipeline.start()
        sweeper = CheckInSweeper(owned.uow, owned.clock, owned.settings.tick_interval_s)
        sweeper.start()  # missed check-in windows -> alerts (checkins/service.py)
        notifier = AlertNoticeTask(
            owned.uow, owned.clock, owned.settings.response_window_h * 3600.0, 2.0
        )
        notifier.start()  # participants told of new alerts (alerts/notices.py)
        try:
            yield
        finally:
            await notifier.stop()
            await sweeper.stop()
            if run and owned.pipeline is not None:
                await owned.pipeline.stop()

    app = FastAPI(
        title="OpenATD",
        version=__version__,
        description=(
            "Supervision for alternatives-to-detention programs, built so that 24/7 tracking, "
            "location dragnets, automatic violations and data kept forever are hard to do and "
            "easy to audit. Location is read per participant, with a reason, and every read is "
            "in the hash-chained audit log."
        ),
        lifespan=lifespan,
    )
    app.state.container = container
    app.add_middleware(BodyLimitMiddleware)
    errors.install(app)
    for module in (auth, participants, devices, zones, alerts, audit, checkins, portal, stats):
        app.include_router(module.router, responses=errors.ERROR_RESPONSES)
    app.include_router(pages.router)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok", "database": container.db.dialect}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> str:
        from prometheus_client import generate_latest

        registry = container.pipeline.metrics.registry if container.pipeline else None
        return generate_latest(registry).decode() if registry else ""

    return app
