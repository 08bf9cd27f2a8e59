"""Staff authentication: argon2id password hashes and short-lived signed bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from openatd.errors import AuthenticationFailed, InvalidInput

_HASHER = PasswordHasher()
_ALGORITHM = "HS256"


class Role(StrEnum):
    """Staff roles (DESIGN: people who use it)."""

    CASE_MANAGER = "case_manager"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


def hash_password(password: str) -> str:
    """An argon2id hash (RFC 9106 parameters of argon2-cffi's defaults).

    Raises:
        InvalidInput: a password shorter than 10 characters.
    """
    if len(password) < 10:
        raise InvalidInput("password must have at least 10 characters")
    return _HASHER.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    """True when *password* matches *password_hash*."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a bearer token says: who, with which role, until when (UTC)."""

    user_id: int
    username: str
    role: Role
    expires: datetime


def issue_token(claims: TokenClaims, secret: str) -> str:
    """A signed JWT (HS256) carrying *claims*."""
    payload = {
        "sub": str(claims.user_id),
        "name": claims.username,
        "role": claims.role.value,
        "exp": int(claims.expires.timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def read_token(token: str, secret: str, now: datetime) -> TokenClaims:
    """Verify *token* (signature and expiry against *now*).

    Raises:
        AuthenticationFailed: bad signature, malformed or expired token.
    """
    try:
        payload = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"verify_exp": False})
        expires = datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo)
        claims = TokenClaims(
            user_id=int(payload["sub"]),
            username=str(payload["name"]),
            role=Role(payload["role"]),
            expires=expires,
        )
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise AuthenticationFailed("invalid token") from exc
    if claims.expires <= now:
        raise AuthenticationFailed("token expired")
    return claims


def token_expiry(now: datetime, ttl_s: int) -> datetime:
    """When a token issued at *now* with a lifetime of *ttl_s* seconds expires."""
    return now + timedelta(seconds=ttl_s)
