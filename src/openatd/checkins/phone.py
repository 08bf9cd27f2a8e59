"""Telephone check-ins: the participant calls the program's number and enters a PIN.

The provider (Twilio or compatible) calls the voice webhook; the caller id (``From``) must be
the participant's registered phone (E.164) and the PIN (4-8 digits, argon2id-hashed at rest)
must match. Then a ``phone`` check-in is recorded in the open check-in window, exactly as an
app check-in would be (one per window). Five wrong PINs from one number within an hour lock
telephone check-in for that number until the hour has passed.

Voice biometrics (recognising the caller by voice) are out of scope by design: the PIN and the
caller id are the only factors, and a refused call is never an alert by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from openatd.checkins.schedule import CheckInWindow
from openatd.checkins.service import (
    Outcome,
    open_windows,
    participant_actor,
    window_status,
)
from openatd.domain.audit import AuditAction
from openatd.errors import InvalidInput
from openatd.participants.contact import check_phone
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access
from openatd.safeguards.auth import TokenClaims, check_app_code, hash_app_code
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

PIN = re.compile(r"^[0-9]{4,8}$")
MAX_PIN_FAILURES = 5
LOCK_WINDOW = timedelta(hours=1)


def set_pin(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int, pin: str
) -> None:
    """Set the participant's telephone PIN (4-8 digits; stored as an argon2id hash).

    Raises:
        InvalidInput: not 4-8 digits, or all one digit. PermissionDenied: not on the caseload.
    """
    require_participant_access(uow, user, participant_id)
    if not PIN.match(pin or "") or len(set(pin)) == 1:
        raise InvalidInput("a PIN has 4 to 8 digits, not all the same")
    p = uow.participants.get(participant_id)
    p.phone_pin_hash = hash_app_code(pin)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PHONE_PIN_SET,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
    )


@dataclass(frozen=True, slots=True)
class CallResult:
    """What to tell the caller. ``code``: ``recorded`` | ``already`` | ``no_window`` |
    ``wrong_pin`` | ``unknown_number`` | ``locked``; ``language`` of the participant if known."""

    code: str
    language: str = "en"
    checkin_id: int | None = None
    window: CheckInWindow | None = None


def caller_language(uow: UnitOfWork, caller: str) -> str:
    """The language of the participant registered with *caller*'s number (``en`` if none)."""
    try:
        number = check_phone(caller)
    except InvalidInput:
        return "en"
    found = uow.participant_messages.by_phone(number) if number else []
    return found[0].language if found else "en"


def _refuse(
    uow: UnitOfWork, now: datetime, caller: str, code: str, pid: int | None, actor: str = ""
) -> None:
    """Audit a refused call; the actor ``phone:<number>`` is what the lock counts."""
    audit.record(
        uow,
        at=now,
        actor=actor or f"phone:{caller}",
        action=AuditAction.PHONE_CHECKIN_REFUSED,
        participant_id=pid,
        subject_type="call",
        details={"why": code},
    )


def phone_check_in(uow: UnitOfWork, now: datetime, caller: str, digits: str) -> CallResult:
    """Check the caller id and PIN, then record a ``phone`` check-in in the open window.

    Refusals are audited (``checkin:phone_refused``) with the reason and never raise an alert.
    """
    try:
        number = check_phone(caller)
    except InvalidInput:
        number = None
    candidates = [
        p for p in (uow.participant_messages.by_phone(number) if number else []) if p.phone_pin_hash
    ]
    actor = f"phone:{number or caller[:40]}"
    failures = uow.audit.count_since(
        actor, AuditAction.PHONE_CHECKIN_REFUSED.value, now - LOCK_WINDOW
    )
    if failures >= MAX_PIN_FAILURES:
        return CallResult("locked", candidates[0].language if candidates else "en")
    if not candidates:
        _refuse(uow, now, number or caller[:40], "unknown_number", None)
        return CallResult("unknown_number")
    match: t.Participant | None = None
    for p in candidates:
        if (
            PIN.match(digits or "")
            and p.phone_pin_hash
            and check_app_code(p.phone_pin_hash, digits)
        ):
            match = p
            break
    if match is None:
        _refuse(uow, now, number or caller, "wrong_pin", candidates[0].id)
        return CallResult("wrong_pin", candidates[0].language)
    windows = open_windows(uow, match, now)
    for w in windows:
        attempts, refusal = window_status(uow, w)
        if refusal is not None:
            continue
        row = record_checkin(uow, match, w, now, "phone", len(attempts) + 1)
        audit.record(
            uow,
            at=now,
            actor=participant_actor(match.id),
            action=AuditAction.PHONE_CHECKIN,
            participant_id=match.id,
            subject_type="checkin",
            subject_id=row.id,
            details={"schedule_id": w.schedule_id, "window_start": w.start.isoformat()},
        )
        return CallResult("recorded", match.language, row.id, w)
    code = "already" if windows else "no_window"
    _refuse(uow, now, number or caller, code, match.id, participant_actor(match.id))
    return CallResult(code, match.language)


def record_checkin(
    uow: UnitOfWork,
    p: t.Participant,
    window: CheckInWindow,
    now: datetime,
    method: str,
    attempt: int,
) -> t.CheckIn:
    """A verified check-in by *method* (``phone`` | ``visit``) in *window*, timed by the
    server's clock."""
    return uow.checkins.add(
        participant_id=p.id,
        schedule_id=window.schedule_id,
        window_start=window.start,
        window_end=window.end,
        method=method,
        server_time=now,
        outcome=Outcome.VERIFIED.value,
        on_time=window.accepts(now),
        attempt=attempt,
    )
