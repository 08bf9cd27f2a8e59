"""The audit log service: every read of personal data appends a hash-chained entry.

Entries are written in the same transaction as the work they record, so a
read that fails to audit does not happen. :func:`verify` walks the chain and
names the first broken link (:func:`openatd.domain.audit.first_broken_link`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from openatd.domain.audit import (
    GENESIS,
    AuditAction,
    AuditRecord,
    BrokenLink,
    first_broken_link,
)
from openatd.safeguards.auth import TokenClaims
from openatd.storage.repositories import UnitOfWork


def staff_actor(user: TokenClaims) -> str:
    """The audit actor for a staff member: ``"user:<username>"``."""
    return f"user:{user.username}"


def _record(
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    participant_id: int | None,
    subject_type: str | None,
    subject_id: str | int | None,
    reason: str | None,
    details: Mapping[str, Any] | None,
) -> AuditRecord:
    return AuditRecord(
        at=at,
        actor=actor,
        action=action.value,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        participant_id=participant_id,
        reason=reason,
        details=details,
    )


def record(
    uow: UnitOfWork,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    participant_id: int | None = None,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry to *uow*'s transaction. ``actor`` is ``"user:<name>"`` or
    ``"system:<part>"``.

    The entry is written when the transaction commits, after the work it records (the
    chain's lock is taken last: see :class:`~openatd.storage.repositories.AuditRepository`);
    if the commit fails, neither the work nor its entry is kept.
    """
    uow.audit.append(
        _record(
            at=at,
            actor=actor,
            action=action,
            participant_id=participant_id,
            subject_type=subject_type,
            subject_id=subject_id,
            reason=reason,
            details=details,
        )
    )


def record_now(
    uow: UnitOfWork,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    participant_id: int | None = None,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Like :func:`record`, but written at once; returns the entry's id (for a response
    that names its entry). Holds the chain's lock until commit: the transaction should
    change nothing else after it."""
    return uow.audit.append_now(
        _record(
            at=at,
            actor=actor,
            action=action,
            participant_id=participant_id,
            subject_type=subject_type,
            subject_id=subject_id,
            reason=reason,
            details=details,
        )
    ).id


def verify(uow: UnitOfWork) -> tuple[int, BrokenLink | None]:
    """Check the whole chain; returns ``(entries checked, first broken link or None)``.

    When retention has deleted the oldest entries, the chain starts at the anchor hash that
    a ``retention:purge`` entry of kind ``audit_entries`` recorded; that purge entry is itself
    a link of the chain, so an anchor cannot be changed without breaking it.
    """
    count = 0
    genesis = GENESIS
    first = uow.audit.first_prev_hash()
    if first is not None and first != GENESIS and first in uow.audit.retention_anchors():
        genesis = first

    def counted() -> Iterator[tuple[int, AuditRecord, str, str]]:
        nonlocal count
        for item in uow.audit.iter_chain():
            count += 1
            yield item

    broken = first_broken_link(counted(), genesis)
    return count, broken
