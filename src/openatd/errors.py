"""The one rooted exception tree of OpenATD.

Lower-layer errors (SQLAlchemy, socket, image libraries) are translated into
these at their boundary with ``raise ... from exc``; ``api/errors.py`` is the one
place where they become HTTP statuses.
"""

from __future__ import annotations


class OpenATDError(Exception):
    """Root of every error OpenATD raises on purpose."""


class NotFound(OpenATDError):
    """A record that was asked for does not exist (HTTP 404)."""


class Conflict(OpenATDError):
    """The request contradicts the stored state, e.g. a duplicate unique id (HTTP 409)."""


class PermissionDenied(OpenATDError):
    """The caller may not do this, e.g. a case manager outside their caseload (HTTP 403)."""


class AuthenticationFailed(OpenATDError):
    """Missing, expired or wrong credentials (HTTP 401)."""


class TooManyAttempts(AuthenticationFailed):
    """Sign-in attempts from this client or for this account must wait (HTTP 429, with
    ``Retry-After``). A subclass of AuthenticationFailed: nobody is signed in.

    Attributes:
        retry_after_s: whole seconds to wait before the next attempt (at least 1).
    """

    def __init__(self, message: str, retry_after_s: float) -> None:
        self.retry_after_s = max(1, int(retry_after_s + 0.999))
        super().__init__(f"{message}; try again in {self.retry_after_s} s")


class SecondFactorRequired(AuthenticationFailed):
    """The password was not enough: this account (or its role) needs a one-time code from an
    authenticator app (HTTP 401, ``detail`` says so)."""


class InvalidInput(OpenATDError):
    """Input that is well-formed but wrong: a bad GeoJSON ring, an unknown time zone (HTTP 422)."""


class ProtocolDecodeError(OpenATDError):
    """A tracker frame that breaks its protocol. The *peer* broke the protocol, not us.

    Attributes:
        protocol: the protocol name, e.g. ``"gt06"``.
        raw_hex: the offending frame as lowercase hex, for the log.
        reason: one exact sentence saying what is wrong.
    """

    def __init__(self, protocol: str, reason: str, raw: bytes = b"") -> None:
        self.protocol = protocol
        self.reason = reason
        self.raw_hex = raw.hex()
        super().__init__(f"{protocol}: {reason} (raw {self.raw_hex[:200]})")


class VerificationUnavailable(OpenATDError):
    """Face verification cannot run (model missing or failing): a *technical* fault (HTTP 503)."""


class StorageUnavailable(OpenATDError):
    """The database cannot be reached, is locked or out of connections: *our* fault, not the
    request's (HTTP 503). Storage raises it in place of the driver's error."""


class ConfigurationError(OpenATDError):
    """Settings that must not be used, e.g. a default secret outside development."""
