"""Participants, caseloads and (audited, reasoned) position reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, PathId, UowDep
from openatd.api.schemas import (
    CaseClose,
    CaseloadAssign,
    ParticipantCreate,
    ParticipantPublic,
    ParticipantUpdate,
    PositionPublic,
    PositionsPublic,
)
from openatd.domain.audit import AuditAction
from openatd.participants import lifecycle, service, stepdown, tracks
from openatd.safeguards import audit
from openatd.safeguards.reads import record_read

router = APIRouter(prefix="/api/participants", tags=["participants"])

CrossCaseload = Annotated[
    bool,
    Query(
        description="a supervisor reading a participant not assigned to them says so "
        "explicitly; the audit log records it as a cross-caseload read"
    ),
]


@router.get(
    "", response_model=list[ParticipantPublic], openapi_extra=personal_read("participant_list")
)
def list_participants(uow: UowDep, user: CurrentUser, now: NowDep) -> list[ParticipantPublic]:
    """Your caseload (a supervisor sees every participant)."""
    return [ParticipantPublic.model_validate(p) for p in service.list_participants(uow, user, now)]


@router.post("", response_model=ParticipantPublic, status_code=201, openapi_extra=PERSONAL_WRITE)
def create_participant(
    body: ParticipantCreate, uow: UowDep, user: CurrentUser, now: NowDep
) -> ParticipantPublic:
    """Enrol a participant (a case manager gets them on their caseload)."""
    p = service.create_participant(uow, user, now, **body.model_dump())
    return ParticipantPublic.model_validate(p)


@router.get(
    "/{participant_id}",
    response_model=ParticipantPublic,
    openapi_extra=personal_read("participant"),
)
def get_participant(
    participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep
) -> ParticipantPublic:
    """One participant; 403 outside your caseload."""
    return ParticipantPublic.model_validate(service.get_participant(uow, user, now, participant_id))


@router.patch("/{participant_id}", response_model=ParticipantPublic, openapi_extra=PERSONAL_WRITE)
def update_participant(
    participant_id: PathId,
    body: ParticipantUpdate,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> ParticipantPublic:
    """Change name, time zone, supervision level or policy overrides. A level change needs
    ``level_reason``; an escalation also ``level_until`` (its end; a review is due then)."""
    p = service.update_participant(uow, user, now, participant_id, body.model_dump())
    uow.flush()
    container.pipeline_changed(participant_id)
    return ParticipantPublic.model_validate(p)


@router.post("/{participant_id}/close", openapi_extra=PERSONAL_WRITE)
def close_case(
    participant_id: PathId,
    body: CaseClose,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> dict[str, object]:
    """Close the case (the participant exits the program): collection stops, face templates
    are deleted at once, the rest is deleted after OPENATD_PARTICIPANT_RETENTION_DAYS."""
    done = lifecycle.close_case(
        uow,
        user,
        now,
        participant_id,
        body.reason,
        container.settings.participant_retention_days,
    )
    uow.flush()
    container.pipeline_changed(None)
    return done


@router.post("/{participant_id}/caseload", status_code=204, openapi_extra=PERSONAL_WRITE)
def assign(
    participant_id: PathId, body: CaseloadAssign, uow: UowDep, user: CurrentUser, now: NowDep
) -> None:
    """Assign a case manager (supervisors and administrators)."""
    service.assign_caseload(uow, user, now, participant_id, body.user_id)


@router.get(
    "/{participant_id}/positions",
    response_model=PositionsPublic,
    openapi_extra=personal_read("positions"),
)
def positions(
    participant_id: PathId,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    start: Annotated[datetime, Query(description="ISO 8601 with offset, inclusive")],
    end: Annotated[datetime, Query(description="ISO 8601 with offset, exclusive")],
    reason: Annotated[
        str,
        Query(description="why you read them (recorded in the audit log; at least 10 characters)"),
    ] = "",
    limit: Annotated[int, Query(ge=1, le=10000)] = 10000,
    cross_caseload: CrossCaseload = False,
) -> PositionsPublic:
    """One participant's positions in ``[start, end)``, for a stated reason.

    There is no endpoint that searches positions across participants. A supervisor reads
    the positions of a participant not assigned to them only with ``cross_caseload=true``.
    """
    got = service.read_positions(
        uow,
        user,
        now,
        participant_id,
        start=_aware(start),
        end=_aware(end),
        reason=reason,
        limit=limit,
        cross_caseload=cross_caseload,
    )
    return PositionsPublic(
        participant_id=participant_id,
        reason=reason.strip(),
        audit_entry_id=got.audit_entry_id,
        positions=[PositionPublic.model_validate(p) for p in got.positions],
    )


TRACK_FORMATS = {
    "gpx": ("application/gpx+xml", "gpx"),
    "geojson": ("application/geo+json", "geojson"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}


@router.get(
    "/{participant_id}/track", response_class=Response, openapi_extra=personal_read("positions")
)
def track(
    participant_id: PathId,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    start: Annotated[datetime, Query(description="ISO 8601 with offset, inclusive")],
    end: Annotated[datetime, Query(description="ISO 8601 with offset, exclusive")],
    format: Annotated[Literal["gpx", "geojson", "csv"], Query(description="gpx | geojson | csv")],
    reason: Annotated[
        str,
        Query(description="why you export it (recorded in the audit log; at least 10 characters)"),
    ] = "",
    cross_caseload: CrossCaseload = False,
) -> Response:
    """One participant's track as GPX, GeoJSON or CSV, behind the same reason and audit as
    reading the positions (the audit entry records the format)."""
    got = service.read_positions(
        uow,
        user,
        now,
        participant_id,
        start=_aware(start),
        end=_aware(end),
        reason=reason,
        cross_caseload=cross_caseload,
        export_format=format,
    )
    if format == "gpx":
        body = tracks.to_gpx(got.positions, name=f"participant {participant_id}")
    elif format == "geojson":
        body = tracks.to_geojson(got.positions, participant_id=participant_id)
    else:
        body = tracks.to_csv(got.positions)
    media, ext = TRACK_FORMATS[format]
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="participant-{participant_id}.{ext}"',
            "X-OpenATD-Audit-Entry": str(got.audit_entry_id),
        },
    )


def _aware(t: datetime) -> datetime:
    from openatd.errors import InvalidInput

    if t.tzinfo is None:
        raise InvalidInput("times need a UTC offset, e.g. 2026-03-08T00:00:00Z")
    return t


class StepDownPublic(BaseModel):
    current: str
    recommended: str
    eligible: bool
    window_days: int
    reasons: list[str]
    review_date: datetime | None = None
    history: dict[str, Any] = {}


@router.get(
    "/{participant_id}/step-down",
    response_model=StepDownPublic,
    openapi_extra=personal_read("participant", "alert_history"),
)
def step_down(
    participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep
) -> StepDownPublic:
    """Step-down recommendation from the whole compliance history (check-ins on time,
    technical vs confirmed alerts, time at level), with its reasons and a review date; a
    recommendation, never automatic."""
    p = service.get_participant(uow, user, now, participant_id)
    history = uow.alerts.list(participant_ids=[participant_id], limit=100000)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ALERTS_READ,
        what="alert_history",
        participant_ids=[participant_id],
        details={"count": len(history)},
    )
    rec = stepdown.recommend(p, history, now, checkins=uow.evidence.all_checkins(participant_id))
    return StepDownPublic(
        current=rec.current,
        recommended=rec.recommended,
        eligible=rec.eligible,
        window_days=rec.window_days,
        reasons=rec.reasons,
        review_date=rec.review_date,
        history=rec.history,
    )
