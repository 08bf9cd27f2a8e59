"""Reading the audit log (auditors and supervisors): filtered entries, the chain's state and
the log checked against the signed checkpoints.

Reading the log is itself audited, with the filters used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from openatd.domain.audit import AuditAction
from openatd.errors import OpenATDError
from openatd.safeguards import audit, checkpoints
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


@dataclass(frozen=True, slots=True)
class CheckpointState:
    """The log checked against the signed checkpoints (what the auditor's page shows).

    ``configured`` is false when ``OPENATD_AUDIT_SIGNING_KEY`` or
    ``OPENATD_AUDIT_CHECKPOINT_DIR`` is unset (then nothing else is filled in). ``latest_at``
    (UTC) and ``latest_entries`` describe the newest checkpoint in the file (``None`` when none
    was written yet); ``report`` is :func:`openatd.safeguards.checkpoints.verify_checkpoints`'
    answer, or ``None`` without checkpoints; ``error`` says why the file or the key could not
    be read (then the log is not shown as verified).
    """

    configured: bool
    directory: str | None = None
    latest_at: datetime | None = None
    latest_entries: int | None = None
    report: checkpoints.CheckpointReport | None = None
    error: str | None = None


def checkpoint_state(
    uow: UnitOfWork, user: TokenClaims, signing_key: str, directory: Path | None
) -> CheckpointState:
    """Verify the log against the checkpoint file in *directory* with the public half of
    *signing_key* (as ``openatd audit verify --checkpoints`` does).

    Raises:
        PermissionDenied: not an auditor, supervisor or admin.
    """
    require_role(user, Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN)
    if not signing_key or directory is None:
        return CheckpointState(configured=False)
    try:
        key = checkpoints.load_signing_key(signing_key).public_key()
        cps = checkpoints.read_checkpoints(directory)
    except (OpenATDError, OSError) as exc:
        return CheckpointState(configured=True, directory=str(directory), error=str(exc))
    if not cps:
        return CheckpointState(configured=True, directory=str(directory))
    latest = cps[-1]
    return CheckpointState(
        configured=True,
        directory=str(directory),
        latest_at=datetime.fromisoformat(latest.at.replace("Z", "+00:00")),
        latest_entries=latest.entries,
        report=checkpoints.verify_checkpoints(uow, cps, key),
    )
