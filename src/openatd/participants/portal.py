"""The participant's side (DESIGN principle 6): sign-in of the check-in app, obligations, alerts
with their explanations and the participant's responses, and an export of everything held.

Sign-in: a case manager issues a one-time code (:func:`issue_app_code`; 12 characters from a
31-symbol alphabet, about 59 bits, valid 24 hours, argon2id-hashed at rest). The phone exchanges it
once, with the participant id, for a short-lived participant token (:func:`sign_in`), and renews
that token before it expires (:func:`refresh`). Five wrong codes void the code. Issuing a new code
bumps the participant's token version, which revokes every earlier token (a lost phone).
Participant tokens are a different kind from staff tokens (``safeguards.auth``): neither is
accepted where the other is expected.

Every function acts for one participant only, named by their verified token; none takes another
participant's id from the request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openatd.checkins.schedule import CheckInWindow
from openatd.checkins.service import (
    ALERT_PROBLEM_REPORT,
    MAX_ATTEMPTS,
    enrolment_summary,
    open_windows,
    participant_actor,
    plan_of,
    upcoming_windows,
    window_status,
)
from openatd.domain.audit import AuditAction
from openatd.domain.schedules import parse_schedule
from openatd.errors import AuthenticationFailed, InvalidInput, NotFound, TooManyAttempts
from openatd.notify.calendar import Obligation, calendar_bytes, local_dates
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access, require_role
from openatd.safeguards.auth import (
    ParticipantClaims,
    Role,
    TokenClaims,
    check_app_code,
    hash_app_code,
    issue_participant_token,
)
from openatd.safeguards.reads import record_read
from openatd.safeguards.throttle import LoginThrottle
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""Sign-in code symbols: no 0/O, 1/I/L to misread (31 symbols; 12 of them ≈ 59 bits)."""
CODE_LENGTH = 12
CODE_TTL_S = 24 * 3600
_DUMMY_CODE_HASH = hash_app_code("NOT-A-REAL-CODE")
MAX_RESPONSE_CHARS = 4000
OBLIGATION_HORIZON = timedelta(days=14)


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def issue_app_code(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int
) -> tuple[str, datetime]:
    """A new one-time sign-in code for the participant's phone; returns ``(code, expires_at)``.

    The code is shown once (formatted ``XXXX-XXXX-XXXX``) and stored only as an argon2id hash.
    Earlier codes and every token issued before are revoked. Audited.

    Raises:
        PermissionDenied, NotFound: no access to the participant.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    require_participant_access(uow, user, participant_id)
    p = uow.participants.get(participant_id)
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + timedelta(seconds=CODE_TTL_S)
    p.app_code_hash = hash_app_code(raw)
    p.app_code_expires_at = expires
    p.app_code_failures = 0
    p.app_token_version = (p.app_token_version or 0) + 1
    audit.record(
        uow,
        at=now,
        actor=f"user:{user.username}",
        action=AuditAction.PARTICIPANT_APP_CODE,
        participant_id=participant_id,
        subject_type="participant",
        subject_id=participant_id,
        details={"expires_at": expires.isoformat(), "token_version": p.app_token_version},
    )
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4)), expires


def _token(
    p: t.Participant, now: datetime, secret: str, ttl_s: int
) -> tuple[str, ParticipantClaims]:
    claims = ParticipantClaims(
        participant_id=p.id,
        version=p.app_token_version or 0,
        expires=now + timedelta(seconds=ttl_s),
    )
    return issue_participant_token(claims, secret), claims


def sign_in(
    new_uow: Callable[[], UnitOfWork],
    participant_id: int,
    code: str,
    now: datetime,
    *,
    secret: str,
    ttl_s: int,
    throttle: LoginThrottle | None = None,
    client: str = "unknown",
) -> tuple[str, ParticipantClaims]:
    """Exchange a one-time code for a participant token; the code is used up. Audited.

    Wrong guesses never void the code (a stranger guessing must not keep the participant from
    checking in): they are throttled per client address instead (exponential delay,
    :mod:`openatd.safeguards.throttle`), and the code is long: :data:`CODE_LENGTH` symbols of
    :data:`CODE_ALPHABET` are 31**12 ≈ 2**59 codes, so even a million clients each making the
    free attempts and then waiting out the delays for the code's 24 hours find it with a
    chance below 10**-9. Failures are aggregated in the audit log (an entry when a
    participant's code has drawn :attr:`LoginThrottle.free_failures` wrong guesses, and at
    each doubling; none for ids that do not exist).

    Raises:
        TooManyAttempts: this client must wait (429).
        AuthenticationFailed: unknown participant, no code, expired, voided or wrong code (one
            message for all, so the answer reveals nothing).
    """
    if throttle is not None:
        if not throttle.hit_client(client):
            raise TooManyAttempts(
                "too many sign-in attempts from your address", throttle.client_rate_reset_s(client)
            )
        wait = throttle.wait_s("client", client)
        if wait > 0:
            raise TooManyAttempts("too many wrong sign-in codes from your address", wait)
    ok = False
    result: tuple[str, ParticipantClaims] | None = None
    with new_uow() as uow:
        try:
            p: t.Participant | None = uow.participants.get(participant_id)
        except NotFound:
            p = None
        usable = (
            p is not None
            and p.active
            and p.app_code_hash is not None
            and p.app_code_expires_at is not None
            and now < p.app_code_expires_at
        )
        # Hash even when there is nothing to compare, so timing says nothing either.
        ok = (
            check_app_code(
                p.app_code_hash
                if usable and p is not None and p.app_code_hash
                else _DUMMY_CODE_HASH,
                _normalise_code(code),
            )
            and usable
        )
        if ok and p is not None:
            failures = throttle.succeeded("account", str(p.id)) if throttle is not None else 0
            if throttle is not None:
                throttle.succeeded("client", client)
            p.app_code_hash = None
            p.app_code_expires_at = None
            p.app_code_failures = 0
            result = _token(p, now, secret, ttl_s)
            audit.record(
                uow,
                at=now,
                actor=participant_actor(participant_id),
                action=AuditAction.PARTICIPANT_APP_LOGIN,
                participant_id=participant_id,
                subject_type="participant",
                subject_id=participant_id,
                details={"failed_attempts": failures} if failures else None,
            )
        elif throttle is not None:
            throttle.failed("client", client)
            if p is not None:
                p.app_code_failures = (p.app_code_failures or 0) + 1  # counted, never voids
                n = throttle.failed("account", str(p.id))
                free = throttle.free_failures
                if n >= free and n % free == 0 and ((n // free) & (n // free - 1)) == 0:
                    audit.record(
                        uow,
                        at=now,
                        actor="system:sign-in",
                        action=AuditAction.PARTICIPANT_APP_LOGIN_THROTTLED,
                        participant_id=participant_id,
                        subject_type="participant",
                        subject_id=participant_id,
                        details={"failures": n, "last_client": client[:64], "code_kept": True},
                    )
    if result is None:
        raise AuthenticationFailed("wrong participant id or sign-in code, or the code has expired")
    return result


def current_participant(uow: UnitOfWork, claims: ParticipantClaims) -> t.Participant:
    """The participant a verified token names, if the token is still valid for them.

    Raises:
        AuthenticationFailed: the participant is gone or inactive, or the token was revoked by
            a newer sign-in code.
    """
    try:
        p = uow.participants.get(claims.participant_id)
    except NotFound as exc:
        raise AuthenticationFailed("participant token no longer valid") from exc
    if not p.active or (p.app_token_version or 0) != claims.version:
        raise AuthenticationFailed("participant token revoked; ask your case manager for a code")
    return p


def refresh(
    uow: UnitOfWork, claims: ParticipantClaims, now: datetime, *, secret: str, ttl_s: int
) -> tuple[str, ParticipantClaims]:
    """A fresh token for a still-valid one (same version)."""
    return _token(current_participant(uow, claims), now, secret, ttl_s)


# -- obligations and the open window ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowView:
    """A check-in window as the participant sees it."""

    window: CheckInWindow
    attempts_used: int
    attempts_left: int
    done: str | None


def window_view(uow: UnitOfWork, window: CheckInWindow) -> WindowView:
    """Attempts used/left in *window* and, if no attempt is allowed, why."""
    attempts, refusal = window_status(uow, window)
    left = 0 if refusal else MAX_ATTEMPTS - len(attempts)
    return WindowView(window, len(attempts), left, refusal)


def open_window(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> WindowView | None:
    """The window the participant should check in for now (the one closing first), if any."""
    p = current_participant(uow, claims)
    windows = open_windows(uow, p, now)
    views = [window_view(uow, w) for w in windows]
    pending = [v for v in views if v.done is None]
    chosen = pending[0] if pending else (views[0] if views else None)
    record_read(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.CHECKIN_WINDOW_READ,
        what="checkin_window",
        participant_ids=[p.id],
        details={"open": chosen is not None, "by": "participant"},
    )
    return chosen


@dataclass(frozen=True, slots=True)
class Obligations:
    """The participant's check-in obligations: each schedule in words, and coming windows."""

    participant: t.Participant
    schedules: list[tuple[t.CheckInSchedule, str]]
    windows: list[WindowView]
    appointments: list[t.Obligation] = field(default_factory=list)


