"""Repositories for obligations, the outbox and its delivery log, messages on a participant's
record, and visits (migration 0006)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openatd.errors import NotFound
from openatd.storage import tables as t


class ObligationRepository:
    """Obligations of participants."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.Obligation:
        row = t.Obligation(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, obligation_id: int) -> t.Obligation:
        """Raises NotFound."""
        row = self.s.get(t.Obligation, obligation_id)
        if row is None:
            raise NotFound(f"obligation {obligation_id} not found")
        return row

    def for_participant(
        self, participant_id: int, *, since: datetime | None = None, include_cancelled: bool = True
    ) -> Sequence[t.Obligation]:
        """By start, then id; from *since* (by start) when given."""
        q = select(t.Obligation).where(t.Obligation.participant_id == participant_id)
        if since is not None:
            q = q.where(t.Obligation.start >= since)
        if not include_cancelled:
            q = q.where(t.Obligation.status == "scheduled")
        return self.s.scalars(q.order_by(t.Obligation.start, t.Obligation.id)).all()

    def by_source_uid(self, participant_id: int, uid: str) -> t.Obligation | None:
        return self.s.scalar(
            select(t.Obligation).where(
                t.Obligation.participant_id == participant_id, t.Obligation.source_uid == uid
            )
        )

    def by_calendar_token_hash(self, digest: str) -> t.Participant | None:
        """The participant whose calendar feed token hashes to *digest*."""
        return self.s.scalar(
            select(t.Participant).where(t.Participant.calendar_token_hash == digest)
        )


