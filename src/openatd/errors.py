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
