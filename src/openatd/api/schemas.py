"""Request and response bodies (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt


def _clean_name(value: str) -> str:
    """Names: trimmed, not blank, no control or bidirectional-override characters."""
    text = " ".join(value.split())
    if not text:
        raise ValueError("must not be blank")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise ValueError("must not contain control or formatting characters")
    return text


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_name)]
PolicyValue = StrictFloat | StrictInt
Lat = Annotated[StrictFloat | StrictInt, Field(ge=-90, le=90)]
Lon = Annotated[StrictFloat | StrictInt, Field(ge=-180, le=180)]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    role: str


class UserCreate(BaseModel):
    username: str = Field(min_length=3, max_length=120)
    password: str = Field(min_length=10, max_length=200)
    role: Literal["case_manager", "supervisor", "auditor", "admin"]


class UserPublic(Public):
    id: int
    username: str
    role: str


class ParticipantCreate(BaseModel):
    name: Name
    timezone: str = Field(description="IANA time zone, e.g. America/Chicago", max_length=64)
    supervision_level: Literal["gps", "app", "phone", "reminders"] = "gps"
    policy: dict[str, PolicyValue] = Field(
        default_factory=dict,
        description="overrides: zone_dwell_s, offline_after_s, low_battery_pct, max_speed_mps",
    )
    phone: str | None = Field(
        default=None, max_length=40, description="E.164, e.g. +13125550143 (SMS reminders)"
    )
    email: str | None = Field(default=None, max_length=320, description="e-mail reminders")
    language: str | None = Field(
        default=None, max_length=35, description="BCP 47, e.g. en, es, es-MX (default en)"
    )
    quiet_start: str | None = Field(default=None, description="local HH:MM, e.g. 21:00")
    quiet_end: str | None = Field(default=None, description="local HH:MM, e.g. 08:00")


class ParticipantUpdate(BaseModel):
    name: Name | None = None
    timezone: str | None = Field(default=None, max_length=64)
    supervision_level: Literal["gps", "app", "phone", "reminders"] | None = None
    policy: dict[str, PolicyValue] | None = None
    phone: str | None = Field(default=None, max_length=40, description="E.164; '' removes it")
    email: str | None = Field(default=None, max_length=320, description="'' removes it")
    language: str | None = Field(default=None, max_length=35, description="BCP 47")
    quiet_start: str | None = Field(default=None, description="local HH:MM; '' removes both")
    quiet_end: str | None = Field(default=None, description="local HH:MM")
    level_reason: str | None = Field(
        default=None, max_length=1000, description="why the level changes (required with it)"
    )
    level_until: datetime | None = Field(
        default=None, description="end of an escalation (required for one), ISO 8601 with offset"
    )


class ParticipantPublic(Public):
    id: int
    name: str
    timezone: str
    supervision_level: str
    policy: dict[str, Any]
    active: bool
    created_at: datetime
    phone: str | None = None
    email: str | None = None
    language: str = "en"
    quiet_start: str | None = None
    quiet_end: str | None = None
    level_since: datetime | None = None
    level_until: datetime | None = None
    level_review_due_at: datetime | None = None
    closed_at: datetime | None = None


class CaseloadAssign(BaseModel):
    user_id: int = Field(ge=1, le=2**63 - 1)


class DeviceCreate(BaseModel):
    unique_id: str = Field(min_length=1, max_length=64, description="IMEI or the app's device id")
    protocol: str = Field(default="osmand", max_length=32)
    participant_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    name: str | None = None


class DevicePublic(Public):
    id: int
    unique_id: str
    protocol: str
    participant_id: int | None
    name: str | None
    last_seen_at: datetime | None
    status: str = "active"
    status_reason: str | None = None


class DeviceStatusChange(BaseModel):
    action: Literal["unassign", "return", "retire"]
    reason: str = Field(max_length=1000, description="at least 10 characters; recorded")


class CaseClose(BaseModel):
    reason: str = Field(max_length=1000, description="at least 10 characters; recorded")


class CircleSpec(BaseModel):
    lat: Lat
    lon: Lon
    radius_m: StrictFloat | StrictInt = Field(ge=1, le=100000, description="metres")


class ScheduleWindow(BaseModel):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")


class ZoneCreate(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_clean_name)]
    kind: Literal["inclusion", "exclusion"]
    geometry: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon, [lon, lat] WGS84"
    )
    circle: CircleSpec | None = None
    schedule: list[ScheduleWindow] | None = Field(
        default=None,
        description="weekly local-time windows; an inclusion zone with one is a curfew",
    )


class ZonePublic(BaseModel):
    id: int
    participant_id: int
    name: str
    kind: str
    geometry: dict[str, Any] | None
    circle: CircleSpec | None
    schedule: list[dict[str, Any]] | None
    created_at: datetime


class PositionPublic(Public):
    id: int
    device_id: int
    fix_time: datetime
    server_time: datetime
    latitude: float
    longitude: float
    valid: bool
    accuracy_m: float | None
    speed_mps: float | None
    course_deg: float | None
    altitude_m: float | None
    battery_pct: float | None


class PositionsPublic(BaseModel):
    participant_id: int
    reason: str
    audit_entry_id: int
    positions: list[PositionPublic]


class AlertPublic(Public):
    id: int
    participant_id: int
    device_id: int | None
    type: str
    category: str
    zone_name: str | None
    at: datetime
    raised_at: datetime
    explanation: str
    details: dict[str, Any] | None
    status: str
    resolution: str | None
    resolution_reason: str | None
    resolved_at: datetime | None
    participant_response: str | None
    notified_at: datetime | None = None
    response_due_at: datetime | None = None
    responded_at: datetime | None = None
    violation_proposed_by: int | None = None
    violation_proposed_at: datetime | None = None
    violation_proposal_reason: str | None = None
    review_requested_at: datetime | None = None
    review_request_reason: str | None = None
    evidence: dict[str, Any] | None = None


class AlertReason(BaseModel):
    reason: str = Field(max_length=4000, description="at least 20 characters; recorded")


class AlertResolve(BaseModel):
    # Checked by the service after the caseload check, so that a request about another
    # caseload's alert learns nothing but 403.
    resolution: str = Field(
        max_length=40, description="technical | no_violation | violation_confirmed"
    )
    reason: str = Field(max_length=4000, description="at least 10 characters; recorded")


class AuditEntryPublic(Public):
    id: int
    at: datetime
    actor: str
    action: str
    subject_type: str | None
    subject_id: str | None
    participant_id: int | None
    reason: str | None
    details: dict[str, Any] | None
    prev_hash: str
    hash: str


class AuditVerifyPublic(BaseModel):
    entries: int
    ok: bool
    first_broken_id: int | None
    reason: str | None
