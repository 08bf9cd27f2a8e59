"""Smartphone check-in services: face enrolment, check-in schedules, check-ins, reviews and the
missed-check-in sweep.

Principles this module keeps (shared/DESIGN.md):

* Enrolment keeps only face templates, Fernet-sealed with the newest key of
  ``settings.template_key`` (comma-separated, newest first); the photos are never stored.
* A check-in is judged by the *server's* clock. The quality gate runs first: a poor photo is a
  retake with a plain-language reason (three attempts per window; the third poor photo goes to a
  person as a *technical* review). A good photo that does not match opens a *review* with the
  score and the quality report; it never raises an alert by itself (principles 5 and 7).
* The selfie is kept only while its check-in needs review, re-encoded without any metadata
  (EXIF, GPS tags); closing the review deletes it (principle 4).
* Location is read only as part of a check-in, and staff read it per participant with a reason,
  audited (principles 1-3).
* A window that closes (after its grace period) without a verified or reviewed check-in raises a
  ``missed_check_in`` alert, classified *technical* when the check-in service or its face
  verification was failing during the window (an :class:`~openatd.storage.tables.Incident`).
* Incidents are opened only for faults on *our* side, never for a participant's bad input
  (which is refused with :class:`~openatd.errors.InvalidInput` before anything is stored):
  a dependency failure (the face verifier unavailable, the database unreachable or locked) opens
  a *global* incident, since every participant is affected; any other unexpected server error
  during one participant's check-in opens an incident *scoped to that participant*
  (``details.participant_id``), which classifies only their own missed windows as technical. So
  one participant's request can never excuse everybody's missed check-ins.

Services take a unit of work (or a factory of them), the actor and the current instant; they
never see a web request.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import cv2
import numpy as np

from openatd.checkins.face import (
    EMBEDDING_DIMENSIONS,
    Decision,
    EnrolmentPhotoRejected,
    FaceVerifier,
    VerificationResult,
)
from openatd.checkins.quality import decode_image
from openatd.checkins.schedule import (
    MIN_WINDOW_S,
    CheckInPlan,
    CheckInWindow,
    check_grace,
    check_weekly_windows,
)
from openatd.checkins.templates import (
    FaceTemplate,
    decrypt_template,
    encrypt_template,
    rotate_template,
)
from openatd.domain.audit import AuditAction
from openatd.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    StorageUnavailable,
    VerificationUnavailable,
)
from openatd.safeguards import audit
from openatd.safeguards.access import require_participant_access, require_reason, require_role
from openatd.safeguards.auth import Role, TokenClaims
from openatd.safeguards.reads import record_read
from openatd.storage import tables as t
from openatd.storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Check-in attempts per window (cases.md B26)."""
MAX_ENROLMENT_PHOTOS = 5
MIN_REASON = 10
"""Shortest stated reason (characters) for consent, location reads, reviews."""
MAX_ADHOC_MINUTES = 24 * 60
MIN_ADHOC_MINUTES = MIN_WINDOW_S // 60
"""Shortest ad-hoc window, minutes: as for weekly windows, nobody can be expected to check in
within one minute of being asked."""
REVIEW_SELFIE_LONG_SIDE_PX = 1280
"""A selfie kept for review is stored re-encoded at most this large (long side, pixels)."""

INCIDENT_VERIFIER = "face_verification_unavailable"
INCIDENT_SERVER = "checkin_server_error"

DEVICE_TIME_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEVICE_TIME_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""A phone clock reading outside ``[DEVICE_TIME_EARLIEST, DEVICE_TIME_LATEST)`` is refused."""

_DEPENDENCY_ERRORS = frozenset({"OperationalError", "InterfaceError", "TimeoutError"})
"""SQLAlchemy exception classes that mean the database, not the request, failed."""

ALERT_MISSED = "missed_check_in"
ALERT_PROBLEM_REPORT = "participant_report"
"""A participant's own technical report ("the app would not upload"), see participants.portal."""
REPORT_LOOKBACK = timedelta(hours=12)
"""Problem reports this long before a window opens are named in its missed-check-in alert."""


def problem_reports(
    uow: UnitOfWork, participant_id: int, start: datetime, end: datetime
) -> list[t.Alert]:
    """The participant's own problem reports (``participant_report`` alerts) made from
    ``REPORT_LOOKBACK`` (12 h) before *start* to *end* (UTC), oldest first: the context a
    reviewer of a missed check-in or a missed obligation must see."""
    return sorted(
        (
            a
            for a in uow.alerts.list(participant_ids=[participant_id], limit=1000)
            if a.type == ALERT_PROBLEM_REPORT and start - REPORT_LOOKBACK <= a.at <= end
        ),
        key=lambda a: (a.at, a.id),
    )


LATE_UPLOAD_MAX = timedelta(hours=72)
"""How long after its window an attempt the phone kept (a failed upload, retried) is still
accepted as a late upload, reviewed as technical (measured from the attempt to its arrival)."""
ATTEMPT_CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future of the server's clock an attempt time may lie (phone clock skew)."""


class Outcome(StrEnum):
    """Stored outcome of one check-in attempt."""

    VERIFIED = "verified"
    RETAKE_REQUESTED = "retake_requested"
    NEEDS_REVIEW = "needs_review"


class ReviewKind(StrEnum):
    """Why a check-in went to a person."""

    MISMATCH = "mismatch"
    """A good-quality photo scored below the threshold."""
    TECHNICAL = "technical"
    """Every attempt in the window failed the photo-quality gate."""


