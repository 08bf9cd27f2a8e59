"""A staff member's own account (``/ui/account``): change the password, enrol a second factor
(TOTP: the ``otpauth://`` URI and its QR code, then one code to confirm) and sign out
everywhere. Each action calls :mod:`openatd.accounts` as the API's ``/api/me/...`` routes do,
so it is audited there the same way (never with a password or a secret).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openatd import accounts
from openatd.api.access import NO_PERSONAL_DATA
from openatd.api.errors import status_for
from openatd.errors import OpenATDError
from openatd.safeguards.auth import TokenClaims
from openatd.storage.repositories import UnitOfWork
from openatd.web.staff.common import (
    COOKIE,
    ContainerDep,
    NeedLogin,
    act,
    current_user,
    page,
    render,
)

router = APIRouter()


def _signed_out(notice: str) -> Response:
    """Back to the log-in form, the cookie forgotten (every session of the user has ended)."""
    response = RedirectResponse(f"/ui/login?next=/ui/account&notice={quote(notice)}", 303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/account", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def account(request: Request, container: ContainerDep) -> Response:
    """Your account: name, role, whether a second factor is enrolled, and the three forms."""

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        me = uow.users.get(user.user_id)
        return {
            "totp_enabled": bool(me.totp_enabled),
            "totp_pending": bool(me.totp_secret) and not me.totp_enabled,
            "password_changed_at": me.password_changed_at,
            "enrolment": None,
        }

    return page(request, container, "account.html", build)


@router.post("/account/password", openapi_extra=NO_PERSONAL_DATA)
def change_password(
    request: Request,
    container: ContainerDep,
    current_password: Annotated[str, Form(max_length=1000)],
    new_password: Annotated[str, Form(max_length=1000)],
) -> Response:
    """Change your password (the current one is checked); every session of yours ends, this
    one too, so you log in again with the new password."""
    try:
        user = current_user(request, container)
    except NeedLogin:
        return RedirectResponse("/ui/login", status_code=303)
    try:
        with container.uow() as uow:
            accounts.change_password(
                uow,
                container.clock.now(),
                user.user_id,
                new_password,
                by=user,
                current_password=current_password,
            )
    except OpenATDError as exc:
        return render(request, "error.html", status_for(exc), user=user, message=str(exc))
    return _signed_out("Password changed: every session ended; log in with the new password.")


@router.post("/account/totp", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def start_totp(request: Request, container: ContainerDep) -> Response:
    """Start (or restart) enrolment: a new secret, shown once as a URI and a QR code; it is
    required at log-in only once a code from it is confirmed."""

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        got = accounts.start_totp(
            uow, now, user.user_id, secret_key=container.settings.secret_key, by=user
        )
        return {
            "totp_enabled": False,
            "totp_pending": True,
            "password_changed_at": uow.users.get(user.user_id).password_changed_at,
            "enrolment": got,
        }

    return page(request, container, "account.html", build)


@router.post("/account/totp/confirm", openapi_extra=NO_PERSONAL_DATA)
def confirm_totp(
    request: Request, container: ContainerDep, code: Annotated[str, Form(max_length=20)]
) -> Response:
    """Finish enrolment with the current code of the authenticator app."""

    def action(user: TokenClaims, uow: UnitOfWork, now: datetime) -> None:
        accounts.confirm_totp(
            uow, now, user.user_id, code, secret_key=container.settings.secret_key, by=user
        )

    return act(
        request,
        container,
        action,
        "Second factor enrolled: from now on log-in asks for a code.",
        "/ui/account",
    )


@router.post("/account/sign-out-everywhere", openapi_extra=NO_PERSONAL_DATA)
def sign_out_everywhere(request: Request, container: ContainerDep) -> Response:
    """End every session of yours: this browser, every other one and every API token."""
    try:
        user = current_user(request, container)
    except NeedLogin:
        return RedirectResponse("/ui/login", status_code=303)
    with container.uow() as uow:
        accounts.logout(uow, user, container.clock.now())
    return _signed_out("Signed out everywhere: every browser session and API token has ended.")
