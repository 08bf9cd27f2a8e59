"""The participant's API (their phone): sign-in, the open check-in window, check-in with a
selfie and the location at that moment, obligations, alerts and responses, and data export.

Every endpoint here needs a *participant* token (``POST /api/portal/token``); staff tokens are
refused (401), as participant tokens are on staff endpoints. A participant only ever acts on
their own records: the participant id comes from the verified token, never from the request.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, Response, UploadFile

from openatd.alerts.due_process import DueProcessPolicy
from openatd.api.access import NO_PERSONAL_DATA, PERSONAL_WRITE, personal_read
from openatd.api.checkin_schemas import (
    MAX_ID,
    AccessEntryPublic,
    AlertResponseCreate,
    CheckInReceiptPublic,
    CheckInWindowPublic,
    NoticePublic,
    ObligationsPublic,
    OpenWindowPublic,
    ParticipantSignIn,
    ParticipantTokenPublic,
    PortalAlertPublic,
    PortalObligationPublic,
    ProblemReportCreate,
    ReviewRequest,
    ScheduleDescriptionPublic,
)
from openatd.api.container import Container
from openatd.api.deps import ClientDep, ContainerDep, NowDep, UowDep, oauth2
from openatd.api.routes.checkins import (
    MAX_PHOTO_BYTES,
    MULTIPART_OVERHEAD,
    LimitedBodyRoute,
    body_limit,
    face_verifier,
    read_upload,
    template_keys,
)
from openatd.checkins import service
from openatd.checkins.service import Location
from openatd.errors import AuthenticationFailed, OpenATDError, VerificationUnavailable
from openatd.obligations import feed
from openatd.participants import portal, transparency
from openatd.safeguards.auth import ParticipantClaims, read_participant_token

log = logging.getLogger(__name__)


def get_participant(
    container: ContainerDep, token: Annotated[str | None, Depends(oauth2)]
) -> ParticipantClaims:
    """The participant behind the bearer token, still valid for them. Raises 401 otherwise
    (a staff token, an expired token, a token revoked by a newer sign-in code)."""
    if not token:
        raise AuthenticationFailed("not authenticated: send 'Authorization: Bearer <token>'")
    claims = read_participant_token(token, container.settings.secret_key, container.clock.now())
    with container.uow() as uow:
        portal.current_participant(uow, claims)
    return claims


CurrentParticipant = Annotated[ParticipantClaims, Depends(get_participant)]

router = APIRouter(prefix="/api/portal", tags=["participant"], route_class=LimitedBodyRoute)


def _token(token: str, claims: ParticipantClaims) -> ParticipantTokenPublic:
    return ParticipantTokenPublic(
        access_token=token, expires_at=claims.expires, participant_id=claims.participant_id
    )


@router.post("/token", response_model=ParticipantTokenPublic, openapi_extra=PERSONAL_WRITE)
def sign_in(
    body: ParticipantSignIn, container: ContainerDep, now: NowDep, client: ClientDep
) -> ParticipantTokenPublic:
    """Exchange the one-time code from your case manager for a token (lifetime
    OPENATD_TOKEN_TTL_S); renew it with ``/api/portal/token/refresh`` before it expires."""
    token, claims = portal.sign_in(
        container.uow,
        body.participant_id,
        body.code,
        now,
        secret=container.settings.secret_key,
        ttl_s=container.settings.token_ttl_s,
        throttle=container.portal_throttle,
        client=client,
    )
    return _token(token, claims)


@router.post(
    "/token/refresh", response_model=ParticipantTokenPublic, openapi_extra=NO_PERSONAL_DATA
)
def refresh(
    claims: CurrentParticipant, uow: UowDep, container: ContainerDep, now: NowDep
) -> ParticipantTokenPublic:
    """A new token for a valid one."""
    token, fresh = portal.refresh(
        uow, claims, now, secret=container.settings.secret_key, ttl_s=container.settings.token_ttl_s
    )
    return _token(token, fresh)


def _window(view: portal.WindowView) -> CheckInWindowPublic:
    w = view.window
    return CheckInWindowPublic(
        schedule_id=w.schedule_id,
        start=w.start,
        end=w.end,
        closes_at=w.closes_at,
        grace_s=w.grace_s,
        description=w.describe(),
        attempts_used=view.attempts_used,
        attempts_left=view.attempts_left,
        done=view.done,
    )


@router.get(
    "/checkin-window",
    response_model=OpenWindowPublic,
    openapi_extra=personal_read("checkin_window"),
)
def checkin_window(claims: CurrentParticipant, uow: UowDep, now: NowDep) -> OpenWindowPublic:
    """The check-in window open now by the server's clock (``window`` is null if none)."""
    view = portal.open_window(uow, claims, now)
    return OpenWindowPublic(server_time=now, window=_window(view) if view else None)


