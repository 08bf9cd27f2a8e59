"""Telephony webhooks of a Twilio-compatible provider: telephone check-in by voice and PIN,
and SMS replies from participants. Every request must carry a valid ``X-Twilio-Signature``
computed with ``OPENATD_TELEPHONY_AUTH_TOKEN`` (unsigned or wrongly signed: 403, nothing read
or stored). Answers are TwiML (``application/xml``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from openatd.api.access import PERSONAL_WRITE
from openatd.api.deps import ContainerDep, CurrentUser, NowDep, PathId, UowDep
from openatd.checkins import phone
from openatd.errors import PermissionDenied
from openatd.notify import replies, twilio

router = APIRouter(tags=["telephony"])

MAX_FORM_BYTES = 64 * 1024

PROMPTS = {
    "en": {
        "welcome": "OpenATD check-in. Enter your PIN, then press the pound key.",
        "nothing": "We did not receive a PIN. Goodbye.",
        "recorded": "Thank you. Your check-in is recorded. Goodbye.",
        "already": "You have already checked in for this window. Thank you. Goodbye.",
        "no_window": "There is no check-in open for you now. Nothing was recorded. Goodbye.",
        "wrong_pin": "That PIN is not right. Enter your PIN, then press the pound key.",
        "unknown_number": "This phone number is not registered for check-in. Call from your "
        "registered phone, or call your case manager. Goodbye.",
        "locked": "Too many wrong PINs. Try again in an hour, or call your case manager. Goodbye.",
    },
    "es": {
        "welcome": "Registro de OpenATD. Marque su PIN y después la tecla de número.",
        "nothing": "No recibimos un PIN. Adiós.",
        "recorded": "Gracias. Su registro quedó anotado. Adiós.",
        "already": "Ya se registró en este horario. Gracias. Adiós.",
        "no_window": "No tiene un registro abierto ahora. No se anotó nada. Adiós.",
        "wrong_pin": "Ese PIN no es correcto. Marque su PIN y después la tecla de número.",
        "unknown_number": "Este número no está registrado. Llame desde su teléfono registrado "
        "o a su administrador de caso. Adiós.",
        "locked": "Demasiados PIN incorrectos. Intente en una hora o llame a su "
        "administrador de caso. Adiós.",
    },
}

PIN_PATH = "/api/telephony/voice/pin"


async def signed_form(request: Request, container: ContainerDep) -> dict[str, str]:
    """The provider's form parameters, after checking ``X-Twilio-Signature``.

    The signed URL is ``OPENATD_TELEPHONY_PUBLIC_URL`` + path + query when that is set (the
    provider's view through a proxy), else the URL of the request.

    Raises:
        PermissionDenied: no auth token configured, no signature, or a wrong one (403).
    """
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PermissionDenied("webhook body too large")
    form = await request.form()
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    base = container.settings.telephony_public_url.rstrip("/")
    url = str(request.url)
    if base:
        query = f"?{request.url.query}" if request.url.query else ""
        url = f"{base}{request.url.path}{query}"
    token = container.settings.telephony_auth_token
    if not twilio.valid_signature(token, url, params, request.headers.get("X-Twilio-Signature")):
        raise PermissionDenied("missing or wrong X-Twilio-Signature")
    return dict(params)


def _twiml(*elements: str) -> Response:
    return Response(twilio.response(*elements), media_type="application/xml")


def _lang(language: str) -> str:
    return "es" if language.split("-")[0] == "es" else "en"


@router.post("/api/telephony/voice", response_class=Response, openapi_extra=PERSONAL_WRITE)
async def voice(request: Request, container: ContainerDep) -> Response:
    """A call comes in: ask for the PIN (``<Gather>``), in the caller's language when the
    calling number is registered."""
    form = await signed_form(request, container)
    with container.uow() as uow:
        lang = _lang(phone.caller_language(uow, form.get("From", "")))
    words = PROMPTS[lang]
    return _twiml(
        twilio.gather(PIN_PATH, words["welcome"], lang), twilio.say(words["nothing"], lang)
    )


@router.post(PIN_PATH, response_class=Response, openapi_extra=PERSONAL_WRITE)
async def voice_pin(request: Request, container: ContainerDep) -> Response:
    """The digits entered: check caller id and PIN, record a ``phone`` check-in in the open
    window, and say what happened."""
    form = await signed_form(request, container)
    now = container.clock.now()
    with container.uow() as uow:
        result = phone.phone_check_in(uow, now, form.get("From", ""), form.get("Digits", ""))
    lang = _lang(result.language)
    words = PROMPTS[lang]
    if result.code == "wrong_pin":
        return _twiml(
            twilio.gather(PIN_PATH, words["wrong_pin"], lang), twilio.say(words["nothing"], lang)
        )
    return _twiml(twilio.say(words[result.code], lang), "<Hangup/>")


@router.post("/api/telephony/sms", response_class=Response, openapi_extra=PERSONAL_WRITE)
async def sms_reply(request: Request, container: ContainerDep) -> Response:
    """An SMS from a participant (a reply to a reminder): kept as a message on their record
    and passed on to their case managers through the outbox."""
    form = await signed_form(request, container)
    now = container.clock.now()
    with container.uow() as uow:
        replies.receive_sms(
            uow, now, form.get("From", ""), form.get("Body", ""), form.get("MessageSid")
        )
    return _twiml()


class PinSet(BaseModel):
    pin: Annotated[str, Field(min_length=4, max_length=8, description="4-8 digits")]


@router.put(
    "/api/participants/{participant_id}/phone-pin", status_code=204, openapi_extra=PERSONAL_WRITE
)
def set_pin(
    participant_id: PathId, body: PinSet, uow: UowDep, user: CurrentUser, now: NowDep
) -> None:
    """Set the participant's telephone check-in PIN (stored hashed; never shown again)."""
    phone.set_pin(uow, user, now, participant_id, body.pin)
