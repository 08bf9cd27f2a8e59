"""The audit log's hash chain, as pure functions (DESIGN principle 3).

Each entry's hash is ``SHA-256(prev_hash || canonical_json(fields))`` in hex,
where ``canonical_json`` is JSON with sorted keys, no whitespace and times as
ISO 8601 UTC with microseconds. The first entry's ``prev_hash`` is
:data:`GENESIS`. Editing, deleting or reordering any stored entry breaks the
chain at that entry, which :func:`first_broken_link` names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""


class AuditAction(StrEnum):
    """Audit actions as ``"subject:action"`` tags (after warehouse's audit events)."""

    POSITIONS_READ = "positions:read"
    PARTICIPANT_READ = "participant:read"
    PARTICIPANT_CREATE = "participant:create"
    PARTICIPANT_UPDATE = "participant:update"
    PARTICIPANT_EXPORT = "participant:export"
    CASELOAD_ASSIGN = "caseload:assign"
    DEVICE_CREATE = "device:create"
    DEVICE_UPDATE = "device:update"
    ZONE_CREATE = "zone:create"
    ZONE_CREATE_REFUSED = "zone:create_refused"
    ZONE_DELETE = "zone:delete"
    ALERTS_READ = "alerts:read"
    ALERT_ACKNOWLEDGE = "alert:acknowledge"
    ALERT_RESOLVE = "alert:resolve"
    USER_CREATE = "user:create"
    USER_LOGIN = "user:login"
    USER_LOGIN_FAILED = "user:login_failed"
    ACCESS_DENIED = "access:denied"
    AUDIT_READ = "audit:read"
    FACE_ENROL = "face:enrol"
    FACE_DELETE = "face:delete"
    CHECKIN_READ = "checkin:read"
    CHECKIN_SCHEDULE = "checkin:schedule"
    RETENTION_PURGE = "retention:purge"
    DATABASE_RESTORE = "database:restore"
    CHECKIN_SUBMIT = "checkin:submit"
    CHECKIN_REVIEW = "checkin:review"
    CHECKIN_MISSED = "checkin:missed"
    PARTICIPANT_APP_CODE = "participant:app_code"
    PARTICIPANT_APP_LOGIN = "participant:app_login"
    PARTICIPANT_APP_LOGIN_FAILED = "participant:app_login_failed"
    ALERT_RESPOND = "alert:respond"
    OBLIGATION_CREATE = "obligation:create"
    OBLIGATION_UPDATE = "obligation:update"
    OBLIGATION_CANCEL = "obligation:cancel"
    OBLIGATION_READ = "obligation:read"
    OBLIGATION_IMPORT = "obligation:import"
    CALENDAR_FEED_ISSUE = "calendar_feed:issue"
    CALENDAR_FEED_REVOKE = "calendar_feed:revoke"
    CALENDAR_FEED_READ = "calendar_feed:read"
    MESSAGES_READ = "messages:read"
    SMS_RECEIVED = "sms:received"
    PHONE_PIN_SET = "phone_pin:set"
    PHONE_CHECKIN = "checkin:phone"
    PHONE_CHECKIN_REFUSED = "checkin:phone_refused"
    VISIT_SCHEDULE = "visit:schedule"
    VISIT_RECORD = "visit:record"
    VISIT_READ = "visit:read"
    PARTICIPANT_REPORT = "participant:problem_report"
    OBLIGATION_ACKNOWLEDGE = "obligation:acknowledge"
    DEVICES_READ = "devices:read"
    CHECKIN_WINDOW_READ = "checkin_window:read"
    OBLIGATIONS_READ = "obligations:read"
    USER_LOGIN_THROTTLED = "user:login_throttled"
    USER_LOGOUT = "user:logout"
    USER_PASSWORD_CHANGE = "user:password_change"
    USER_ROLE_CHANGE = "user:role_change"
    USER_DEACTIVATE = "user:deactivate"
    USER_REACTIVATE = "user:reactivate"
    USER_TOTP_ENROL = "user:totp_enrol"
    USER_TOTP_ENABLE = "user:totp_enable"
    USER_TOTP_RESET = "user:totp_reset"
    ROLE_POLICY_CHANGE = "role_policy:change"
    PARTICIPANT_APP_LOGIN_THROTTLED = "participant:app_login_throttled"
    AUDIT_CHECKPOINT = "audit:checkpoint"
    # Issue 8: due process, least surveillance, retention, transparency.
    NOTICE_SEND = "notice:send"
    NOTICES_READ = "notices:read"
    ALERT_EVIDENCE_READ = "alert:evidence_read"
    ALERT_HISTORY_READ = "alert:history_read"
    ALERT_PROPOSE_VIOLATION = "alert:propose_violation"
    ALERT_REVIEW_REQUEST = "alert:review_request"
    DEVICE_STATUS = "device:status"
    PARTICIPANT_LEVEL = "participant:level"
    PARTICIPANT_CLOSE = "participant:close"
    POSITIONS_EXPORT = "positions:export"
    ACCESS_LOG_READ = "participant:access_log_read"
    STEPDOWN_READ = "participant:stepdown_read"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """The hashed fields of one audit entry (``id`` is not hashed; order is by chain)."""

    at: datetime
    actor: str
    action: str
    subject_type: str | None
    subject_id: str | None
    participant_id: int | None
    reason: str | None
    details: Mapping[str, Any] | None


def canonical_json(record: AuditRecord) -> str:
    """The record as canonical JSON (sorted keys, compact, UTC microsecond times)."""
    body = {
        "at": record.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": record.actor,
        "action": record.action,
        "subject_type": record.subject_type,
        "subject_id": record.subject_id,
        "participant_id": record.participant_id,
        "reason": record.reason,
        "details": dict(record.details) if record.details is not None else None,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, record: AuditRecord) -> str:
    """SHA-256 hex of ``prev_hash`` followed by the record's canonical JSON (UTF-8)."""
    h = hashlib.sha256()
    h.update(prev_hash.encode("ascii"))
    h.update(canonical_json(record).encode("utf-8"))
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """Where the chain breaks: the entry id and what is wrong there."""

    entry_id: int
    reason: str


def first_broken_link(
    entries: Iterable[tuple[int, AuditRecord, str, str]],
    genesis: str = GENESIS,
) -> BrokenLink | None:
    """Check a chain given as ``(id, record, prev_hash, hash)`` in id order.

    Returns ``None`` when every link holds, else the first entry whose
    ``prev_hash`` is not its predecessor's hash, or whose stored hash differs
    from the hash of its contents. *genesis* is the ``prev_hash`` the first entry
    must carry: :data:`GENESIS`, or after retention deleted the oldest entries, the
    hash of the last one deleted (the anchor a later purge entry records).
    """
    expected_prev = genesis
    for entry_id, record, prev_hash, stored_hash in entries:
        if prev_hash != expected_prev:
            return BrokenLink(
                entry_id,
                "prev_hash does not match the previous entry's hash "
                "(an entry before it was removed, inserted or edited)",
            )
        if entry_hash(prev_hash, record) != stored_hash:
            return BrokenLink(entry_id, "contents do not match the stored hash (entry edited)")
        expected_prev = stored_hash
    return None