@router.get(
    "/obligations", response_model=ObligationsPublic, openapi_extra=personal_read("obligations")
)
def obligations(claims: CurrentParticipant, uow: UowDep, now: NowDep) -> ObligationsPublic:
    """Your check-in schedules in words and the windows of the next 14 days."""
    got = portal.obligations(uow, claims, now)
    return ObligationsPublic(
        participant_id=got.participant.id,
        timezone=got.participant.timezone,
        server_time=now,
        schedules=[
            ScheduleDescriptionPublic(id=s.id, kind=s.kind, description=d, reason=s.reason)
            for s, d in got.schedules
        ],
        windows=[_window(v) for v in got.windows],
        appointments=[PortalObligationPublic.model_validate(o) for o in got.appointments],
    )


@router.get("/calendar.ics", response_class=Response, openapi_extra=personal_read("calendar"))
def calendar(claims: CurrentParticipant, uow: UowDep, now: NowDep) -> Response:
    """Your next 14 days of check-in and curfew windows as an iCalendar file, each with a
    reminder 30 minutes before, in your time zone (import it into the phone's calendar)."""
    return Response(
        portal.calendar(uow, claims, now),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="obligations.ics"'},
    )


def submit(
    container: Container,
    participant_id: int,
    selfie: bytes,
    location: Location,
    *,
    device_time: datetime | None,
    schedule_id: int | None,
    attempted_at: datetime | None,
) -> service.CheckInReceipt:
    """One check-in attempt through :func:`service.submit_check_in`, judged at the server's
    clock, opening an outage incident only for a failure on our side (the verifier or the
    database unavailable: global; any other unexpected error: this participant only). Shared
    by the API and the participant web app.

    Raises:
        OpenATDError: as :func:`service.submit_check_in` (the participant's bad input, no open
            window...), untouched; any other exception after recording the incident.
    """
    now = container.clock.now()
    try:
        verifier = face_verifier(container)
    except VerificationUnavailable as exc:
        service.record_incident(container.uow, service.INCIDENT_VERIFIER, now, str(exc))
        raise
    try:
        return service.submit_check_in(
            container.uow,
            verifier,
            template_keys(container),
            participant_id,
            now,
            selfie=selfie,
            location=location,
            device_time=device_time,
            schedule_id=schedule_id,
            attempted_at=attempted_at,
        )
    except OpenATDError:
        raise
    except Exception as exc:
        log.exception("check-in failed on the server")
        scope = None if service.is_dependency_failure(exc) else participant_id
        try:
            service.record_incident(
                container.uow, service.INCIDENT_SERVER, now, repr(exc), participant_id=scope
            )
        except Exception:  # the database may be the very thing that failed
            log.exception("could not record the check-in incident")
        raise


@router.post("/calendar-feed", status_code=201, openapi_extra=PERSONAL_WRITE)
def issue_calendar_feed(
    claims: CurrentParticipant, request: Request, uow: UowDep, now: NowDep
) -> dict[str, str]:
    """A private URL for your phone's calendar to subscribe to (it stays up to date; a new one
    replaces the old, which stops working)."""
    token = feed.issue_own(uow, claims.participant_id, now)
    path = f"/api/calendar/{token}.ics"
    return {"url": str(request.base_url).rstrip("/") + path, "path": path}


@router.delete("/calendar-feed", status_code=204, openapi_extra=PERSONAL_WRITE)
def revoke_calendar_feed(claims: CurrentParticipant, uow: UowDep, now: NowDep) -> None:
    """Stop your calendar feed URL from working (a lost phone)."""
    feed.revoke_own(uow, claims.participant_id, now)


@router.post(
    "/checkins", response_model=CheckInReceiptPublic, status_code=201, openapi_extra=PERSONAL_WRITE
)
@body_limit(MAX_PHOTO_BYTES + MULTIPART_OVERHEAD)
def check_in(
    claims: CurrentParticipant,
    container: ContainerDep,
    selfie: Annotated[
        UploadFile, File(description="JPEG or PNG (HEIC converted by the app), 8 MB")
    ],
    latitude: Annotated[float, Form(description="WGS84 degrees, at the moment of the photo")],
    longitude: Annotated[float, Form(description="WGS84 degrees")],
    accuracy_m: Annotated[float, Form(description="the phone's accuracy estimate, metres")],
    device_time: Annotated[
        datetime | None,
        Form(description="the phone's clock, ISO 8601 with offset, 2000-2099 (recorded only)"),
    ] = None,
    schedule_id: Annotated[
        int | None,
        Form(ge=1, le=MAX_ID, description="the window's schedule (default: the open window)"),
    ] = None,
    attempted_at: Annotated[
        datetime | None,
        Form(
            description="when the attempt was made, ISO 8601 with offset, for an attempt the "
            "phone kept after a failed upload: inside a window that has closed since, it is "
            "reviewed as technical, never counted as missed"
        ),
    ] = None,
) -> CheckInReceiptPublic:
    """Check in: a selfie and where the phone is now. Timeliness is judged by the server's
    clock at receipt. ``retake_requested`` says why in ``message``; three attempts per window.
    A photo that does not match goes to a person (``needs_review``), never to an alert.

    Bad input (a ``device_time`` outside 2000-2099 or without offset, coordinates out of range,
    an id too large) is refused with 422 and opens no outage incident. Only a failure on our
    side does: the verifier or the database unavailable (global: every participant's missed
    windows become technical), or an unexpected server error in this check-in (scoped to this
    participant only)."""
    receipt = submit(
        container,
        claims.participant_id,
        read_upload(selfie, "the selfie"),
        Location(latitude, longitude, accuracy_m),
        device_time=device_time,
        schedule_id=schedule_id,
        attempted_at=attempted_at,
    )
    row = receipt.checkin
    with container.uow() as uow:
        view = portal.window_view(uow, receipt.window)
    return CheckInReceiptPublic(
        checkin_id=row.id,
        outcome=row.outcome,
        message=receipt.message,
        quality_code=row.quality_code,
        attempt=row.attempt,
        attempts_left=receipt.attempts_left,
        on_time=row.on_time,
        server_time=row.server_time,
        window=_window(view),
    )


