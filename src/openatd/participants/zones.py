"""Zones of a participant: validated on the way in, never silently repaired (case B16)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import shapely.geometry

from openatd.domain.audit import AuditAction
from openatd.domain.zones import Zone as DomainZone
from openatd.domain.zones import parse_zone
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access
from openatd.safeguards.auth import TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork


def zone_spec(z: t.Zone, label: str | None = None) -> dict[str, Any]:
    """The stored zone in the scenario/API JSON shape; ``id`` is *label* (default: the name)."""
    spec: dict[str, Any] = {"id": label or z.name, "name": z.name, "kind": z.kind}
    if z.geometry is not None:
        spec["geometry"] = z.geometry
    else:
        spec["circle"] = {"lat": z.circle_lat, "lon": z.circle_lon, "radius_m": z.circle_radius_m}
    if z.schedule:
        spec["schedule"] = z.schedule
    return spec


def to_domain(z: t.Zone, timezone: str, label: str | None = None) -> DomainZone:
    """The rules' view of a stored zone (validated when it was created), named *label*."""
    return parse_zone(zone_spec(z, label), timezone)


def create_zone(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    *,
    name: str,
    kind: str,
    geometry: dict[str, Any] | None,
    circle: dict[str, Any] | None,
    schedule: list[dict[str, Any]] | None,
) -> t.Zone:
    """Validate and store a zone.

    Raises:
        InvalidInput: the exact fault (self-intersection near lon/lat, unclosed
            ring, hole crossing its shell, edge over 180° of longitude, bad
            schedule...). Nothing is stored then.
        PermissionDenied: participant not on the caller's caseload.
    """
    require_participant_access(uow, user, participant_id)
    participant = uow.participants.get(participant_id)
    spec: dict[str, Any] = {"id": name or "zone", "kind": kind}
    if geometry is not None:
        spec["geometry"] = geometry
    if circle is not None:
        spec["circle"] = circle
    if schedule is not None:
        spec["schedule"] = schedule
    parsed = parse_zone(spec, participant.timezone)  # raises InvalidInput with the reason
    if parsed.geometry is not None:
        # Store the validated shape only: GeoJSON type and coordinates, nothing else the
        # request carried along.
        geometry = json.loads(json.dumps(shapely.geometry.mapping(parsed.geometry)))
    zone = uow.zones.add(
        participant_id=participant_id,
        name=name,
        kind=kind,
        geometry=geometry,
        circle_lat=circle["lat"] if circle else None,
        circle_lon=circle["lon"] if circle else None,
        circle_radius_m=circle["radius_m"] if circle else None,
        schedule=schedule,
        active=True,
        created_at=now,
    )
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ZONE_CREATE,
        participant_id=participant_id,
        subject_type="zone",
        subject_id=zone.id,
        details={"name": name, "kind": kind, "scheduled": bool(schedule)},
    )
    return zone


def list_zones(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int
) -> Sequence[t.Zone]:
    """A participant's active zones (zones reveal places: audited)."""
    require_participant_access(uow, user, participant_id)
    rows = uow.zones.for_participant(participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_READ,
        what="zones",
        participant_ids=[participant_id],
        details={"count": len(rows)},
    )
    return rows


def delete_zone(uow: UnitOfWork, user: TokenClaims, now: datetime, zone_id: int) -> int:
    """Deactivate a zone; returns its participant id."""
    zone = uow.zones.get(zone_id)
    require_participant_access(uow, user, zone.participant_id)
    uow.zones.delete(zone)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.ZONE_DELETE,
        participant_id=zone.participant_id,
        subject_type="zone",
        subject_id=zone.id,
    )
    return zone.participant_id