class ReviewResolution(StrEnum):
    """How a person closed a check-in review."""

    IDENTITY_CONFIRMED = "identity_confirmed"
    TECHNICAL = "technical"
    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed"


def participant_actor(participant_id: int) -> str:
    """The audit actor string for a participant acting through the app."""
    return f"participant:{participant_id}"


def _reason(reason: str | None, what: str) -> str:
    """The stated reason for *what*, by the same rule as every other reasoned action."""
    return require_reason(reason, purpose=f"for {what}", minimum=MIN_REASON)


# -- enrolment -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrolmentSummary:
    """What is enrolled for one participant (never the templates themselves)."""

    participant_id: int
    templates: int
    model: str | None
    enrolled_at: datetime | None
    consent_reason: str | None


def enrolment_summary(uow: UnitOfWork, participant_id: int) -> EnrolmentSummary:
    """Count, model and time of a participant's enrolled templates."""
    rows = uow.face_templates.for_participant(participant_id)
    if not rows:
        return EnrolmentSummary(participant_id, 0, None, None, None)
    last = rows[-1]
    return EnrolmentSummary(
        participant_id, len(rows), last.model, last.created_at, last.consent_reason
    )


def enrol_face(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    verifier: FaceVerifier,
    keys: Sequence[str],
    participant_id: int,
    photos: Sequence[bytes],
    consent_reason: str,
) -> EnrolmentSummary:
    """Enrol (or re-enrol) a participant's face from 1-5 photos, with recorded consent.

    Each photo goes through the verifier's quality gate and becomes one template; every photo
    must pass, otherwise nothing changes. The templates replace any earlier ones and are sealed
    with the newest of *keys*; the photos are not kept. Audited as ``face:enrol``.

    Raises:
        PermissionDenied: not a case manager or supervisor with access to the participant.
        InvalidInput: no photo or more than five, no consent reason, a photo that is not an
            acceptable image or fails the gate (the message names the photo and the reason).
        VerificationUnavailable: the models fail.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    require_participant_access(uow, user, participant_id)
    consent = _reason(consent_reason, "face enrolment needs the participant's recorded consent")
    if not 1 <= len(photos) <= MAX_ENROLMENT_PHOTOS:
        raise InvalidInput(f"give 1 to {MAX_ENROLMENT_PHOTOS} enrolment photos, not {len(photos)}")
    templates: list[FaceTemplate] = []
    for number, photo in enumerate(photos, start=1):
        try:
            templates.append(verifier.enroll(photo))
        except EnrolmentPhotoRejected as exc:
            raise InvalidInput(
                f"photo {number}: {exc.quality.code.value}: {exc.quality.message}"
            ) from exc
        except InvalidInput as exc:
            raise InvalidInput(f"photo {number}: {exc}") from exc
    replaced = uow.face_templates.delete_for_participant(participant_id)
    for template in templates:
        uow.face_templates.add(
            participant_id=participant_id,
            ciphertext=encrypt_template(template, keys),
            model=template.model_id,
            consent_reason=consent,
            created_by=user.user_id,
            created_at=now,
        )
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.FACE_ENROL,
        participant_id=participant_id,
        subject_type="face_templates",
        reason=consent,
        details={"templates": len(templates), "replaced": replaced, "model": verifier.model_id},
    )
    return enrolment_summary(uow, participant_id)


def delete_face(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int, reason: str
) -> int:
    """Delete every enrolled template of a participant (e.g. at program exit); audited.

    Returns how many templates were deleted.

    Raises:
        PermissionDenied, NotFound: no access to the participant. InvalidInput: no reason.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    require_participant_access(uow, user, participant_id)
    text = _reason(reason, "deleting face templates")
    deleted = uow.face_templates.delete_for_participant(participant_id)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.FACE_DELETE,
        participant_id=participant_id,
        subject_type="face_templates",
        reason=text,
        details={"deleted": deleted},
    )
    return deleted


def read_enrolment(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int
) -> EnrolmentSummary:
    """The enrolment summary for staff with access to the participant."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    require_participant_access(uow, user, participant_id)
    summary = enrolment_summary(uow, participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.PARTICIPANT_READ,
        what="face_enrolment",
        participant_ids=[participant_id],
        subject_id=participant_id,
        details={"templates": summary.templates},
    )
    return summary


def rotate_template_keys(uow: UnitOfWork, keys: Sequence[str]) -> int:
    """Re-seal every stored template under the newest of *keys* (first in the list).

    Run after putting a new key first in ``OPENATD_TEMPLATE_KEY``; once it returns, the old
    key can be removed from the setting. Returns the number of templates re-sealed.

    Raises:
        InvalidInput: a template that opens with none of *keys* (nothing is changed).
    """
    rows = uow.face_templates.all()
    for row in rows:
        row.ciphertext = rotate_template(row.ciphertext, keys)
    return len(rows)


def _open_templates(
    uow: UnitOfWork, participant_id: int, keys: Sequence[str]
) -> list[FaceTemplate]:
    out = []
    for row in uow.face_templates.for_participant(participant_id):
        try:
            out.append(
                decrypt_template(row.ciphertext, row.model, keys, dimensions=EMBEDDING_DIMENSIONS)
            )
        except InvalidInput as exc:
            # A key was removed from the setting too early: a fault of the server, not of the
            # participant's photo.
            raise VerificationUnavailable(
                f"enrolled face template {row.id} cannot be opened: {exc}"
            ) from exc
    return out


# -- schedules -------------------------------------------------------------------------------


def plan_of(row: t.CheckInSchedule, timezone: str) -> CheckInPlan:
    """The windows of a stored schedule in the participant's time zone."""
    if row.kind == "adhoc":
        assert row.opens_at is not None and row.closes_at is not None
        return CheckInPlan.adhoc(row.id, row.opens_at, row.closes_at, timezone, grace_s=row.grace_s)
    return CheckInPlan.weekly(
        row.id, row.windows or [], timezone, grace_s=row.grace_s, not_before=row.created_at
    )


