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
    """What a bearer token says: who, with which role, until when (UTC), and the user's
    session version when it was issued (a log-out or deactivation bumps the stored version,
    which ends every token issued before)."""

    user_id: int
    username: str
    role: Role
    expires: datetime
    version: int = 0


def issue_token(claims: TokenClaims, secret: str) -> str:
    """A signed JWT (HS256) carrying *claims*."""
    payload = {
        "sub": str(claims.user_id),
        "name": claims.username,
        "role": claims.role.value,
        "ver": claims.version,
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
            version=int(payload.get("ver", 0)),
        )
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise AuthenticationFailed("invalid token") from exc
    if claims.expires <= now:
        raise AuthenticationFailed("token expired")
    return claims


def token_expiry(now: datetime, ttl_s: int) -> datetime:
    """When a token issued at *now* with a lifetime of *ttl_s* seconds expires."""
    return now + timedelta(seconds=ttl_s)


# -- participants' check-in app ---------------------------------------------------------------
#
# A participant's phone signs in with a one-time code that their case manager issued
# (argon2id-hashed at rest, like a password) and gets a short-lived bearer token of its own
# kind. Participant tokens carry ``aud = "openatd:participant"`` and are signed with a key
# derived from the secret for that purpose alone, so a participant token never reads as a staff
# token (``read_token`` refuses any ``aud``) and a staff token never reads as a participant's
# (``read_participant_token`` requires the audience and the participant key).

PARTICIPANT_AUDIENCE = "openatd:participant"


def _participant_key(secret: str) -> bytes:
    """HMAC-SHA256(secret, purpose label): the signing key of participant tokens only."""
    import hashlib
    import hmac

    return hmac.new(secret.encode(), b"openatd participant token v1", hashlib.sha256).digest()


def hash_app_code(code: str) -> str:
    """An argon2id hash of a one-time app sign-in code."""
    return _HASHER.hash(code)


def check_app_code(code_hash: str, code: str) -> bool:
    """True when *code* matches *code_hash*."""
    return check_password(code_hash, code)


@dataclass(frozen=True, slots=True)
class ParticipantClaims:
    """What a participant token says: which participant, the token version, until when (UTC).

    ``version`` must equal the participant's stored ``app_token_version``; issuing a new
    sign-in code bumps it and so revokes every earlier token.
    """

    participant_id: int
    version: int
    expires: datetime


def issue_participant_token(claims: ParticipantClaims, secret: str) -> str:
    """A signed JWT (HS256, participant key, participant audience) carrying *claims*."""
    payload = {
        "sub": f"participant:{claims.participant_id}",
        "pid": claims.participant_id,
        "ver": claims.version,
        "aud": PARTICIPANT_AUDIENCE,
        "exp": int(claims.expires.timestamp()),
    }
    return jwt.encode(payload, _participant_key(secret), algorithm=_ALGORITHM)


def read_participant_token(token: str, secret: str, now: datetime) -> ParticipantClaims:
    """Verify a participant token (key, audience, expiry against *now*).

    Raises:
        AuthenticationFailed: a staff token, bad signature, malformed or expired token.
    """
    try:
        payload = jwt.decode(
            token,
            _participant_key(secret),
            algorithms=[_ALGORITHM],
            audience=PARTICIPANT_AUDIENCE,
            options={"verify_exp": False, "require": ["aud", "pid", "ver", "exp"]},
        )
        claims = ParticipantClaims(
            participant_id=int(payload["pid"]),
            version=int(payload["ver"]),
            expires=datetime.fromtimestamp(int(payload["exp"]), tz=now.tzinfo),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise AuthenticationFailed("invalid participant token") from exc
    if claims.expires <= now:
        raise AuthenticationFailed("participant token expired")
    return claims
