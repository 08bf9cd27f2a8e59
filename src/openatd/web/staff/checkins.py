"""The check-in review queue: the selfie beside the decision data; close with a reason."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import PathId
from openatd.checkins import service as checkins
from openatd.participants import service as participants
from openatd.safeguards.auth import TokenClaims
from openatd.storage.repositories import UnitOfWork
from openatd.web.staff.common import ContainerDep, act, page

router = APIRouter()


@router.get(
    "/checkins/reviews", response_class=HTMLResponse, openapi_extra=personal_read("checkin_reviews")
)
def queue(request: Request, container: ContainerDep) -> Response:
    """Open reviews on the caseload with score, threshold and quality (no selfie, no place)."""

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        rows = checkins.open_reviews(uow, user, now)
        people = {p.id: p for p in participants.list_participants(uow, user, now)}
        return {"rows": rows, "people": people}

    return page(request, container, "reviews.html", build)


@router.get(
    "/checkins/{checkin_id}/review",
    response_class=HTMLResponse,
    openapi_extra=personal_read("checkin_selfie"),
)
def review(
    checkin_id: PathId, request: Request, container: ContainerDep, reason: str = ""
) -> Response:
    """One review: the selfie (read for *reason*, audited) beside the enrolment decision
    data; the selfie is embedded in the page, so it is read once and never cached."""

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        selfie = checkins.read_selfie(uow, user, now, checkin_id, reason)
        row = uow.checkins.get(checkin_id)
        return {
            "c": row,
            "p": uow.participants.get(row.participant_id),
            "selfie": base64.b64encode(selfie).decode(),
            "reason": reason,
            "enrolment": checkins.enrolment_summary(uow, row.participant_id),
            "resolutions": [r.value for r in checkins.ReviewResolution],
        }

    response = page(request, container, "review.html", build)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/checkins/{checkin_id}/review", openapi_extra=PERSONAL_WRITE)
def close(
    checkin_id: PathId,
    request: Request,
    container: ContainerDep,
    resolution: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: checkins.close_review(
            uow, u, now, checkin_id, resolution=resolution, reason=reason
        ),
        "Review closed; the selfie was deleted.",
        "/ui/checkins/reviews",
    )