def create_schedule(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    participant_id: int,
    *,
    kind: str,
    windows: Sequence[dict[str, Any]] | None = None,
    within_minutes: int | None = None,
    grace_s: int = 300,
    reason: str | None = None,
) -> t.CheckInSchedule:
    """Add a check-in obligation; audited as ``checkin:schedule``.

    ``kind="weekly"`` takes *windows* (``[{"days": ["mon"], "start": "09:00", "end":
    "12:00"}]``, local time in the participant's zone, within the limits of
    :func:`~openatd.checkins.schedule.check_weekly_windows`); ``kind="adhoc"`` opens one window now
    for *within_minutes* minutes (5-1440) and needs a *reason*.

    Raises:
        InvalidInput: unknown kind, malformed windows (too many, too short, duplicated or
            overlapping), minutes or grace out of range, no reason for an ad-hoc request.
        PermissionDenied, NotFound: no access to the participant.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    require_participant_access(uow, user, participant_id)
    participant = uow.participants.get(participant_id)
    check_grace(grace_s)
    fields: dict[str, Any] = {
        "participant_id": participant_id,
        "kind": kind,
        "grace_s": grace_s,
        "active": True,
        "created_by": user.user_id,
        "created_at": now,
    }
    if kind == "weekly":
        if not windows:
            raise InvalidInput("a weekly check-in schedule needs at least one window")
        stored = [dict(w) for w in windows]
        plan = CheckInPlan.weekly(0, stored, participant.timezone, grace_s=grace_s, not_before=now)
        assert plan.weekly_schedule is not None
        check_weekly_windows(plan.weekly_schedule)
        fields.update(windows=stored, reason=(reason or "").strip() or None)
    elif kind == "adhoc":
        if within_minutes is None or not MIN_ADHOC_MINUTES <= within_minutes <= MAX_ADHOC_MINUTES:
            raise InvalidInput(
                f"an ad-hoc check-in needs within_minutes from {MIN_ADHOC_MINUTES} to "
                f"{MAX_ADHOC_MINUTES}"
            )
        fields.update(
            opens_at=now,
            closes_at=now + timedelta(minutes=within_minutes),
            reason=_reason(reason, "an ad-hoc check-in request"),
        )
    else:
        raise InvalidInput("kind must be 'weekly' or 'adhoc'")
    row = uow.checkin_schedules.add(**fields)
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CHECKIN_SCHEDULE,
        participant_id=participant_id,
        subject_type="checkin_schedule",
        subject_id=row.id,
        reason=row.reason,
        details={
            "kind": kind,
            "windows": row.windows,
            "within_minutes": within_minutes,
            "grace_s": grace_s,
        },
    )
    return row


def list_schedules(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int
) -> Sequence[t.CheckInSchedule]:
    """A participant's active check-in schedules; audited."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    require_participant_access(uow, user, participant_id)
    rows = uow.checkin_schedules.for_participant(participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CHECKIN_READ,
        what="checkin_schedules",
        participant_ids=[participant_id],
        details={"count": len(rows)},
    )
    return rows


