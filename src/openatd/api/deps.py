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


def read_staff_session(container: Container, token: str) -> TokenClaims:
    """Verify a staff token and that its session is still alive (the user is active and has
    not logged out, been deactivated or changed role since). The API and the pages both use it.

    Raises:
        AuthenticationFailed: a bad, expired or ended session.
    """
    from openatd.accounts import current_user

    claims = read_token(token, container.settings.secret_key, container.clock.now())
    with container.uow() as uow:
        current_user(uow, claims)
    return claims


def get_current_user(
    container: ContainerDep, token: Annotated[str | None, Depends(oauth2)]
) -> TokenClaims:
    """The staff member behind the bearer token. Raises AuthenticationFailed (401)."""
    if not token:
        raise AuthenticationFailed("not authenticated: send 'Authorization: Bearer <token>'")
    return read_staff_session(container, token)


CurrentUser = Annotated[TokenClaims, Depends(get_current_user)]


def client_address(request: Request, trusted_proxies: str = "") -> str:
    """The caller's address for throttling: the socket peer, or the last address in
    ``X-Forwarded-For`` that is not a trusted proxy when the peer is one (setting
    ``OPENATD_TRUSTED_PROXIES``). A header from an untrusted peer is ignored (spoofable)."""
    peer = request.client.host if request.client else "unknown"
    trusted = {p.strip() for p in trusted_proxies.split(",") if p.strip()}
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer


def get_client(request: Request, container: ContainerDep) -> str:
    return client_address(request, container.settings.trusted_proxies)


ClientDep = Annotated[str, Depends(get_client)]


MAX_ID = 2**63 - 1
"""Largest record id (64-bit keys, case B29); a larger number in a request is a 422, not a 500."""

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="record id")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
