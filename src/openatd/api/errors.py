"""The one place where domain errors become HTTP statuses.

Every refusal is a 4xx with a ``detail`` that says what is wrong; an
unexpected fault is logged and answered 500 without internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from openatd.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    OpenATDError,
    PermissionDenied,
    ProtocolDecodeError,
    VerificationUnavailable,
)

log = logging.getLogger(__name__)

STATUS: dict[type[OpenATDError], int] = {
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    AuthenticationFailed: 401,
    InvalidInput: 422,
    ProtocolDecodeError: 400,
    VerificationUnavailable: 503,
    ConfigurationError: 500,
}


def status_for(exc: OpenATDError) -> int:
    """HTTP status for a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def install(app: FastAPI) -> None:
    """Register the handlers on *app*."""

    @app.exception_handler(OpenATDError)
    async def _domain(request: Request, exc: OpenATDError) -> JSONResponse:
        status = status_for(exc)
        detail = exc.reason if isinstance(exc, ProtocolDecodeError) else str(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