def cancel_schedule(
    uow: UnitOfWork, user: TokenClaims, now: datetime, schedule_id: int, reason: str
) -> t.CheckInSchedule:
    """End a schedule (no further windows); audited with the reason.

    Windows that closed before now are still judged by the sweep.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    row = uow.checkin_schedules.get(schedule_id)
    require_participant_access(uow, user, row.participant_id)
    text = _reason(reason, "cancelling a check-in schedule")
    row.active = False
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CHECKIN_SCHEDULE,
        participant_id=row.participant_id,
        subject_type="checkin_schedule",
        subject_id=row.id,
        reason=text,
        details={"cancelled": True},
    )
    return row


def open_windows(uow: UnitOfWork, participant: t.Participant, now: datetime) -> list[CheckInWindow]:
    """Windows of the participant that accept a check-in at *now*, closing first first."""
    out = []
    for row in uow.checkin_schedules.for_participant(participant.id):
        window = plan_of(row, participant.timezone).open_window(now)
        if window is not None:
            out.append(window)
    return sorted(out, key=lambda w: w.closes_at)


def upcoming_windows(
    uow: UnitOfWork, participant: t.Participant, now: datetime, horizon: timedelta
) -> list[CheckInWindow]:
    """Open and coming windows of the participant within *horizon*, by start."""
    out: list[CheckInWindow] = []
    for row in uow.checkin_schedules.for_participant(participant.id):
        out.extend(plan_of(row, participant.timezone).upcoming(now, horizon))
    return sorted(out, key=lambda w: (w.start, w.schedule_id))


# -- check-ins -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Location:
    """Where the phone says it is at the moment of the check-in (WGS84 degrees, metres)."""

    latitude: float
    longitude: float
    accuracy_m: float

    def __post_init__(self) -> None:
        for name, value, lo, hi in (
            ("latitude", self.latitude, -90.0, 90.0),
            ("longitude", self.longitude, -180.0, 180.0),
            ("accuracy_m", self.accuracy_m, 0.0, 100_000.0),
        ):
            if not math.isfinite(value) or not lo <= value <= hi:
                raise InvalidInput(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}")


@dataclass(frozen=True, slots=True)
class CheckInReceipt:
    """What the participant is told at once about one attempt."""

    checkin: t.CheckIn
    window: CheckInWindow
    message: str
    attempts_left: int


def window_status(uow: UnitOfWork, window: CheckInWindow) -> tuple[Sequence[t.CheckIn], str | None]:
    """Attempts so far in *window* and, if no further attempt is allowed, why not."""
    attempts = uow.checkins.for_window(window.schedule_id, window.start)
    outcomes = {a.outcome for a in attempts}
    if Outcome.VERIFIED in outcomes:
        return attempts, "You have already checked in for this window. Thank you."
    if Outcome.NEEDS_REVIEW in outcomes:
        return attempts, (
            "Your check-in for this window was received and is waiting for a person to review "
            "it. You do not need to do anything else."
        )
    if len(attempts) >= MAX_ATTEMPTS:
        return attempts, f"All {MAX_ATTEMPTS} attempts for this window have been used."
    return attempts, None


def _find_window(
    uow: UnitOfWork, participant: t.Participant, now: datetime, schedule_id: int | None
) -> CheckInWindow:
    if schedule_id is not None:
        # Another participant's schedule reads exactly as a missing one: no existence hint.
        try:
            row = uow.checkin_schedules.get(schedule_id)
        except NotFound:
            row = None
        if row is None or row.participant_id != participant.id:
            raise NotFound(f"no such check-in schedule: {schedule_id}")
        window = plan_of(row, participant.timezone).open_window(now) if row.active else None
        if window is None:
            raise Conflict(
                f"no window of check-in schedule {schedule_id} is open now "
                f"(server time {now:%Y-%m-%d %H:%M:%S} UTC)"
            )
        return window
    windows = open_windows(uow, participant, now)
    if not windows:
        raise Conflict(f"no check-in window is open now (server time {now:%Y-%m-%d %H:%M:%S} UTC)")
    return windows[0]


def _late_window(
    uow: UnitOfWork,
    participant: t.Participant,
    now: datetime,
    schedule_id: int | None,
    attempted_at: datetime | None,
) -> CheckInWindow | None:
    """The window an attempt made at *attempted_at* belonged to, when that window no longer
    accepts check-ins at *now* (a late upload); ``None`` when the attempt is not late."""
    if attempted_at is None or now - attempted_at > LATE_UPLOAD_MAX:
        return None
    rows = uow.checkin_schedules.for_participant(participant.id, active_only=False)
    for row in rows:
        if schedule_id is not None and row.id != schedule_id:
            continue
        window = plan_of(row, participant.timezone).open_window(attempted_at)
        if window is not None and not window.accepts(now):
            return window
    return None


def late_message(window: CheckInWindow, attempted_at: datetime, now: datetime) -> str:
    """What the participant is told about a late upload (English; the web app translates)."""
    return (
        f"Your check-in was received at {_fmt_local(now, window)}, after the window closed, but "
        f"your phone recorded the attempt at {_fmt_local(attempted_at, window)}, inside the "
        "window. A person will review it as a technical delay; it is not counted as a missed "
        "check-in."
    )


def _reclassify_missed(
    uow: UnitOfWork,
    window: CheckInWindow,
    checkin: t.CheckIn,
    attempted_at: datetime,
    now: datetime,
) -> int | None:
    """Make the ``missed_check_in`` alert of *window* (if raised and not resolved) technical,
    saying why; returns its id."""
    for alert in uow.alerts.list(participant_ids=[checkin.participant_id], limit=100_000):
        details = alert.details or {}
        if (
            alert.type == ALERT_MISSED
            and alert.status != "resolved"
            and details.get("schedule_id") == window.schedule_id
            and details.get("window_start") == window.start.isoformat()
        ):
            alert.category = "technical"
            alert.explanation = (
                f"{alert.explanation} Later, check-in {checkin.id} arrived at "
                f"{_fmt_local(now, window)}: the phone recorded the attempt at "
                f"{_fmt_local(attempted_at, window)}, inside the window, and could not upload it "
                "in time; this is reclassified as a technical fault, for a person to review."
            )
            alert.details = {**details, "late_upload_checkin_id": checkin.id}
            return alert.id
    return None


def _review_selfie(data: bytes) -> bytes:
    """The selfie re-encoded as a plain JPEG: upright, at most 1280 px, with no metadata at all
    (EXIF, GPS, maker notes, ICC are all dropped because only the pixels are encoded)."""
    decoded = decode_image(data, min_long_side_px=REVIEW_SELFIE_LONG_SIDE_PX)
    pixels = decoded.pixels
    height, width = pixels.shape[:2]
    scale = REVIEW_SELFIE_LONG_SIDE_PX / max(height, width)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise VerificationUnavailable("could not re-encode the selfie for review")
    return bytes(buffer.tobytes())


def _quality_report(result: VerificationResult) -> dict[str, Any]:
    q = result.quality
    face = result.face
    return {
        "code": q.code.value,
        "message": q.message,
        "faces_found": q.faces_found,
        "ignored_faces": q.ignored_faces,
        "eye_distance_px": q.eye_distance_px,
        "face_luma": q.face_luma,
        "clipped_fraction": q.clipped_fraction,
        "sharpness": q.sharpness,
        "face_box": None
        if face is None
        else {
            "x": face.x,
            "y": face.y,
            "width": face.width,
            "height": face.height,
            "score": face.score,
        },
        "model": result.model_id,
        "template_scores": list(result.template_scores),
        "timings_s": {
            "decode": result.timings.decode_s,
            "detect": result.timings.detect_s,
            "embed": result.timings.embed_s,
            "match": result.timings.match_s,
        },
    }


MESSAGE_VERIFIED = "Thank you. Your check-in is complete."
MESSAGE_MISMATCH = (
    "Your check-in was received. The photo could not be matched automatically, so a person will "
    "look at it. This is not a violation, and you do not need to do anything else."
)
MESSAGE_TECHNICAL = (
    "Your check-in was received. We could not get a clear enough photo after "
    f"{MAX_ATTEMPTS} attempts, so a person will review it. This is treated as a technical "
    "problem, not a violation."
)


def is_dependency_failure(exc: BaseException) -> bool:
    """Whether *exc* is a failure of the database itself (unreachable, locked, pool exhausted)
    rather than of the request: SQLAlchemy's ``OperationalError``, ``InterfaceError`` or pool
    ``TimeoutError``, recognised by class without importing SQLAlchemy (only storage may)."""
    if isinstance(exc, StorageUnavailable):
        return True
    return any(
        cls.__name__ in _DEPENDENCY_ERRORS and cls.__module__.startswith("sqlalchemy")
        for cls in type(exc).__mro__
    )


def _scope(row: t.Incident) -> int | None:
    """The participant an incident is scoped to, or ``None`` for a global one."""
    value = (row.details or {}).get("participant_id")
    return value if isinstance(value, int) else None


def record_incident(
    new_uow: Callable[[], UnitOfWork],
    kind: str,
    now: datetime,
    detail: str,
    *,
    participant_id: int | None = None,
) -> int:
    """Open (or extend) an outage incident of *kind* in its own transaction; returns its id.

    Used when a check-in fails on our side: missed windows that overlap the incident are
    classified technical. With *participant_id* the incident is scoped to that participant
    (an unexpected error in their own check-in) and classifies only their windows; without it
    (the verifier or the database unavailable) it is global. Never call it for a request the
    participant got wrong: that is :class:`~openatd.errors.InvalidInput`, not an outage.
    """
    with new_uow() as uow:
        current = [r for r in uow.incidents.open_of_kind(kind) if _scope(r) == participant_id]
        if current:
            row = current[0]
            details = dict(row.details or {})
            details["failures"] = int(details.get("failures", 1)) + 1
            details["last_error"] = detail[:500]
            details["last_at"] = now.isoformat()
            row.details = details
            return row.id
        fresh: dict[str, Any] = {
            "failures": 1,
            "first_error": detail[:500],
            "last_at": now.isoformat(),
        }
        if participant_id is not None:
            fresh["participant_id"] = participant_id
        row = uow.incidents.add(kind=kind, started_at=now, ended_at=None, details=fresh)
        return row.id


def _close_incidents(uow: UnitOfWork, now: datetime, participant_id: int) -> None:
    """A check-in went through: close the global incidents and this participant's own."""
    for kind in (INCIDENT_VERIFIER, INCIDENT_SERVER):
        for row in uow.incidents.open_of_kind(kind):
            if _scope(row) in (None, participant_id):
                row.ended_at = now


