"""Alerts: list, acknowledge, resolve. Rules never confirm a violation; people do, after the
participant could answer (``openatd.alerts.due_process``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from openatd.alerts import due_process, service
from openatd.alerts.due_process import DueProcessPolicy
from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, PathId, QueryId, UowDep
from openatd.api.schemas import AlertPublic, AlertReason, AlertResolve

router = APIRouter(prefix="/api/alerts", tags=["alerts"])

ReasonQuery = Annotated[
    str, Query(description="why you read it (recorded in the audit log; at least 10 characters)")
]


@router.get("", response_model=list[AlertPublic], openapi_extra=personal_read("alerts"))
def list_alerts(
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    participant_id: QueryId = None,
    status: Annotated[str | None, Query(description="open | acknowledged | resolved")] = None,
) -> list[AlertPublic]:
    """Alerts on your caseload, newest first."""
    rows = service.list_alerts(uow, user, now, participant_id=participant_id, status=status)
    return [AlertPublic.model_validate(a) for a in rows]


@router.post("/{alert_id}/acknowledge", response_model=AlertPublic, openapi_extra=PERSONAL_WRITE)
def acknowledge(alert_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> AlertPublic:
    """Mark an open alert as seen."""
    return AlertPublic.model_validate(service.acknowledge(uow, user, now, alert_id))


@router.post("/{alert_id}/resolve", response_model=AlertPublic, openapi_extra=PERSONAL_WRITE)
def resolve(
    alert_id: PathId,
    body: AlertResolve,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> AlertPublic:
    """Close an alert: technical | no_violation | violation_confirmed, with a reason; the
    participant is told. ``violation_confirmed`` is refused (409) during the participant's
    response window and needs a supervisor (or a second staff member, per policy); the
    evidence packet is frozen on the alert."""
    a = service.resolve(
        uow,
        user,
        now,
        alert_id,
        resolution=body.resolution,
        reason=body.reason,
        policy=DueProcessPolicy.from_settings(container.settings),
    )
    return AlertPublic.model_validate(a)


@router.post(
    "/{alert_id}/propose-violation", response_model=AlertPublic, openapi_extra=PERSONAL_WRITE
)
def propose_violation(
    alert_id: PathId, body: AlertReason, uow: UowDep, user: CurrentUser, now: NowDep
) -> AlertPublic:
    """Propose that an alert is a violation (a supervisor or a second staff member decides)."""
    return AlertPublic.model_validate(
        due_process.propose_violation(uow, user, now, alert_id, reason=body.reason)
    )


@router.get("/{alert_id}/evidence", openapi_extra=personal_read("alert"))
def evidence(
    alert_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep, reason: ReasonQuery = ""
) -> dict[str, Any]:
    """The evidence packet the system assembles for a decision: fixes with their accuracy,
    check-ins, device events, the participant's responses, overlapping incidents and problem
    reports, device fault indicators. A reasoned, audited read."""
    return due_process.read_evidence(uow, user, now, alert_id, reason=reason)


@router.get("/{alert_id}/history", openapi_extra=personal_read("alert_history"))
def history(alert_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> dict[str, Any]:
    """Every recorded step of the alert (audit entries and notices to the participant)."""
    return due_process.history(uow, user, now, alert_id)
