"""What may be collected, and the end of collection (DESIGN principle 1, issue 8 items 2-3).

- :func:`collection_refusal`: positions from a device are taken only while the device is
  actively assigned to a participant whose case is open and whose supervision level
  includes location tracking (``gps``). Anything else is refused and counted by the
  position pipeline, never stored.
- :func:`set_device_status`: unassign, return or retire a device, with an audited reason.
- :func:`close_case`: the participant exits the program: collection stops at once (devices
  unassigned, check-in schedules and zones ended), face templates are deleted at once, and
  the rest is scheduled for deletion ``participant_retention_days`` later
  (``openatd.safeguards.retention``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from openatd.alerts.notices import NoticeKind, notify_participant
from openatd.domain.audit import AuditAction
from openatd.errors import Conflict, InvalidInput
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access, require_reason, require_role
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

LOCATION_LEVELS = frozenset({"gps"})
"""Supervision levels under which device positions are collected. ``app`` reads location
only at the moment of a check-in (stored with the check-in), never from a tracker."""


class RefusalReason(StrEnum):
    NO_ASSIGNMENT = "no_active_assignment"
    CASE_CLOSED = "case_closed"
    LEVEL = "supervision_level"


def collection_refusal(participant: t.Participant | None) -> RefusalReason | None:
    """Why positions for *participant* (the device's assignee, or ``None``) must be refused,
    or ``None`` when they may be stored."""
    if participant is None:
        return RefusalReason.NO_ASSIGNMENT
    if not participant.active or participant.closed_at is not None:
        return RefusalReason.CASE_CLOSED
    if participant.supervision_level not in LOCATION_LEVELS:
        return RefusalReason.LEVEL
    return None


class DeviceAction(StrEnum):
    UNASSIGN = "unassign"
    """Taken off its participant; stays active, can be assigned again."""
    RETURN = "return"
    """Back in stock after the participant returned it."""
    RETIRE = "retire"
    """Out of service for good (faulty, lost)."""


_STATUS = {
    DeviceAction.UNASSIGN: "active",
    DeviceAction.RETURN: "returned",
    DeviceAction.RETIRE: "retired",
}


def set_device_status(
    uow: UnitOfWork, user: TokenClaims, now: datetime, device_id: int, action: str, reason: str
) -> t.Device:
    """Unassign, return or retire a device, with a reason; audited with old and new values.

    Raises:
        InvalidInput: unknown action, no reason. PermissionDenied: no access to its
        participant. Conflict: the device is retired already.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)
    try:
        act = DeviceAction(action)
    except ValueError as exc:
        raise InvalidInput(
            f"action must be one of {', '.join(a.value for a in DeviceAction)}"
        ) from exc
    text = require_reason(reason, purpose=f"to {act.value} a device")
    d = uow.devices.get(device_id)
    if d.participant_id is not None and user.role is not Role.ADMIN:
        require_participant_access(uow, user, d.participant_id)
    elif d.participant_id is None and user.role is Role.CASE_MANAGER:
        raise InvalidInput("this device is not assigned to a participant on your caseload")
    if d.status == "retired":
        raise Conflict(f"device {device_id} is retired")
    old_pid = d.participant_id
    old = {"participant_id": old_pid, "status": d.status}
    d.participant_id = None
    d.status = _STATUS[act]
    d.status_reason = text
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.DEVICE_STATUS,
        participant_id=old_pid,
        subject_type="device",
        subject_id=d.id,
        reason=text,
        details={
            "action": act.value,
            "old": old,
            "new": {"participant_id": None, "status": d.status},
        },
    )
    return d


def close_case(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    reason: str,
    participant_retention_days: int,
) -> dict[str, Any]:
    """Close a participant's case (they exit the program); see the module docstring.

    Returns what was done: ``templates_deleted``, ``devices_unassigned``,
    ``schedules_ended``, ``zones_ended``, ``purge_after`` (ISO instant). Audited.

    Raises:
        PermissionDenied / NotFound: no access. InvalidInput: no reason.
        Conflict: already closed.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    require_participant_access(uow, user, participant_id)
    text = require_reason(reason, purpose="to close a case")
    p = uow.participants.get(participant_id)
    if p.closed_at is not None:
        raise Conflict(f"participant {participant_id}'s case is already closed")
    p.active = False
    p.closed_at = now
    p.closed_reason = text
    p.app_code_hash = None
    p.app_token_version = (p.app_token_version or 0) + 1
    templates = uow.face_templates.delete_for_participant(participant_id)
    devices = 0
    for d in uow.devices.list([participant_id]):
        d.participant_id = None
        d.status_reason = f"case of participant {participant_id} closed"
        devices += 1
    schedules = 0
    for sch in uow.checkin_schedules.for_participant(participant_id):
        sch.active = False
        schedules += 1
    zones = 0
    for z in uow.zones.for_participant(participant_id):
        z.active = False
        zones += 1
    purge_after = now + timedelta(days=participant_retention_days)
    done = {
        "templates_deleted": templates,
        "devices_unassigned": devices,
        "schedules_ended": schedules,
        "zones_ended": zones,
        "purge_after": purge_after.isoformat(),
    }
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_CLOSE,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
        reason=text,
        details=done,
    )
    notify_participant(
        uow,
        now,
        participant_id=participant_id,
        kind=NoticeKind.CASE_CLOSED,
        text=(
            "Your case is closed. No more location or check-in data is collected, your face "
            "templates were deleted, and the rest of your data will be deleted after "
            f"{purge_after:%Y-%m-%d}."
        ),
    )
    return done
