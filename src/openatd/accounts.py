"""Staff accounts: creation, log-in (throttled, second factor), sessions and account changes.

Log-in (issue 7 items 2 and 4): a client or an account that failed too often must wait an
exponentially growing delay (:mod:`openatd.safeguards.throttle`); nothing is locked, and a
correct password *with* a second-factor code is admitted even while the account is being
throttled. Failed attempts are aggregated in the audit log: one ``user:login_throttled`` entry
when an existing account reaches the threshold (and again at 2x, 4x, ...), the count of
failures on the next successful log-in, and nothing at all for user names that do not exist,
so anonymous callers cannot grow the log.

Sessions: every token carries the user's ``token_version``; a log-out, a deactivation, a role
or password change bumps it, which ends every session of that user at once
(:func:`current_user`, called on every request).

Every change (password, role, activation, second factor, role policy) is audited with its old
and new values (never a password or a secret).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from openatd.domain.audit import AuditAction
from openatd.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    PermissionDenied,
    SecondFactorRequired,
    TooManyAttempts,
)
from openatd.safeguards import audit, second_factor
from openatd.safeguards.access import require_role
from openatd.safeguards.auth import (
    Role,
    TokenClaims,
    check_password,
    hash_password,
    issue_token,
    token_expiry,
)
from openatd.safeguards.throttle import LoginThrottle
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

_DUMMY_HASH = hash_password("not a real password, for timing")
"""Checked when the user name is unknown, so the answer takes as long as for a real one."""


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError as exc:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in Role)}") from exc


def _actor(by: TokenClaims | None) -> str:
    return f"user:{by.username}" if by else "system:cli"


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
    role_ = _role(role)
    user = uow.users.add(username.strip(), hash_password(password), role_.value, now)
    audit.record(
        uow,
        at=now,
        actor=_actor(by),
        action=AuditAction.USER_CREATE,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "role": role_.value},
    )
    return user


def _account_key(username: str) -> str:
    return username.strip().casefold()[:120]


def authenticate(
    new_uow: Callable[[], UnitOfWork],
    username: str,
    password: str,
    now: datetime,
    *,
    secret: str,
    ttl_s: int,
    throttle: LoginThrottle | None = None,
    client: str = "unknown",
    totp_code: str | None = None,
) -> tuple[str, TokenClaims]:
    """Check a password (and second-factor code) and issue a token.

    Args:
        throttle: the process's log-in throttle (``Container.login_throttle``); ``None``
            checks without throttling (the CLI).
        client: the client's address, for the per-client delay.
        totp_code: the 6-digit code of the user's authenticator, when they enrolled one.

    Raises:
        TooManyAttempts: this client, or this account without a valid second factor, must
            wait (429 with the delay).
        SecondFactorRequired: right password, but a code is needed (or the role requires a
            second factor the user has not enrolled).
        AuthenticationFailed: unknown user, inactive user, wrong password or code (one message
            for all).
    """
    account = _account_key(username)
    if throttle is not None:
        if not throttle.hit_client(client):
            raise TooManyAttempts(
                "too many log-in attempts from your address", throttle.client_rate_reset_s(client)
            )
        wait = throttle.wait_s("client", client)
        if wait > 0:
            raise TooManyAttempts("too many failed log-ins from your address", wait)
    refusal: AuthenticationFailed | None = None
    claims: TokenClaims | None = None
    with new_uow() as uow:  # commits the throttling entry even when the log-in is refused
        user = uow.users.by_username(username.strip())
        password_ok = check_password(user.password_hash if user else _DUMMY_HASH, password)
        ok = password_ok and user is not None and user.active
        second = False
        if ok and user is not None and user.totp_enabled and user.totp_secret:
            step = second_factor.matching_step(
                second_factor.unseal(user.totp_secret, secret), totp_code or "", now
            )
            second = step is not None and (user.totp_last_step or -1) < step
            if second:
                user.totp_last_step = step
        account_wait = throttle.wait_s("account", account) if throttle is not None else 0.0
        if account_wait > 0 and not (ok and second):
            # Throttled account: only the full set of credentials gets through.
            _count_failure(uow, throttle, account, client, user, now)
            refusal = TooManyAttempts(
                "too many failed log-ins for this account (a correct password with your "
                "second-factor code is still admitted)",
                account_wait,
            )
        elif not ok or user is None:
            _count_failure(uow, throttle, account, client, user, now)
            refusal = AuthenticationFailed("wrong username or password")
        elif user.totp_enabled and not second:
            if totp_code:
                _count_failure(uow, throttle, account, client, user, now)
                refusal = AuthenticationFailed("wrong or already used second-factor code")
            else:
                refusal = SecondFactorRequired(
                    "this account needs the 6-digit code from your authenticator app (totp_code)"
                )
        elif not user.totp_enabled and uow.users.requires_totp(user.role):
            refusal = SecondFactorRequired(
                f"the {user.role} role requires a second factor and none is enrolled for you: "
                "ask an administrator (openatd users totp-enrol)"
            )
        else:
            failures = 0
            if throttle is not None:
                failures = throttle.succeeded("account", account)
                throttle.succeeded("client", client)
            details: dict[str, object] = {"second_factor": second}
            if failures:
                details["failed_attempts"] = failures
            audit.record(
                uow,
                at=now,
                actor=f"user:{user.username}",
                action=AuditAction.USER_LOGIN,
                subject_type="user",
                subject_id=user.id,
                details=details,
            )
            claims = TokenClaims(
                user_id=user.id,
                username=user.username,
                role=Role(user.role),
                expires=token_expiry(now, ttl_s),
                version=user.token_version or 0,
            )
    if refusal is not None:
        raise refusal
    assert claims is not None
    return issue_token(claims, secret), claims


def _count_failure(
    uow: UnitOfWork,
    throttle: LoginThrottle | None,
    account: str,
    client: str,
    user: t.User | None,
    now: datetime,
) -> None:
    """Count a failed log-in; audit only when a real account reaches the threshold or doubles
    past it (aggregated: a few entries per attack, none for unknown names)."""
    if throttle is None:
        return
    throttle.failed("client", client)
    n = throttle.failed("account", account)
    free = throttle.free_failures
    if user is None or n < free:
        return
    if n == free or (n % free == 0 and ((n // free) & (n // free - 1)) == 0):
        audit.record(
            uow,
            at=now,
            actor=f"user:{user.username}",
            action=AuditAction.USER_LOGIN_THROTTLED,
            subject_type="user",
            subject_id=user.id,
            details={
                "failures": n,
                "next_delay_s": throttle.delay_for(n),
                "last_client": client[:64],
            },
        )


def current_user(uow: UnitOfWork, claims: TokenClaims) -> t.User:
    """The user a verified token names, if that session is still alive.

    Raises:
        AuthenticationFailed: the user is gone or deactivated, or the session was ended
            (log-out, deactivation, role or password change).
    """
    user = uow.users.by_username(claims.username)
    if user is None or user.id != claims.user_id or not user.active:
        raise AuthenticationFailed("this account is not active")
    if (user.token_version or 0) != claims.version or user.role != claims.role.value:
        raise AuthenticationFailed("session ended (logged out or account changed); log in again")
    return user


def _end_sessions(user: t.User) -> None:
    user.token_version = (user.token_version or 0) + 1


def logout(uow: UnitOfWork, claims: TokenClaims, now: datetime) -> None:
    """End every session of the user behind *claims* (all devices, at once). Audited."""
    user = uow.users.get(claims.user_id)
    _end_sessions(user)
    audit.record(
        uow,
        at=now,
        actor=f"user:{user.username}",
        action=AuditAction.USER_LOGOUT,
        subject_type="user",
        subject_id=user.id,
        details={"sessions_ended": True},
    )


def _target(uow: UnitOfWork, username_or_id: str | int) -> t.User:
    if isinstance(username_or_id, int):
        return uow.users.get(username_or_id)
    user = uow.users.by_username(username_or_id)
    if user is None:
        from openatd.errors import NotFound

        raise NotFound(f"no user named {username_or_id!r}")
    return user


def change_password(
    uow: UnitOfWork,
    now: datetime,
    target: str | int,
    new_password: str,
    *,
    by: TokenClaims | None = None,
    current_password: str | None = None,
) -> t.User:
    """Set a new password; ends every session of the user. A user changing their own password
    gives the current one; an administrator (or the CLI, ``by=None``) sets anyone else's.

    Raises:
        PermissionDenied: someone else's password, and not an administrator.
        AuthenticationFailed: the current password is wrong.
        InvalidInput: the new password is shorter than 10 characters.
    """
    user = _target(uow, target)
    if by is not None and by.user_id == user.id:
        if current_password is None or not check_password(user.password_hash, current_password):
            raise AuthenticationFailed("the current password is wrong")
    elif by is not None:
        require_role(by, Role.ADMIN)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    _end_sessions(user)
    audit.record(
        uow,
        at=now,
        actor=_actor(by),
        action=AuditAction.USER_PASSWORD_CHANGE,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "sessions_ended": True},
    )
    return user


def change_role(
    uow: UnitOfWork, now: datetime, target: str | int, role: str, *, by: TokenClaims | None = None
) -> t.User:
    """Give a user another role (administrators); ends their sessions. Audited old → new.

    Raises:
        PermissionDenied: not an administrator, or an administrator demoting themselves (the
            last way back in would be the CLI).
        InvalidInput: unknown role.
    """
    if by is not None:
        require_role(by, Role.ADMIN)
    user = _target(uow, target)
    new = _role(role)
    if by is not None and by.user_id == user.id:
        raise PermissionDenied("administrators do not change their own role")
    old = user.role
    if old == new.value:
        raise Conflict(f"user {user.username!r} already has the role {old}")
    user.role = new.value
    _end_sessions(user)
    audit.record(
        uow,
        at=now,
        actor=_actor(by),
        action=AuditAction.USER_ROLE_CHANGE,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "old": old, "new": new.value},
    )
    return user


def set_active(
    uow: UnitOfWork,
    now: datetime,
    target: str | int,
    active: bool,
    *,
    by: TokenClaims | None = None,
) -> t.User:
    """Deactivate (every session ends at once) or reactivate a user. Audited old → new.

    Raises:
        PermissionDenied: not an administrator, or deactivating oneself.
    """
    if by is not None:
        require_role(by, Role.ADMIN)
    user = _target(uow, target)
    if by is not None and by.user_id == user.id and not active:
        raise PermissionDenied("administrators do not deactivate themselves")
    old = bool(user.active)
    user.active = active
    if not active:
        _end_sessions(user)
    audit.record(
        uow,
        at=now,
        actor=_actor(by),
        action=AuditAction.USER_REACTIVATE if active else AuditAction.USER_DEACTIVATE,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "old": {"active": old}, "new": {"active": active}},
    )
    return user


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """A started enrolment: the ``otpauth://`` URI to scan (shown once) and its QR (SVG)."""

    username: str
    uri: str
    qr_svg: str


