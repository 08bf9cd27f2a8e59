"""Staff side of smartphone check-ins: face enrolment, schedules, check-ins, reviews, app codes.

Uploads are size-limited before they are parsed (``413`` with the limit in the detail). The
face verifier is built once per process on first use and kept on the container
(``container.face_verifier``); a failure to build it is a 503 and an outage incident.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.types import Message

from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.checkin_schemas import (
    MAX_ID,
    AppCodePublic,
    CheckInPublic,
    CheckInReviewPublic,
    CheckInScheduleCreate,
    CheckInSchedulePublic,
    EnrolmentPublic,
    ReviewClose,
)
from openatd.api.container import Container
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, UowDep
from openatd.checkins import service
from openatd.checkins.face import FaceVerifier
from openatd.checkins.templates import parse_keys
from openatd.participants import portal
from openatd.storage import tables as t

MiB = 1024 * 1024
MAX_PHOTO_BYTES = 8 * MiB
"""Largest accepted photo (selfie or enrolment photo), bytes."""
MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart framing and the form fields next to the files."""


F = TypeVar("F", bound=Callable[..., Any])

RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="record id")]
"""A path id: 1 to 2**63-1 (a larger one is refused with 422, never sent to the database)."""


def body_limit(max_bytes: int) -> Callable[[F], F]:
    """Mark a route so that :class:`LimitedBodyRoute` refuses bodies over *max_bytes*."""

    def mark(endpoint: F) -> F:
        endpoint.max_body_bytes = max_bytes  # type: ignore[attr-defined]
        return endpoint

    return mark


class LimitedBodyRoute(APIRoute):
    """A route that answers 413 as soon as a body exceeds the endpoint's ``max_body_bytes``.

    The declared ``Content-Length`` is checked first; a body sent without one (chunked) is
    counted as it arrives and cut off at the limit, so a 50 MB upload is never buffered.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit: int | None = getattr(self.endpoint, "max_body_bytes", None)
        if limit is None:
            return handler

        def too_large() -> HTTPException:
            return HTTPException(
                status_code=413,
                detail=f"upload too large: the limit is {limit} bytes "
                f"({limit // MiB} MB including the form)",
            )

        async def limited(request: Request) -> Response:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise too_large()
            received = 0
            receive = request.receive

            async def counting() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise too_large()
                return message

            return await handler(Request(request.scope, counting))

        return limited


def template_keys(container: Container) -> list[str]:
    """The face-template Fernet keys from settings, newest first."""
    return parse_keys(container.settings.template_key)


def face_verifier(container: Container) -> FaceVerifier:
    """The process's face verifier (see :meth:`Container.verifier`)."""
    return container.verifier()


def read_upload(upload: UploadFile, what: str) -> bytes:
    """The bytes of one uploaded file, refusing more than :data:`MAX_PHOTO_BYTES` (413)."""
    data = upload.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise HTTPException(
            status_code=413,
            detail=f"{what} is larger than the limit of {MAX_PHOTO_BYTES} bytes (8 MB)",
        )
    return data


router = APIRouter(prefix="/api", tags=["check-ins"], route_class=LimitedBodyRoute)


def _enrolment(summary: service.EnrolmentSummary) -> EnrolmentPublic:
    return EnrolmentPublic(
        participant_id=summary.participant_id,
        templates=summary.templates,
        model=summary.model,
        enrolled_at=summary.enrolled_at,
        consent_reason=summary.consent_reason,
    )


