"""SMS replies from participants: kept on the participant's record and passed on to their case
managers through the outbox (reminders are two-way)."""

from __future__ import annotations

from datetime import datetime

from openatd.domain.audit import AuditAction
from openatd.errors import InvalidInput
from openatd.notify.outbox import enqueue, staff_channels
from openatd.participants.contact import check_phone
from openatd.safeguards import audit
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

MAX_BODY = 1600  # ten SMS segments


def receive_sms(
    uow: UnitOfWork, now: datetime, sender: str, body: str, provider_id: str | None
) -> t.ParticipantMessage:
    """Store an inbound SMS; when the number is a participant's registered phone, it goes on
    their record and each of their case managers is sent it. An unknown number is kept with
    no participant (an operator can see it) and passed on to nobody."""
    try:
        number = check_phone(sender) or sender[:40]
    except InvalidInput:
        number = sender[:40]
    found = uow.participant_messages.by_phone(number)
    p = found[0] if len(found) == 1 else None
    text = (body or "").strip()[:MAX_BODY]
    row = uow.participant_messages.add(
        participant_id=p.id if p else None,
        kind="inbound_sms",
        sender=number,
        body=text,
        provider_id=(provider_id or "")[:200] or None,
        received_at=now,
    )
    if p is not None:
        for user in uow.staff.case_managers(p.id):
            for channel, recipient in staff_channels(user):
                enqueue(
                    uow,
                    kind="participant_reply",
                    channel=channel,
                    recipient=recipient,
                    subject=f"SMS from {p.name}",
                    body=f"{p.name} ({number}) wrote: {text}",
                    due_at=now,
                    now=now,
                    dedupe_key=f"reply:{row.id}:{user.id}:{channel}",
                    user_id=user.id,
                    participant_id=None,
                )
    audit.record(
        uow,
        at=now,
        actor=f"phone:{number}",
        action=AuditAction.SMS_RECEIVED,
        participant_id=p.id if p else None,
        subject_type="participant_message",
        subject_id=row.id,
    )
    return row