def start_totp(
    uow: UnitOfWork,
    now: datetime,
    target: str | int,
    *,
    secret_key: str,
    by: TokenClaims | None = None,
) -> TotpEnrolment:
    """Start (or restart) second-factor enrolment: a new secret, not yet required at log-in
    until :func:`confirm_totp` sees a code from it. A user enrols themselves; an administrator
    (or the CLI) may reset anyone's, which also ends their sessions.

    Raises:
        PermissionDenied: someone else's, and not an administrator.
    """
    user = _target(uow, target)
    if by is not None and by.user_id != user.id:
        require_role(by, Role.ADMIN)
    secret = second_factor.new_secret()
    reset = bool(user.totp_enabled)
    user.totp_secret = second_factor.seal(secret, secret_key)
    user.totp_enabled = False
    user.totp_last_step = None
    if by is None or by.user_id != user.id:
        _end_sessions(user)
    audit.record(
        uow,
        at=now,
        actor=_actor(by),
        action=AuditAction.USER_TOTP_RESET if reset else AuditAction.USER_TOTP_ENROL,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "old": {"enabled": reset}, "new": {"enabled": False}},
    )
    uri = second_factor.provisioning_uri(secret, user.username)
    return TotpEnrolment(user.username, uri, second_factor.qr_svg(uri))


