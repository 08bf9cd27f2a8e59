"""Log in (argon2-checked password, second factor, throttled) and staff accounts.

Changes to accounts (role, activation, password, second factor, role policy) are made by
:mod:`openatd.accounts`, which audits each with its old and new values; a log-out, a
deactivation, a role or password change ends every session of that user at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Response
from fastapi.security import OAuth2PasswordRequestForm

from openatd import accounts
from openatd.api.access import NO_PERSONAL_DATA
from openatd.api.account_schemas import (
    PasswordChange,
    RoleName,
    RolePolicyPublic,
    RolePolicyUpdate,
    TotpConfirm,
    TotpStartPublic,
    UserAccountPublic,
    UserUpdate,
)
from openatd.api.deps import ClientDep, ContainerDep, CurrentUser, NowDep, PathId, UowDep
from openatd.api.schemas import TokenPublic, UserCreate, UserPublic
from openatd.safeguards.access import require_role
from openatd.safeguards.auth import Role
from openatd.storage import tables as t

router = APIRouter(prefix="/api", tags=["auth"])


def _account(u: t.User) -> UserAccountPublic:
    return UserAccountPublic(
        id=u.id,
        username=u.username,
        role=u.role,
        active=bool(u.active),
        totp_enabled=bool(u.totp_enabled),
    )


@router.post("/auth/token", response_model=TokenPublic, openapi_extra=NO_PERSONAL_DATA)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    container: ContainerDep,
    now: NowDep,
    client: ClientDep,
    totp_code: Annotated[
        str | None, Form(description="6-digit code from your authenticator, if enrolled")
    ] = None,
) -> TokenPublic:
    """Exchange username + password (+ second-factor code) for a bearer token (lifetime
    OPENATD_TOKEN_TTL_S). Repeated failures are answered 429 with ``Retry-After``; a correct
    password with a valid code is admitted even then."""
    token, claims = accounts.authenticate(
        container.uow,
        form.username,
        form.password,
        now,
        secret=container.settings.secret_key,
        ttl_s=container.settings.token_ttl_s,
        throttle=container.login_throttle,
        client=client,
        totp_code=totp_code,
    )
    return TokenPublic(access_token=token, expires_at=claims.expires, role=claims.role.value)


@router.post("/auth/logout", status_code=204, openapi_extra=NO_PERSONAL_DATA)
def logout(uow: UowDep, user: CurrentUser, now: NowDep) -> Response:
    """End every session of yours (this token and every other, on every device)."""
    accounts.logout(uow, user, now)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic, openapi_extra=NO_PERSONAL_DATA)
def me(user: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    return UserPublic(id=user.user_id, username=user.username, role=user.role.value)


@router.post("/me/password", status_code=204, openapi_extra=NO_PERSONAL_DATA)
def change_my_password(
    body: PasswordChange, uow: UowDep, user: CurrentUser, now: NowDep
) -> Response:
    """Change your password (give the current one); every session of yours ends."""
    accounts.change_password(
        uow,
        now,
        user.user_id,
        body.new_password,
        by=user,
        current_password=body.current_password or "",
    )
    return Response(status_code=204)


@router.post("/me/totp", response_model=TotpStartPublic, openapi_extra=NO_PERSONAL_DATA)
def start_my_totp(
    uow: UowDep, user: CurrentUser, now: NowDep, container: ContainerDep
) -> TotpStartPublic:
    """Start second-factor enrolment: scan the QR code (or enter the URI) in an authenticator
    app, then confirm one code with ``POST /api/me/totp/confirm``."""
    got = accounts.start_totp(
        uow, now, user.user_id, secret_key=container.settings.secret_key, by=user
    )
    return TotpStartPublic(username=got.username, otpauth_uri=got.uri, qr_svg=got.qr_svg)


@router.post("/me/totp/confirm", response_model=UserAccountPublic, openapi_extra=NO_PERSONAL_DATA)
def confirm_my_totp(
    body: TotpConfirm, uow: UowDep, user: CurrentUser, now: NowDep, container: ContainerDep
) -> UserAccountPublic:
    """Finish enrolment with a current code; from now on log-in needs a code."""
    u = accounts.confirm_totp(
        uow, now, user.user_id, body.code, secret_key=container.settings.secret_key, by=user
    )
    return _account(u)


@router.get("/users", response_model=list[UserAccountPublic], openapi_extra=NO_PERSONAL_DATA)
def list_users(uow: UowDep, user: CurrentUser) -> list[UserAccountPublic]:
    """Every staff account (administrators)."""
    require_role(user, Role.ADMIN)
    return [_account(u) for u in uow.users.list()]


@router.post("/users", response_model=UserPublic, status_code=201, openapi_extra=NO_PERSONAL_DATA)
def add_user(body: UserCreate, uow: UowDep, user: CurrentUser, now: NowDep) -> UserPublic:
    """Create a staff user (administrators only)."""
    created = accounts.create_user(uow, now, body.username, body.password, body.role, by=user)
    return UserPublic.model_validate(created)


@router.patch("/users/{user_id}", response_model=UserAccountPublic, openapi_extra=NO_PERSONAL_DATA)
def update_user(
    user_id: PathId, body: UserUpdate, uow: UowDep, user: CurrentUser, now: NowDep
) -> UserAccountPublic:
    """Change a user's role or deactivate / reactivate them (administrators); both end every
    session of that user at once and are audited with old and new values."""
    require_role(user, Role.ADMIN)
    u = uow.users.get(user_id)
    if body.role is not None and body.role != u.role:
        u = accounts.change_role(uow, now, user_id, body.role, by=user)
    if body.active is not None and body.active != bool(u.active):
        u = accounts.set_active(uow, now, user_id, body.active, by=user)
    return _account(u)


@router.post("/users/{user_id}/password", status_code=204, openapi_extra=NO_PERSONAL_DATA)
def reset_password(
    user_id: PathId, body: PasswordChange, uow: UowDep, user: CurrentUser, now: NowDep
) -> Response:
    """Set another user's password (administrators); their sessions end."""
    require_role(user, Role.ADMIN)
    accounts.change_password(uow, now, user_id, body.new_password, by=user)
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/totp", response_model=TotpStartPublic, openapi_extra=NO_PERSONAL_DATA
)
def reset_totp(
    user_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep, container: ContainerDep
) -> TotpStartPublic:
    """Reset a user's second factor (administrators): a new secret to hand over; their
    sessions end and the new factor is required once they confirm a code."""
    require_role(user, Role.ADMIN)
    got = accounts.start_totp(uow, now, user_id, secret_key=container.settings.secret_key, by=user)
    return TotpStartPublic(username=got.username, otpauth_uri=got.uri, qr_svg=got.qr_svg)


@router.put("/roles/{role}/policy", response_model=RolePolicyPublic, openapi_extra=NO_PERSONAL_DATA)
def set_role_policy(
    role: RoleName, body: RolePolicyUpdate, uow: UowDep, user: CurrentUser, now: NowDep
) -> RolePolicyPublic:
    """Require (or stop requiring) a second factor for every user of *role* (administrators)."""
    accounts.require_totp_for_role(uow, now, role, body.require_totp, by=user)
    return RolePolicyPublic(role=role, require_totp=body.require_totp)
