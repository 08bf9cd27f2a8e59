"""FastAPI dependencies, as ``Annotated`` aliases (``UowDep``, ``CurrentUser``, ``NowDep``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer

from openatd.api.container import Container
from openatd.errors import AuthenticationFailed
from openatd.safeguards.auth import TokenClaims, read_token
from openatd.storage.repositories import UnitOfWork

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_uow(container: ContainerDep) -> Iterator[UnitOfWork]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    with container.uow() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]  # commit before responding


def get_now(container: ContainerDep) -> datetime:
    return container.clock.now()


NowDep = Annotated[datetime, Depends(get_now)]


def get_current_user(
    container: ContainerDep, token: Annotated[str | None, Depends(oauth2)]
) -> TokenClaims:
    """The staff member behind the bearer token. Raises AuthenticationFailed (401)."""
    if not token:
        raise AuthenticationFailed("not authenticated: send 'Authorization: Bearer <token>'")
    return read_token(token, container.settings.secret_key, container.clock.now())


CurrentUser = Annotated[TokenClaims, Depends(get_current_user)]


MAX_ID = 2**63 - 1
"""Largest record id (64-bit keys, case B29); a larger number in a request is a 422, not a 500."""

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="record id")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