def confirm_totp(
    uow: UnitOfWork,
    now: datetime,
    target: str | int,
    code: str,
    *,
    secret_key: str,
    by: TokenClaims | None = None,
) -> t.User:
    """Finish enrolment with a current code from the authenticator; from now on log-in needs
    a code. Audited.

    Raises:
        Conflict: no enrolment started. InvalidInput: the code does not match.
        PermissionDenied: someone else's, and not an administrator.
    """
    user = _target(uow, target)
    if by is not None and by.user_id != user.id:
        require_role(by, Role.ADMIN)
    if not user.totp_secret:
        raise Conflict("no second-factor enrolment was started for this user")
    step = second_factor.matching_step(
        second_factor.unseal(user.totp_secret, secret_key), code, now
    )
    if step is None:
        raise InvalidInput("that code does not match: check the authenticator's clock and retry")
    user.totp_enabled = True
    user.totp_last_step = step
    audit.record(
        uow,
        at=now,
        actor=_actor(by),
        action=AuditAction.USER_TOTP_ENABLE,
        subject_type="user",
        subject_id=user.id,
        details={"username": user.username, "old": {"enabled": False}, "new": {"enabled": True}},
    )
    return user


def require_totp_for_role(
    uow: UnitOfWork, now: datetime, role: str, required: bool, *, by: TokenClaims | None = None
) -> bool:
    """Require (or stop requiring) a second factor for every user of *role* (administrators).
    Returns the previous setting. Audited old → new.

    Raises:
        PermissionDenied: not an administrator. InvalidInput: unknown role.
    """
    if by is not None:
        require_role(by, Role.ADMIN)
    role_ = _role(role)
    before = uow.users.set_requires_totp(role_.value, required)
    audit.record(
        uow,
        at=now,
        actor=_actor(by),
        action=AuditAction.ROLE_POLICY_CHANGE,
        subject_type="role",
        subject_id=role_.value,
        details={"old": {"require_totp": before}, "new": {"require_totp": required}},
    )
    return before
