"""Devices: trackers and phones, by unique id (IMEI)."""

from __future__ import annotations

from fastapi import APIRouter

from openatd.api.deps import ContainerDep, CurrentUser, NowDep, PathId, UowDep
from openatd.api.schemas import DeviceCreate, DevicePublic, DeviceStatusChange
from openatd.participants import lifecycle, service
from openatd.safeguards.access import require_role, visible_participant_ids
from openatd.safeguards.auth import Role

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.get("", response_model=list[DevicePublic])
def list_devices(uow: UowDep, user: CurrentUser) -> list[DevicePublic]:
    """Devices of the participants you may see (administrators see all)."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR, Role.ADMIN)
    ids = None if user.role is Role.ADMIN else visible_participant_ids(uow, user)
    return [DevicePublic.model_validate(d) for d in uow.devices.list(ids)]


@router.post("", response_model=DevicePublic, status_code=201)
def create_device(
    body: DeviceCreate, uow: UowDep, user: CurrentUser, now: NowDep, container: ContainerDep
) -> DevicePublic:
    """Register a device and (optionally) assign it to a participant."""
    d = service.create_device(uow, user, now, **body.model_dump())
    uow.flush()
    container.pipeline_changed(d.participant_id)
    return DevicePublic.model_validate(d)


@router.post("/{device_id}/status", response_model=DevicePublic)
def change_status(
    device_id: PathId,
    body: DeviceStatusChange,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> DevicePublic:
    """Unassign, return or retire a device, with a reason (audited). Its positions are refused
    from then on until it is assigned again."""
    d = lifecycle.set_device_status(uow, user, now, device_id, body.action, body.reason)
    uow.flush()
    container.pipeline_changed(None)
    return DevicePublic.model_validate(d)
