"""The one place where domain errors become HTTP statuses.

Every refusal is a 4xx with a ``detail`` that says what is wrong; an
unexpected fault is logged and answered 500 without internals.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from openatd.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    OpenATDError,
    PermissionDenied,
    ProtocolDecodeError,
    StorageUnavailable,
    TooManyAttempts,
    VerificationUnavailable,
)

log = logging.getLogger(__name__)

STATUS: dict[type[OpenATDError], int] = {
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    AuthenticationFailed: 401,
    TooManyAttempts: 429,
    InvalidInput: 422,
    ProtocolDecodeError: 400,
    VerificationUnavailable: 503,
    StorageUnavailable: 503,
    ConfigurationError: 500,
}


def status_for(exc: OpenATDError) -> int:
    """HTTP status for a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


class ErrorPublic(BaseModel):
    """Every refusal: one sentence saying what is wrong (and, for a 422 from request
    validation, the individual problems)."""

    detail: str
    errors: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorPublic, "description": text}
    for status, text in (
        (400, "the body is not well-formed (JSON that does not parse, a malformed frame)"),
        (401, "not authenticated, or the token expired"),
        (403, "not allowed for your role or caseload"),
        (404, "no such record"),
        (409, "conflicts with the stored state"),
        (413, "request body too large"),
        (422, "the input is invalid; detail says why"),
        (429, "too many failed sign-ins: wait Retry-After seconds"),
    )
}
"""Documented on every route, so the OpenAPI schema says what a refusal looks like."""


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems = []
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":  # loc is ("body", <character offset>)
            why = (err.get("ctx") or {}).get("error", "")
            parts.append(
                f"the body is not valid JSON (at character {loc}{': ' + why if why else ''})"
            )
        else:
            parts.append(f"{loc}: {msg}" if loc else msg)
        problems.append({"loc": [str(x) for x in err.get("loc", ())], "msg": msg})
    return "; ".join(parts) or "invalid request", problems


def install(app: FastAPI) -> None:
    """Register the handlers on *app*."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        detail, problems = _validation_detail(exc)
        if request.url.path.startswith("/ui/"):
            return HTMLResponse(
                "<!doctype html><title>Refused · OpenATD</title><h1>That was refused</h1>"
                f"<p role=alert>{html.escape(detail)}</p><p><a href='javascript:history.back()'>"
                "Back</a></p>",
                status_code=422,
            )
        return JSONResponse({"detail": detail, "errors": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A number the database cannot hold (beyond 64 bits, a date past year 9999) is the
        # client's mistake; the driver raises it wrapped, so look at the cause.
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc
        if isinstance(cause, OverflowError):
            return JSONResponse({"detail": "a number or date in the request is out of range"}, 422)
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    @app.exception_handler(OpenATDError)
    async def _domain(request: Request, exc: OpenATDError) -> JSONResponse:
        status = status_for(exc)
        detail = exc.reason if isinstance(exc, ProtocolDecodeError) else str(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after_s)}
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