def check_device_time(device_time: datetime | None) -> datetime | None:
    """The phone's clock reading as UTC, if it is a plausible instant.

    Raises:
        InvalidInput: no UTC offset, or outside 2000-01-01 .. 2099-12-31 UTC (including readings
            such as ``9999-12-31T23:59:59-05:00`` that no UTC instant can represent).
    """
    if device_time is None:
        return None
    if device_time.tzinfo is None or device_time.utcoffset() is None:
        raise InvalidInput("device_time needs a UTC offset, e.g. 2026-03-09T10:15:00-05:00")
    try:
        utc: datetime | None = device_time.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not DEVICE_TIME_EARLIEST <= utc < DEVICE_TIME_LATEST:
        raise InvalidInput(
            f"device_time {device_time.isoformat()} is not a plausible clock reading "
            f"(from {DEVICE_TIME_EARLIEST:%Y-%m-%d} to {DEVICE_TIME_LATEST:%Y-%m-%d} UTC)"
        )
    return utc


def check_attempt_time(attempted_at: datetime | None, now: datetime) -> datetime | None:
    """The phone's attempt time as UTC, if plausible (see :func:`check_device_time`).

    Raises:
        InvalidInput: no offset, outside 2000..2099, or more than :data:`ATTEMPT_CLOCK_SKEW`
            after the server's *now*.
    """
    if attempted_at is None:
        return None
    try:
        utc = check_device_time(attempted_at)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("device_time", "attempted_at")) from exc
    if utc is not None and utc > now + ATTEMPT_CLOCK_SKEW:
        raise InvalidInput(
            f"attempted_at {attempted_at.isoformat()} is after the server's time "
            f"({now:%Y-%m-%d %H:%M:%S} UTC)"
        )
    return utc


