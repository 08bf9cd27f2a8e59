"""Participant pages: the caseload list, enrolment, and one participant's page with its
zones (map), devices, check-in schedules, face enrolment, app code and alert history.

Every change calls the service the API calls, so the caseload checks and audit entries
are the same; reading a track or the check-in history (they hold locations) asks for a
reason first, as the API does.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from openatd.alerts import service as alerts
from openatd.api.access import PERSONAL_WRITE, personal_read
from openatd.api.deps import PathId
from openatd.checkins import service as checkins
from openatd.checkins.templates import parse_keys
from openatd.domain.obligations import KINDS as OBLIGATION_KINDS
from openatd.domain.obligations import ReminderPolicy
from openatd.errors import InvalidInput, OpenATDError
from openatd.obligations import service as obligations
from openatd.participants import caseload as caseload_service
from openatd.participants import devices, portal
from openatd.participants import service as participants
from openatd.participants import zones as zone_service
from openatd.participants.service import SUPERVISION_LEVELS
from openatd.safeguards.auth import TokenClaims
from openatd.storage.repositories import UnitOfWork
from openatd.web.staff.common import (
    ContainerDep,
    act,
    current_user,
    field_value,
    page,
    render,
    script_json,
)

router = APIRouter()
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SORTS = ("name", "alerts", "obligation", "contact", "checkin", "battery")
MAX_GEOJSON_CHARS = 400_000
MAX_PHOTO_BYTES = 8 * 1024 * 1024


@router.get("/participants", response_class=HTMLResponse, openapi_extra=personal_read("caseload"))
def caseload(
    request: Request,
    container: ContainerDep,
    q: str = "",
    level: str = "",
    sort: str = "name",
    alerts_only: str = "",
) -> Response:
    """The caseload: level, open alerts, next obligation, last check-in, battery, last
    contact; search by
    name (*q*), filter by *level* or open alerts, sort by one of :data:`SORTS`."""

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        rows = caseload_service.caseload(uow, user, now)
        if q.strip():
            rows = [r for r in rows if q.strip().lower() in r.participant.name.lower()]
        if level:
            rows = [r for r in rows if r.participant.supervision_level == level]
        if alerts_only:
            rows = [r for r in rows if r.status.open_alerts]
        old = datetime.min.replace(tzinfo=now.tzinfo)
        late = datetime.max.replace(tzinfo=now.tzinfo)
        keys = {
            "alerts": lambda r: -r.status.open_alerts,
            "obligation": lambda r: r.status.next_obligation_at or late,
            "contact": lambda r: r.status.last_contact_at or old,
            "checkin": lambda r: r.status.last_checkin_at or old,
            "battery": lambda r: r.status.battery_pct if r.status.battery_pct is not None else 1e9,
        }
        if sort in keys:
            rows.sort(key=keys[sort])
        return {
            "rows": rows,
            "q": q,
            "level": level,
            "sort": sort if sort in SORTS else "name",
            "alerts_only": alerts_only,
            "levels": SUPERVISION_LEVELS,
            "sorts": SORTS,
        }

    return page(request, container, "participants.html", build)


@router.post("/participants", openapi_extra=PERSONAL_WRITE)
def create(
    request: Request,
    container: ContainerDep,
    name: Annotated[str, Form()],
    timezone: Annotated[str, Form()],
    supervision_level: Annotated[str, Form()],
    phone: Annotated[str, Form()] = "",
) -> Response:
    """Enrol a participant (a case manager gets them on the caseload); to their page."""
    return act(
        request,
        container,
        lambda u, uow, now: (
            participants.create_participant(
                uow,
                u,
                now,
                name=_required(name, "name"),
                timezone=timezone.strip(),
                supervision_level=supervision_level,
                phone=phone.strip() or None,
            ).id
        ),
        "Participant enrolled. Next: their zones, devices and check-in schedule.",
        "/ui/participants/{result}",
    )


@router.get(
    "/participants/{participant_id}",
    response_class=HTMLResponse,
    openapi_extra=personal_read("participant"),
)
def participant_page(participant_id: PathId, request: Request, container: ContainerDep) -> Response:
    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        p = participants.get_participant(uow, user, now, participant_id)
        zones = zone_service.list_zones(uow, user, now, participant_id)
        return {
            "p": p,
            "zones": zones,
            "zones_json": script_json([_zone_json(z) for z in zones]),
            "alerts": alerts.list_alerts(uow, user, now, participant_id=participant_id),
            "devices": uow.devices.list(participant_ids=[participant_id]),
            "schedules": checkins.list_schedules(uow, user, now, participant_id),
            "enrolment": checkins.read_enrolment(uow, user, now, participant_id),
            "obligations": obligations.list_obligations(uow, user, now, participant_id),
            "obligation_kinds": OBLIGATION_KINDS,
            "default_start": field_value(now - timedelta(days=1), p.timezone),
            "levels": SUPERVISION_LEVELS,
            "days": DAYS,
            "map": _map_settings(container),
        }

    return page(request, container, "participant.html", build)


@router.post("/participants/{participant_id}/level", openapi_extra=PERSONAL_WRITE)
def change_level(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    supervision_level: Annotated[str, Form()],
) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: participants.update_participant(
            uow, u, now, participant_id, {"supervision_level": supervision_level}
        ),
        f"Supervision level is now {supervision_level}.",
        f"/ui/participants/{participant_id}",
        changed=lambda _: participant_id,
    )


@router.post("/participants/{participant_id}/zones", openapi_extra=PERSONAL_WRITE)
def create_zone(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    name: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    geometry: Annotated[str, Form()] = "",
    circle_lat: Annotated[str, Form()] = "",
    circle_lon: Annotated[str, Form()] = "",
    circle_radius_m: Annotated[str, Form()] = "",
    days: Annotated[list[str] | None, Form()] = None,
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
) -> Response:
    """A zone drawn on the map, uploaded or pasted as GeoJSON (a geometry, a Feature, or a
    FeatureCollection of one), or a circle; with an optional weekly local-time schedule
    (an inclusion zone with one is a curfew)."""

    def action(u: TokenClaims, uow: UnitOfWork, now: datetime) -> int:
        shape, circle = _shape(geometry, circle_lat, circle_lon, circle_radius_m)
        z = zone_service.create_zone(
            uow,
            u,
            now,
            participant_id,
            name=_required(name, "zone name"),
            kind=kind,
            geometry=shape,
            circle=circle,
            schedule=_schedule(days, start, end),
        )
        return z.id

    return act(
        request,
        container,
        action,
        "Zone saved.",
        f"/ui/participants/{participant_id}",
        changed=lambda _: participant_id,
    )


@router.post("/zones/{zone_id}/replace", openapi_extra=PERSONAL_WRITE)
def replace_zone(
    zone_id: PathId,
    request: Request,
    container: ContainerDep,
    geometry: Annotated[str, Form()] = "",
    circle_lat: Annotated[str, Form()] = "",
    circle_lon: Annotated[str, Form()] = "",
    circle_radius_m: Annotated[str, Form()] = "",
) -> Response:
    """A zone's new shape (edited on the map): a new zone with the same name, kind and
    schedule replaces it, in one transaction (both changes audited)."""

    def action(u: TokenClaims, uow: UnitOfWork, now: datetime) -> int:
        old = uow.zones.get(zone_id)
        shape, circle = _shape(geometry, circle_lat, circle_lon, circle_radius_m)
        pid = zone_service.delete_zone(uow, u, now, zone_id)
        zone_service.create_zone(
            uow, u, now, pid, name=old.name, kind=old.kind, geometry=shape, circle=circle,
            schedule=old.schedule,
        )  # fmt: skip
        return pid

    return act(
        request,
        container,
        action,
        "Zone shape changed.",
        "/ui/participants/{result}",
        changed=lambda pid: int(pid),
    )


@router.post("/zones/{zone_id}/delete", openapi_extra=PERSONAL_WRITE)
def delete_zone(zone_id: PathId, request: Request, container: ContainerDep) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: zone_service.delete_zone(uow, u, now, zone_id),
        "Zone deleted.",
        "/ui/participants/{result}",
        changed=lambda pid: int(pid),
    )


@router.post("/participants/{participant_id}/obligations", openapi_extra=PERSONAL_WRITE)
def add_obligation(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    kind: Annotated[str, Form()],
    title: Annotated[str, Form()],
    start: Annotated[str, Form()],
    end: Annotated[str, Form()] = "",
    location: Annotated[str, Form()] = "",
) -> Response:
    """A court date or appointment in the participant's local wall time; reminders are
    planned by the program's policy (``OPENATD_REMINDER_OFFSETS``)."""
    s = container.settings
    policy = ReminderPolicy.parse(s.reminder_offsets, s.reminder_morning)
    return act(
        request,
        container,
        lambda u, uow, now: obligations.create_obligation(
            uow, u, now, participant_id, policy, kind=kind, title=title, start=start,
            end=end or None, location=location.strip() or None,
        ),
        "Obligation saved; the participant's reminders are planned.",
        f"/ui/participants/{participant_id}",
    )  # fmt: skip


