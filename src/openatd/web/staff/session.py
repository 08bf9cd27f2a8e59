"""Staff log-in and log-out (the session cookie holds the API's bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openatd.accounts import authenticate
from openatd.errors import AuthenticationFailed
from openatd.web.security import safe_path
from openatd.web.staff.common import COOKIE, ContainerDep, home_for, render

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
    return render(request, "login.html", next=next, error=None)


@router.post("/login")
def login(
    request: Request,
    container: ContainerDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
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
        )
    except AuthenticationFailed as exc:
        return render(request, "login.html", 401, next=next, error=str(exc))
    home = home_for(claims)
    target = safe_path(next, home) if next.startswith("/ui/") and next != "/ui/" else home
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, token, max_age=s.token_ttl_s, httponly=True, samesite="strict", path="/ui"
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response
