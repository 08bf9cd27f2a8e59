"""The alert queue: open alerts first, technical and compliance apart; acknowledge, resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openatd.alerts import service as alerts
from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import PathId
from openatd.participants import service as participants
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage.repositories import UnitOfWork
from openatd.web.staff.common import ContainerDep, NeedLogin, act, current_user, page

router = APIRouter()


@router.get("/", response_class=HTMLResponse, openapi_extra=personal_read("alerts"))
def queue(request: Request, container: ContainerDep, show: str = "open") -> Response:
    """Alerts on the caseload not yet resolved (``show=all``: also resolved ones), oldest
    condition first, in two lists: compliance (a person must judge) and technical (a fault
    of the technology, never a violation by itself)."""

    try:
        if current_user(request, container).role is Role.AUDITOR:
            return RedirectResponse("/ui/audit", status_code=303)  # the auditor's start page
    except NeedLogin:
        pass  # page() sends them to the log-in form

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        rows = list(alerts.list_alerts(uow, user, now))
        if show != "all":
            rows = [a for a in rows if a.status in ("open", "acknowledged")]
        rank = {"open": 0, "acknowledged": 1, "resolved": 2}
        rows.sort(key=lambda a: (rank.get(a.status, 3), a.at))
        people = {p.id: p for p in participants.list_participants(uow, user, now)}
        return {
            "compliance": [a for a in rows if a.category != "technical"],
            "technical": [a for a in rows if a.category == "technical"],
            "people": people,
            "show": show,
        }

    return page(request, container, "inbox.html", build)


@router.post("/alerts/{alert_id}/acknowledge", openapi_extra=PERSONAL_WRITE)
def acknowledge(
    alert_id: PathId,
    request: Request,
    container: ContainerDep,
    back: Annotated[str, Form()] = "/ui/",
) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: alerts.acknowledge(uow, u, now, alert_id),
        "Alert acknowledged.",
        back,
    )


@router.post("/alerts/{alert_id}/resolve", openapi_extra=PERSONAL_WRITE)
def resolve(
    alert_id: PathId,
    request: Request,
    container: ContainerDep,
    resolution: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/ui/",
) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: alerts.resolve(
            uow, u, now, alert_id, resolution=resolution, reason=reason
        ),
        "Alert resolved; the decision and its reason are in the audit log.",
        back,
    )