@router.post("/obligations/{obligation_id}/cancel", openapi_extra=PERSONAL_WRITE)
def cancel_obligation(obligation_id: PathId, request: Request, container: ContainerDep) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: (
            obligations.cancel_obligation(uow, u, now, obligation_id).participant_id
        ),
        "Obligation cancelled; the participant is told.",
        "/ui/participants/{result}",
    )


@router.post("/participants/{participant_id}/devices", openapi_extra=PERSONAL_WRITE)
def add_device(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    unique_id: Annotated[str, Form()],
    protocol: Annotated[str, Form()] = "osmand",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Assign a device by its unique id / IMEI: a registered, unassigned one is given to
    the participant; an unknown one is registered for them."""

    def action(u: TokenClaims, uow: UnitOfWork, now: datetime) -> None:
        known = uow.devices.by_unique_id(unique_id.strip())
        if known is not None:
            devices.assign_device(uow, u, now, known, participant_id)
            return
        participants.create_device(
            uow,
            u,
            now,
            unique_id=unique_id,
            protocol=protocol.strip() or "osmand",
            participant_id=participant_id,
            name=name.strip() or None,
        )

    return act(
        request,
        container,
        action,
        "Device assigned.",
        f"/ui/participants/{participant_id}",
        changed=lambda _: None,  # the device directory changed: reload it
    )


@router.post("/devices/{device_id}/unassign", openapi_extra=PERSONAL_WRITE)
def unassign_device(device_id: PathId, request: Request, container: ContainerDep) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: devices.unassign_device(uow, u, now, device_id),
        "Device unassigned; its positions are no longer attributed to this participant.",
        "/ui/participants/{result}",
        changed=lambda _: None,
    )


@router.post("/participants/{participant_id}/checkin-schedules", openapi_extra=PERSONAL_WRITE)
def add_schedule(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    kind: Annotated[str, Form()],
    days: Annotated[list[str] | None, Form()] = None,
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    within_minutes: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """A weekly check-in schedule (local-time window on chosen days) or an ad-hoc request
    (a window opening now, *within_minutes* long)."""

    def action(u: TokenClaims, uow: UnitOfWork, now: datetime) -> Any:
        if kind == "adhoc":
            try:
                minutes = int(within_minutes)
            except ValueError as exc:
                raise InvalidInput("give the minutes the participant has to check in") from exc
            return checkins.create_schedule(
                uow, u, now, participant_id, kind="adhoc", within_minutes=minutes,
                reason=reason or None,
            )  # fmt: skip
        windows = _schedule(days, start, end)
        if not windows:
            raise InvalidInput("a weekly schedule needs days and a start and end time")
        return checkins.create_schedule(uow, u, now, participant_id, kind="weekly", windows=windows)

    return act(
        request, container, action, "Check-in schedule saved.", f"/ui/participants/{participant_id}"
    )


@router.post("/checkin-schedules/{schedule_id}/cancel", openapi_extra=PERSONAL_WRITE)
def cancel_schedule(
    schedule_id: PathId,
    request: Request,
    container: ContainerDep,
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/ui/participants",
) -> Response:
    return act(
        request,
        container,
        lambda u, uow, now: checkins.cancel_schedule(uow, u, now, schedule_id, reason),
        "Check-in schedule ended.",
        back,
    )


@router.post("/participants/{participant_id}/face-enrolment", openapi_extra=PERSONAL_WRITE)
def enrol_face(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    photos: Annotated[list[UploadFile], File()],
    consent_reason: Annotated[str, Form()] = "",
) -> Response:
    """Enrol the face from 1-5 uploaded photos, with how consent was obtained (audited);
    the photos are not kept, only encrypted templates."""
    data: list[bytes] = []
    for i, photo in enumerate(photos, start=1):
        raw = photo.file.read(MAX_PHOTO_BYTES + 1)
        if len(raw) > MAX_PHOTO_BYTES:
            return _refused(request, container, f"photo {i} is larger than 8 MB")
        if raw:
            data.append(raw)
    keys = parse_keys(container.settings.template_key)
    return act(
        request,
        container,
        lambda u, uow, now: (
            checkins.enrol_face(
                uow, u, now, container.verifier(), keys, participant_id, data, consent_reason
            ).templates
        ),
        lambda n: f"Face enrolled from {n} photo(s); the photos were not kept.",
        f"/ui/participants/{participant_id}",
    )


@router.post(
    "/participants/{participant_id}/app-code",
    response_class=HTMLResponse,
    openapi_extra=PERSONAL_WRITE,
)
def app_code(participant_id: PathId, request: Request, container: ContainerDep) -> Response:
    """Issue a one-time sign-in code for the participant's phone and show it once."""
    try:
        user = current_user(request, container)
    except Exception:
        return act(request, container, lambda u, uow, now: None, "", "/ui/login")
    now = container.clock.now()
    try:
        with container.uow() as uow:
            code, expires = portal.issue_app_code(uow, user, now, participant_id)
            p = uow.participants.get(participant_id)
            who, tz = p.name, p.timezone
    except OpenATDError as exc:
        from openatd.api.errors import status_for

        return render(request, "error.html", status_for(exc), user=user, message=str(exc))
    return render(
        request, "app_code.html", user=user, code=code, expires=expires, who=who, tz=tz,
        pid=participant_id,
    )  # fmt: skip


@router.get(
    "/participants/{participant_id}/positions",
    response_class=HTMLResponse,
    openapi_extra=personal_read("positions"),
)
def track(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    start: str = "",
    end: str = "",
    reason: str = "",
) -> Response:
    """The track for a stated reason, on the map with each fix's accuracy circle and the
    zones, and as a table.

    *start* and *end* are the participant's local time (their IANA zone, as the form
    says), to the second; a typed UTC offset is honoured; an empty *end* is now, so the
    newest fix is always included.
    """

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        p = participants.get_participant(uow, user, now, participant_id)
        zone = ZoneInfo(p.timezone)
        try:
            t0 = datetime.fromisoformat(start)
            t1 = datetime.fromisoformat(end) if end.strip() else now
        except ValueError as exc:
            raise InvalidInput(
                f"give start and end as date and time ({p.timezone} local time)"
            ) from exc
        t0, t1 = (x if x.tzinfo else x.replace(tzinfo=zone) for x in (t0, t1))
        got = participants.read_positions(
            uow, user, now, participant_id, start=t0, end=t1, reason=reason
        )
        zones = uow.zones.for_participant(participant_id)  # the read above is audited
        fixes = [
            {"lat": x.latitude, "lon": x.longitude, "acc": x.accuracy_m,
             "t": x.fix_time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")}
            for x in got.positions
        ]  # fmt: skip
        return {
            "p": p,
            "positions": got.positions,
            "reason": reason,
            "entry": got.audit_entry_id,
            "start": t0,
            "end": t1,
            "track_json": script_json(fixes),
            "zones_json": script_json([_zone_json(z) for z in zones]),
            "map": _map_settings(container),
        }

    return page(request, container, "positions.html", build)


@router.get(
    "/participants/{participant_id}/checkins",
    response_class=HTMLResponse,
    openapi_extra=personal_read("checkins"),
)
def checkin_history(
    participant_id: PathId, request: Request, container: ContainerDep, reason: str = ""
) -> Response:
    """The participant's check-ins (they hold locations: a reason first, audited)."""

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        rows = checkins.list_checkins(uow, user, now, participant_id, reason)
        return {"p": uow.participants.get(participant_id), "rows": rows, "reason": reason}

    return page(request, container, "checkins.html", build)


def _required(value: str, what: str) -> str:
    if not value.strip():
        raise InvalidInput(f"give the {what}")
    return value.strip()


def _refused(request: Request, container: ContainerDep, message: str) -> Response:
    try:
        user: TokenClaims | None = current_user(request, container)
    except Exception:
        user = None
    return render(request, "error.html", 413, user=user, message=message)


def _shape(
    geometry: str, lat: str, lon: str, radius: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(GeoJSON geometry, None) or (None, circle) from the zone form's fields.

    Raises:
        InvalidInput: neither given, or the GeoJSON is not JSON or not one shape.
    """
    if geometry.strip():
        if len(geometry) > MAX_GEOJSON_CHARS:
            raise InvalidInput(f"the GeoJSON is longer than {MAX_GEOJSON_CHARS} characters")
        try:
            doc = json.loads(geometry)
        except ValueError as exc:
            raise InvalidInput(f"the GeoJSON is not valid JSON: {exc}") from exc
        if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
            features = doc.get("features") or []
            if len(features) != 1:
                raise InvalidInput(
                    f"the FeatureCollection has {len(features)} features; give one zone at a time"
                )
            doc = features[0]
        if isinstance(doc, dict) and doc.get("type") == "Feature":
            doc = doc.get("geometry")
        if not isinstance(doc, dict):
            raise InvalidInput("the GeoJSON is not a geometry, a Feature or a FeatureCollection")
        return doc, None
    if lat.strip() and lon.strip() and radius.strip():
        try:
            circle = {"lat": float(lat), "lon": float(lon), "radius_m": float(radius)}
        except ValueError as exc:
            raise InvalidInput("the circle's centre and radius must be numbers") from exc
        return None, circle
    raise InvalidInput("draw the zone on the map, or upload or paste its GeoJSON")


def _schedule(days: list[str] | None, start: str, end: str) -> list[dict[str, Any]] | None:
    """One weekly local-time window from the form, or None when no day is ticked."""
    chosen = [d for d in (days or []) if d]
    if not chosen:
        return None
    if not start or not end:
        raise InvalidInput("a schedule needs a start and an end time (local time)")
    return [{"days": chosen, "start": start[:5], "end": end[:5]}]


def _zone_json(z: Any) -> dict[str, Any]:
    return {
        "id": z.id,
        "name": z.name,
        "kind": z.kind,
        "geometry": z.geometry,
        "circle": (
            {"lat": z.circle_lat, "lon": z.circle_lon, "radius_m": z.circle_radius_m}
            if z.circle_radius_m
            else None
        ),
    }


def _map_settings(container: ContainerDep) -> dict[str, str]:
    s = container.settings
    return {"tiles": s.map_tiles_url, "attribution": s.map_tiles_attribution}