class OutboxRepository:
    """Outbox messages and their delivery log."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def by_key(self, key: str) -> t.OutboxMessage | None:
        return self.s.scalar(select(t.OutboxMessage).where(t.OutboxMessage.dedupe_key == key))

    def add(self, **fields: Any) -> t.OutboxMessage:
        row = t.OutboxMessage(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, message_id: int) -> t.OutboxMessage:
        """Raises NotFound."""
        row = self.s.get(t.OutboxMessage, message_id)
        if row is None:
            raise NotFound(f"message {message_id} not found")
        return row

    def by_key_prefix(self, prefix: str) -> Sequence[t.OutboxMessage]:
        """Messages whose dedupe key starts with *prefix* (e.g. one check-in window's)."""
        return self.s.scalars(
            select(t.OutboxMessage)
            .where(t.OutboxMessage.dedupe_key.startswith(prefix, autoescape=True))
            .order_by(t.OutboxMessage.id)
        ).all()

    def due(self, now: datetime, limit: int = 100) -> Sequence[t.OutboxMessage]:
        """Pending messages whose next attempt is due, oldest first."""
        return self.s.scalars(
            select(t.OutboxMessage)
            .where(t.OutboxMessage.status == "pending", t.OutboxMessage.next_attempt_at <= now)
            .order_by(t.OutboxMessage.next_attempt_at, t.OutboxMessage.id)
            .limit(limit)
        ).all()

    def claim(self, message_id: int) -> bool:
        """Mark a pending message ``sending``; ``False`` when another sender took it."""
        res = self.s.execute(
            update(t.OutboxMessage)
            .where(t.OutboxMessage.id == message_id, t.OutboxMessage.status == "pending")
            .values(status="sending")
        )
        return int(getattr(res, "rowcount", 0) or 0) == 1

    def for_participant(self, participant_id: int, limit: int = 500) -> Sequence[t.OutboxMessage]:
        """Messages to a participant, newest due first."""
        return self.s.scalars(
            select(t.OutboxMessage)
            .where(t.OutboxMessage.participant_id == participant_id)
            .order_by(t.OutboxMessage.due_at.desc(), t.OutboxMessage.id.desc())
            .limit(limit)
        ).all()

    def for_obligation(self, obligation_id: int) -> Sequence[t.OutboxMessage]:
        return self.s.scalars(
            select(t.OutboxMessage)
            .where(t.OutboxMessage.obligation_id == obligation_id)
            .order_by(t.OutboxMessage.due_at, t.OutboxMessage.id)
        ).all()

    def for_alert(self, alert_id: int) -> Sequence[t.OutboxMessage]:
        return self.s.scalars(
            select(t.OutboxMessage)
            .where(t.OutboxMessage.alert_id == alert_id)
            .order_by(t.OutboxMessage.id)
        ).all()

    def cancel_pending(self, obligation_id: int, kinds: Sequence[str]) -> int:
        """Cancel not-yet-sent messages of an obligation (a changed or cancelled one)."""
        res = self.s.execute(
            update(t.OutboxMessage)
            .where(
                t.OutboxMessage.obligation_id == obligation_id,
                t.OutboxMessage.status == "pending",
                t.OutboxMessage.kind.in_(list(kinds)),
            )
            .values(status="cancelled")
        )
        return int(getattr(res, "rowcount", 0) or 0)

    def log(self, message_id: int, at: datetime, status: str, detail: str | None) -> t.Delivery:
        row = t.Delivery(message_id=message_id, at=at, status=status, detail=detail)
        self.s.add(row)
        self.s.flush()
        return row

    def deliveries(self, message_id: int) -> Sequence[t.Delivery]:
        return self.s.scalars(
            select(t.Delivery).where(t.Delivery.message_id == message_id).order_by(t.Delivery.id)
        ).all()


class ParticipantMessageRepository:
    """Messages on a participant's record (SMS replies)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.ParticipantMessage:
        row = t.ParticipantMessage(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def for_participant(
        self, participant_id: int, limit: int = 500
    ) -> Sequence[t.ParticipantMessage]:
        return self.s.scalars(
            select(t.ParticipantMessage)
            .where(t.ParticipantMessage.participant_id == participant_id)
            .order_by(t.ParticipantMessage.received_at.desc(), t.ParticipantMessage.id.desc())
            .limit(limit)
        ).all()

    def by_phone(self, phone: str) -> Sequence[t.Participant]:
        """Active participants whose registered phone is *phone* (E.164)."""
        return self.s.scalars(
            select(t.Participant)
            .where(t.Participant.phone == phone, t.Participant.active.is_(True))
            .order_by(t.Participant.id)
        ).all()


class VisitRepository:
    """Home and office visits."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.Visit:
        row = t.Visit(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, visit_id: int) -> t.Visit:
        """Raises NotFound."""
        row = self.s.get(t.Visit, visit_id)
        if row is None:
            raise NotFound(f"visit {visit_id} not found")
        return row

    def for_participant(self, participant_id: int) -> Sequence[t.Visit]:
        return self.s.scalars(
            select(t.Visit).where(t.Visit.participant_id == participant_id).order_by(t.Visit.id)
        ).all()


class StaffRepository:
    """Who to notify about a participant: their case managers, and the supervisors."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def case_managers(self, participant_id: int) -> Sequence[t.User]:
        """Active case managers with *participant_id* on their caseload."""
        return self.s.scalars(
            select(t.User)
            .join(t.CaseloadAssignment, t.CaseloadAssignment.user_id == t.User.id)
            .where(
                t.CaseloadAssignment.participant_id == participant_id,
                t.User.active.is_(True),
                t.User.role == "case_manager",
            )
            .order_by(t.User.id)
        ).all()

    def supervisors(self) -> Sequence[t.User]:
        return self.s.scalars(
            select(t.User)
            .where(t.User.role == "supervisor", t.User.active.is_(True))
            .order_by(t.User.id)
        ).all()

    def alerts_since(self, since: datetime, limit: int = 1000) -> Sequence[t.Alert]:
        """Alerts raised at or after *since*, oldest first."""
        return self.s.scalars(
            select(t.Alert)
            .where(t.Alert.raised_at >= since)
            .order_by(t.Alert.raised_at, t.Alert.id)
            .limit(limit)
        ).all()

    def unacknowledged_before(self, before: datetime, limit: int = 1000) -> Sequence[t.Alert]:
        """Open alerts raised before *before* that nobody acknowledged."""
        return self.s.scalars(
            select(t.Alert)
            .where(t.Alert.status == "open", t.Alert.raised_at < before)
            .order_by(t.Alert.raised_at, t.Alert.id)
            .limit(limit)
        ).all()

    def open_alerts(self, participant_ids: Sequence[int]) -> Sequence[t.Alert]:
        return self.s.scalars(
            select(t.Alert)
            .where(t.Alert.status == "open", t.Alert.participant_id.in_(list(participant_ids)))
            .order_by(t.Alert.raised_at, t.Alert.id)
        ).all()
