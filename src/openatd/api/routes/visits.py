"""Home and office visits: schedule, record the outcome (an office visit may count as the
check-in; not home opens a technical alert for review), list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import CurrentUser, NowDep, PathId, UowDep
from openatd.api.schemas import Public
from openatd.checkins import visits

router = APIRouter(tags=["visits"])

Outcome = Literal["met", "not_home", "refused", "other"]


class VisitSchedule(BaseModel):
    kind: Literal["home", "office"]
    scheduled_for: str = Field(
        max_length=40, description="ISO 8601; without offset, local time of the participant"
    )
    notes: str | None = Field(default=None, max_length=4000)


class VisitRecord(BaseModel):
    kind: Literal["home", "office"]
    outcome: Outcome
    notes: str | None = Field(default=None, max_length=4000)
    visited_at: datetime | None = Field(default=None, description="ISO 8601 with offset")
    counts_as_checkin: bool = Field(
        default=False, description="office visit, participant met: the open window's check-in"
    )


class VisitOutcome(BaseModel):
    outcome: Outcome
    notes: str | None = Field(default=None, max_length=4000)
    visited_at: datetime | None = None
    counts_as_checkin: bool = False


class VisitPublic(Public):
    id: int
    participant_id: int
    kind: str
    scheduled_for: datetime | None
    visited_at: datetime | None
    outcome: str | None
    notes: str | None
    counts_as_checkin: bool
    checkin_id: int | None
    alert_id: int | None
    created_at: datetime


@router.post(
    "/api/participants/{participant_id}/visits",
    response_model=VisitPublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
def schedule(
    participant_id: PathId, body: VisitSchedule, uow: UowDep, user: CurrentUser, now: NowDep
) -> VisitPublic:
    """Schedule a home or office visit."""
    row = visits.schedule_visit(uow, user, now, participant_id, **body.model_dump())
    return VisitPublic.model_validate(row)


@router.post(
    "/api/participants/{participant_id}/visits/record",
    response_model=VisitPublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
def record_unscheduled(
    participant_id: PathId, body: VisitRecord, uow: UowDep, user: CurrentUser, now: NowDep
) -> VisitPublic:
    """Record an unscheduled visit and its outcome."""
    row = visits.record_outcome(uow, user, now, participant_id=participant_id, **body.model_dump())
    return VisitPublic.model_validate(row)


@router.post(
    "/api/visits/{visit_id}/outcome", response_model=VisitPublic, openapi_extra=PERSONAL_WRITE
)
def record_scheduled(
    visit_id: PathId, body: VisitOutcome, uow: UowDep, user: CurrentUser, now: NowDep
) -> VisitPublic:
    """Record the outcome of a scheduled visit."""
    row = visits.record_outcome(uow, user, now, visit_id=visit_id, **body.model_dump())
    return VisitPublic.model_validate(row)


@router.get(
    "/api/participants/{participant_id}/visits",
    response_model=list[VisitPublic],
    openapi_extra=personal_read("visits"),
)
def list_(participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> list[Any]:
    """The participant's visits."""
    return [
        VisitPublic.model_validate(v) for v in visits.list_visits(uow, user, now, participant_id)
    ]
