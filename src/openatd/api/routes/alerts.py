"""Alerts: list, acknowledge, resolve. Rules never confirm a violation; people do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openatd.alerts import service
from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import CurrentUser, NowDep, PathId, QueryId, UowDep
from openatd.api.schemas import AlertPublic, AlertResolve

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


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
    alert_id: PathId, body: AlertResolve, uow: UowDep, user: CurrentUser, now: NowDep
) -> AlertPublic:
    """Close an alert: technical | no_violation | violation_confirmed, with a reason."""
    a = service.resolve(uow, user, now, alert_id, resolution=body.resolution, reason=body.reason)
    return AlertPublic.model_validate(a)
