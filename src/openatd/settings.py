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

    # Sign-in throttling (issue 7): exponential delay per client address and per account.
    rate_limit_storage: str = Field(
        default="memory://",
        description="limits storage URI for sign-in counters; redis://host:6379 when several "
        "processes serve the API",
    )
    login_free_failures: int = Field(default=5, ge=1)
    login_base_delay_s: float = Field(default=5.0, gt=0)
    login_max_delay_s: float = Field(default=900.0, gt=0)
    login_failure_window_s: float = Field(default=3600.0, gt=0)
    login_client_rate: str = "30/minute"
    trusted_proxies: str = Field(
        default="",
        description="comma-separated proxy addresses whose X-Forwarded-For is believed",
    )

    # Signed audit checkpoints (issue 7 item 6).
    audit_signing_key: str = Field(
        default="",
        description="Ed25519 private key for audit checkpoints: PEM, or base64 of the 32 raw "
        "bytes, or @/path/to/file; empty = no checkpoints",
    )
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_interval_s: float = Field(default=3600.0, gt=0)

    # Retention (principle 4).
    position_retention_days: int = 90

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
