"""Typed settings, read from ``OPENATD_*`` environment variables (and ``.env``).

Build them with :func:`get_settings` and inject them; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography.fernet import Fernet
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openatd.errors import ConfigurationError

if TYPE_CHECKING:
    from openatd.ingest.ownership import WorkerShare

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
    http_port: int = Field(default=8000, ge=1, le=65535)
    osmand_port: int = Field(default=5055, ge=1, le=65535)
    secret_key: str = DEFAULT_SECRET_KEY
    token_ttl_s: int = 3600
    participant_session_ttl_s: int = Field(
        default=30 * 24 * 3600,
        ge=300,
        description="How long the participant web app (/me/) stays signed in on a phone, "
        "seconds; renewed while in use, revoked at once by a new sign-in code.",
    )
    program_phone: str = Field(
        default="",
        max_length=40,
        description="The phone number participants call to check in when the app cannot "
        "(shown in the participant web app); empty: 'call your case manager'.",
    )
    template_key: str = Field(
        default=DEFAULT_TEMPLATE_KEY,
        description="Fernet key(s) for face templates at rest; comma-separated, newest first "
        "(rotation).",
    )

    cookie_secure: bool | None = Field(
        default=None,
        description="Mark every cookie Secure (sent over HTTPS only); unset: on in production, "
        "off in development",
    )
    map_tiles_url: str = Field(
        default="",
        description="Map tile URL template for the staff map, e.g. "
        "https://tile.example.org/{z}/{x}/{y}.png; empty: zones and tracks on a plain "
        "background, nothing loaded from another host",
    )
    map_tiles_attribution: str = ""

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
    protocol_host: str | None = Field(
        default=None,
        description="bind address of the tracker listeners; unset means the HTTP host "
        "(http_host), so --host 127.0.0.1 keeps the trackers local too",
    )
    idle_timeout_s: int = 1800
    # Ingest hardening (issue 14): what one tracker connection may cost.
    protocol_max_buffer: int = Field(
        default=64 * 1024,
        ge=1024,
        description="bytes one tracker connection may hold unframed; past it it is closed",
    )
    protocol_frame_budget_s: float = Field(
        default=0.05, gt=0, description="CPU seconds one frame may take to decode"
    )
    protocol_unidentified_bytes: int = Field(
        default=8192,
        ge=64,
        description="bytes a connection may send before a registered device identifies on it",
    )
    protocol_unidentified_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="seconds a connection may stay open before a registered device identifies",
    )
    protocol_max_pending_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="bytes of decoded frames waiting on one connection before reading pauses",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="log lines of openatd serve and its ingest processes: text, or json (one "
        "object a line: time in UTC ISO 8601, level, logger, message, exception)",
    )
    loop_stall_s: float = Field(
        default=1.0,
        gt=0,
        description="an event-loop callback running longer than this is logged as a stall",
    )
    # Ingest processes sharing the tracker ports (issue 11): 0 = one per CPU; 1 (the default)
    # = none, the listeners run in the server process. Needs fixed ports (not 0). Ingest
    # processes keep their own per-connection counters (not yet on the server's /metrics)
    # and are not restarted by the server if one dies, hence not the default.
    ingest_workers: int = Field(default=1, ge=0, le=256)
    # The position bus across machines (issue 11): NATS JetStream; see openatd.ingest.nats_bus.
    bus_url: str = Field(
        default="",
        description="NATS server URL(s), comma-separated, e.g. nats://127.0.0.1:4222; empty "
        "(the default): no broker, the local bus and the pipeline in this machine",
    )
    role: Literal["all", "ingest", "pipeline"] = Field(
        default="all",
        description="what this serve runs: all; ingest (tracker listeners publishing to the "
        "bus, no database); pipeline (API, intake, rules and storage consuming the bus). "
        "ingest and pipeline need bus_url",
    )
    bus_stream: str = Field(
        default="OPENATD_POSITIONS",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="JetStream stream holding submitted positions (created if missing)",
    )
    bus_subject_prefix: str = Field(
        default="openatd",
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="subjects are <prefix>.positions.<partition> and <prefix>.known",
    )
    bus_partitions: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="partitions of the device id space (crc32 of the unique id mod this); "
        "change only with an empty stream",
    )
    bus_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="stream replicas (a NATS cluster of at least this many servers); used when "
        "the stream is created",
    )
    bus_consumer: str = Field(
        default="openatd-pipeline",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="durable consumer name prefix (one consumer per partition: <name>-<p>)",
    )
    bus_ack_wait_s: float = Field(
        default=30.0,
        gt=0,
        description="seconds JetStream waits for a consumer's ack before redelivering",
    )

    bus_worker: str = Field(
        default="0/1",
        description="K/N: this pipeline process is worker K of N (0 <= K < N <= "
        "bus_partitions) and consumes the partitions p with p % N == K; every worker uses the "
        "same N and partitions; N > 1 needs the bus and PostgreSQL. Default 0/1: one worker "
        "consumes every partition",
    )

    shared_data: Path | None = None

    # Outbox (notify/outbox.py): SMTP e-mail and a Twilio-compatible SMS API.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "openatd@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout_s: float = 10.0
    sms_api_url: str = Field(
        default="",
        description="base URL of a Twilio-compatible API, e.g. https://api.twilio.com; empty = "
        "no SMS",
    )
    sms_account_sid: str = ""
    sms_auth_token: str = ""
    sms_from: str = ""
    outbox_interval_s: float = 10.0
    outbox_max_attempts: int = 6
    outbox_retry_base_s: float = 30.0

    # Reminders (per program): offsets before hearings/appointments, check-in morning time.
    reminder_offsets: str = "7d,3d,1d,2h"
    reminder_morning: str = "08:00"

    # Telephone check-in: the provider's auth token signs its webhooks (X-Twilio-Signature);
    # the public URL is what the provider calls (behind a proxy the request URL differs).
    telephony_auth_token: str = ""
    telephony_public_url: str = ""

    # Staff notifications: escalate an alert nobody acknowledged to the supervisors.
    escalate_after_s: int = 4 * 3600
    digest_hour_utc: int = 12

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
        self._check_bus_worker()
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

    def _check_bus_worker(self) -> None:
        share = self.worker_share  # raises ConfigurationError when malformed or out of range
        if share.workers == 1 or self.role == "ingest":
            return
        where = f"OPENATD_BUS_WORKER / --bus-worker {share.label}"
        if not self.bus_url:
            raise ConfigurationError(
                f"{where}: several pipeline workers split the partitions of the NATS bus: "
                "set --bus (OPENATD_BUS_URL)"
            )
        if self.database_url.startswith("sqlite"):
            raise ConfigurationError(
                f"{where}: several pipeline workers need PostgreSQL (SQLite lets one process "
                "write at a time, so a second worker only waits on its lock): set "
                "OPENATD_DATABASE_URL=postgresql+psycopg://..., or run one worker (0/1)"
            )

    @property
    def worker_share(self) -> WorkerShare:
        """``bus_worker`` parsed: which partitions and devices this pipeline process owns.

        Raises:
            ConfigurationError: ``bus_worker`` is not K/N with 0 <= K < N <= bus_partitions.
        """
        from openatd.ingest.ownership import WorkerShare

        return WorkerShare.parse(self.bus_worker, self.bus_partitions)

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies get ``Secure``: ``cookie_secure``, or by default in production."""
        return self.env == "production" if self.cookie_secure is None else self.cookie_secure

    @property
    def map_tile_origin(self) -> str | None:
        """``scheme://host`` of ``map_tiles_url`` (for the CSP's img-src), or None."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.map_tiles_url.replace("{s}", "a"))
        if not self.map_tiles_url or not parts.scheme or not parts.netloc:
            return None
        host = self.map_tiles_url.split("//", 1)[1].split("/", 1)[0]
        return f"{parts.scheme}://{host.replace('{s}', '*')}"

    @property
    def tracker_host(self) -> str:
        """Where the tracker listeners bind: ``protocol_host`` if set, else ``http_host``."""
        return self.protocol_host if self.protocol_host else self.http_host

    @property
    def enabled_protocols(self) -> list[str]:
        """Protocol names from ``protocols``, in order, without blanks."""
        return [p.strip() for p in self.protocols.split(",") if p.strip()]


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit *overrides* winning.

    Raises:
        ConfigurationError: default secrets outside development; ``bus_worker`` malformed,
            out of range, or several workers without a bus or on SQLite.
    """
    return Settings(**overrides)  # type: ignore[arg-type]
