"""The participant's private calendar feed: a secret, revocable URL that a phone's calendar
subscribes to (``GET /api/calendar/<token>.ics``).

The token is 32 random bytes (``secrets.token_urlsafe``, 256 bits); only its SHA-256 is stored,
so a database read does not reveal a working URL. Issuing a new token revokes the old one;
revoking leaves none. Each fetch is audited with the actor ``calendar_feed``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from openatd.domain.audit import AuditAction
from openatd.errors import NotFound
from openatd.notify.calendar import calendar_bytes
from openatd.participants.portal import calendar_items
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access
from openatd.safeguards.auth import TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage.repositories import UnitOfWork

FEED_ACTOR = "calendar_feed"


def token_hash(token: str) -> str:
    """SHA-256 hex of a feed token (what is stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int) -> str:
    """A new feed token for the participant (the previous one stops working). Returns the
    token; the URL is ``/api/calendar/<token>.ics``."""
    require_participant_access(uow, user, participant_id)
    p = uow.participants.get(participant_id)
    token = secrets.token_urlsafe(32)
    p.calendar_token_hash = token_hash(token)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CALENDAR_FEED_ISSUE,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
    )
    return token


def revoke(uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int) -> None:
    """Revoke the participant's feed URL (no URL works until a new one is issued)."""
    require_participant_access(uow, user, participant_id)
    p = uow.participants.get(participant_id)
    p.calendar_token_hash = None
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CALENDAR_FEED_REVOKE,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
    )


def issue_own(uow: UnitOfWork, participant_id: int, now: datetime) -> str:
    """The participant issues their own feed URL (revoking the previous one)."""
    p = uow.participants.get(participant_id)
    token = secrets.token_urlsafe(32)
    p.calendar_token_hash = token_hash(token)
    audit.record(
        uow,
        at=now,
        actor=f"participant:{participant_id}",
        action=AuditAction.CALENDAR_FEED_ISSUE,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
    )
    return token


def revoke_own(uow: UnitOfWork, participant_id: int, now: datetime) -> None:
    """The participant revokes their own feed URL."""
    p = uow.participants.get(participant_id)
    p.calendar_token_hash = None
    audit.record(
        uow,
        at=now,
        actor=f"participant:{participant_id}",
        action=AuditAction.CALENDAR_FEED_REVOKE,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
    )


def read(uow: UnitOfWork, token: str, now: datetime) -> bytes:
    """The feed for *token* as iCalendar bytes.

    Raises:
        NotFound: no participant has this token (never issued, revoked or replaced).
    """
    p = uow.obligations.by_calendar_token_hash(token_hash(token)) if token else None
    if p is None or not p.active:
        raise NotFound("no calendar feed at this address (revoked or never issued)")
    items = calendar_items(uow, p, now)
    record_read(
        uow,
        at=now,
        actor=FEED_ACTOR,
        action=AuditAction.CALENDAR_FEED_READ,
        participant_ids=[p.id],
        what="calendar",
        details={"events": len(items)},
    )
    return calendar_bytes(p.name, ZoneInfo(p.timezone), items, now)
