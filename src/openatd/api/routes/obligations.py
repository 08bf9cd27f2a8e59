"""Obligations (hearings, appointments, check-ins, other conditions), their reminders and
delivery status, iCalendar import, the private calendar feed, and messages on the record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, PathId, UowDep
from openatd.api.schemas import Public
from openatd.domain.audit import AuditAction
from openatd.domain.obligations import ReminderPolicy
from openatd.errors import InvalidInput
from openatd.obligations import feed, ical, service
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access
from openatd.safeguards.reads import record_read
from openatd.settings import Settings

router = APIRouter(tags=["obligations"])

Kind = Literal["court_hearing", "appointment", "check_in", "other"]
MAX_ICS_BYTES = 1_000_000


def policy_of(settings: Settings) -> ReminderPolicy:
    """The program's reminder policy from ``OPENATD_REMINDER_OFFSETS`` / ``_MORNING``."""
    return ReminderPolicy.parse(settings.reminder_offsets, settings.reminder_morning)


class ObligationCreate(BaseModel):
    kind: Kind
    title: str = Field(min_length=1, max_length=200)
    start: str = Field(
        max_length=40,
        description="ISO 8601. With an offset (…Z, …-05:00) it is that instant; without one "
        "(2026-03-09T09:00) it is the participant's local wall time.",
    )
    end: str | None = Field(default=None, max_length=40, description="ISO 8601, as start")
    location: str | None = Field(default=None, max_length=500, description="the address")
    notes: str | None = Field(default=None, max_length=4000)


class ObligationUpdate(BaseModel):
    kind: Kind | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    start: str | None = Field(default=None, max_length=40)
    end: str | None = Field(default=None, max_length=40)
    location: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=4000)
    outcome: Literal["attended", "missed", "excused"] | None = Field(
        default=None, description="after the start; missed raises an alert with the context"
    )


class ObligationPublic(Public):
    id: int
    participant_id: int
    kind: str
    title: str
    start: datetime
    end: datetime | None
    location: str | None
    notes: str | None
    status: str
    outcome: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class MessagePublic(Public):
    id: int
    kind: str
    channel: str
    recipient: str
    obligation_id: int | None
    alert_id: int | None
    subject: str
    body: str
    due_at: datetime
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class InboundPublic(Public):
    id: int
    kind: str
    sender: str
    body: str
    received_at: datetime


class ImportPublic(BaseModel):
    created: list[int]
    updated: list[int]
    skipped: list[dict[str, str]]


class FeedPublic(BaseModel):
    url: str = Field(description="the private feed URL; anyone holding it can read the calendar")
    path: str


