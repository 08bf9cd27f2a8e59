"""Case management services: participants, caseloads, devices, zones, positions.

Services take a :class:`~openatd.storage.repositories.UnitOfWork`, the acting
staff member's :class:`~openatd.safeguards.auth.TokenClaims` and the current
instant; they never see a web request. Every read of personal data appends an
audit entry in the same transaction (DESIGN principle 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openatd.domain.audit import AuditAction
from openatd.domain.obligations import check_quiet_hours
from openatd.domain.schedules import load_tz
from openatd.errors import Conflict, InvalidInput
from openatd.participants.contact import check_email, check_language, check_phone
from openatd.rules.policy import Policy
from openatd.safeguards import audit
from openatd.safeguards.access import (
    require_location_access,
    require_participant_access,
    require_reason,
    require_role,
    visible_participant_ids,
)
from openatd.safeguards.auth import Role, TokenClaims
from openatd.safeguards.reads import flush_reads, record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

SUPERVISION_LEVELS = ("gps", "app", "phone", "reminders")
"""From most to least intrusive (DESIGN principle 1: step-down GPS → app → reminders)."""

MAX_ESCALATION_DAYS = 180
"""An escalation to a more intrusive level ends at most this many days later (then a review
is due)."""


EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _utc_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """*start* and *end* in UTC, both within 1970..2200.

    Raises:
        InvalidInput: a time without offset, or outside the range.
    """
    out = []
    for name, when in (("start", start), ("end", end)):
        if when.tzinfo is None:
            raise InvalidInput(f"{name} needs a UTC offset, e.g. 2026-03-08T00:00:00Z")
        try:
            u = when.astimezone(UTC)
        except (OverflowError, ValueError):
            u = None
        if u is None or not EARLIEST <= u <= LATEST:
            raise InvalidInput(f"{name} must lie between 1970 and 2200")
        out.append(u)
    return out[0], out[1]


def check_timezone(name: str) -> str:
    """Return *name* if it is an IANA zone name.

    Raises:
        InvalidInput: unknown zone (e.g. ``"America/Chicgo"``), a non-IANA name
            (``"localtime"``, a path), or a name over 64 characters.
    """
    if len(name) > 64:
        raise InvalidInput("a time zone name has at most 64 characters")
    try:
        load_tz(name)
    except InvalidInput as exc:
        raise InvalidInput(
            f"unknown time zone {name!r}: give an IANA name such as 'America/Chicago'"
        ) from exc
    return name


POLICY_BOUNDS: dict[str, tuple[float, float]] = {
    "zone_dwell_s": (0, 86400),
    "offline_after_s": (60, 30 * 86400),
    "low_battery_pct": (1, 90),
    "max_speed_mps": (5, 343),
    "max_age_s": (3600, 30 * 86400),
    "max_future_s": (0, 3600),
}
"""Sane ranges for per-participant overrides (seconds, percent, m/s)."""


def check_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """Validate per-participant policy overrides against :class:`~openatd.rules.policy.Policy`.

    Raises:
        InvalidInput: an unknown key, or a value that is not a finite number >= 0.
    """
    Policy.from_mapping(policy)
    for key, value in policy.items():
        lo, hi = POLICY_BOUNDS[key]
        if not lo <= value <= hi:
            raise InvalidInput(f"policy {key} must lie between {lo:g} and {hi:g}, got {value!r}")
    return dict(policy)


def create_participant(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    *,
    name: str,
    timezone: str,
    supervision_level: str,
    policy: dict[str, Any] | None = None,
    phone: str | None = None,
    email: str | None = None,
    language: str | None = None,
    quiet_start: str | None = None,
    quiet_end: str | None = None,
) -> t.Participant:
    """Enrol a participant; a case manager who enrols one gets them on their caseload.

    Raises:
        InvalidInput: unknown zone or level, bad policy, a phone that is not a valid E.164
            number, an invalid e-mail address, an unknown language tag, bad quiet hours.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)
    if supervision_level not in SUPERVISION_LEVELS:
        raise InvalidInput(f"supervision_level must be one of {', '.join(SUPERVISION_LEVELS)}")
    quiet = check_quiet_hours(quiet_start or None, quiet_end or None)
    p = uow.participants.add(
        name=name.strip(),
        timezone=check_timezone(timezone),
        supervision_level=supervision_level,
        policy=check_policy(policy or {}),
        phone=check_phone(phone),
        email=check_email(email),
        language=check_language(language),
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        active=True,
        created_at=now,
        level_since=now,
    )
    uow.level_history.add(
        participant_id=p.id,
        at=now,
        old_level=None,
        new_level=supervision_level,
        reason="enrolment",
        until=None,
        by_user=user.user_id,
    )
    if user.role is Role.CASE_MANAGER:
        uow.participants.assign(user.user_id, p.id, now)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_CREATE,
        participant_id=p.id,
        subject_type="participant",
        subject_id=p.id,
    )
    return p


