"""The participant web app at ``/me/``: an installable, mobile-first check-in app in English and
Spanish (see :mod:`openatd.web.participant.routes`). Install it with :func:`install`."""

from __future__ import annotations

from fastapi import FastAPI

from openatd.web.participant.routes import router


def install(app: FastAPI) -> None:
    """Add the participant pages (``/me/...``) to *app*."""
    app.include_router(router)


__all__ = ["install", "router"]
