"""Zones (GeoJSON in and out): inclusion / exclusion, circles, weekly schedules (curfews)."""

from __future__ import annotations

from fastapi import APIRouter

from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, PathId, UowDep
from openatd.api.schemas import CircleSpec, ZoneCreate, ZonePublic
from openatd.participants import zones as service
from openatd.storage import tables as t

router = APIRouter(prefix="/api", tags=["zones"])


def _public(z: t.Zone) -> ZonePublic:
    circle = None
    if z.circle_lat is not None and z.circle_lon is not None and z.circle_radius_m is not None:
        circle = CircleSpec(lat=z.circle_lat, lon=z.circle_lon, radius_m=z.circle_radius_m)
    return ZonePublic(
        id=z.id,
        participant_id=z.participant_id,
        name=z.name,
        kind=z.kind,
        geometry=z.geometry,
        circle=circle,
        schedule=z.schedule,
        created_at=z.created_at,
    )


@router.get(
    "/participants/{participant_id}/zones",
    response_model=list[ZonePublic],
    openapi_extra=personal_read("zones"),
)
def list_zones(
    participant_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep
) -> list[ZonePublic]:
    """A participant's active zones."""
    return [_public(z) for z in service.list_zones(uow, user, now, participant_id)]


@router.post(
    "/participants/{participant_id}/zones",
    response_model=ZonePublic,
    status_code=201,
    openapi_extra=PERSONAL_WRITE,
)
def create_zone(
    participant_id: PathId,
    body: ZoneCreate,
    uow: UowDep,
    user: CurrentUser,
    now: NowDep,
    container: ContainerDep,
) -> ZonePublic:
    """Create a zone. An invalid polygon is a 422 that names the fault; it is never repaired."""
    z = service.create_zone(
        uow,
        user,
        now,
        participant_id,
        name=body.name,
        kind=body.kind,
        geometry=body.geometry,
        circle=body.circle.model_dump() if body.circle else None,
        schedule=[w.model_dump() for w in body.schedule] if body.schedule else None,
    )
    uow.flush()
    out = _public(z)
    container.pipeline_changed(participant_id)
    return out


@router.delete("/zones/{zone_id}", status_code=204, openapi_extra=PERSONAL_WRITE)
def delete_zone(
    zone_id: PathId, uow: UowDep, user: CurrentUser, now: NowDep, container: ContainerDep
) -> None:
    """Deactivate a zone."""
    participant_id = service.delete_zone(uow, user, now, zone_id)
    container.pipeline_changed(participant_id)