def list_participants(uow: UnitOfWork, user: TokenClaims, now: datetime) -> Sequence[t.Participant]:
    """Participants *user* may see (their caseload, or all for a supervisor)."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    ids = visible_participant_ids(uow, user)
    rows = uow.participants.list(user_id=None if ids is None else user.user_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_READ,
        what="participant_list",
        participant_ids=[p.id for p in rows],
        details={"count": len(rows)},
    )
    return rows


def get_participant(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int
) -> t.Participant:
    """One participant (403 outside the caseload); audited."""
    require_participant_access(uow, user, participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_READ,
        what="participant",
        participant_ids=[participant_id],
        subject_id=participant_id,
    )
    return uow.participants.get(participant_id)


def update_participant(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    changes: dict[str, Any],
) -> t.Participant:
    """Change name, time zone, supervision level, policy, contact fields (``""`` removes a
    phone or e-mail) or quiet hours; audited with the changed keys.

    A change of ``supervision_level`` needs ``level_reason``; an escalation (to a more
    intrusive level) also needs ``level_until``, its end date (at most
    :data:`MAX_ESCALATION_DAYS` ahead), after which a review is due. Each change is kept in
    the level history and audited with the old and new level.

    Raises:
        InvalidInput: a bad value, a level change without reason or escalation without end.
        Conflict: the case is closed.
    """
    require_participant_access(uow, user, participant_id)
    p = uow.participants.get(participant_id)
    if p.closed_at is not None:
        raise Conflict(f"participant {participant_id}'s case is closed")
    if "timezone" in changes and changes["timezone"] is not None:
        p.timezone = check_timezone(changes["timezone"])
    level = changes.get("supervision_level")
    if level is not None and level != p.supervision_level:
        change_level(
            uow,
            user,
            now,
            p,
            level,
            reason=changes.get("level_reason"),
            until=changes.get("level_until"),
        )
    if changes.get("policy") is not None:
        p.policy = check_policy(changes["policy"])
    if changes.get("name") is not None:
        p.name = changes["name"].strip()
    if changes.get("phone") is not None:
        p.phone = check_phone(changes["phone"])
    if changes.get("email") is not None:
        p.email = check_email(changes["email"])
    if changes.get("language") is not None:
        p.language = check_language(changes["language"])
    if changes.get("quiet_start") is not None or changes.get("quiet_end") is not None:
        p.quiet_start, p.quiet_end = check_quiet_hours(
            changes.get("quiet_start") or None, changes.get("quiet_end") or None
        )
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_UPDATE,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
        details={"changed": sorted(k for k, v in changes.items() if v is not None)},
    )
    return p


def change_level(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    p: t.Participant,
    level: str,
    *,
    reason: str | None,
    until: datetime | None,
) -> None:
    """Move *p* to supervision *level* (see :func:`update_participant`); audited."""
    if level not in SUPERVISION_LEVELS:
        raise InvalidInput(f"supervision_level must be one of {', '.join(SUPERVISION_LEVELS)}")
    text = require_reason(reason, purpose="to change the supervision level")
    old = p.supervision_level
    escalation = SUPERVISION_LEVELS.index(level) < SUPERVISION_LEVELS.index(old)
    if escalation:
        if until is None:
            raise InvalidInput(
                "an escalation to a more intrusive level needs level_until, the date it ends "
                "(a review is due then)"
            )
        if until.tzinfo is None:
            raise InvalidInput("level_until needs a UTC offset, e.g. 2026-03-08T00:00:00Z")
        until = until.astimezone(UTC)
        if until <= now or (until - now).days > MAX_ESCALATION_DAYS:
            raise InvalidInput(f"level_until must lie in the next {MAX_ESCALATION_DAYS} days")
    else:
        until = None
    p.supervision_level = level
    p.level_since = now
    p.level_until = until
    p.level_review_due_at = until
    uow.level_history.add(
        participant_id=p.id,
        at=now,
        old_level=old,
        new_level=level,
        reason=text,
        until=until,
        by_user=user.user_id,
    )
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_LEVEL,
        participant_id=p.id,
        subject_type="participant",
        subject_id=p.id,
        reason=text,
        details={
            "old": old,
            "new": level,
            "escalation": escalation,
            "until": until.isoformat() if until else None,
        },
    )


def assign_caseload(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int, case_manager_id: int
) -> None:
    """Put a participant on a case manager's caseload (supervisor or admin)."""
    require_role(user, Role.SUPERVISOR, Role.ADMIN)
    uow.participants.get(participant_id)
    cm = uow.users.get(case_manager_id)
    if cm.role not in (Role.CASE_MANAGER.value, Role.SUPERVISOR.value):
        raise InvalidInput(f"user {case_manager_id} is not a case manager or supervisor")
    uow.participants.assign(case_manager_id, participant_id, now)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CASELOAD_ASSIGN,
        participant_id=participant_id,
        subject_type="user",
        subject_id=case_manager_id,
    )


