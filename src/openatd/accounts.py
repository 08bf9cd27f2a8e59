"""Staff accounts: creation and log-in, with audit entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from openatd.domain.audit import AuditAction
from openatd.errors import AuthenticationFailed, InvalidInput
from openatd.safeguards import audit
from openatd.safeguards.access import require_role
from openatd.safeguards.auth import (
    Role,
    TokenClaims,
    check_password,
    hash_password,
    issue_token,
    token_expiry,
)
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

MAX_FAILURES = 5
"""Failed log-ins (since the last success, within :data:`LOCKOUT_S`) that lock an account."""
LOCKOUT_S = 900
"""How long a lock lasts, in seconds; counted from the audit log, so it survives restarts."""


def create_user(
    uow: UnitOfWork,
    now: datetime,
    username: str,
    password: str,
    role: str,
    *,
    by: TokenClaims | None = None,
) -> t.User:
    """Create a staff user. ``by`` is the admin doing it (``None`` for the CLI).

    Raises:
        InvalidInput: unknown role or short password. Conflict: name taken.
        PermissionDenied: *by* is not an administrator.
    """
    if by is not None:
        require_role(by, Role.ADMIN)
    try:
        role_ = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in Role)}") from exc
    user = uow.users.add(username.strip(), hash_password(password), role_.value, now)
    audit.record(
        uow,
        at=now,
        actor=f"user:{by.username}" if by else "system:cli",
        action=AuditAction.USER_CREATE,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "role": role_.value},
    )
    return user


def authenticate(
    new_uow: Callable[[], UnitOfWork],
    username: str,
    password: str,
    now: datetime,
    *,
    secret: str,
    ttl_s: int,
) -> tuple[str, TokenClaims]:
    """Check a password and issue a token; failures are audited too.

    Raises:
        AuthenticationFailed: unknown user, inactive user or wrong password
            (one message for all three).
    """
    actor = f"user:{username}"[:120]
    with new_uow() as uow:
        since = now - timedelta(seconds=LOCKOUT_S)
        last_ok = uow.audit.last_at(actor, AuditAction.USER_LOGIN.value)
        if last_ok is not None and last_ok > since:
            since = last_ok
        failures = uow.audit.count_since(actor, AuditAction.USER_LOGIN_FAILED.value, since)
        locked = failures >= MAX_FAILURES
        user = uow.users.by_username(username)
        ok = (
            not locked
            and user is not None
            and user.active
            and check_password(user.password_hash, password)
        )
        audit.record(
            uow,
            at=now,
            actor=actor,
            action=AuditAction.USER_LOGIN if ok else AuditAction.USER_LOGIN_FAILED,
            subject_type="user",
            subject_id=user.id if user else None,
            details={"locked": True} if locked else None,
        )
    if locked:
        raise AuthenticationFailed(
            f"too many failed log-ins for this account; try again in {LOCKOUT_S // 60} minutes"
        )
    if not ok or user is None:
        raise AuthenticationFailed("wrong username or password")
    claims = TokenClaims(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        expires=token_expiry(now, ttl_s),
    )
    return issue_token(claims, secret), claims