@router.get(
    "/alerts", response_model=list[PortalAlertPublic], openapi_extra=personal_read("alerts")
)
def alerts(
    claims: CurrentParticipant, uow: UowDep, now: NowDep, container: ContainerDep
) -> list[PortalAlertPublic]:
    """Every alert raised about you, newest first, with its explanation, status, the time
    until which you can answer, and the decision with its evidence."""
    transparency.catch_up_notices(
        uow, claims, now, DueProcessPolicy.from_settings(container.settings)
    )
    return [PortalAlertPublic.model_validate(a) for a in portal.my_alerts(uow, claims, now)]


@router.get("/notices", response_model=list[NoticePublic], openapi_extra=personal_read("notices"))
def notices(
    claims: CurrentParticipant, uow: UowDep, now: NowDep, container: ContainerDep
) -> list[NoticePublic]:
    """What you were told (alerts raised, decisions, reviews), newest first."""
    policy = DueProcessPolicy.from_settings(container.settings)
    return [NoticePublic.model_validate(n) for n in transparency.notices(uow, claims, now, policy)]


@router.get("/alerts/{alert_id}/history", openapi_extra=personal_read("alert_history"))
def alert_history(
    alert_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    claims: CurrentParticipant,
    uow: UowDep,
    now: NowDep,
) -> dict[str, Any]:
    """Every step of an alert about you: who did what, when and why."""
    return transparency.alert_history(uow, claims, now, alert_id)


@router.post(
    "/alerts/{alert_id}/review", response_model=PortalAlertPublic, openapi_extra=PERSONAL_WRITE
)
def request_review(
    alert_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ReviewRequest,
    claims: CurrentParticipant,
    uow: UowDep,
    now: NowDep,
    container: ContainerDep,
) -> PortalAlertPublic:
    """Ask for a review of a decision, saying why: the alert is opened again."""
    policy = DueProcessPolicy.from_settings(container.settings)
    return PortalAlertPublic.model_validate(
        transparency.request_review(uow, claims, now, alert_id, body.reason, policy)
    )


@router.get("/export.gpx", response_class=Response, openapi_extra=personal_read("positions"))
def export_gpx(claims: CurrentParticipant, uow: UowDep, now: NowDep) -> Response:
    """Every stored position of yours as a GPX 1.1 file."""
    return Response(
        transparency.export_gpx(uow, claims, now),
        media_type="application/gpx+xml",
        headers={"Content-Disposition": 'attachment; filename="my-positions.gpx"'},
    )


@router.post(
    "/alerts/{alert_id}/response", response_model=PortalAlertPublic, openapi_extra=PERSONAL_WRITE
)
def respond(
    alert_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: AlertResponseCreate,
    claims: CurrentParticipant,
    uow: UowDep,
    now: NowDep,
) -> PortalAlertPublic:
    """Answer an alert about you; your case manager sees the response."""
    return PortalAlertPublic.model_validate(
        portal.respond_to_alert(uow, claims, now, alert_id, body.text)
    )


@router.post(
    "/problems", response_model=PortalAlertPublic, status_code=201, openapi_extra=PERSONAL_WRITE
)
def report_problem(
    body: ProblemReportCreate, claims: CurrentParticipant, uow: UowDep, now: NowDep
) -> PortalAlertPublic:
    """Report that the app or your device is not working: a timestamped technical report for
    your case manager, kept as evidence in your favour."""
    return PortalAlertPublic.model_validate(
        portal.report_problem(uow, claims, now, body.kind, body.text, occurred_at=body.occurred_at)
    )


@router.get(
    "/access-log",
    response_model=list[AccessEntryPublic],
    openapi_extra=personal_read("access_log"),
)
def access_log(claims: CurrentParticipant, uow: UowDep, now: NowDep) -> list[AccessEntryPublic]:
    """Who read or changed your data, when and why (staff and the system), newest first."""
    return [AccessEntryPublic.model_validate(e) for e in portal.access_log(uow, claims, now)]


@router.get("/export", openapi_extra=personal_read("participant"))
def export(claims: CurrentParticipant, uow: UowDep, now: NowDep) -> dict[str, Any]:
    """Everything held about you, as JSON (profile, face enrolment, schedules, check-ins,
    alerts, zones, devices, positions, and the audit log of accesses to your data)."""
    return portal.export(uow, claims, now)