def submit_check_in(
    new_uow: Callable[[], UnitOfWork],
    verifier: FaceVerifier,
    keys: Sequence[str],
    participant_id: int,
    now: datetime,
    *,
    selfie: bytes,
    location: Location,
    device_time: datetime | None,
    schedule_id: int | None = None,
    attempted_at: datetime | None = None,
) -> CheckInReceipt:
    """Record one check-in attempt of a participant, judged at server time *now*.

    *attempted_at* (UTC) is when the phone says the attempt was made, for an attempt it kept
    after a failed upload and sends again. When no window is open at *now* but a window of the
    participant was open at *attempted_at* (at most :data:`LATE_UPLOAD_MAX` ago), the attempt is
    a *late upload*: it is stored as ``needs_review`` of kind ``technical`` (never counted as
    missed, never verified by the phone's word alone; a person compares both times), the selfie
    is kept for that review, and a ``missed_check_in`` alert already raised for that window is
    reclassified as technical with the reason added to its explanation.

    Steps: find the open window (of *schedule_id*, or the participant's window closing first);
    refuse if it is already checked in, under review, or out of attempts; verify the selfie 1:1
    against the participant's enrolled templates; store the outcome:

    * ``verified`` (selfie discarded);
    * ``retake_requested`` with the gate's plain-language reason (selfie discarded), unless it
      was the last attempt, which becomes ``needs_review`` of kind ``technical``;
    * ``needs_review`` of kind ``mismatch`` for a good photo scoring under the threshold.

    A selfie needing review is kept re-encoded without metadata until the review closes. The
    location and the phone's clock are stored as given (the clock converted to UTC); the
    phone's clock is not used.

    Raises:
        NotFound: unknown schedule, or a schedule of another participant (the same answer, so
            that ids of others' schedules cannot be probed).
        InvalidInput: a ``device_time`` or ``attempted_at`` without offset or outside
            2000..2099 UTC, or an ``attempted_at`` more than 5 minutes after *now*.
        Conflict: no open window (now, or at a plausible *attempted_at*), already done, out of
            attempts, no face enrolled.
        InvalidInput: a selfie that is not an acceptable JPEG/PNG (nothing stored).
        VerificationUnavailable: verification cannot run (models failing, templates that no
            configured key opens, templates of another model); an incident is recorded (its
            own transaction) and nothing else is stored.
    """
    device_time = check_device_time(device_time)
    attempted_at = check_attempt_time(attempted_at, now)
    try:
        return _submit(
            new_uow,
            verifier,
            keys,
            participant_id,
            now,
            selfie=selfie,
            location=location,
            device_time=device_time,
            schedule_id=schedule_id,
            attempted_at=attempted_at,
        )
    except VerificationUnavailable as exc:
        record_incident(new_uow, INCIDENT_VERIFIER, now, str(exc))
        raise


def _submit(
    new_uow: Callable[[], UnitOfWork],
    verifier: FaceVerifier,
    keys: Sequence[str],
    participant_id: int,
    now: datetime,
    *,
    selfie: bytes,
    location: Location,
    device_time: datetime | None,
    schedule_id: int | None,
    attempted_at: datetime | None = None,
) -> CheckInReceipt:
    with new_uow() as uow:
        participant = uow.participants.get(participant_id)
        window = _late_window(uow, participant, now, schedule_id, attempted_at)
        late = window is not None
        if window is None:
            window = _find_window(uow, participant, now, schedule_id)
        _, refusal = window_status(uow, window)
        if refusal is not None:
            raise Conflict(refusal)
        templates = _open_templates(uow, participant_id, keys)
    stale = sorted({tpl.model_id for tpl in templates} - {verifier.model_id})
    if stale:
        # The program changed face models without re-enrolling: our fault, not the photo's.
        raise VerificationUnavailable(
            f"the enrolled face templates were made by {', '.join(stale)}, not by "
            f"{verifier.model_id}; the participant must be re-enrolled"
        )
    if not templates:
        raise Conflict(
            "no face is enrolled for you yet, so a photo check-in cannot be checked; "
            "please contact your case manager"
        )
    result = verifier.verify(templates, selfie)
    with new_uow() as uow:
        attempts, refusal = window_status(uow, window)
        if refusal is not None:  # another attempt landed meanwhile
            raise Conflict(refusal)
        attempt = len(attempts) + 1
        review_kind: ReviewKind | None = None
        report = _quality_report(result)
        if late and attempted_at is not None:
            # The phone kept this attempt and it arrived after the window: a person looks at it
            # as a technical delay; the phone's clock alone never makes it verified or missed.
            outcome, review_kind = Outcome.NEEDS_REVIEW, ReviewKind.TECHNICAL
            message = late_message(window, attempted_at, now)
            report["late_upload"] = {
                "attempted_at": attempted_at.isoformat(),
                "received_at": now.isoformat(),
                "decision": result.decision.value,
            }
        elif result.decision is Decision.VERIFIED:
            outcome, message = Outcome.VERIFIED, MESSAGE_VERIFIED
        elif result.decision is Decision.NEEDS_REVIEW:
            outcome, message, review_kind = (
                Outcome.NEEDS_REVIEW,
                MESSAGE_MISMATCH,
                ReviewKind.MISMATCH,
            )
        elif attempt >= MAX_ATTEMPTS:
            outcome, message = Outcome.NEEDS_REVIEW, MESSAGE_TECHNICAL
            review_kind = ReviewKind.TECHNICAL
        else:
            outcome = Outcome.RETAKE_REQUESTED
            left = MAX_ATTEMPTS - attempt
            message = (
                f"{result.quality.message} ({left} attempt{'s' if left != 1 else ''} left "
                "for this window.)"
            )
        row = uow.checkins.add(
            participant_id=participant_id,
            schedule_id=window.schedule_id,
            window_start=window.start,
            window_end=window.end,
            method="app",
            server_time=now,
            device_time=device_time,
            latitude=location.latitude,
            longitude=location.longitude,
            accuracy_m=location.accuracy_m,
            outcome=outcome.value,
            quality_code=result.quality.code.value,
            quality_message=result.quality.message,
            score=result.score,
            threshold=result.threshold,
            on_time=window.accepts(now),
            selfie=_review_selfie(selfie) if review_kind is not None else None,
            review_status="open" if review_kind is not None else None,
            review_kind=review_kind.value if review_kind is not None else None,
            attempt=attempt,
            quality_report=report,
        )
        reclassified = (
            _reclassify_missed(uow, window, row, attempted_at, now)
            if late and attempted_at is not None
            else None
        )
        _close_incidents(uow, now, participant_id)
        audit.record(
            uow,
            at=now,
            actor=participant_actor(participant_id),
            action=AuditAction.CHECKIN_SUBMIT,
            participant_id=participant_id,
            subject_type="checkin",
            subject_id=row.id,
            details={
                "outcome": outcome.value,
                "attempt": attempt,
                "quality": result.quality.code.value,
                "schedule_id": window.schedule_id,
                "window_start": window.start.isoformat(),
                **(
                    {
                        "late_upload": True,
                        "attempted_at": attempted_at.isoformat(),
                        "reclassified_alert_id": reclassified,
                    }
                    if late and attempted_at is not None
                    else {}
                ),
            },
        )
        left = 0 if outcome is not Outcome.RETAKE_REQUESTED else MAX_ATTEMPTS - attempt
        return CheckInReceipt(row, window, message, left)


