"""Reading the audit log (auditors and supervisors): filtered entries and the chain's state.

Reading the log is itself audited, with the filters used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from openatd.domain.audit import AuditAction
from openatd.safeguards import audit
from openatd.safeguards.access import require_role
from openatd.safeguards.auth import Role, TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.audit_search import search_audit
from openatd.storage.repositories import UnitOfWork


@dataclass(frozen=True, slots=True)
class ChainState:
    """The result of walking the hash chain: entries checked, and the first broken link."""

    entries: int
    ok: bool
    first_broken_id: int | None
    reason: str | None


def read_log(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    *,
    participant_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> Sequence[t.AuditEntry]:
    """Entries newest first matching the filters (see
    :func:`~openatd.storage.audit_search.search_audit`); audited with the filters.

    Raises:
        PermissionDenied: not an auditor or supervisor.
    """
    require_role(user, Role.AUDITOR, Role.SUPERVISOR)
    rows = search_audit(
        uow.session, participant_id=participant_id, actor=actor, action=action,
        since=since, until=until, limit=limit,
    )  # fmt: skip
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.AUDIT_READ,
        what="audit_entries",
        participant_ids=[participant_id] if participant_id is not None else [],
        details={
            "count": len(rows),
            "actor": actor,
            "action": action,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        },
    )
    return rows


def chain_state(uow: UnitOfWork, user: TokenClaims) -> ChainState:
    """Walk the whole hash chain (as ``openatd audit verify``).

    Raises:
        PermissionDenied: not an auditor, supervisor or admin.
    """
    require_role(user, Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN)
    count, broken = audit.verify(uow)
    return ChainState(
        entries=count,
        ok=broken is None,
        first_broken_id=broken.entry_id if broken else None,
        reason=broken.reason if broken else None,
    )
