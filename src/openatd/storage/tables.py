"""SQLAlchemy 2 tables of OpenATD.

Every table that grows with traffic (positions, events, alerts, audit entries,
check-ins, deliveries) has a 64-bit key (``BIGINT`` on PostgreSQL; SQLite's
``INTEGER PRIMARY KEY`` is already a 64-bit rowid), case B29 of
``shared/data/cases.md``. All times are ``DateTime(timezone=True)`` in UTC.
Schema changes go through Alembic (``storage/migrations``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit primary key: BIGINT on PostgreSQL, INTEGER PRIMARY KEY (64-bit rowid) on SQLite."""


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back timezone-aware UTC.

    SQLite stores no offset; values are normalised to UTC on the way in and
    tagged UTC on the way out. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        from datetime import UTC

        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A staff user: case_manager | supervisor | auditor | admin."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Migration 0006: where staff notifications go (``notify_channel`` email | sms | none) and
    # whether a daily digest replaces one message per alert.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    notify_channel: Mapped[str] = mapped_column(String(10), default="email")
    notify_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The TOTP shared secret, Fernet-encrypted (``safeguards/second_factor.py``)."""
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    """True once the user confirmed a code from their authenticator (enrolment finished)."""
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The last TOTP time step used (a code is accepted once: no replay)."""
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    """Tokens carry this number; bumping it (log-out, deactivation) ends every session."""
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RolePolicy(Base):
    """Per-role account policy set by an administrator: whether a second factor is required."""

    __tablename__ = "role_policies"
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    require_totp: Mapped[bool] = mapped_column(Boolean, default=False)


