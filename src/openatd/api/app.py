"""The staff API application factory: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from openatd import __version__
from openatd.alerts.notices import AlertNoticeTask
from openatd.api import errors
from openatd.api.access import NO_PERSONAL_DATA
from openatd.api.container import Container, build_container
from openatd.api.health import HealthCheck
from openatd.api.limits import BodyLimitMiddleware
from openatd.api.routes import (
    alerts,
    audit,
    auth,
    checkins,
    devices,
    obligations,
    participants,
    portal,
    stats,
    telephony,
    visits,
    zones,
)
from openatd.checkins.sweeper import CheckInSweeper
from openatd.notify.channels import channels_from_settings
from openatd.notify.worker import NotificationWorker
from openatd.safeguards.checkpointer import AuditCheckpointer
from openatd.settings import Settings
from openatd.storage.partitions import PartitionKeeper
from openatd.web import docs, pages
from openatd.web import participant as participant_app
from openatd.web.security import SecurityMiddleware

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
"""Static files (own CSS/JS and vendored libraries with their licences), served at /static."""


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
        # Jobs that raise alerts, send things or change shared tables run once across
        # pipeline workers: on worker 0 (--bus-worker 0/N), every job with one worker.
        lead = owned.settings.worker_share.is_lead
        sweeper = CheckInSweeper(owned.uow, owned.clock, owned.settings.tick_interval_s)
        notifier = NotificationWorker(
            owned.uow, owned.clock, owned.settings, channels_from_settings(owned.settings)
        )
        s = owned.settings
        checkpointer = None
        if s.audit_signing_key and s.audit_checkpoint_dir is not None:
            checkpointer = AuditCheckpointer(
                owned.uow,
                owned.clock,
                s.audit_signing_key,
                s.audit_checkpoint_dir,
                s.audit_checkpoint_interval_s,
            )
        notices = AlertNoticeTask(
            owned.uow, owned.clock, owned.settings.response_window_h * 3600.0, 2.0
        )
        partitions = PartitionKeeper(owned.db.engine, owned.clock)
        if lead:
            sweeper.start()  # missed check-in windows -> alerts (checkins/service.py)
            notifier.start()  # reminders, staff notifications, the outbox (notify/worker.py)
            if checkpointer is not None:
                checkpointer.start()  # signed audit checkpoints (safeguards/checkpoints.py)
            notices.start()  # participants told of new alerts (alerts/notices.py)
            if owned.db.dialect == "postgresql":
                partitions.start()  # next months' position partitions (storage/partitions.py)
        try:
            yield
        finally:
            await notifier.stop()
            await notices.stop()
            await partitions.stop()
            await sweeper.stop()
            if checkpointer is not None:
                await checkpointer.stop()
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
        docs_url=None,  # web/docs.py serves Swagger UI from the package
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.container = container
    tiles = container.settings.map_tile_origin
    app.add_middleware(
        SecurityMiddleware,  # CSRF + Origin checks, headers, Secure cookies (web/security.py)
        cookie_secure=container.settings.secure_cookies,
        img_sources=[tiles] if tiles else [],
    )
    app.add_middleware(BodyLimitMiddleware)  # outermost: bodies are bounded before buffering
    errors.install(app)
    for module in (
        auth,
        participants,
        devices,
        zones,
        alerts,
        audit,
        checkins,
        portal,
        obligations,
        telephony,
        visits,
        stats,
    ):
        app.include_router(module.router, responses=errors.ERROR_RESPONSES)
    app.include_router(pages.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    participant_app.install(app)  # the participant web app at /me/

    @app.get("/", include_in_schema=False, openapi_extra=NO_PERSONAL_DATA)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    checker = HealthCheck(container)

    @app.get(
        "/health",
        tags=["ops"],
        openapi_extra=NO_PERSONAL_DATA,
        responses={503: {"description": "a check failed; `checks` says which and why"}},
    )
    async def health() -> JSONResponse:
        """200 ``{"status": "ok", "checks": {...}}`` when the database answers (and the
        pipeline and the ingest bus, where this process runs them); otherwise 503 with
        ``"status": "failed"`` and the failing check's ``error``. Not rate-limited; no
        personal data."""
        ok, checks = await checker.run()
        body = {"status": "ok" if ok else "failed", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics", tags=["ops"], response_class=PlainTextResponse, openapi_extra=NO_PERSONAL_DATA
    )
    def metrics() -> str:
        from prometheus_client import generate_latest

        registry = container.pipeline.metrics.registry if container.pipeline else None
        return generate_latest(registry).decode() if registry else ""

    _build_routes_now(app)
    return app


def _build_routes_now(app: FastAPI) -> None:
    """Have FastAPI build every route's request handling now, not on the first request.

    FastAPI prepares included routes lazily (their dependencies and models) when the first
    request arrives, on the event loop: a second or more during which nothing else answers,
    ``/health`` included. Resolving an absent route name walks (and so builds) them all.
    """
    from starlette.routing import NoMatchFound

    with suppress(NoMatchFound):
        app.url_path_for("openatd-build-routes-now")
