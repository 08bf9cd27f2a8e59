"""Staff log-in and log-out (the session cookie holds the API's bearer token)."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openatd.accounts import authenticate
from openatd.accounts import logout as end_sessions
from openatd.api.access import NO_PERSONAL_DATA
from openatd.api.deps import client_address
from openatd.api.errors import status_for
from openatd.errors import AuthenticationFailed
from openatd.web.security import safe_path
from openatd.web.staff.common import COOKIE, ContainerDep, NeedLogin, current_user, home_for, render

router = APIRouter()


@router.get("/login", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
    """The log-in form (with the notice a sign-out or password change left, if any)."""
    notice = request.query_params.get("notice")
    return render(request, "login.html", next=next, error=None, notice=notice)


@router.post("/login", openapi_extra=NO_PERSONAL_DATA)
def login(
    request: Request,
    container: ContainerDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
    totp_code: Annotated[str | None, Form()] = None,
) -> Response:
    s = container.settings
    try:
        token, claims = authenticate(
            container.uow,
            username,
            password,
            container.clock.now(),
            secret=s.secret_key,
            ttl_s=s.token_ttl_s,
            throttle=container.login_throttle,
            client=client_address(request, s.trusted_proxies),
            totp_code=totp_code,
        )
    except AuthenticationFailed as exc:
        return render(request, "login.html", status_for(exc), next=next, error=str(exc))
    home = home_for(claims)
    target = safe_path(next, home) if next.startswith("/ui/") and next != "/ui/" else home
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, token, max_age=s.token_ttl_s, httponly=True, samesite="strict", path="/ui"
    )
    return response


@router.post("/logout", openapi_extra=NO_PERSONAL_DATA)
def logout(request: Request, container: ContainerDep) -> Response:
    """End every session of this user (all browsers and API tokens), then forget the cookie."""
    with contextlib.suppress(NeedLogin):
        user = current_user(request, container)
        with container.uow() as uow:
            end_sessions(uow, user, container.clock.now())
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response
