"""The audit log, for auditors: entries and chain verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openatd.api.access import NO_PERSONAL_DATA, personal_read
from openatd.api.deps import CurrentUser, NowDep, QueryId, UowDep
from openatd.api.schemas import AuditEntryPublic, AuditVerifyPublic
from openatd.domain.audit import AuditAction
from openatd.safeguards import audit
from openatd.safeguards.access import require_role
from openatd.safeguards.auth import Role
from openatd.safeguards.reads import record_read

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntryPublic], openapi_extra=personal_read("audit_entries"))
def entries(
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    participant_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditEntryPublic]:
    """Newest entries first (auditors and supervisors); reading the log is itself audited."""
    require_role(user, Role.AUDITOR, Role.SUPERVISOR)
    rows = list(uow.audit.list(participant_id=participant_id, limit=limit))
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.AUDIT_READ,
        what="audit_entries",
        participant_ids=[participant_id] if participant_id is not None else [],
        details={"count": len(rows)},
    )
    return [AuditEntryPublic.model_validate(r) for r in rows]


@router.get("/verify", response_model=AuditVerifyPublic, openapi_extra=NO_PERSONAL_DATA)
def verify(uow: UowDep, user: CurrentUser) -> AuditVerifyPublic:
    """Walk the hash chain; name the first broken link."""
    require_role(user, Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN)
    count, broken = audit.verify(uow)
    return AuditVerifyPublic(
        entries=count,
        ok=broken is None,
        first_broken_id=broken.entry_id if broken else None,
        reason=broken.reason if broken else None,
    )