def obligations(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> Obligations:
    """Active schedules and the windows open now or in the next 14 days."""
    p = current_participant(uow, claims)
    rows = uow.checkin_schedules.for_participant(p.id)
    described = [(row, plan_of(row, p.timezone).describe()) for row in rows]
    windows = [window_view(uow, w) for w in upcoming_windows(uow, p, now, OBLIGATION_HORIZON)]
    # Hearings, appointments and other obligations from yesterday on (cancelled ones too, so
    # that the participant sees the cancellation).
    appointments = list(uow.obligations.for_participant(p.id, since=now - timedelta(days=1)))
    record_read(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.OBLIGATIONS_READ,
        what="obligations",
        participant_ids=[p.id],
        details={
            "schedules": len(described),
            "windows": len(windows),
            "appointments": len(appointments),
            "by": "participant",
        },
    )
    return Obligations(p, described, windows, appointments)


def calendar(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> bytes:
    """The participant's obligations, and the next 14 days of check-in and curfew windows, as
    an iCalendar file, each with a reminder 30 minutes before, in the participant's own zone."""
    p = current_participant(uow, claims)
    items = calendar_items(uow, p, now)
    record_read(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.PARTICIPANT_READ,
        what="calendar",
        participant_ids=[p.id],
        details={"events": len(items), "by": "participant"},
    )
    return calendar_bytes(p.name, ZoneInfo(p.timezone), items, now)


def calendar_items(uow: UnitOfWork, p: t.Participant, now: datetime) -> list[Obligation]:
    """The calendar's events: obligations (hearings, appointments...) not yet over and not
    cancelled, and check-in and curfew windows of the next 14 days. Not audited (callers do)."""
    tz = ZoneInfo(p.timezone)
    horizon = now + OBLIGATION_HORIZON
    items: list[Obligation] = []
    for w in upcoming_windows(uow, p, now, OBLIGATION_HORIZON):
        local = f"{w.start.astimezone(tz):%H:%M}-{w.end.astimezone(tz):%H:%M}"
        items.append(
            Obligation(
                uid=f"checkin-{w.schedule_id}-{w.start:%Y%m%dT%H%M%SZ}@openatd",
                start=w.start,
                end=w.end,
                summary="Check in with the OpenATD app",
                description=(
                    f"Take your check-in photo in the app between {local} "
                    f"({w.grace_s // 60} minutes of grace after the end)."
                ),
            )
        )
    for z in uow.zones.for_participant(p.id):
        if z.kind != "inclusion" or not z.schedule:
            continue
        schedule = parse_schedule(z.schedule, tz)
        for day in local_dates(now, tz, OBLIGATION_HORIZON.days):
            for window in schedule.windows:
                occ = window.occurrence(day, tz)
                if occ is None or occ[1] <= now or occ[0] >= horizon:
                    continue
                items.append(
                    Obligation(
                        uid=f"curfew-{z.id}-{occ[0]:%Y%m%dT%H%M%SZ}@openatd",
                        start=occ[0],
                        end=occ[1],
                        summary=f"Curfew: be at {z.name}",
                        description=f"Curfew: be inside the '{z.name}' zone during this time.",
                    )
                )
    for ob in uow.obligations.for_participant(
        p.id, since=now - timedelta(days=1), include_cancelled=False
    ):
        details = [x for x in (ob.location, ob.notes) if x]
        items.append(
            Obligation(
                uid=f"obligation-{ob.id}@openatd",
                start=ob.start,
                end=ob.end or ob.start + timedelta(hours=1),
                summary=ob.title,
                description=" — ".join(details) or ob.title,
                location=ob.location,
            )
        )
    return items


# -- alerts ---------------------------------------------------------------------------------------


def my_alerts(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> list[t.Alert]:
    """Every alert raised about the participant, newest first, with its explanation."""
    p = current_participant(uow, claims)
    rows = list(uow.alerts.list(participant_ids=[p.id], limit=100_000))
    record_read(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.ALERTS_READ,
        what="alerts",
        participant_ids=[p.id],
        details={"count": len(rows), "by": "participant"},
    )
    return rows


def respond_to_alert(
    uow: UnitOfWork, claims: ParticipantClaims, now: datetime, alert_id: int, text: str
) -> t.Alert:
    """Store the participant's response to an alert about them (the latest response is shown;
    each one is kept in the audit log).

    Raises:
        NotFound: no such alert about this participant. InvalidInput: empty or over 4000 chars.
    """
    p = current_participant(uow, claims)
    body = (text or "").strip()
    if not body or len(body) > MAX_RESPONSE_CHARS:
        raise InvalidInput(f"a response must have 1 to {MAX_RESPONSE_CHARS} characters")
    try:
        alert = uow.alerts.get(alert_id)
    except NotFound:
        alert = None
    if alert is None or alert.participant_id != p.id:
        raise NotFound(f"alert {alert_id} not found")
    alert.participant_response = body
    alert.responded_at = now
    audit.record(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.ALERT_RESPOND,
        participant_id=p.id,
        subject_type="alert",
        subject_id=alert.id,
        reason=body,
    )
    return alert


# -- problem reports and the access log ------------------------------------------------------------

PROBLEM_KINDS = ("app", "device", "other")
"""What a participant can report as not working: the check-in app, their tracker, other."""


def report_problem(
    uow: UnitOfWork,
    claims: ParticipantClaims,
    now: datetime,
    kind: str,
    text: str,
    *,
    occurred_at: datetime | None = None,
) -> t.Alert:
    """Record a participant's technical report ("the app would not upload") as a *technical*
    alert of type ``participant_report`` for their case manager, timestamped by the server
    (*now*, UTC) and kept in the audit log, so that it is evidence in the participant's favour
    later. *occurred_at* is when the problem started by the phone's clock, if given (recorded,
    not trusted).

    Raises:
        InvalidInput: unknown *kind*, a text empty or over 4000 characters.
    """
    p = current_participant(uow, claims)
    if kind not in PROBLEM_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PROBLEM_KINDS)}")
    body = (text or "").strip()
    if not body or len(body) > MAX_RESPONSE_CHARS:
        raise InvalidInput(f"a report must have 1 to {MAX_RESPONSE_CHARS} characters")
    what = {"app": "the check-in app", "device": "their tracking device", "other": "something"}
    alert = uow.alerts.add(
        participant_id=p.id,
        device_id=None,
        type=ALERT_PROBLEM_REPORT,
        category="technical",
        at=now,
        raised_at=now,
        explanation=(
            f"The participant reported that {what[kind]} was not working, at "
            f"{now.astimezone(ZoneInfo(p.timezone)):%Y-%m-%d %H:%M %Z}: “{body}”. A technical "
            "report, not a violation; check-ins or positions missing around this time may be "
            "explained by it."
        ),
        details={
            "kind": kind,
            "text": body,
            "reported_at": now.isoformat(),
            "occurred_at": _iso(occurred_at),
        },
        status="open",
    )
    audit.record(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.PARTICIPANT_REPORT,
        participant_id=p.id,
        subject_type="alert",
        subject_id=alert.id,
        reason=body,
        details={"kind": kind},
    )
    return alert


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One access to or change of the participant's data by someone else."""

    at: datetime
    actor: str
    action: str
    subject: str | None
    reason: str | None
    cross_caseload: bool = False
    """A supervisor read outside their caseload, with the explicit flag (principle 2)."""


def access_log(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> list[AccessEntry]:
    """Who read or changed the participant's data and why: every audit entry about them made by
    staff or by the system (their own actions left out), newest first. Audited (reading it
    is itself a read of their data, by them)."""
    p = current_participant(uow, claims)
    mine = participant_actor(p.id)
    rows = [e for e in uow.exports.audit_entries(p.id) if e.actor != mine]
    record_read(
        uow,
        at=now,
        actor=mine,
        action=AuditAction.PARTICIPANT_READ,
        what="access_log",
        participant_ids=[p.id],
        details={"entries": len(rows), "by": "participant"},
    )
    return [
        AccessEntry(
            e.at,
            e.actor,
            e.action,
            e.subject_type,
            e.reason,
            bool((e.details or {}).get("cross_caseload")),
        )
        for e in reversed(rows)
    ]


# -- export ---------------------------------------------------------------------------------------


def _own_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """An entry's details without the ids of *other* participants a caseload-wide read
    returned (one participant's export never names another)."""
    if not details or "participant_ids" not in details:
        return details
    return {k: v for k, v in details.items() if k != "participant_ids"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export(uow: UnitOfWork, claims: ParticipantClaims, now: datetime) -> dict[str, Any]:
    """Everything OpenATD holds about the participant, as JSON-ready data. Audited.

    Sections: ``profile``, ``face_enrolment`` (count, model, consent; never the templates),
    ``checkin_schedules``, ``checkins`` (with the location each reported; selfies are listed as
    held or not, not included), ``alerts`` (with explanations, resolutions and responses),
    ``zones``, ``devices``, ``positions`` (every stored fix), ``events`` (device alarms,
    alerts not raised because monitoring was down), ``audit_entries`` (every recorded
    access to or change of their data).
    """
    p = current_participant(uow, claims)
    enrolment = enrolment_summary(uow, p.id)
    data: dict[str, Any] = {
        "exported_at": now.isoformat(),
        "profile": {
            "id": p.id,
            "name": p.name,
            "timezone": p.timezone,
            "supervision_level": p.supervision_level,
            "policy": p.policy,
            "phone": p.phone,
            "active": p.active,
            "created_at": _iso(p.created_at),
        },
        "face_enrolment": {
            "templates": enrolment.templates,
            "model": enrolment.model,
            "enrolled_at": _iso(enrolment.enrolled_at),
            "consent_reason": enrolment.consent_reason,
            "note": "face templates are stored encrypted; photos are never kept",
        },
        "checkin_schedules": [
            {
                "id": s.id,
                "kind": s.kind,
                "windows": s.windows,
                "opens_at": _iso(s.opens_at),
                "closes_at": _iso(s.closes_at),
                "grace_s": s.grace_s,
                "reason": s.reason,
                "active": s.active,
                "created_at": _iso(s.created_at),
            }
            for s in uow.checkin_schedules.for_participant(p.id, active_only=False)
        ],
        "checkins": [
            {
                "id": c.id,
                "schedule_id": c.schedule_id,
                "window_start": _iso(c.window_start),
                "window_end": _iso(c.window_end),
                "server_time": _iso(c.server_time),
                "device_time": _iso(c.device_time),
                "latitude": c.latitude,
                "longitude": c.longitude,
                "accuracy_m": c.accuracy_m,
                "outcome": c.outcome,
                "attempt": c.attempt,
                "quality_code": c.quality_code,
                "quality_message": c.quality_message,
                "score": c.score,
                "threshold": c.threshold,
                "on_time": c.on_time,
                "review_kind": c.review_kind,
                "review_status": c.review_status,
                "review_resolution": c.review_resolution,
                "review_reason": c.review_reason,
                "selfie_held": c.selfie is not None,
            }
            for c in uow.checkins.for_participant(p.id, limit=1_000_000)
        ],
        "alerts": [
            {
                "id": a.id,
                "type": a.type,
                "category": a.category,
                "at": _iso(a.at),
                "raised_at": _iso(a.raised_at),
                "explanation": a.explanation,
                "details": a.details,
                "zone_name": a.zone_name,
                "status": a.status,
                "resolution": a.resolution,
                "resolution_reason": a.resolution_reason,
                "resolved_at": _iso(a.resolved_at),
                "participant_response": a.participant_response,
            }
            for a in uow.alerts.list(participant_ids=[p.id], limit=1_000_000)
        ],
        "zones": [
            {
                "id": z.id,
                "name": z.name,
                "kind": z.kind,
                "geometry": z.geometry,
                "circle": None
                if z.circle_lat is None
                else {"lat": z.circle_lat, "lon": z.circle_lon, "radius_m": z.circle_radius_m},
                "schedule": z.schedule,
                "created_at": _iso(z.created_at),
            }
            for z in uow.zones.for_participant(p.id)
        ],
        "devices": [
            {
                "id": d.id,
                "unique_id": d.unique_id,
                "protocol": d.protocol,
                "name": d.name,
                "last_seen_at": _iso(d.last_seen_at),
            }
            for d in uow.devices.list([p.id])
        ],
        "positions": [
            {
                "id": pos.id,
                "device_id": pos.device_id,
                "fix_time": _iso(pos.fix_time),
                "server_time": _iso(pos.server_time),
                "latitude": pos.latitude,
                "longitude": pos.longitude,
                "valid": pos.valid,
                "accuracy_m": pos.accuracy_m,
                "speed_mps": pos.speed_mps,
                "course_deg": pos.course_deg,
                "altitude_m": pos.altitude_m,
                "battery_pct": pos.battery_pct,
            }
            for pos in uow.exports.positions(p.id)
        ],
        "events": [
            {"id": ev.id, "type": ev.type, "time": _iso(ev.time), "attributes": ev.attributes}
            for ev in uow.exports.events(p.id)
        ],
        "audit_entries": [
            {
                "id": e.id,
                "at": _iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "subject_type": e.subject_type,
                "subject_id": e.subject_id,
                "reason": e.reason,
                "details": _own_details(e.details),
            }
            for e in uow.exports.audit_entries(p.id)
        ],
    }
    record_read(
        uow,
        at=now,
        actor=participant_actor(p.id),
        action=AuditAction.PARTICIPANT_EXPORT,
        what="participant",
        participant_ids=[p.id],
        subject_id=p.id,
        details={
            key: len(data[key])
            for key in ("checkins", "alerts", "zones", "positions", "audit_entries")
        },
    )
    return data
