"""The words of every message OpenATD sends, in English and Spanish.

A reminder gives what the evidence says makes people come (Fishbane, Ouss & Shah, *Science*
2020: text reminders cut failure to appear by 21 %, 26 % when the text named the consequence
and prompted a plan): the date and local time in the participant's own zone, the address, what
happens if it is missed, and a planning prompt. Dates and times are formatted for the language
with ``babel`` (CLDR data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from openatd.participants.contact import message_language

KIND_NAMES = {
    "en": {
        "court_hearing": "court hearing",
        "appointment": "appointment",
        "check_in": "check-in",
        "other": "obligation",
    },
    "es": {
        "court_hearing": "audiencia en el tribunal",
        "appointment": "cita",
        "check_in": "registro (check-in)",
        "other": "obligación",
    },
}

CONSEQUENCES = {
    "en": {
        "court_hearing": "If you miss this hearing, the judge can issue a warrant for your arrest.",
        "appointment": "If you miss it, your case manager is alerted and must review it with you.",
        "check_in": "If you miss it, your case manager is alerted and must review it with you.",
        "other": "If you miss it, your case manager is alerted and must review it with you.",
    },
    "es": {
        "court_hearing": "Si falta a esta audiencia, el juez puede emitir una orden de arresto "
        "en su contra.",
        "appointment": "Si falta, se avisa a su administrador de caso, que debe revisarlo con "
        "usted.",
        "check_in": "Si falta, se avisa a su administrador de caso, que debe revisarlo con usted.",
        "other": "Si falta, se avisa a su administrador de caso, que debe revisarlo con usted.",
    },
}

PLAN_PROMPT = {
    "en": "Make a plan now. What time will you leave? Do you need a ride or childcare? "
    "Reply to this message if you need help.",
    "es": "Haga un plan ahora. ¿A qué hora va a salir? ¿Necesita transporte o cuidado de "
    "niños? Responda a este mensaje si necesita ayuda.",
}


@dataclass(frozen=True, slots=True)
class Text:
    """A message: ``subject`` (e-mail only) and ``body`` (e-mail and SMS)."""

    subject: str
    body: str


def when_local(instant: datetime, tz: ZoneInfo, language: str) -> tuple[str, str]:
    """(date, time) of *instant* in *tz*, written for *language*, e.g.
    ``("Monday, March 9, 2026", "9:00 AM")`` or ``("lunes, 9 de marzo de 2026", "9:00")``."""
    lang = message_language(language)
    local = instant.astimezone(tz)
    # CLDR puts narrow no-break spaces in times ("9:00\u202fAM"); SMS (GSM 03.38) has none.
    return (
        format_date(local.date(), format="full", locale=lang).replace("\u202f", " "),
        format_time(local, format="short", locale=lang, tzinfo=tz).replace("\u202f", " "),
    )


def reminder(
    *,
    kind: str,
    title: str,
    start: datetime,
    tz: ZoneInfo,
    location: str | None,
    language: str,
    name: str,
) -> Text:
    """A reminder of one obligation: date, local time, address, consequence, planning prompt."""
    lang = message_language(language)
    day, clock = when_local(start, tz, lang)
    what = KIND_NAMES[lang].get(kind, KIND_NAMES[lang]["other"])
    if lang == "es":
        where = f" en {location}" if location else ""
        subject = f"Recordatorio: {title}, {day} a las {clock}"
        lead = f"Hola {name}: tiene su {what} «{title}» el {day} a las {clock}{where}."
    else:
        where = f" at {location}" if location else ""
        subject = f"Reminder: {title}, {day} at {clock}"
        lead = f'Hello {name}: your {what} "{title}" is on {day} at {clock}{where}.'
    body = f"{lead} {CONSEQUENCES[lang].get(kind, CONSEQUENCES[lang]['other'])} {PLAN_PROMPT[lang]}"
    return Text(subject, body)


def changed(
    *,
    kind: str,
    title: str,
    old_start: datetime,
    start: datetime,
    tz: ZoneInfo,
    location: str | None,
    language: str,
    name: str,
) -> Text:
    """An immediate notice that an obligation's date or time changed (old and new)."""
    lang = message_language(language)
    old_day, old_clock = when_local(old_start, tz, lang)
    day, clock = when_local(start, tz, lang)
    if lang == "es":
        where = f" en {location}" if location else ""
        subject = f"CAMBIO de fecha: {title}, ahora {day} a las {clock}"
        body = (
            f"Hola {name}: su {KIND_NAMES[lang].get(kind, 'obligación')} «{title}» cambió. "
            f"NUEVA fecha: {day} a las {clock}{where} (antes: {old_day} a las {old_clock}). "
            f"{CONSEQUENCES[lang].get(kind, CONSEQUENCES[lang]['other'])} {PLAN_PROMPT[lang]}"
        )
    else:
        where = f" at {location}" if location else ""
        subject = f"DATE CHANGED: {title}, now {day} at {clock}"
        body = (
            f'Hello {name}: your {KIND_NAMES[lang].get(kind, "obligation")} "{title}" has '
            f"changed. NEW date: {day} at {clock}{where} (was {old_day} at {old_clock}). "
            f"{CONSEQUENCES[lang].get(kind, CONSEQUENCES[lang]['other'])} {PLAN_PROMPT[lang]}"
        )
    return Text(subject, body)


def cancelled(*, title: str, start: datetime, tz: ZoneInfo, language: str, name: str) -> Text:
    """A notice that an obligation was cancelled."""
    lang = message_language(language)
    day, clock = when_local(start, tz, lang)
    if lang == "es":
        return Text(
            f"Cancelado: {title}",
            f"Hola {name}: «{title}» del {day} a las {clock} fue CANCELADO. No tiene que ir.",
        )
    return Text(
        f"Cancelled: {title}",
        f'Hello {name}: "{title}" on {day} at {clock} has been CANCELLED. You do not need to go.',
    )


def checkin_title(language: str) -> str:
    """The title of a check-in window's reminder."""
    if message_language(language) == "es":
        return "Registro (check-in) con la app OpenATD"
    return "Check in with the OpenATD app"


def staff_alert(*, alert_id: int, participant: str, kind: str, explanation: str) -> Text:
    """A new alert, for the case manager (English; staff language is not yet a setting)."""
    return Text(
        f"OpenATD alert {alert_id}: {kind} ({participant})",
        f"New alert {alert_id} about {participant}: {kind}. {explanation} "
        "Review it in OpenATD; it is not a violation until a person confirms one.",
    )


def staff_escalation(
    *, alert_id: int, participant: str, kind: str, explanation: str, waited_s: int
) -> Text:
    """An alert nobody acknowledged in time, for a supervisor."""
    return Text(
        f"OpenATD alert {alert_id} not acknowledged after {waited_s // 60} min",
        f"Alert {alert_id} about {participant} ({kind}) has not been acknowledged for "
        f"{waited_s // 60} minutes. {explanation}",
    )
