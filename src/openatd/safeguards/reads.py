"""The one access layer for reads of personal data: one audit entry per request.

Every service that hands out personal data calls :func:`record_read` in the unit of work of
the request. The reads of one unit of work (one API request or one staff page view) are kept
and written as **one** audit entry just before the transaction commits, naming everything
that was read and every participant whose data was returned. A read that fails (an error
rolls the transaction back) leaves no entry, and no data leaves either.

Attribution (DESIGN principle 3, issue 7 item 5): a caseload-wide read (the alert inbox, the
participant list, the device list) is attributed to *each* participant it returned
(``details["participant_ids"]``, indexed in ``audit_entry_participants``), so a participant's
"who read my data" (the export, ``GET /api/audit?participant_id=``) is complete.

Shape of the entry written:

- one read: ``action``, ``subject_type``, ``subject_id``, ``reason`` and ``details`` of that
  read; ``participant_id`` when it returned one participant's data;
- several reads in one request (a page showing a participant, their zones and alerts):
  ``action`` and ``subject_type`` of the first read made with a stated reason (else the
  first read), and ``details["read"]`` listing each
  ``{"what", "subject_id", **details}`` in order; reasons joined with " | ";
- in both, ``details["participant_ids"]`` (sorted) when more than one participant's data was
  returned.

>>> record_read(uow, at=now, actor="user:carol", action=AuditAction.ALERTS_READ,
...             what="alerts", participant_ids=[3, 7], details={"count": 5})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openatd.domain.audit import AuditAction
from openatd.safeguards import audit
from openatd.storage.repositories import UnitOfWork

_KEY = __name__


@dataclass(slots=True)
class _Read:
    action: AuditAction
    what: str
    subject_id: str | None
    reason: str | None
    details: dict[str, Any]


@dataclass(slots=True)
class _PendingReads:
    at: datetime
    actor: str
    reads: list[_Read] = field(default_factory=list)
    participant_ids: set[int] = field(default_factory=set)


def record_read(
    uow: UnitOfWork,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    what: str,
    participant_ids: Iterable[int] = (),
    subject_id: str | int | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Note a read of personal data in this unit of work; written as part of its one entry.

    Args:
        at: the instant of the request (UTC).
        actor: ``"user:<name>"`` or ``"participant:<id>"``.
        action: the kind of read (``AuditAction.*_READ``).
        what: what was read, in a word ("participant", "alerts", "devices", "positions").
        participant_ids: every participant whose data the read returned (none for an empty
            list: the entry still records that the read happened).
        subject_id: the record read, when it is one record.
        reason: the stated reason, when the read needs one.
        details: counts, windows and the like (JSON-serialisable).

    Raises:
        ValueError: *actor* differs from an earlier read in the same unit of work (one request
            has one actor).
    """
    pending: _PendingReads | None = uow.scratch.get(_KEY)
    if pending is None:
        pending = _PendingReads(at=at, actor=actor)
        uow.scratch[_KEY] = pending
        uow.before_commit.append(_write_pending)
    elif pending.actor != actor:
        raise ValueError(f"one unit of work reads for one actor ({pending.actor}, not {actor})")
    pending.reads.append(
        _Read(
            action=action,
            what=what,
            subject_id=None if subject_id is None else str(subject_id),
            reason=reason,
            details=dict(details or {}),
        )
    )
    pending.participant_ids.update(int(i) for i in participant_ids)


def flush_reads(uow: UnitOfWork) -> int | None:
    """Write the pending reads of *uow* now and return the entry's id (``None`` if there were
    none). Use it when the response must name its audit entry (``PositionsPublic``)."""
    return _write_pending(uow, now=True)


def pending_reads(uow: UnitOfWork) -> list[str]:
    """What has been read in *uow* and not yet written (the ``what`` of each read)."""
    pending: _PendingReads | None = uow.scratch.get(_KEY)
    return [r.what for r in pending.reads] if pending else []


def _write_pending(uow: UnitOfWork, *, now: bool = False) -> int | None:
    pending: _PendingReads | None = uow.scratch.pop(_KEY, None)
    if pending is None or not pending.reads:
        return None
    if _write_pending in uow.before_commit:
        uow.before_commit.remove(_write_pending)
    ids = sorted(pending.participant_ids)
    # The entry is filed under the read made for a stated reason (positions, check-ins, a
    # selfie), else the first: an auditor filtering "positions:*" finds the page that showed them.
    first = next((r for r in pending.reads if r.reason), pending.reads[0])
    if len(pending.reads) == 1:
        details: dict[str, Any] = dict(first.details)
        subject_id = first.subject_id
        reason = first.reason
    else:
        details = {
            "read": [
                {
                    "what": r.what,
                    **({"subject_id": r.subject_id} if r.subject_id else {}),
                    **r.details,
                }
                for r in pending.reads
            ]
        }
        subject_id = first.subject_id
        reasons = [r.reason for r in pending.reads if r.reason]
        reason = " | ".join(dict.fromkeys(reasons)) or None
    if len(ids) > 1:
        details["participant_ids"] = ids
    write = audit.record_now if now else audit.record
    return write(
        uow,
        at=pending.at,
        actor=pending.actor,
        action=first.action,
        participant_id=ids[0] if len(ids) == 1 else None,
        subject_type=first.what[:40],
        subject_id=subject_id,
        reason=reason,
        details=details or None,
    )