@router.post(
    "/participants/{participant_id}/face-enrolment",
    response_model=EnrolmentPublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
@body_limit(service.MAX_ENROLMENT_PHOTOS * MAX_PHOTO_BYTES + MULTIPART_OVERHEAD)
def enrol_face(
    participant_id: RecordId,
    photos: Annotated[list[UploadFile], File(description="1 to 5 JPEG/PNG photos, 8 MB each")],
    consent_reason: Annotated[
        str, Form(description="how the participant's consent was obtained (recorded, audited)")
    ],
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> EnrolmentPublic:
    """Enrol or re-enrol the participant's face: templates replace earlier ones; photos are
    not kept. Every photo must pass the quality gate (422 names the photo and why)."""
    data = [read_upload(p, f"photo {i}") for i, p in enumerate(photos, start=1)]
    summary = service.enrol_face(
        uow,
        user,
        now,
        face_verifier(container),
        template_keys(container),
        participant_id,
        data,
        consent_reason,
    )
    return _enrolment(summary)


@router.get(
    "/participants/{participant_id}/face-enrolment",
    response_model=EnrolmentPublic,
    openapi_extra=personal_read("face_enrolment"),
)
def read_enrolment(
    participant_id: RecordId, uow: UowDep, user: CurrentUser, now: NowDep
) -> EnrolmentPublic:
    """How many templates are enrolled, with which model and consent."""
    return _enrolment(service.read_enrolment(uow, user, now, participant_id))


@router.delete(
    "/participants/{participant_id}/face-enrolment", status_code=204, openapi_extra=PERSONAL_WRITE
)
def delete_enrolment(
    participant_id: RecordId,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    reason: Annotated[str, Query(description="why (e.g. program exit); audited")] = "",
) -> None:
    """Delete every enrolled template of the participant."""
    service.delete_face(uow, user, now, participant_id, reason)


@router.post(
    "/participants/{participant_id}/checkin-schedules",
    response_model=CheckInSchedulePublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
def create_schedule(
    participant_id: RecordId,
    body: CheckInScheduleCreate,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
) -> CheckInSchedulePublic:
    """A weekly schedule (local-time windows) or an ad-hoc request ("within 60 minutes")."""
    row = service.create_schedule(
        uow,
        user,
        now,
        participant_id,
        kind=body.kind,
        windows=[w.model_dump() for w in body.windows] if body.windows else None,
        within_minutes=body.within_minutes,
        grace_s=body.grace_s,
        reason=body.reason,
    )
    return CheckInSchedulePublic.model_validate(row)


@router.get(
    "/participants/{participant_id}/checkin-schedules",
    response_model=list[CheckInSchedulePublic],
    openapi_extra=personal_read("checkin_schedules"),
)
def list_schedules(
    participant_id: RecordId, uow: UowDep, user: CurrentUser, now: NowDep
) -> list[CheckInSchedulePublic]:
    """The participant's active check-in schedules."""
    rows = service.list_schedules(uow, user, now, participant_id)
    return [CheckInSchedulePublic.model_validate(r) for r in rows]


@router.delete("/checkin-schedules/{schedule_id}", status_code=204, openapi_extra=PERSONAL_WRITE)
def cancel_schedule(
    schedule_id: RecordId,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    reason: Annotated[str, Query(description="why; audited")] = "",
) -> None:
    """End a schedule: no further windows."""
    service.cancel_schedule(uow, user, now, schedule_id, reason)


def _checkin(row: t.CheckIn) -> CheckInPublic:
    return CheckInPublic(
        id=row.id,
        participant_id=row.participant_id,
        method=row.method,
        schedule_id=row.schedule_id,
        window_start=row.window_start,
        window_end=row.window_end,
        server_time=row.server_time,
        device_time=row.device_time,
        latitude=row.latitude,
        longitude=row.longitude,
        accuracy_m=row.accuracy_m,
        outcome=row.outcome,
        attempt=row.attempt,
        quality_code=row.quality_code,
        quality_message=row.quality_message,
        quality_report=row.quality_report,
        score=row.score,
        threshold=row.threshold,
        on_time=row.on_time,
        review_kind=row.review_kind,
        review_status=row.review_status,
        review_resolution=row.review_resolution,
        review_reason=row.review_reason,
        reviewed_at=row.reviewed_at,
        selfie_held=row.selfie is not None,
    )


@router.get(
    "/participants/{participant_id}/checkins",
    response_model=list[CheckInPublic],
    openapi_extra=personal_read("checkins"),
)
def list_checkins(
    participant_id: RecordId,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    reason: Annotated[
        str, Query(description="why you read them (they include locations); audited")
    ] = "",
) -> list[CheckInPublic]:
    """The participant's check-ins with the location each reported, for a stated reason."""
    return [_checkin(r) for r in service.list_checkins(uow, user, now, participant_id, reason)]


@router.get(
    "/checkins/reviews",
    response_model=list[CheckInReviewPublic],
    openapi_extra=personal_read("checkin_reviews"),
)
def open_reviews(uow: UowDep, user: CurrentUser, now: NowDep) -> list[CheckInReviewPublic]:
    """Check-ins waiting for a person on your caseload: score and quality report, no location."""
    return [
        CheckInReviewPublic(
            id=r.id,
            participant_id=r.participant_id,
            server_time=r.server_time,
            window_start=r.window_start,
            outcome=r.outcome,
            review_kind=r.review_kind,
            score=r.score,
            threshold=r.threshold,
            quality_code=r.quality_code,
            quality_message=r.quality_message,
            quality_report=r.quality_report,
        )
        for r in service.open_reviews(uow, user, now)
    ]


@router.get(
    "/checkins/{checkin_id}/selfie",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    openapi_extra=personal_read("checkin_selfie"),
)
def read_selfie(
    checkin_id: RecordId,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    reason: Annotated[str, Query(description="why; audited")] = "",
) -> Response:
    """The selfie of a check-in under review (JPEG without metadata)."""
    data = service.read_selfie(uow, user, now, checkin_id, reason)
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post(
    "/checkins/{checkin_id}/review", response_model=CheckInPublic, openapi_extra=PERSONAL_WRITE
)
def close_review(
    checkin_id: RecordId, body: ReviewClose, uow: UowDep, user: CurrentUser, now: NowDep
) -> CheckInPublic:
    """Close a review with a resolution and reason; the selfie is deleted."""
    row = service.close_review(
        uow, user, now, checkin_id, resolution=body.resolution, reason=body.reason
    )
    return _checkin(row)


@router.post(
    "/participants/{participant_id}/app-code",
    response_model=AppCodePublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
def issue_app_code(
    participant_id: RecordId, uow: UowDep, user: CurrentUser, now: NowDep
) -> AppCodePublic:
    """A one-time code for the participant's phone to sign in (revokes earlier phones)."""
    code, expires = portal.issue_app_code(uow, user, now, participant_id)
    return AppCodePublic(participant_id=participant_id, code=code, expires_at=expires)
