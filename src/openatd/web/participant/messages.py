"""What the participant web app says, in words to translate (marked with ``N_`` for extraction,
translated at render time): check-in results and refusals, alert types and statuses, problem
kinds, and the audit actions of the "who read my data" list."""

from __future__ import annotations

from datetime import datetime

from openatd.checkins import service
from openatd.checkins.quality import QualityCode
from openatd.web.participant.i18n import N_, local_time, translations


def translate(language: str, message: str, **values: object) -> str:
    """*message* translated into *language*, with ``%(name)s`` placeholders filled."""
    text = translations(language).gettext(message)
    return text % values if values else text


NOTICES = {
    "responded": N_("Your response was sent to your case manager."),
    "reported": N_("Your report was recorded. Your case manager will see it."),
    "language": N_("Language changed."),
    "seen": N_("Thank you. We noted that you have seen it."),
}


QUALITY_REASONS: dict[str, str] = {
    QualityCode.NO_FACE.value: N_(
        "We could not find a face in the photo. Hold the phone at arm's length with your whole "
        "face in the frame and look at the camera."
    ),
    QualityCode.MULTIPLE_FACES.value: N_(
        "There is more than one face in the photo. Make sure only you are in the picture."
    ),
    QualityCode.FACE_TOO_SMALL.value: N_(
        "Your face is too small in the photo. Hold the phone closer so that your face fills "
        "most of the frame."
    ),
    QualityCode.TOO_DARK.value: N_(
        "The photo is too dark. Move to a brighter place or turn towards a light or a window."
    ),
    QualityCode.TOO_BRIGHT.value: N_(
        "The photo is too bright. Move out of direct sunlight or away from a strong light."
    ),
    QualityCode.BLURRED.value: N_("The photo is blurred. Hold the phone still and wipe the lens."),
}

REFUSALS: list[tuple[str, str]] = [
    ("no check-in window is open", N_("No check-in window is open right now.")),
    ("no window of check-in schedule", N_("No check-in window is open right now.")),
    ("already checked in", N_("You have already checked in for this window. Thank you.")),
    (
        "waiting for a person to review",
        N_(
            "Your check-in for this window was received and is waiting for a person to review "
            "it. You do not need to do anything else."
        ),
    ),
    ("attempts for this window have been used", N_("All attempts for this window were used.")),
    (
        "no face is enrolled",
        N_(
            "Your photo check-in is not set up yet. Please contact your case manager; this is "
            "not your fault."
        ),
    ),
]


def result_message(language: str, receipt: service.CheckInReceipt, timezone: str) -> str:
    """The plain-words result of one attempt in *language*: verified / please retake: reason /
    sent to your case manager for review, not a violation / received late, technical."""
    row = receipt.checkin
    report = row.quality_report or {}
    late = report.get("late_upload")
    if late:
        attempted = datetime.fromisoformat(late["attempted_at"])
        return translate(
            language,
            N_(
                "Received after the window closed, but your phone recorded the attempt at "
                "%(time)s, inside the window. Your case manager will review it as a technical "
                "delay. It is not a missed check-in."
            ),
            time=local_time(attempted, timezone, language),
        )
    if row.outcome == service.Outcome.VERIFIED:
        return translate(language, N_("Verified. Thank you, your check-in is complete."))
    if row.outcome == service.Outcome.RETAKE_REQUESTED:
        reason = translate(language, QUALITY_REASONS.get(row.quality_code or "", N_("Try again.")))
        return translate(
            language,
            N_("Please take the photo again: %(reason)s (%(left)s attempts left for this window.)"),
            reason=reason,
            left=receipt.attempts_left,
        )
    if row.review_kind == service.ReviewKind.TECHNICAL:
        return translate(
            language,
            N_(
                "Sent to your case manager for review. We could not get a clear photo, so this "
                "is treated as a technical problem, not a violation."
            ),
        )
    return translate(
        language,
        N_(
            "Sent to your case manager for review. The photo could not be matched "
            "automatically. This is not a violation, and you do not need to do anything else."
        ),
    )


def refusal_message(language: str, detail: str) -> str:
    """A service refusal in *language* when it is one the app knows, else the detail itself."""
    for fragment, message in REFUSALS:
        if fragment in detail:
            return translate(language, message)
    return detail


ALERT_TYPES: dict[str, str] = {
    "missed_check_in": N_("Missed check-in"),
    "participant_report": N_("Your problem report"),
    "inclusion_zone_exit": N_("Outside an area you need to be in"),
    "exclusion_zone_entry": N_("Inside an area you need to stay out of"),
    "strap_tamper": N_("Device strap opened or tampered"),
    "low_battery": N_("Low battery"),
    "device_offline": N_("Device not reporting"),
    "no_gps_fix": N_("Device cannot find its location"),
}
STATUSES: dict[str, str] = {
    "open": N_("Open: not looked at yet"),
    "acknowledged": N_("Your case manager is looking at it"),
    "resolved": N_("Closed"),
}
CATEGORIES: dict[str, str] = {
    "technical": N_("Technical: a problem with equipment or the service, not with you"),
    "compliance": N_("To check: a person will look at it; it is not a violation by itself"),
}


PROBLEM_KINDS: dict[str, str] = {
    "app": N_("This app (it will not open, the camera or the upload fails)"),
    "device": N_("My tracking device (it is not charging, it is broken, it shows an error)"),
    "other": N_("Something else"),
}


ACTIONS: dict[str, str] = {
    "positions:read": N_("read your locations"),
    "participant:read": N_("read your record"),
    "participant:update": N_("changed your record"),
    "participant:create": N_("created your record"),
    "participant:app_code": N_("gave you a sign-in code"),
    "alerts:read": N_("read your alerts"),
    "alert:acknowledge": N_("started looking at an alert"),
    "alert:resolve": N_("closed an alert"),
    "checkin:read": N_("read your check-ins"),
    "checkin:review": N_("reviewed a check-in"),
    "checkin:schedule": N_("set a check-in schedule"),
    "checkin:missed": N_("recorded a missed check-in"),
    "face:enrol": N_("enrolled your face photos"),
    "face:delete": N_("deleted your face data"),
    "zone:create": N_("created an area"),
    "zone:delete": N_("deleted an area"),
    "device:create": N_("added a device"),
    "device:update": N_("changed a device"),
    "caseload:assign": N_("assigned your case"),
    "retention:purge": N_("deleted old data"),
}


OBLIGATION_KINDS: dict[str, str] = {
    "court_hearing": N_("Court hearing"),
    "appointment": N_("Appointment"),
    "check_in": N_("Check-in"),
    "other": N_("Other"),
}
NEWS: dict[str, str] = {
    "new": N_("New"),
    "changed": N_("Changed"),
}
