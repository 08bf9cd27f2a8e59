"""Typed settings, read from ``OPENATD_*`` environment variables (and ``.env``).

Build them with :func:`get_settings` and inject them; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openatd.errors import ConfigurationError

DEFAULT_SECRET_KEY = "dev-insecure-change-me-0123456789abcdef"
DEFAULT_TEMPLATE_KEY = "ZGV2LWluc2VjdXJlLWZhY2UtdGVtcGxhdGUta2V5ISE="  # base64 of 32 dev bytes


class Settings(BaseSettings):
    """All OpenATD settings.

    Environment variables are the field names upper-cased with the ``OPENATD_``
    prefix, e.g. ``OPENATD_DATABASE_URL``. Outside ``env="development"`` the
    default secrets are refused (:class:`~openatd.errors.ConfigurationError`), and
    the face-template keys must be Fernet keys.
    """

    model_config = SettingsConfigDict(env_prefix="OPENATD_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = Field(
        default="sqlite:///openatd.db",
        description="SQLAlchemy URL; default an embedded SQLite file (WAL) in the working "
        "directory. PostgreSQL: postgresql+psycopg://user@host/db",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    osmand_port: int = 5055
    secret_key: str = DEFAULT_SECRET_KEY
    token_ttl_s: int = 3600
    template_key: str = Field(
        default=DEFAULT_TEMPLATE_KEY,
        description="Fernet key(s) for face templates at rest; comma-separated, newest first "
        "(rotation).",
    )

    # Policy defaults (scenario README): per-participant policy overrides these.
    zone_dwell_s: int = 120
    offline_after_s: int = 1800
    low_battery_pct: float = 15.0
    max_speed_mps: float = 70.0
    max_age_s: int = 604800
    max_future_s: int = 300
    tick_interval_s: float = 30.0

    # Due process (principle 5): how long the participant may answer an alert before a
    # violation can be confirmed, and who must confirm it ("supervisor", or
    # "second_staff": a staff member other than the one who proposed it).
    response_window_h: float = Field(default=72.0, ge=0, le=30 * 24)
    violation_confirmation: Literal["supervisor", "second_staff"] = "supervisor"

    # Retention (principle 4), in days, per kind of data; see openatd.safeguards.retention.
    position_retention_days: int = 90
    event_retention_days: int = 90
    checkin_location_retention_days: int = 90
    checkin_retention_days: int = 365
    alert_retention_days: int = 365
    notice_retention_days: int = 365
    participant_retention_days: int = 365
    audit_retention_days: int = 2555

    # Tracker protocol listeners, e.g. "gt06,teltonika"; empty = none.
    protocols: str = ""
    protocol_host: str = "0.0.0.0"
    idle_timeout_s: int = 1800

    shared_data: Path | None = None

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        for key in self.template_key.split(","):
            try:
                Fernet(key.strip())
            except ValueError as exc:
                raise ValueError(
                    "OPENATD_TEMPLATE_KEY must be Fernet keys (32 url-safe base64 bytes), "
                    "comma-separated"
                ) from exc
        if self.env != "development":
            if self.secret_key == DEFAULT_SECRET_KEY:
                raise ConfigurationError(
                    "OPENATD_SECRET_KEY is the development default; set a secret for production"
                )
            if self.template_key == DEFAULT_TEMPLATE_KEY:
                raise ConfigurationError(
                    "OPENATD_TEMPLATE_KEY is the development default; "
                    "set a Fernet key for production"
                )
        return self

    @property
    def enabled_protocols(self) -> list[str]:
        """Protocol names from ``protocols``, in order, without blanks."""
        return [p.strip() for p in self.protocols.split(",") if p.strip()]


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit *overrides* winning.

    Raises:
        ConfigurationError: default secrets outside development.
    """
    return Settings(**overrides)  # type: ignore[arg-type]