# -- staff: reading check-ins and reviews ----------------------------------------------------


def list_checkins(
    uow: UnitOfWork, user: TokenClaims, now: datetime, participant_id: int, reason: str
) -> Sequence[t.CheckIn]:
    """A participant's check-ins (with the location each reported), for a stated reason.

    Location is personal data: the read is per participant, by staff with access, with a
    reason of at least 10 characters, audited as ``checkin:read``.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    text = _reason(reason, "reading check-ins (they include locations)")
    require_participant_access(uow, user, participant_id)
    rows = uow.checkins.for_participant(participant_id)
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CHECKIN_READ,
        what="checkins",
        participant_ids=[participant_id],
        reason=text,
        details={"count": len(rows)},
    )
    return rows


def open_reviews(uow: UnitOfWork, user: TokenClaims, now: datetime) -> list[t.CheckIn]:
    """Check-ins waiting for a person, on the caller's caseload (all for a supervisor)."""
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    if user.role is Role.SUPERVISOR:
        participants = uow.participants.list()
    else:
        participants = uow.participants.list(user_id=user.user_id)
    out = [
        c
        for p in participants
        for c in uow.checkins.for_participant(p.id)
        if c.review_status == "open"
    ]
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CHECKIN_READ,
        what="checkin_reviews",
        participant_ids={c.participant_id for c in out},
        details={"count": len(out)},
    )
    return sorted(out, key=lambda c: (c.server_time, c.id))