def create_device(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    *,
    unique_id: str,
    protocol: str,
    participant_id: int | None,
    name: str | None = None,
) -> t.Device:
    """Register a device; assigning it to a participant needs access to that participant."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)
    if participant_id is None and user.role is Role.CASE_MANAGER:
        raise InvalidInput("a case manager registers a device for a participant on the caseload")
    if participant_id is not None and user.role is not Role.ADMIN:
        require_participant_access(uow, user, participant_id)
    elif participant_id is not None:
        uow.participants.get(participant_id)
    unique_id = unique_id.strip()
    if not unique_id or len(unique_id) > 64:
        raise InvalidInput("unique_id must have 1 to 64 characters")
    d = uow.devices.add(
        unique_id=unique_id,
        protocol=protocol,
        participant_id=participant_id,
        name=name,
        created_at=now,
    )
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.DEVICE_CREATE,
        participant_id=participant_id,
        subject_type="device",
        subject_id=d.id,
        details={"unique_id": unique_id, "protocol": protocol},
    )
    return d


@dataclass(frozen=True, slots=True)
class PositionRead:
    """Positions handed out for one stated reason, with the audit entry that records it."""

    positions: Sequence[t.Position]
    audit_entry_id: int


def read_positions(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    *,
    start: datetime,
    end: datetime,
    reason: str,
    limit: int = 10000,
    cross_caseload: bool = False,
    export_format: str | None = None,
) -> PositionRead:
    """One participant's fixes in ``[start, end)`` for a stated *reason*.

    Purpose limitation: per participant only, by staff assigned to them (a supervisor
    from another caseload only with *cross_caseload*), with a reason of at least 10
    characters; the read is audited with the reason, the window, the number of fixes
    returned, whether it crossed caseloads and (an export) the format.

    Raises:
        InvalidInput: no reason, or ``end <= start``, or a window over 31 days.
        PermissionDenied: participant not on the caller's caseload (see
            :func:`~openatd.safeguards.access.require_location_access`).
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    reason = require_reason(reason, purpose="to read positions")
    start, end = _utc_window(start, end)
    if end <= start:
        raise InvalidInput("end must be after start")
    if (end - start).total_seconds() > 31 * 86400:
        raise InvalidInput("a position read covers at most 31 days")
    cross = require_location_access(uow, user, participant_id, cross_caseload=cross_caseload)
    rows = uow.positions.for_participant(participant_id, start, end, limit=limit)
    details: dict[str, Any] = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "count": len(rows),
        "cross_caseload": cross,
    }
    if export_format is not None:
        details["format"] = export_format
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.POSITIONS_EXPORT if export_format else AuditAction.POSITIONS_READ,
        what="positions",
        participant_ids=[participant_id],
        reason=reason,
        details=details,
    )
    entry = flush_reads(uow)  # the response names its entry
    assert entry is not None
    return PositionRead(rows, entry)


def list_devices(uow: UnitOfWork, user: TokenClaims, now: datetime) -> Sequence[t.Device]:
    """Devices of the participants *user* may see (an administrator sees all); audited and
    attributed to each participant whose device is listed."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)
    ids = None if user.role is Role.ADMIN else visible_participant_ids(uow, user)
    rows = uow.devices.list(ids)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.DEVICES_READ,
        what="devices",
        participant_ids={d.participant_id for d in rows if d.participant_id is not None},
        details={"count": len(rows)},
    )
    return rows
