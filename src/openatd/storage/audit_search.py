"""Searching the audit log for the auditor's page: by participant, actor, action and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openatd.storage import tables as t


def search_audit(
    session: Session,
    *,
    participant_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> Sequence[t.AuditEntry]:
    """Entries newest first matching every filter given.

    *actor* matches the whole actor (``user:maria``) or, without a colon, the name after
    it (``maria``); *action* the exact action or, ending in ``*``, a prefix
    (``positions*``); the time window is ``since <= at < until`` (UTC).
    """
    q = select(t.AuditEntry).order_by(t.AuditEntry.id.desc()).limit(limit)
    if participant_id is not None:
        q = q.where(t.AuditEntry.participant_id == participant_id)
    if actor:
        q = q.where(t.AuditEntry.actor == (actor if ":" in actor else f"user:{actor}"))
    if action:
        if action.endswith("*"):
            q = q.where(t.AuditEntry.action.startswith(action[:-1], autoescape=True))
        else:
            q = q.where(t.AuditEntry.action == action)
    if since is not None:
        q = q.where(t.AuditEntry.at >= since)
    if until is not None:
        q = q.where(t.AuditEntry.at < until)
    return session.scalars(q).all()
