"""Log in (argon2-checked password → short-lived bearer token) and staff users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from openatd.accounts import authenticate, create_user
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, UowDep
from openatd.api.schemas import TokenPublic, UserCreate, UserPublic

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/token", response_model=TokenPublic)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    container: ContainerDep,
    now: NowDep,
) -> TokenPublic:
    """Exchange username + password for a bearer token (lifetime OPENATD_TOKEN_TTL_S)."""
    token, claims = authenticate(
        container.uow,
        form.username,
        form.password,
        now,
        secret=container.settings.secret_key,
        ttl_s=container.settings.token_ttl_s,
    )
    return TokenPublic(access_token=token, expires_at=claims.expires, role=claims.role.value)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    return UserPublic(id=user.user_id, username=user.username, role=user.role.value)


@router.post("/users", response_model=UserPublic, status_code=201)
def add_user(body: UserCreate, uow: UowDep, user: CurrentUser, now: NowDep) -> UserPublic:
    """Create a staff user (administrators only)."""
    created = create_user(uow, now, body.username, body.password, body.role, by=user)
    return UserPublic.model_validate(created)
