"""Devices: trackers and phones, by unique id (IMEI)."""

from __future__ import annotations

from fastapi import APIRouter

from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, PathId, UowDep
from openatd.api.schemas import DeviceCreate, DevicePublic, DeviceStatusChange
from openatd.participants import lifecycle, service

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.get("", response_model=list[DevicePublic], openapi_extra=personal_read("devices"))
def list_devices(uow: UowDep, user: CurrentUser, now: NowDep) -> list[DevicePublic]:
    """Devices of the participants you may see (administrators see all); audited."""
    return [DevicePublic.model_validate(d) for d in service.list_devices(uow, user, now)]


@router.post("", response_model=DevicePublic, status_code=201, openapi_extra=PERSONAL_WRITE)
def create_device(
    body: DeviceCreate, uow: UowDep, user: CurrentUser, now: NowDep, container: ContainerDep
) -> DevicePublic:
    """Register a device and (optionally) assign it to a participant."""
    d = service.create_device(uow, user, now, **body.model_dump())
    uow.flush()
    container.pipeline_changed(d.participant_id)
    return DevicePublic.model_validate(d)


@router.post("/{device_id}/status", response_model=DevicePublic, openapi_extra=PERSONAL_WRITE)
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
