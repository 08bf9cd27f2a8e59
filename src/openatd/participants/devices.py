"""Assigning a registered device to a participant, and taking it off them.

Registering a new device is :func:`openatd.participants.service.create_device`. Both
changes here need access to the participant concerned (the one the device leaves, or the
one it joins) and are audited with the old and the new participant.
"""

from __future__ import annotations

from datetime import datetime

from openatd.domain.audit import AuditAction
from openatd.errors import Conflict
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access, require_role
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork


def assign_device(
    uow: UnitOfWork, user: TokenClaims, now: datetime, device: t.Device, participant_id: int
) -> t.Device:
    """Give an unassigned *device* to *participant_id*.

    Raises:
        Conflict: the device is assigned to someone (unassign it there first).
        PermissionDenied: the participant is not on the caller's caseload.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)
    require_participant_access(uow, user, participant_id)
    if device.participant_id == participant_id:
        return device
    if device.participant_id is not None:
        raise Conflict(
            f"device {device.unique_id} is assigned to another participant; unassign it there first"
        )
    device.participant_id = participant_id
    _record(uow, user, now, device, old=None, new=participant_id)
    return device


def unassign_device(uow: UnitOfWork, user: TokenClaims, now: datetime, device_id: int) -> int:
    """Take device *device_id* off its participant; returns that participant's id.

    Raises:
        Conflict: the device is not assigned. PermissionDenied: not on the caseload.
    """
    device = uow.devices.get(device_id)
    if device.participant_id is None:
        raise Conflict(f"device {device.unique_id} is not assigned to anyone")
    old = device.participant_id
    require_participant_access(uow, user, old)
    device.participant_id = None
    _record(uow, user, now, device, old=old, new=None)
    return old


def _record(
    uow: UnitOfWork, user: TokenClaims, now: datetime, d: t.Device, old: int | None, new: int | None
) -> None:
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.DEVICE_UPDATE,
        participant_id=new if new is not None else old,
        subject_type="device",
        subject_id=d.id,
        details={"unique_id": d.unique_id, "participant_id": {"old": old, "new": new}},
    )
