"""The outbox: every message to a person is a row first, then a delivery attempt.

- :func:`enqueue` stores a message with a due instant; a ``dedupe_key`` makes it exactly once
  (a second enqueue with the same key is a no-op), which is how each reminder is sent once.
- :func:`send_due` sends every pending message whose next attempt is due, one by one, each in
  its own transactions: a failing recipient or channel is logged (:class:`Delivery` row with
  the reason) and retried with exponential backoff (``base * 2**(attempt-1)``, at most an
  hour) up to ``max_attempts``, then marked ``failed``; it never blocks the others.
- A message whose channel is not configured fails its attempt with that reason.

A failed delivery is never held against a participant: missed-obligation alerts carry the
delivery status of their reminders (``obligations.service``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from openatd.notify.channels import Channel, DeliveryError
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


def participant_channels(p: t.Participant) -> list[tuple[str, str]]:
    """``(channel, recipient)`` for each way the participant can be reached (e-mail, SMS)."""
    out: list[tuple[str, str]] = []
    if p.email:
        out.append(("email", p.email))
    if p.phone:
        out.append(("sms", p.phone))
    return out


def staff_channels(user: t.User) -> list[tuple[str, str]]:
    """``(channel, recipient)`` per the staff member's preference (``notify_channel``)."""
    if user.notify_channel == "email" and user.email:
        return [("email", user.email)]
    if user.notify_channel == "sms" and user.phone:
        return [("sms", user.phone)]
    return []


STAFF_CHANNELS = ("email", "sms", "none")


def set_notifications(
    user: t.User, *, email: str | None, phone: str | None, channel: str, digest: bool
) -> None:
    """Where a staff member's alert notifications go.

    Raises:
        InvalidInput: an unknown channel, an invalid address or number, or a channel whose
            address is missing.
    """
    from openatd.errors import InvalidInput
    from openatd.participants.contact import check_email, check_phone

    if channel not in STAFF_CHANNELS:
        raise InvalidInput(f"notify must be one of {', '.join(STAFF_CHANNELS)}")
    user.email, user.phone = check_email(email), check_phone(phone)
    if channel == "email" and email and not user.email:
        raise InvalidInput("an e-mail address is needed for e-mail notifications")
    if channel == "sms" and not user.phone:
        raise InvalidInput("a phone number (E.164) is needed for SMS notifications")
    user.notify_channel, user.notify_digest = channel, digest


def enqueue(
    uow: UnitOfWork,
    *,
    kind: str,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    due_at: datetime,
    now: datetime,
    dedupe_key: str | None = None,
    participant_id: int | None = None,
    user_id: int | None = None,
    obligation_id: int | None = None,
    alert_id: int | None = None,
    language: str = "en",
) -> t.OutboxMessage | None:
    """Store one message; ``None`` when *dedupe_key* was already enqueued (exactly once)."""
    if dedupe_key is not None and uow.outbox.by_key(dedupe_key) is not None:
        return None
    return uow.outbox.add(
        dedupe_key=dedupe_key,
        kind=kind,
        channel=channel,
        recipient=recipient,
        participant_id=participant_id,
        user_id=user_id,
        obligation_id=obligation_id,
        alert_id=alert_id,
        language=language,
        subject=subject[:300],
        body=body,
        due_at=due_at,
        next_attempt_at=due_at,
        status="pending",
        attempts=0,
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one :func:`send_due` run did: message ids sent, retried later, failed for good."""

    sent: list[int]
    retrying: list[int]
    failed: list[int]


def backoff(attempts: int, base_s: float) -> timedelta:
    """Delay before attempt ``attempts + 1``: ``base_s * 2**(attempts - 1)``, at most 1 h."""
    return min(timedelta(seconds=base_s * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


def send_due(
    new_uow: Callable[[], UnitOfWork],
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    max_attempts: int = 6,
    retry_base_s: float = 30.0,
    limit: int = 100,
) -> SendReport:
    """Send every pending message due at *now* (at most *limit*); see the module docstring."""
    with new_uow() as uow:
        ids = [m.id for m in uow.outbox.due(now, limit)]
    report = SendReport([], [], [])
    for message_id in ids:
        with new_uow() as uow:
            if not uow.outbox.claim(message_id):
                continue
            m = uow.outbox.get(message_id)
            channel_name, recipient, subject, body = m.channel, m.recipient, m.subject, m.body
        error: DeliveryError | None = None
        provider_id = None
        channel = channels.get(channel_name)
        try:
            if channel is None:
                raise DeliveryError(f"no {channel_name} channel is configured on this server")
            provider_id = channel.send(recipient, subject, body)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a channel bug must not stop the other messages
            log.exception("channel %s failed unexpectedly", channel_name)
            error = DeliveryError(f"unexpected error: {exc!r}")
        with new_uow() as uow:
            m = uow.outbox.get(message_id)
            m.attempts += 1
            if error is None:
                m.status, m.sent_at, m.provider_id, m.last_error = "sent", now, provider_id, None
                uow.outbox.log(message_id, now, "sent", provider_id)
                report.sent.append(message_id)
                continue
            m.last_error = error.reason
            uow.outbox.log(message_id, now, "error", error.reason)
            if error.permanent or m.attempts >= max_attempts:
                m.status = "failed"
                report.failed.append(message_id)
                log.warning("message %s failed for good: %s", message_id, error.reason)
            else:
                m.status = "pending"
                m.next_attempt_at = now + backoff(m.attempts, retry_base_s)
                report.retrying.append(message_id)
    return report
