"""Request and response bodies (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(description="IANA time zone, e.g. America/Chicago", max_length=64)
    supervision_level: Literal["gps", "app", "phone", "reminders"] = "gps"
    policy: dict[str, float] = Field(
        default_factory=dict,
        description="overrides: zone_dwell_s, offline_after_s, low_battery_pct, max_speed_mps",
    )
    phone: str | None = None


class ParticipantUpdate(BaseModel):
    name: str | None = None
    timezone: str | None = None
    supervision_level: Literal["gps", "app", "phone", "reminders"] | None = None
    policy: dict[str, float] | None = None


class ParticipantPublic(Public):
    id: int
    name: str
    timezone: str
    supervision_level: str
    policy: dict[str, Any]
    active: bool
    created_at: datetime


class CaseloadAssign(BaseModel):
    user_id: int


class DeviceCreate(BaseModel):
    unique_id: str = Field(min_length=1, max_length=64, description="IMEI or the app's device id")
    protocol: str = Field(default="osmand", max_length=32)
    participant_id: int | None = None
    name: str | None = None


class DevicePublic(Public):
    id: int
    unique_id: str
    protocol: str
    participant_id: int | None
    name: str | None
    last_seen_at: datetime | None


class CircleSpec(BaseModel):
    lat: float
    lon: float
    radius_m: float = Field(gt=0, le=100000)


class ScheduleWindow(BaseModel):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")


class ZoneCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
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


class AlertResolve(BaseModel):
    resolution: Literal["technical", "no_violation", "violation_confirmed"]
    reason: str = Field(min_length=1, max_length=4000)


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