@router.post(
    "/api/participants/{participant_id}/obligations",
    response_model=ObligationPublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
def create(
    participant_id: PathId,
    body: ObligationCreate,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> ObligationPublic:
    """Enter a hearing, appointment, check-in or other obligation; reminders are planned
    (7 d, 3 d, 1 d, 2 h before by default) on the participant's e-mail and SMS."""
    row = service.create_obligation(
        uow, user, now, participant_id, policy_of(container.settings), **body.model_dump()
    )
    return ObligationPublic.model_validate(row)


@router.get(
    "/api/participants/{participant_id}/obligations",
    response_model=list[ObligationPublic],
    openapi_extra=personal_read("obligations"),
)
def list_(participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> list[Any]:
    """Every obligation of the participant, by start (cancelled ones included)."""
    return [
        ObligationPublic.model_validate(r)
        for r in service.list_obligations(uow, user, now, participant_id)
    ]


@router.get(
    "/api/obligations/{obligation_id}",
    response_model=ObligationPublic,
    openapi_extra=personal_read("obligation"),
)
def get(obligation_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> ObligationPublic:
    """One obligation."""
    return ObligationPublic.model_validate(service.get_obligation(uow, user, now, obligation_id))


@router.patch(
    "/api/obligations/{obligation_id}",
    response_model=ObligationPublic,
    openapi_extra=PERSONAL_WRITE,
)
def update(
    obligation_id: PathId,
    body: ObligationUpdate,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> ObligationPublic:
    """Change an obligation; a new date sends the participant an immediate notice and
    re-plans the reminders. ``outcome: missed`` raises an alert carrying the reminders sent
    and their delivery status."""
    row = service.update_obligation(
        uow, user, now, obligation_id, policy_of(container.settings), body.model_dump()
    )
    return ObligationPublic.model_validate(row)


@router.delete(
    "/api/obligations/{obligation_id}",
    response_model=ObligationPublic,
    openapi_extra=PERSONAL_WRITE,
)
def cancel(obligation_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> ObligationPublic:
    """Cancel an obligation (kept on the record as ``cancelled``); the participant is told."""
    return ObligationPublic.model_validate(service.cancel_obligation(uow, user, now, obligation_id))


@router.post(
    "/api/participants/{participant_id}/obligations/import",
    response_model=ImportPublic,
    openapi_extra={
        **PERSONAL_WRITE,
        "requestBody": {"content": {"text/calendar": {"schema": {"type": "string"}}}},
    },
)
async def import_ics(
    participant_id: PathId, request: Request, user: CurrentUser, container: ContainerDep
) -> ImportPublic:
    """Import obligations from an iCalendar file (the body, ``text/calendar``, up to 1 MB)."""
    data = await request.body()
    if len(data) > MAX_ICS_BYTES:
        raise InvalidInput("an iCalendar import is at most 1 MB")
    now = container.clock.now()
    with container.uow() as uow:
        report = ical.import_calendar(
            uow, user, now, participant_id, policy_of(container.settings), data
        )
    return ImportPublic(
        created=report.created,
        updated=report.updated,
        skipped=[{"uid": u, "reason": r} for u, r in report.skipped],
    )


@router.get(
    "/api/participants/{participant_id}/messages",
    response_model=list[MessagePublic],
    openapi_extra=personal_read("outbox"),
)
def outbox(participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> list[Any]:
    """Messages to the participant (reminders, notices) with their delivery status, newest
    first: a ``failed`` one was not the participant's fault."""
    require_participant_access(uow, user, participant_id)
    rows = uow.outbox.for_participant(participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.MESSAGES_READ,
        participant_ids=[participant_id],
        what="outbox",
        details={"count": len(rows)},
    )
    return [MessagePublic.model_validate(r) for r in rows]


@router.get(
    "/api/participants/{participant_id}/inbox",
    response_model=list[InboundPublic],
    openapi_extra=personal_read("inbox"),
)
def inbox(participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> list[Any]:
    """Messages from the participant (SMS replies to reminders), newest first."""
    require_participant_access(uow, user, participant_id)
    rows = uow.participant_messages.for_participant(participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.MESSAGES_READ,
        participant_ids=[participant_id],
        what="inbox",
        details={"count": len(rows)},
    )
    return [InboundPublic.model_validate(r) for r in rows]


@router.post(
    "/api/participants/{participant_id}/calendar-feed",
    response_model=FeedPublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
def issue_feed(
    participant_id: PathId, request: Request, uow: UowDep, user: CurrentUser, now: NowDep
) -> FeedPublic:
    """A new private calendar feed URL for the participant's phone (the old one stops)."""
    token = feed.issue(uow, user, now, participant_id)
    path = f"/api/calendar/{token}.ics"
    return FeedPublic(url=str(request.base_url).rstrip("/") + path, path=path)


@router.delete(
    "/api/participants/{participant_id}/calendar-feed",
    status_code=204,
    openapi_extra=PERSONAL_WRITE,
)
def revoke_feed(participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep) -> None:
    """Revoke the participant's calendar feed URL."""
    feed.revoke(uow, user, now, participant_id)


@router.get(
    "/api/calendar/{token}.ics",
    response_class=Response,
    tags=["participant"],
    openapi_extra=personal_read("calendar"),
)
def calendar_feed(token: Annotated[str, "the secret"], uow: UowDep, now: NowDep) -> Response:
    """The participant's calendar (obligations, check-in and curfew windows) for a phone to
    subscribe to; 404 once revoked."""
    if len(token) > 100:
        raise InvalidInput("not a calendar feed token")
    return Response(
        feed.read(uow, token, now),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, no-store"},
    )
