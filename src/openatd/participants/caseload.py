"""The caseload list: each participant on the caller's caseload with their current status.

Status is counts and times (open alerts, next obligation, last check-in, battery, last
contact), never a location, so the list needs no reason; it is audited once, naming every
participant it showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openatd.domain.audit import AuditAction
from openatd.safeguards import audit
from openatd.safeguards.access import require_role, visible_participant_ids
from openatd.safeguards.auth import Role, TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.caseload import CaseloadStatus, caseload_status
from openatd.storage.repositories import UnitOfWork


@dataclass(frozen=True, slots=True)
class CaseloadRow:
    """One participant and their :class:`~openatd.storage.caseload.CaseloadStatus`."""

    participant: t.Participant
    status: CaseloadStatus


def caseload(uow: UnitOfWork, user: TokenClaims, now: datetime) -> list[CaseloadRow]:
    """The participants *user* may see (a case manager's caseload; all for a supervisor),
    by name, each with their status; one audit entry listing the ids shown.

    Raises:
        PermissionDenied: the caller is not a case manager or supervisor.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    ids = visible_participant_ids(uow, user)
    people = uow.participants.list(user_id=None if ids is None else user.user_id)
    status = caseload_status(uow.session, [p.id for p in people], now)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_READ,
        what="caseload",
        participant_ids=[p.id for p in people],
        details={"count": len(people)},
    )
    return [CaseloadRow(p, status[p.id]) for p in sorted(people, key=lambda p: p.name.lower())]