def read_selfie(
    uow: UnitOfWork, user: TokenClaims, now: datetime, checkin_id: int, reason: str
) -> bytes:
    """The selfie of a check-in under review (JPEG, no metadata), for a stated reason; audited.

    Raises:
        NotFound: no such check-in, or its selfie is gone (verified, or review closed).
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    text = _reason(reason, "viewing a check-in selfie")
    row = uow.checkins.get(checkin_id)
    require_participant_access(uow, user, row.participant_id)
    if row.selfie is None:
        raise NotFound(
            f"check-in {checkin_id} has no selfie (deleted after verification or review)"
        )
    record_read(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CHECKIN_READ,
        what="checkin_selfie",
        participant_ids=[row.participant_id],
        subject_id=row.id,
        reason=text,
    )
    return row.selfie


def close_review(
    uow: UnitOfWork,
    user: TokenClaims,
    now: datetime,
    checkin_id: int,
    *,
    resolution: str,
    reason: str,
) -> t.CheckIn:
    """A person closes a check-in review with a resolution and a reason; the selfie is deleted.

    Raises:
        InvalidInput: unknown resolution or no reason. Conflict: no open review.
    """
    require_role(user, Role.CASE_MANAGER, Role.SUPERVISOR)
    try:
        res = ReviewResolution(resolution)
    except ValueError as exc:
        raise InvalidInput(
            f"resolution must be one of {', '.join(r.value for r in ReviewResolution)}"
        ) from exc
    text = _reason(reason, "closing a check-in review")
    row = uow.checkins.get(checkin_id)
    require_participant_access(uow, user, row.participant_id)
    if row.review_status != "open":
        raise Conflict(f"check-in {checkin_id} has no open review")
    row.review_status = "closed"
    row.review_resolution = res.value
    row.review_reason = text
    row.reviewed_by = user.user_id
    row.reviewed_at = now
    row.selfie = None
    audit.record(
        uow,
        at=now,
        actor=audit.staff_actor(user),
        action=AuditAction.CHECKIN_REVIEW,
        participant_id=row.participant_id,
        subject_type="checkin",
        subject_id=row.id,
        reason=text,
        details={"resolution": res.value, "review_kind": row.review_kind, "selfie_deleted": True},
    )
    return row


# -- missed windows ----------------------------------------------------------------------------


def _fmt_local(instant: datetime, window: CheckInWindow) -> str:
    return f"{instant.astimezone(window.tz):%H:%M}"


def _missed_explanation(
    window: CheckInWindow,
    attempts: Sequence[t.CheckIn],
    incidents: Sequence[t.Incident],
    enrolled: bool,
    reports: Sequence[t.Alert] = (),
) -> str:
    grace_min = window.grace_s // 60
    grace = f" after a {grace_min}-minute grace period" if window.grace_s else ""
    text = (
        f"No verified check-in was received for the check-in window {window.describe()}, "
        f"which closed at {_fmt_local(window.closes_at, window)}{grace}."
    )
    if attempts:
        last = attempts[-1]
        reason = f" — {last.quality_message}" if last.quality_message else ""
        text += (
            f" {len(attempts)} attempt{'s were' if len(attempts) != 1 else ' was'} made; the last "
            f"was {last.outcome.replace('_', ' ')}{reason}"
        )
    else:
        text += " No attempt was received."
    if incidents:
        spans = ", ".join(
            f"{i.kind.replace('_', ' ')} from {_fmt_local(i.started_at, window)}"
            + (f" to {_fmt_local(i.ended_at, window)}" if i.ended_at else " (still ongoing)")
            for i in incidents
        )
        text += (
            f" The check-in service was not working during this window ({spans}), so this is "
            "classified as a technical fault, not as non-compliance."
        )
    elif not enrolled:
        text += (
            " No face was enrolled for the participant, so a photo check-in could not be made; "
            "this is classified as a technical fault, not as non-compliance."
        )
    else:
        text += " A person will review this; it is not a violation by itself."
    for report in reports:
        said = (report.details or {}).get("text", "")
        text += f" The participant reported a problem at {_fmt_local(report.at, window)}: “{said}”."
    return text


def window_reminders(uow: UnitOfWork, schedule_id: int, start: datetime) -> list[dict[str, Any]]:
    """The reminders planned for one check-in window (``notify.worker``) with their delivery
    status: ``{"channel", "due_at", "status", "attempts", "last_error"}`` each. A window whose
    reminders all failed makes its missed-check-in alert technical: never the participant's
    fault."""
    prefix = f"checkin:{schedule_id}:{start.astimezone(UTC):%Y%m%dT%H%M%SZ}:"
    return [
        {
            "channel": m.channel,
            "due_at": m.due_at.isoformat(),
            "status": m.status,
            "attempts": m.attempts,
            "last_error": m.last_error,
        }
        for m in uow.outbox.by_key_prefix(prefix)
    ]


def sweep_missed_check_ins(uow: UnitOfWork, now: datetime) -> list[t.Alert]:
    """Raise ``missed_check_in`` alerts for windows that closed by *now* unfulfilled.

    For every active schedule, each window whose ``closes_at`` (end + grace) falls after the
    schedule's ``checked_until`` (initially its creation) and at or before *now* is judged once:

    * a ``verified`` or ``needs_review`` check-in in the window → nothing (a review is a
      person's job, not a miss);
    * otherwise an alert ``missed_check_in``; category ``technical`` when an incident (the
      verifier unavailable, a server error) overlaps ``[start, closes_at]`` or no face was
      enrolled, else ``compliance``. An incident scoped to another participant does not count.
      Alerts are never violations (DESIGN principle 5).

    Idempotent: ``checked_until`` moves to *now*, so a window is never judged twice. An ad-hoc
    schedule whose window has been judged is deactivated. Returns the alerts raised.
    """
    raised: list[t.Alert] = []
    # Locked: a schedule changed while the sweep runs (its window moved) is judged as changed;
    # unlocked, the sweep judged the old row and then wrote checked_until over the new one,
    # so the moved window was never judged (seen on PostgreSQL in CI).
    for row in uow.checkin_schedules.all_active(for_update=True):
        participant = uow.participants.get(row.participant_id)
        since = row.checked_until or row.created_at
        if now <= since:
            continue
        plan = plan_of(row, participant.timezone)
        for window in plan.closing_between(since, now):
            if not participant.active:
                continue
            attempts = uow.checkins.for_window(row.id, window.start)
            if any(a.outcome in (Outcome.VERIFIED, Outcome.NEEDS_REVIEW) for a in attempts):
                continue
            incidents = [
                i
                for i in uow.incidents.overlapping(window.start, window.closes_at)
                if _scope(i) in (None, participant.id)
            ]
            enrolled = bool(uow.face_templates.for_participant(participant.id))
            reminders = window_reminders(uow, row.id, window.start)
            undelivered = bool(reminders) and all(r["status"] != "sent" for r in reminders)
            technical = bool(incidents) or not enrolled or undelivered
            reports = problem_reports(uow, participant.id, window.start, window.closes_at)
            alert = uow.alerts.add(
                participant_id=participant.id,
                device_id=None,
                type=ALERT_MISSED,
                category="technical" if technical else "compliance",
                at=window.closes_at,
                raised_at=now,
                explanation=_missed_explanation(window, attempts, incidents, enrolled, reports),
                details={
                    "schedule_id": row.id,
                    "window_start": window.start.isoformat(),
                    "window_end": window.end.isoformat(),
                    "grace_s": window.grace_s,
                    "attempts": len(attempts),
                    "last_outcome": attempts[-1].outcome if attempts else None,
                    "incident_ids": [i.id for i in incidents],
                    "face_enrolled": enrolled,
                    "reminders": reminders,
                    "reminders_undelivered": undelivered,
                    "problem_report_ids": sorted(a.id for a in reports),
                },
                status="open",
            )
            audit.record(
                uow,
                at=now,
                actor="system:checkins",
                action=AuditAction.CHECKIN_MISSED,
                participant_id=participant.id,
                subject_type="alert",
                subject_id=alert.id,
                details={
                    "schedule_id": row.id,
                    "window_start": window.start.isoformat(),
                    "category": alert.category,
                },
            )
            raised.append(alert)
        row.checked_until = now
        if (
            row.kind == "adhoc"
            and row.closes_at is not None
            and row.closes_at + timedelta(seconds=row.grace_s) <= now
        ):
            row.active = False
    return raised
