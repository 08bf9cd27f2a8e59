"""Staff second factor: time-based one-time passwords (TOTP, RFC 6238) with :mod:`pyotp`.

A staff member enrols by scanning a QR code (or typing the ``otpauth://`` URI) into any
authenticator app, then confirms one code; from then on a log-in needs the password and a
current 6-digit code. Codes are 30-second steps (RFC 6238 defaults: HMAC-SHA1, 6 digits);
one step either side is accepted for clock drift, and a step once used is refused again
(replay). The shared secret is stored Fernet-encrypted under a key derived from
``OPENATD_SECRET_KEY`` (HMAC-SHA256 with a purpose label), never in the clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

from openatd.errors import ConfigurationError

ISSUER = "OpenATD"
STEP_S = 30
"""RFC 6238 time step, seconds."""
DRIFT_STEPS = 1
"""Steps accepted either side of now (clock drift)."""


def _fernet(secret_key: str) -> Fernet:
    raw = hmac.new(secret_key.encode(), b"openatd totp secret v1", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def new_secret() -> str:
    """A new random base32 TOTP secret (160 bits, RFC 4226 recommendation)."""
    return pyotp.random_base32(length=32)


def seal(secret: str, secret_key: str) -> str:
    """The TOTP *secret* encrypted for storage."""
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def unseal(sealed: str, secret_key: str) -> str:
    """The TOTP secret from its stored form.

    Raises:
        ConfigurationError: it was sealed under another ``OPENATD_SECRET_KEY``.
    """
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise ConfigurationError(
            "a stored second-factor secret does not open with OPENATD_SECRET_KEY "
            "(was the key changed?); reset that user's second factor"
        ) from exc


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://totp/OpenATD:<username>?secret=...&issuer=OpenATD`` URI (Google
    Authenticator key-URI format) that authenticator apps read from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The *uri* as a QR code in SVG (for a page: inline, no network)."""
    out: str = segno.make(uri, error="m").svg_inline(scale=4)
    return out


def qr_text(uri: str) -> str:
    """The *uri* as a QR code drawn with block characters (for a terminal)."""
    import io

    buf = io.StringIO()
    segno.make(uri, error="m").terminal(out=buf, compact=True)
    return buf.getvalue()


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (``unix seconds // 30``) whose code equals *code*, within
    :data:`DRIFT_STEPS` of *now*; ``None`` if none matches or *code* is not 6 digits."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // STEP_S
    for s in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(s * STEP_S), code):
            return s
    return None


def code_at(secret: str, now: datetime) -> str:
    """The code an authenticator shows at *now* (tests and the enrolment check)."""
    return pyotp.TOTP(secret).at(now)
