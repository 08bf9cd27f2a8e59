"""Request and response bodies of the check-in and participant-portal endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from openatd.api.schemas import ScheduleWindow
from openatd.checkins.schedule import MAX_WEEKLY_WINDOWS

MAX_ID = 2**63 - 1
"""Largest record id (a signed 64-bit integer); a larger one is refused with 422, not stored."""


class EnrolmentPublic(BaseModel):
    """What is enrolled (never the templates)."""

    participant_id: int
    templates: int
    model: str | None
    enrolled_at: datetime | None
    consent_reason: str | None


class CheckInScheduleCreate(BaseModel):
    """A weekly schedule (``windows``, local time) or an ad-hoc request (``within_minutes``)."""

    kind: Literal["weekly", "adhoc"]
    windows: list[ScheduleWindow] | None = Field(
        default=None,
        max_length=MAX_WEEKLY_WINDOWS,
        description=(
            f"weekly: local-time windows in the participant's time zone; at most "
            f"{MAX_WEEKLY_WINDOWS} a week, each at least 5 minutes, none overlapping"
        ),
    )
    within_minutes: int | None = Field(
        default=None, ge=5, le=1440, description="adhoc: the window opens now for this long"
    )
    grace_s: int = Field(default=300, ge=0, le=21600, description="seconds accepted after a window")
    reason: str | None = Field(default=None, max_length=4000, description="required for adhoc")


class CheckInSchedulePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    participant_id: int
    kind: str
    windows: list[dict[str, Any]] | None
    opens_at: datetime | None
    closes_at: datetime | None
    grace_s: int
    reason: str | None
    active: bool
    created_at: datetime


class CheckInWindowPublic(BaseModel):
    """One check-in window (UTC instants; ``description`` in the participant's local time)."""

    schedule_id: int
    start: datetime
    end: datetime
    closes_at: datetime = Field(description="end + grace: check-ins are accepted until then")
    grace_s: int
    description: str
    attempts_used: int
    attempts_left: int
    done: str | None = Field(description="why no further attempt is needed or allowed, if so")


class OpenWindowPublic(BaseModel):
    server_time: datetime
    window: CheckInWindowPublic | None


class ScheduleDescriptionPublic(BaseModel):
    id: int
    kind: str
    description: str
    reason: str | None


class PortalObligationPublic(BaseModel):
    """A hearing, appointment or other obligation as the participant sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    start: datetime
    end: datetime | None
    location: str | None
    status: str = Field(description="scheduled | cancelled")
    version: int = Field(description="above 1: the date or details changed since first entered")


class ObligationsPublic(BaseModel):
    participant_id: int
    timezone: str
    server_time: datetime
    schedules: list[ScheduleDescriptionPublic]
    windows: list[CheckInWindowPublic]
    appointments: list[PortalObligationPublic] = Field(
        default_factory=list, description="hearings, appointments, other obligations, by start"
    )


class CheckInReceiptPublic(BaseModel):
    """What the participant is told at once about an attempt."""

    checkin_id: int
    outcome: Literal["verified", "retake_requested", "needs_review"]
    message: str
    quality_code: str | None
    attempt: int
    attempts_left: int
    on_time: bool
    server_time: datetime
    window: CheckInWindowPublic


class CheckInPublic(BaseModel):
    """A check-in as staff see it (with the reported location and the score)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    participant_id: int
    method: str = Field(default="app", description="app | phone | visit")
    schedule_id: int | None
    window_start: datetime | None
    window_end: datetime | None
    server_time: datetime
    device_time: datetime | None
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    outcome: str
    attempt: int
    quality_code: str | None
    quality_message: str | None
    quality_report: dict[str, Any] | None
    score: float | None
    threshold: float | None
    on_time: bool
    review_kind: str | None
    review_status: str | None
    review_resolution: str | None
    review_reason: str | None
    reviewed_at: datetime | None
    selfie_held: bool


class CheckInReviewPublic(BaseModel):
    """An open review: no location (reading it needs a reason), the score and quality report."""

    id: int
    participant_id: int
    server_time: datetime
    window_start: datetime | None
    outcome: str
    review_kind: str | None
    score: float | None
    threshold: float | None
    quality_code: str | None
    quality_message: str | None
    quality_report: dict[str, Any] | None


class ReviewClose(BaseModel):
    resolution: Literal["identity_confirmed", "technical", "identity_not_confirmed"]
    reason: str = Field(min_length=1, max_length=4000)


class AppCodePublic(BaseModel):
    participant_id: int
    code: str = Field(description="one-time sign-in code for the participant's phone; shown once")
    expires_at: datetime


class ParticipantSignIn(BaseModel):
    participant_id: int = Field(ge=1, le=MAX_ID)
    code: str = Field(min_length=1, max_length=64)


class ParticipantTokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    participant_id: int


class PortalAlertPublic(BaseModel):
    """An alert about the participant, with its explanation and status."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: str
    category: str
    at: datetime
    raised_at: datetime
    explanation: str
    status: str
    resolution: str | None
    resolution_reason: str | None
    resolved_at: datetime | None
    participant_response: str | None
    response_due_at: datetime | None = None
    review_requested_at: datetime | None = None
    review_request_reason: str | None = None
    evidence: dict[str, Any] | None = None


class NoticePublic(BaseModel):
    """Something you were told: an alert raised, a decision, a review, the case closed."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: int | None
    kind: str
    text: str
    created_at: datetime
    read_at: datetime | None


class ReviewRequest(BaseModel):
    reason: str = Field(max_length=4000, description="why the decision should be looked at again")


class AlertResponseCreate(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ProblemReportCreate(BaseModel):
    """A participant's technical report: what is not working, in their words."""

    kind: Literal["app", "device", "other"] = "app"
    text: str = Field(min_length=1, max_length=4000)
    occurred_at: datetime | None = Field(
        default=None, description="when it started, by the phone's clock (recorded only)"
    )


class AccessEntryPublic(BaseModel):
    """One access to or change of the participant's data by staff or the system."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    action: str
    subject: str | None
    reason: str | None
    cross_caseload: bool = False