class Participant(Base):
    """An enrolled participant. ``timezone`` is an IANA name; ``policy`` overrides rule defaults."""

    __tablename__ = "participants"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    supervision_level: Mapped[str] = mapped_column(String(20))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Check-in app sign-in (migration 0002): a one-time code, argon2id-hashed, and the
    # version that every participant token must carry (bumped to revoke old phones).
    app_code_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    app_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    app_code_failures: Mapped[int] = mapped_column(Integer, default=0)
    app_token_version: Mapped[int] = mapped_column(Integer, default=0)
    # Migration 0006: contact (e-mail, E.164 phone above), BCP 47 language, quiet hours (local
    # "HH:MM", no reminder inside them but the 2-hour one), the private calendar feed's token
    # (SHA-256 hex; revocable) and the telephone check-in PIN (argon2id).
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    language: Mapped[str] = mapped_column(String(35), default="en")
    quiet_start: Mapped[str | None] = mapped_column(String(5), nullable=True)
    quiet_end: Mapped[str | None] = mapped_column(String(5), nullable=True)
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    phone_pin_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Migration 0005 (least surveillance, retention): when the current supervision level
    # began, when an escalation ends and its review is due, and when the case was closed
    # (collection stops; the record is purged ``participant_retention_days`` later).
    level_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    level_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    level_review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class CaseloadAssignment(Base):
    """A case manager assigned to a participant (purpose limitation: reads follow assignment)."""

    __tablename__ = "caseload"
    __table_args__ = (UniqueConstraint("user_id", "participant_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Device(Base):
    """A tracker or phone, known by its unique id (IMEI) and protocol."""

    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unique_id: Mapped[str] = mapped_column(String(64), unique=True)
    protocol: Mapped[str] = mapped_column(String(32))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True, index=True
    )
    name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Migration 0005: active | returned | retired, and why it last changed (audited too).
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Zone(Base):
    """An inclusion or exclusion zone of one participant.

    ``geometry`` is a GeoJSON Polygon/MultiPolygon (lon/lat) or ``None`` for a
    circle (``circle_lat``, ``circle_lon``, ``circle_radius_m``). ``schedule`` is
    a list of weekly windows ``{"days": [...], "start": "HH:MM", "end": "HH:MM"}``;
    an inclusion zone with a schedule is a curfew.
    """

    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    circle_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    circle_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    circle_radius_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    schedule: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Position(Base):
    """A stored fix. One row per (device, fix time): a re-sent fix is stored once."""

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("device_id", "fix_time", name="uq_positions_device_fix_time"),
        Index("ix_positions_participant_fix_time", "participant_id", "fix_time"),
        Index("ix_positions_server_time", "server_time"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    participant_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fix_time: Mapped[datetime] = mapped_column(UTCDateTime)
    server_time: Mapped[datetime] = mapped_column(UTCDateTime)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    valid: Mapped[bool] = mapped_column(Boolean)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    speed_mps: Mapped[float | None] = mapped_column(Float, nullable=True)
    course_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    altitude_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    battery_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    in_review: Mapped[bool] = mapped_column(Boolean, default=False)


class Event(Base):
    """What a rule or a device observed (an alarm, a filter drop, a raised alert's cause)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_participant_time", "participant_id", "time"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    participant_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    type: Mapped[str] = mapped_column(String(40))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Alert(Base):
    """What a person must look at. Never a violation by itself (DESIGN principle 5).

    Lifecycle: open → acknowledged → resolved, with ``resolution`` one of
    technical | no_violation | violation_confirmed and a recorded reason.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_participant_status", "participant_id", "status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    type: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    zone_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    zone_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    explanation: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    acknowledged_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(30), nullable=True)
    resolution_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    participant_response: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Migration 0005 (due process): when the participant was told, until when they may
    # answer before a violation can be confirmed, when they answered; a proposal of a
    # violation by a first staff member; the evidence packet frozen at confirmation; and
    # the participant's request for review of a decision.
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    violation_proposed_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    violation_proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    violation_proposal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    review_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_request_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEntry(Base):
    """One link of the tamper-evident audit log (hash chain, DESIGN principle 3).

    ``hash`` = SHA-256 over ``prev_hash`` and the canonical JSON of the entry's
    other fields; see ``openatd.safeguards.audit``.
    """

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    participant_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditEntryParticipant(Base):
    """Which participants' data one audit entry is about (many for a caseload-wide read).

    Derived from the hashed entry (``participant_id`` and ``details["participant_ids"]``) when
    it is appended; it is an index for "who read my data", not part of the chain.
    """

    __tablename__ = "audit_entry_participants"
    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    participant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


class FaceTemplate(Base):
    """An enrolled face template (embedding), Fernet-encrypted at rest; never the photo."""

    __tablename__ = "face_templates"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(64))
    consent_reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckInSchedule(Base):
    """A check-in obligation: weekly windows (local time) or one ad-hoc request."""

    __tablename__ = "checkin_schedules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # weekly | adhoc
    windows: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    grace_s: Mapped[int] = mapped_column(Integer, default=300)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Migration 0002: why an ad-hoc request was made, and how far the missed-check-in
    # sweep has judged this schedule's windows (closing instants up to here are done).
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    checked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CheckIn(Base):
    """One check-in attempt and its outcome (verified | retake_requested | needs_review)."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_schedule_window", "schedule_id", "window_start"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    schedule_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    method: Mapped[str] = mapped_column(String(10), default="app")
    server_time: Mapped[datetime] = mapped_column(UTCDateTime)
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    accuracy_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    quality_code: Mapped[str | None] = mapped_column(String(30), nullable=True)
    quality_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    on_time: Mapped[bool] = mapped_column(Boolean, default=True)
    selfie: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    review_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Migration 0002: attempt number in its window, the gate's measurements, and the
    # review (kind mismatch | technical; closed by a person with a resolution and reason).
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    quality_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    review_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    review_resolution: Mapped[str | None] = mapped_column(String(30), nullable=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Incident(Base):
    """An operator-facing outage window (server or dependency failure).

    Automatic alerts derived from missing data (device_offline, no_gps_fix,
    missed_check_in) inside an incident window are classified technical.
    """

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ServiceState(Base):
    """Small named facts about the running service, e.g. when it was last alive (UTC)."""

    __tablename__ = "service_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- obligations, reminders, outbox, telephony, visits (migration 0006) --------------------------


class Obligation(Base):
    """Something a participant must attend or do: ``court_hearing`` | ``appointment`` |
    ``check_in`` | ``other``, starting at ``start`` (UTC; entered as local wall time in the
    participant's zone). ``status`` is ``scheduled`` or ``cancelled``; ``outcome``
    (``attended`` | ``missed`` | ``excused``) is recorded by staff afterwards; a changed start
    bumps ``version`` so that reminders planned for the old time are cancelled, never sent."""

    __tablename__ = "obligations"
    __table_args__ = (Index("ix_obligations_participant_start", "participant_id", "start"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    location: Mapped[str | None] = mapped_column(String(500), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    version: Mapped[int] = mapped_column(Integer, default=1)
    seen_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The ``version`` the participant acknowledged in their app (``None``: never seen)."""
    source_uid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """One message to one recipient over one channel (``email`` | ``sms``), due at ``due_at``.

    ``dedupe_key`` (unique) makes each reminder exactly once: planning it twice is a no-op.
    ``status``: pending → sending → sent | failed (retries exhausted) | cancelled. Every
    attempt is a :class:`Delivery` row."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_messages_participant", "participant_id", "due_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    participant_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    obligation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    alert_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    language: Mapped[str] = mapped_column(String(35), default="en")
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """The delivery log: one row per attempt to send an outbox message (``sent`` | ``error``)."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class ParticipantMessage(Base):
    """A message on a participant's record: an SMS reply (``inbound_sms``) reaching the case
    manager, or a note (``note``)."""

    __tablename__ = "participant_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    sender: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Visit(Base):
    """A home or office visit, scheduled or recorded afterwards, with its outcome
    (``met`` | ``not_home`` | ``refused`` | ``other``) and notes."""

    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    visited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    counts_as_checkin: Mapped[bool] = mapped_column(Boolean, default=False)
    checkin_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    alert_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    officer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RuleState(Base):
    """A device's rule state as of its last committed batch (``openatd.rules.state``), so a
    restart forgets no dwell run, hysteresis or timer. Written with the batch that changed it."""

    __tablename__ = "rule_states"
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ParticipantNotice(Base):
    """Something the participant is told (an alert raised, a decision, a review request).

    Delivered to the portal when written (``created_at``). The notification outbox
    (SMS / e-mail) takes rows whose ``outbox_queued_at`` is null and sets it when it has
    queued them; see ``openatd.alerts.notices``.
    """

    __tablename__ = "participant_notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outbox_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SupervisionLevelChange(Base):
    """One change of a participant's supervision level, with its reason and (escalation)
    end date; the whole history feeds the step-down recommendation."""

    __tablename__ = "supervision_level_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    old_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    new_level: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    by_user: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
